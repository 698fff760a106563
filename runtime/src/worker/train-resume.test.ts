// Periodic checkpoints with feed cursors, and resume, over a real broker and real sockets: 1 PS + 2 sync workers
// train part of one pass with a checkpoint every 6 steps and are stopped; a second run resumes from the newest
// checkpoint. Every row id is trained on exactly once across both runs, the global step carries on, the restored PS
// state is bit-identical to the saved one, and the chief's TensorBoard events file holds the step and epoch tags.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import { stream } from '../feed/index.ts';
import { validateJobSpec } from '../job/index.ts';
import type { SavedFeedPositions } from '../job/index.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { commonSteps, createPsService, latestCheckpoint } from '../ps/index.ts';
import { loadTf } from '../tf/tf.ts';
import { replayIds } from './testing/replay-ids.ts';
import { prepareModel } from './prepare-model.ts';
import { trainLocalCluster } from './train-local-cluster.ts';
import type { StepMetrics } from './worker.ts';

const tf = loadTf();
const broker = useTestBroker('petal-resume');
const dir = mkdtempSync(path.join(tmpdir(), 'petal-resume-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const N = 1280; // 4 partitions of 320 rows, messages of 160 rows: feed() groups of 5 batches
const BATCH = 32;
const EVERY = 6;
const STOP_AT = 14;

function rows(n: number, seed: number) {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const id = Int32Array.from({ length: n }, (_, i) => i);
  const label = Int32Array.from({ length: n }, (_, i) => i % 3);
  const x0 = Float32Array.from(label, (c) => c + 0.3 * rand());
  const x1 = Float32Array.from(label, (c) => -c + 0.3 * rand());
  return tableFromArrays({ id, x0, x1, label });
}
const features = { xs: ['x0', 'x1'], ys: { column: 'label', kind: 'onehot' as const, depth: 3 } };

let train = '';
/** The feed the job's workers read (seed 5 is the job's), for replays. */
const replayFeed = () => ({ connection: broker().connection, topic: train, batchSize: BATCH, seed: 5, epochs: 1 });
let validation = '';
const checkpoints = path.join(dir, 'checkpoints');

function job(over: Record<string, unknown> = {}): Record<string, unknown> {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'relu', inputShape: [2], name: 'hidden' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  const topology = m.toJSON(null, false) as Record<string, unknown>;
  m.dispose();
  return {
    model: { topology },
    compile: {
      optimizer: { name: 'adam', learningRate: 0.01 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    feeds: { train: { topic: train, features, shuffleBuffer: 0 }, validation: { topic: validation, features } },
    batchSize: BATCH,
    epochs: 1,
    mode: 'sync',
    ps: 1,
    workers: 2,
    seed: 5,
    checkpoint: { dir: checkpoints, everySteps: EVERY, keep: 10 },
    ...over,
  };
}

describe('checkpoints carry feed cursors; resume trains every row once', { timeout: 180_000 }, () => {
  before(async () => {
    const connection = broker().connection;
    const t = await stream(rows(N, 1), { connection, topic: 'train', partitions: 4, features, messageBytes: 160 * 16 });
    assert.deepEqual(t.partitionRows, [320, 320, 320, 320]);
    const v = await stream(rows(300, 2), { connection, topic: 'validation', partitions: 1, features });
    [train, validation] = [t.topic, v.topic];
  });

  const runA: StepMetrics[] = [];
  const runB: StepMetrics[] = [];
  let resumedAt = 0;
  const outB = path.join(dir, 'run-b');

  test('a stopped run resumes from its last checkpoint without re-reading or dropping a row', async (t) => {
    const stop = new AbortController();
    await assert.rejects(
      trainLocalCluster({
        spec: job(),
        kafka: broker().connection,
        outDir: path.join(dir, 'run-a'),
        signal: stop.signal,
        onStep: (m) => {
          runA.push(m);
          if (m.step >= STOP_AT) stop.abort(new Error('test stops run A'));
        },
      }),
      (e: { code?: string }) => e.code === 'PETAL_WORKER_ABORTED',
    );
    const steps = await commonSteps(checkpoints, 1);
    resumedAt = steps.at(-1)!;
    assert.deepEqual(steps, [EVERY, 2 * EVERY], 'periodic checkpoints at every 6th step until the stop');
    const saved = (await latestCheckpoint(checkpoints, 0, resumedAt))!;
    assert.equal(saved.globalStep, resumedAt);
    const positions = saved.feedPositions as SavedFeedPositions;
    assert.equal(positions.epoch, 0);

    const result = await trainLocalCluster({
      spec: job({ resume: { dir: checkpoints } }),
      kafka: broker().connection,
      outDir: outB,
      onStep: (m) => runB.push(m),
    });
    assert.equal(Math.min(...runB.map((m) => m.step)), resumedAt, 'the global step carries on');
    assert.equal(result.globalStep, N / 2 / BATCH, 'one pass of sync steps over both runs');

    // Rows trained: run A's updates up to the checkpoint, then run B's; together exactly one pass.
    const before = runA.filter((m) => m.step < resumedAt);
    const rowsA = before.reduce((a, m) => a + m.rows, 0);
    const rowsB = runB.reduce((a, m) => a + m.rows, 0);
    assert.equal(rowsA + rowsB, N);

    // Ids: replay each worker's partitions up to its saved cursor (what run A trained on) and from it (run B).
    const seen = new Map<number, number>();
    for (const [index, partitions] of [[0, [0, 2]] as const, [1, [1, 3]] as const]) {
      const worker = `worker-${index}`;
      const cursor = positions.workers[worker]!;
      const batchesA = before.filter((m) => m.worker === worker).length;
      const a = await replayIds(replayFeed(), [...partitions], batchesA);
      assert.deepEqual(a.last, cursor, `${worker}: the saved cursor is where its ${batchesA} batches end`);
      const b = await replayIds(replayFeed(), [...partitions], Infinity, cursor);
      assert.equal(b.ids.length / BATCH, runB.filter((m) => m.worker === worker).length, `${worker}: run B batches`);
      for (const id of [...a.ids, ...b.ids]) seen.set(id, (seen.get(id) ?? 0) + 1);
      t.diagnostic(`${worker}: cursor ${JSON.stringify(cursor)}; ${a.ids.length} rows before, ${b.ids.length} after`);
    }
    assert.equal(seen.size, N, 'every id trained on');
    assert.ok(
      [...seen.values()].every((c) => c === 1),
      'no id trained on twice',
    );
  });

  test('the restored PS state is bit-identical to the saved checkpoint', async () => {
    const spec = validateJobSpec(job());
    const { plan, values } = await prepareModel(spec);
    const service = createPsService({
      token: 'x'.repeat(32),
      plan,
      psIndex: 0,
      optimizer: { type: 'adam', learningRate: 0.01 },
      workers: ['worker-0', 'worker-1'],
      values,
    });
    try {
      const restored = await service.restore(checkpoints, resumedAt);
      assert.equal(restored?.globalStep, resumedAt);
      const saved = (await latestCheckpoint(checkpoints, 0, resumedAt))!;
      const now = service.store.snapshot();
      assert.equal(now.globalStep, saved.globalStep);
      assert.deepEqual(now.optimizerState, saved.optimizerState);
      const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      assert.equal(now.trainable.length, saved.trainable.length);
      now.trainable.forEach((s, i) => {
        const o = saved.trainable[i]!;
        assert.equal(s.slice.id, o.slice.id);
        assert.ok(bytes(s.params).equals(bytes(o.params)), `${s.slice.id} params`);
        s.slots.forEach((slot, k) => assert.ok(bytes(slot).equals(bytes(o.slots[k]!)), `${s.slice.id} slot ${k}`));
      });
    } finally {
      service.close();
    }
  });

  test('the chief writes TensorBoard events with step, epoch and validation tags', () => {
    const logdir = path.join(outB, 'tensorboard');
    const files = readdirSync(logdir).filter((f) => f.startsWith('events.out.tfevents'));
    assert.ok(files.length >= 1, `an events file in ${logdir}`);
    const raw = Buffer.concat(files.map((f) => readFileSync(path.join(logdir, f))));
    for (const tag of [
      'train/loss',
      'train/accuracy',
      'train/examples_per_sec',
      'epoch/loss',
      'validation/loss',
      'validation/accuracy',
    ]) {
      assert.ok(raw.includes(tag), `tag ${tag}`);
    }
  });
});
