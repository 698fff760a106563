// End to end over a real broker and real sockets: 1 PS (2 in async) + 2 workers learn a 3-class problem in every
// mode; sync equals single-process training on the concatenated batches; uneven partitions neither hang nor drop
// a row; tensors stay flat; the exported model loads with tf.loadLayersModel and predicts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Tensor } from '@tensorflow/tfjs-node';
import { feed, stream } from '../feed/index.ts';
import type { PsMode } from '../ps/index.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { loadTf } from '../tf/tf.ts';
import { trainLocalCluster } from './train-local-cluster.ts';
import type { StepMetrics } from './worker.ts';
import { blobs, features, topology } from './testing/blobs.ts';

const tf = loadTf();
const broker = useTestBroker('petal-worker');
const dir = mkdtempSync(path.join(tmpdir(), 'petal-worker-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const N = 3200;
const BATCH = 32;

let train4 = ''; // 4 partitions of 800 rows
let train2 = ''; // 2 partitions of 1600 rows
let validation = '';

function job(mode: PsMode, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: { topology: topology() },
    compile: {
      optimizer: { name: 'adam', learningRate: 0.02 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    feeds: { train: { topic: train4 }, validation: { topic: validation } },
    batchSize: BATCH,
    epochs: 2,
    mode,
    ps: 1,
    workers: 2,
    seed: 3,
    ...over,
  };
}

describe('1 PS + 2 workers', { timeout: 120_000 }, () => {
  before(async () => {
    const connection = broker().connection;
    // 12 bytes a row: 160 rows a message, so partitions hold whole batches of 32.
    const opts = { connection, features, messageBytes: 1920 };
    const t4 = await stream(blobs(N, 1), { ...opts, topic: 'train4', partitions: 4 });
    const t2 = await stream(blobs(N, 1), { ...opts, topic: 'train2', partitions: 2 });
    const v = await stream(blobs(600, 2), { ...opts, topic: 'validation', partitions: 2 });
    assert.deepEqual(t4.partitionRows, [800, 800, 800, 800]);
    assert.deepEqual(t2.partitionRows, [1600, 1600]);
    [train4, train2, validation] = [t4.topic, t2.topic, v.topic];
  });

  for (const [mode, ps] of [
    ['sync', 1],
    ['async', 2],
    ['ssp:1', 1],
  ] as const) {
    test(`${mode} (${ps} PS) reaches ≥ 0.9 validation accuracy; tensors flat; every row used`, async (t) => {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      const steps: StepMetrics[] = [];
      const result = await trainLocalCluster({
        spec: job(mode, { ps }),
        kafka: broker().connection,
        outDir: path.join(dir, mode.replace(':', '-')),
        onStep: (m) => {
          steps.push(m);
          counts.push(tf.memory().numTensors);
        },
      });
      const acc = result.final!.validation!.metrics.accuracy!;
      assert.ok(acc >= 0.9, `${mode}: validation accuracy ${acc}`);
      assert.equal(result.final!.validation!.rows, 600);
      for (const w of result.workers) assert.equal(w.rows, 2 * (N / 2), 'each worker read its 2 partitions twice');
      assert.equal(result.psStats[0]!.pushes, (2 * N) / BATCH);
      assert.equal(result.globalStep, mode === 'sync' ? N / BATCH : (2 * N) / BATCH);
      assert.ok(steps.every((s) => s.accepted && s.computeMs >= 0 && s.exchangeMs >= 0 && s.waitMs >= 0));
      // In-process, two workers' feeds (prefetch, shuffle pools) move the count up and down; it must not grow.
      const late = counts.slice(-20);
      const early = counts.slice(10, 30);
      assert.ok(Math.max(...late) <= Math.max(...early) + 4, `numTensors grew: ${early} → ${late}`);
      assert.equal(tf.memory().numTensors, before, 'nothing leaked once the run is over');

      const model = await tf.loadLayersModel(`file://${result.modelPath}`);
      const data = blobs(300, 9);
      const xs = tf.tensor2d(
        Array.from({ length: 300 }, (_, i) => [data.getChild('x0')!.get(i)!, data.getChild('x1')!.get(i)!]),
      );
      const predicted = tf.tidy(() => (model.predict(xs) as Tensor).argMax(-1).dataSync());
      const labels = data.getChild('label')!.toArray() as Int32Array;
      const exported = predicted.filter((p, i) => p === labels[i]).length / 300;
      assert.ok(exported >= 0.9, `exported model accuracy ${exported}`);
      t.diagnostic(`validation accuracy ${acc.toFixed(4)}, exported model ${exported.toFixed(4)}`);
      xs.dispose();
      model.dispose();
    });
  }

  test('sync equals single-process training on the two workers’ concatenated batches', async (t) => {
    // Fixed initial weights (through job.model.initialWeights) and no shuffling.
    const init = tf.sequential({
      layers: [
        tf.layers.dense({ units: 16, activation: 'relu', inputShape: [2], name: 'hidden' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ],
    });
    const initDir = path.join(dir, 'init');
    await init.save(`file://${initDir}`);
    const result = await trainLocalCluster({
      spec: job('sync', {
        model: { topology: topology(), initialWeights: initDir },
        feeds: { train: { topic: train2, shuffleBuffer: 0 } },
      }),
      kafka: broker().connection,
      outDir: path.join(dir, 'equal'),
    });

    // The reference: plain tfjs, one process, trainOnBatch on worker 0's batch k ++ worker 1's batch k.
    init.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = await Promise.all(
        [0, 1].map(async (p) => {
          const out: { xs: Tensor; ys: Tensor }[] = [];
          const f = feed({
            connection: broker().connection,
            topic: train2,
            batchSize: BATCH,
            partitions: [p],
            shuffleBuffer: 0,
          });
          for await (const b of f) out.push({ xs: b.xs.clone(), ys: b.ys!.clone() });
          await f.close();
          return out;
        }),
      );
      assert.equal(batches[0]!.length, 1600 / BATCH);
      for (let k = 0; k < batches[0]!.length; k++) {
        const [a, b] = [batches[0]![k]!, batches[1]![k]!];
        const xs = tf.concat([a.xs, b.xs]);
        const ys = tf.concat([a.ys, b.ys]);
        await init.trainOnBatch(xs, ys);
        tf.dispose([xs, ys, a.xs, a.ys, b.xs, b.ys]);
      }
    }
    const trained = await tf.loadLayersModel(`file://${result.modelPath}`);
    let maxDiff = 0;
    init.getWeights().forEach((w, i) => {
      const got = trained.getWeights()[i]!.dataSync();
      w.dataSync().forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - got[j]!))));
    });
    assert.equal(result.globalStep, 2 * (1600 / BATCH));
    assert.ok(maxDiff <= 1e-4, `max |distributed − single-process| = ${maxDiff} (tolerance 1e-4)`);
    t.diagnostic(`max |distributed − single-process| weight difference ${maxDiff.toExponential(2)}`);
    trained.dispose();
    init.dispose();
  });

  test('sync with uneven partitions (3 : 1) neither hangs nor drops a row', async () => {
    const epochs: { worker: string; epoch: number; rows: number; steps: number }[] = [];
    const result = await trainLocalCluster({
      spec: job('sync', { epochs: 2 }),
      kafka: broker().connection,
      outDir: path.join(dir, 'uneven'),
      assignments: [[0, 1, 2], [3]],
      onEpoch: (m) => epochs.push({ worker: m.worker, epoch: m.epoch, rows: m.rows, steps: m.steps }),
    });
    for (const epoch of [0, 1]) {
      const these = epochs.filter((e) => e.epoch === epoch);
      assert.equal(
        these.reduce((n, e) => n + e.rows, 0),
        N,
        `epoch ${epoch}: every row once`,
      );
      assert.deepEqual(
        these.map((e) => e.steps).sort((a, b) => a - b),
        [800 / BATCH, 2400 / BATCH],
      );
    }
    // Steps both pushed count once; the rest are worker 0's alone.
    assert.equal(result.globalStep, 2 * (2400 / BATCH));
    assert.equal(result.psStats[0]!.pushes, (2 * N) / BATCH);
    assert.deepEqual(result.psStats[0]!.dropped, { stale: 0, duplicate: 0, notLive: 0, generation: 0 });
    assert.ok(result.final!.validation!.metrics.accuracy! >= 0.9);
  });
});
