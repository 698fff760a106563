// TensorBoard event files from the chief: every step's loss, metrics and examples/s, and every epoch's means and
// validation figures; libtensorflow writes the events file. Tags: `train/loss`, `train/<metric>`,
// `train/examples_per_sec` by global step; `epoch/loss`, `epoch/<metric>`, `validation/loss`, `validation/<metric>`
// by epoch.
//
// Why not tf.node.summaryFileWriter() itself: it runs the same native-backend ops as below, but leaks the four
// scalars it passes to CreateSummaryFileWriter and caches a writer (holding a resource tensor) per folder for the
// life of the process, so every run would leave tensors behind. Here the scalars are made in tf.tidy and the handle
// is disposed on close(); the writer resource itself lives on in TensorFlow under the folder's name, as it would.
import type { Tensor } from '@tensorflow/tfjs-node';
import { loadTf } from '../tf/tf.ts';
import type { EpochMetrics, StepMetrics } from './worker.ts';

/** Writes a run's scalars; `flush()` puts them on disk, `close()` flushes and frees the handle (idempotent). */
export interface TensorBoardLog {
  step(m: StepMetrics): void;
  epoch(m: EpochMetrics): void;
  flush(): void;
  close(): void;
}

/** The tfjs-node backend's summary ops, as tf.node.summaryFileWriter() calls them. */
interface SummaryOps {
  summaryWriter(logdir: string): Tensor;
  createSummaryFileWriter(handle: Tensor, logdir: string, maxQueue: number, flushMs: number, suffix: string): void;
  writeScalarSummary(handle: Tensor, step: number, name: string, value: number): void;
  flushSummaryWriter(handle: Tensor): void;
}

/** Opens an events file under `logdir` (queue of 100 points, flushed at least every 10 s, so TensorBoard follows live). */
export function openTensorBoardLog(logdir: string): TensorBoardLog {
  const tf = loadTf();
  const ops = tf.backend() as unknown as SummaryOps;
  const handle = ops.summaryWriter(logdir);
  tf.tidy(() => ops.createSummaryFileWriter(handle, logdir, 100, 10_000, '.v2'));
  let closed = false;
  const write = (name: string, value: number, at: number): void => {
    if (!closed && Number.isFinite(value)) ops.writeScalarSummary(handle, at, name, value);
  };
  const scalars = (prefix: string, loss: number, metrics: Record<string, number>, at: number): void => {
    write(`${prefix}/loss`, loss, at);
    for (const [name, value] of Object.entries(metrics)) write(`${prefix}/${name}`, value, at);
  };
  const flush = (): void => {
    if (!closed) ops.flushSummaryWriter(handle);
  };
  return {
    step(m) {
      scalars('train', m.loss, m.metrics, m.step);
      write('train/examples_per_sec', m.examplesPerSec, m.step);
    },
    epoch(m) {
      scalars('epoch', m.loss, m.metrics, m.epoch);
      if (m.validation) scalars('validation', m.validation.loss, m.validation.metrics, m.epoch);
    },
    flush,
    close() {
      flush();
      closed = true;
      handle.dispose();
    },
  };
}
