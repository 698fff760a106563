// The flowers recipe end to end, reduced: 500 real tf_flowers photos streamed as an Arrow table (JPEG bytes + a
// string label), a MobileNet transfer model fine-tuned by 1 PS + 2 worker processes through the augmented image
// feed, and validated on the held-out photos well above chance (5 classes: 0.2).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { startCluster } from '../coordinator/cluster.ts';
import { imageTable, listImageFolder } from '../datasets/image-folder.ts';
import { stratifiedSplit } from '../datasets/split.ts';
import { stream } from '../feed/index.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { runtimeDir } from '../env/locations.ts';
import { transferJob } from './transfer-job.ts';
import { transferModel } from './mobilenet.ts';

const flowers = path.join(runtimeDir, '..', '..', 'shared', 'data', 'flowers');
const broker = useTestBroker('petal-models');
const dir = mkdtempSync(path.join(tmpdir(), 'petal-transfer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('1 PS + 2 workers fine-tune MobileNet on flowers photos to well above chance', { timeout: 600_000 }, async (t) => {
  const entries = await listImageFolder(flowers, { perClass: 100 });
  const split = stratifiedSplit(entries, { key: (e) => e.label, seed: 42 });
  const { validation } = split;
  const train = interleaveClasses(split.train);
  const connection = broker().connection;
  // Small messages spread the photos over every partition, so both workers get a share.
  const options = { connection, messageBytes: 128 * 1024 };
  const trainTopic = await stream(await imageTable(train), { ...options, topic: 'flowers-train', partitions: 4 });
  const valTopic = await stream(await imageTable(validation), { ...options, topic: 'flowers-val', partitions: 2 });
  assert.deepEqual(trainTopic.vocabularies.label, ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']);

  const model = await transferModel({ classes: 5, fineTune: ['conv_pw_13'] });
  const initialWeights = await model.save(path.join(dir, 'initial'));
  const job = transferJob({
    model,
    initialWeights,
    train: trainTopic.topic,
    validation: valTopic.topic,
    epochs: 3,
    batchSize: 16,
  });
  model.dispose();
  assert.deepEqual(job.feeds.validation?.features?.xs, {
    column: 'image',
    kind: 'image',
    height: 224,
    width: 224,
    channels: 3,
    scale: [-1, 1],
  });

  // A 224-px MobileNet step holds a worker's event loop for seconds on a busy 2-core machine: a generous heartbeat
  // timeout keeps such a worker from being declared dead (and the job rolled back) mid-step.
  const cluster = await startCluster({
    ps: 1,
    workers: 2,
    deadlineMs: 120_000,
    heartbeatTimeoutMs: 120_000,
    stateDir: dir,
  });
  try {
    const rows = new Map<string, number>();
    const result = await cluster.train(job, connection, {
      outDir: path.join(dir, 'run'),
      onEpoch: (m) => rows.set(`${m.worker} epoch ${m.epoch}`, m.rows),
    });
    assert.deepEqual(result.rollbacks, [], 'no worker was lost');
    assert.equal(
      [...rows.values()].reduce((a, b) => a + b, 0),
      3 * train.length,
      'every photo, every epoch',
    );
    assert.ok(
      [...rows.values()].every((n) => n > 0),
      `both workers trained: ${JSON.stringify([...rows])}`,
    );
    const validated = result.final!.validation!;
    assert.equal(validated.rows, validation.length, 'the whole held-out set');
    const accuracy = validated.metrics['accuracy']!;
    assert.ok(accuracy > 0.5, `validation accuracy ${accuracy}`);
    t.diagnostic(`validation accuracy ${accuracy.toFixed(3)} on ${validated.rows} photos`);
  } finally {
    await cluster.stop();
  }
});

/** The items class by class in turn (the split lists them one class after another): mixed batches from the start. */
function interleaveClasses<T extends { label: string }>(items: readonly T[]): T[] {
  const rank = new Map<T, number>();
  const seen = new Map<string, number>();
  for (const item of items) {
    const n = seen.get(item.label) ?? 0;
    rank.set(item, n);
    seen.set(item.label, n + 1);
  }
  return [...items].sort((a, b) => rank.get(a)! - rank.get(b)!);
}
