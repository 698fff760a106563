// The worker loop: feed batch → pull → gradients → push, for every batch of its partitions, epoch after epoch.
// Every option is plain data (the callbacks and signal aside), so a worker task in its own process calls this with
// what the coordinator sent it.
//
// End of an epoch: a worker out of data sends `epochDone` to every PS and waits there. The PS drops it from the live
// set for the rest of the epoch, so peers with more data go on (sync steps average over who is left: no hang, no
// row dropped) and the last worker to finish releases everyone into the next epoch at one agreed step.
//
// Validation: the chief (index 0) alone, right after that barrier, on the whole validation feed. At that moment no
// update can happen in sync mode (every peer waits on the chief's next push), so the figures describe exactly the
// epoch's final weights; splitting validation across workers would need a second gather for one small pass.
//
// Checkpoints: every push carries the worker's feed cursor (feed-cursor.ts); the PS keep the last one per worker
// and save them with their periodic checkpoints. A resumed worker starts its feed from its saved cursor and skips
// the batches of the cursor's group it had already trained on, so no row is trained on twice or left out.
import type { KafkaConnection } from '../kafka/index.ts';
import { feed } from '../feed/index.ts';
import type { FeedBatch } from '../feed/index.ts';
import { validateJobSpec } from '../job/index.ts';
import type { JobSpec, WorkerResume } from '../job/index.ts';
import { any, fn, int, optionsChecker, str } from '../options.ts';
import type { ShardPlan } from '../ps/index.ts';
import { WorkerError, workerOptionsError } from './errors.ts';
import { connectPs } from './ps-client.ts';
import type { PsEndpoint } from './ps-client.ts';
import { CursorTracker } from './feed-cursor.ts';
import { openTensorBoardLog } from './tensorboard.ts';
import type { TensorBoardLog } from './tensorboard.ts';
import { createTrainStep } from './train-step.ts';
import type { BatchResult } from './train-step.ts';

/** Figures shared by a step and an epoch. Times in ms: compute (weights in + gradients out), exchange (pull + push on the wire), wait (held by the PS: sync barrier, SSP bound), input (waiting for the batch). */
interface TrainingFigures {
  worker: string;
  epoch: number;
  rows: number;
  loss: number;
  metrics: Record<string, number>;
  examplesPerSec: number;
  computeMs: number;
  exchangeMs: number;
  waitMs: number;
  inputMs: number;
}

/** One step's figures. */
export interface StepMetrics extends TrainingFigures {
  step: number;
  /** False when a PS refused the push (stale or not live). */
  accepted: boolean;
}

/** One epoch's figures for one worker (means weighted by rows; times summed, wait includes the epoch barrier). */
export interface EpochMetrics extends TrainingFigures {
  steps: number;
  /** The chief's pass over the validation feed with the epoch's final weights. */
  validation?: BatchResult;
}

/** Options of runWorker(). */
export interface WorkerOptions {
  /** The job (validated again here: this is a process boundary). */
  spec: JobSpec;
  /** Index in [0, spec.workers); 0 is the chief, which validates. */
  index: number;
  /** Worker id the PS know (default `worker-<index>`). */
  id?: string;
  /** One endpoint per PS, in PS index order. */
  ps: PsEndpoint[];
  token: string;
  plan: ShardPlan;
  kafka: KafkaConnection;
  /** Train partitions this worker reads (may be empty: it then only takes part in the epoch barriers). */
  partitions: number[];
  generation?: number;
  /** Resume from a checkpoint: the step to count from and where this worker's feed stood (see workerResumes). */
  resume?: WorkerResume;
  /** The chief writes TensorBoard event files here (others ignore it). */
  tensorboardDir?: string;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (m: EpochMetrics) => void;
  signal?: AbortSignal;
}

/** What a worker did. */
export interface WorkerResult {
  worker: string;
  steps: number;
  rows: number;
  epochs: EpochMetrics[];
}

const check = optionsChecker(workerOptionsError);
const schema = {
  spec: any,
  index: int(0, 4095),
  id: str,
  ps: (v: unknown) =>
    Array.isArray(v) && v.every((e) => typeof e?.host === 'string' && Number.isInteger(e?.port))
      ? undefined
      : 'must be an array of {host, port}',
  token: str,
  plan: (v: unknown) => (typeof v === 'object' && v !== null && 'slices' in v ? undefined : 'must be a ShardPlan'),
  kafka: (v: unknown) =>
    typeof (v as { bootstrap?: unknown })?.bootstrap === 'string' ? undefined : 'must be a KafkaConnection',
  partitions: (v: unknown) =>
    Array.isArray(v) && v.every((p) => Number.isInteger(p) && p >= 0) ? undefined : 'must be an array of partitions',
  generation: int(0, 0xffff_ffff),
  resume: (v: unknown) => {
    const r = v as Partial<WorkerResume> | null;
    return typeof r === 'object' &&
      r !== null &&
      Number.isSafeInteger(r.step) &&
      Number.isInteger(r.cursor?.skip) &&
      Number.isInteger(r.cursor?.position?.epoch)
      ? undefined
      : 'must be { step, cursor: { position, skip } } (see workerResumes)';
  },
  tensorboardDir: str,
  onStep: fn,
  onEpoch: fn,
  signal: (v: unknown) => (v instanceof AbortSignal ? undefined : 'must be an AbortSignal'),
};

/** Trains until every epoch is done. Throws PETAL_WORKER_* errors, or the PS, feed or transport error that stopped it. */
export async function runWorker(options: WorkerOptions): Promise<WorkerResult> {
  check('worker options', options, schema, ['spec', 'index', 'ps', 'token', 'plan', 'kafka', 'partitions']);
  const spec = validateJobSpec(options.spec);
  if (options.index >= spec.workers) throw workerOptionsError(`worker options.index must be below spec.workers`);
  const worker = options.id ?? `worker-${options.index}`;
  const sync = spec.mode === 'sync';
  const chief = options.index === 0;
  const aborted = (): void => {
    if (options.signal?.aborted) {
      throw new WorkerError('PETAL_WORKER_ABORTED', `${worker} was stopped`, { cause: options.signal.reason });
    }
  };

  const model = await createTrainStep({
    topology: spec.model.topology,
    loss: spec.compile.loss,
    metrics: spec.compile.metrics,
    trainable: spec.model.trainable,
  });
  const client = await connectPs({
    endpoints: options.ps,
    token: options.token,
    plan: options.plan,
    worker,
    generation: options.generation,
    // The next step's variables go into the model as they arrive, while the rest is still on the wire.
    onValues: (name, values) => model.setWeights(new Map([[name, values]])),
  }).catch((e: unknown) => {
    model.dispose();
    throw e;
  });
  const train =
    options.partitions.length > 0
      ? feed({
          connection: options.kafka,
          topic: spec.feeds.train.topic,
          name: `train-${worker}`,
          batchSize: spec.feeds.train.batchSize ?? spec.batchSize,
          partitions: options.partitions,
          features: spec.feeds.train.features,
          epochs: spec.epochs,
          shuffleBuffer: spec.feeds.train.shuffleBuffer,
          seed: spec.seed,
          ...(options.resume ? { resume: options.resume.cursor.position } : {}),
        })
      : undefined;
  const cursor = new CursorTracker(options.resume?.cursor.position);
  const board: TensorBoardLog | undefined =
    chief && options.tensorboardDir ? openTensorBoardLog(options.tensorboardDir) : undefined;
  const onAbort = (): void => void client.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const result: WorkerResult = { worker, steps: 0, rows: 0, epochs: [] };
  try {
    aborted();
    model.setWeights(await client.pullFrozen());
    const batches = train?.[Symbol.asyncIterator]();
    const next = async (): Promise<FeedBatch | undefined> => {
      const r = await batches?.next();
      return r && !r.done ? r.value : undefined;
    };
    const firstEpoch = options.resume?.cursor.position.epoch ?? 0;
    let step = options.resume?.step ?? 0;
    let t = performance.now();
    let batch = await next();
    // Batches of the resumed group already trained on before the checkpoint: taken, not trained on again.
    for (let skip = options.resume?.cursor.skip ?? 0; skip > 0 && batch?.epoch === firstEpoch; skip--) {
      cursor.take(batch);
      batch = await next();
    }
    let inputMs = performance.now() - t;
    for (let epoch = firstEpoch; epoch < spec.epochs; epoch++) {
      const e = new EpochSums(worker, epoch);
      const began = performance.now();
      while (batch && batch.epoch === epoch) {
        aborted();
        if (!batch.ys) {
          throw new WorkerError('PETAL_WORKER_FEED', `the train feed ${spec.feeds.train.topic} has no labels (ys)`, {
            fix: 'give job.feeds.train.features a ys column',
          });
        }
        const t0 = performance.now();
        const pulled = await client.pull(step);
        const t1 = performance.now();
        if (sync) step = pulled.globalStep;
        model.setWeights(new Map([...pulled.values].filter(([name]) => !pulled.delivered.has(name))));
        // Each gradient goes to the PS as soon as it is out of TensorFlow, while the next ones are copied out.
        const pushing = client.pushStream(step, cursor.take(batch));
        const r = await model.streamGradients(batch.xs, batch.ys, pushing.add);
        const t2 = performance.now();
        const accepted = await pushing.done();
        const t3 = performance.now();
        const m: StepMetrics = {
          worker,
          epoch,
          step,
          rows: r.rows,
          loss: r.loss,
          metrics: r.metrics,
          examplesPerSec: (r.rows * 1000) / (t3 - t0 + inputMs),
          computeMs: t2 - t1,
          exchangeMs: t1 - t0 - pulled.waitedMs + (t3 - t2),
          waitMs: pulled.waitedMs,
          inputMs,
          accepted,
        };
        e.add(m);
        board?.step(m);
        options.onStep?.(m);
        step++;
        t = performance.now();
        batch = await next();
        inputMs = performance.now() - t;
      }
      const t4 = performance.now();
      step = await client.epochDone(epoch);
      e.waitMs += performance.now() - t4;
      let validation: BatchResult | undefined;
      if (chief && spec.feeds.validation) {
        model.setWeights((await client.pull(step)).values);
        validation = await validate(spec, options.kafka, model.evaluate);
      }
      const em = e.finish(performance.now() - began, validation);
      result.epochs.push(em);
      result.steps += em.steps;
      result.rows += em.rows;
      board?.epoch(em);
      board?.flush();
      options.onEpoch?.(em);
    }
    return result;
  } finally {
    board?.close();
    options.signal?.removeEventListener('abort', onAbort);
    await train?.close();
    await client.close();
    model.dispose();
  }
}

async function validate(
  spec: JobSpec,
  kafka: KafkaConnection,
  evaluate: (xs: FeedBatch['xs'], ys: NonNullable<FeedBatch['ys']>) => BatchResult,
): Promise<BatchResult> {
  const v = spec.feeds.validation!;
  const f = feed({
    connection: kafka,
    topic: v.topic,
    name: 'validation',
    batchSize: v.batchSize ?? spec.batchSize,
    features: v.features,
    epochs: 1,
    shuffleBuffer: 0,
  });
  const sums = { rows: 0, loss: 0, metrics: {} as Record<string, number> };
  try {
    for await (const b of f) {
      if (!b.ys) throw new WorkerError('PETAL_WORKER_FEED', 'the validation feed has no labels (ys)');
      const r = evaluate(b.xs, b.ys);
      sums.rows += r.rows;
      sums.loss += r.loss * r.rows;
      for (const [k, x] of Object.entries(r.metrics)) sums.metrics[k] = (sums.metrics[k] ?? 0) + x * r.rows;
    }
  } finally {
    await f.close();
  }
  const n = Math.max(sums.rows, 1);
  return {
    rows: sums.rows,
    loss: sums.loss / n,
    metrics: Object.fromEntries(Object.entries(sums.metrics).map(([k, x]) => [k, x / n])),
  };
}

/** Row-weighted sums of one epoch's steps. */
class EpochSums {
  readonly worker: string;
  readonly epoch: number;
  steps = 0;
  rows = 0;
  loss = 0;
  metrics: Record<string, number> = {};
  computeMs = 0;
  exchangeMs = 0;
  waitMs = 0;
  inputMs = 0;

  constructor(worker: string, epoch: number) {
    this.worker = worker;
    this.epoch = epoch;
  }

  add(m: StepMetrics): void {
    this.steps++;
    this.rows += m.rows;
    this.loss += m.loss * m.rows;
    for (const [k, x] of Object.entries(m.metrics)) this.metrics[k] = (this.metrics[k] ?? 0) + x * m.rows;
    this.computeMs += m.computeMs;
    this.exchangeMs += m.exchangeMs;
    this.waitMs += m.waitMs;
    this.inputMs += m.inputMs;
  }

  finish(wallMs: number, validation: BatchResult | undefined): EpochMetrics {
    const n = Math.max(this.rows, 1);
    return {
      worker: this.worker,
      epoch: this.epoch,
      steps: this.steps,
      rows: this.rows,
      loss: this.loss / n,
      metrics: Object.fromEntries(Object.entries(this.metrics).map(([k, x]) => [k, x / n])),
      examplesPerSec: (this.rows * 1000) / Math.max(wallMs, 1e-3),
      computeMs: this.computeMs,
      exchangeMs: this.exchangeMs,
      waitMs: this.waitMs,
      inputMs: this.inputMs,
      ...(validation ? { validation } : {}),
    };
  }
}
