// stream() and feed() against a real broker (one per file, shared by its tests): exactly-once delivery, order,
// epochs, named feeds side by side, resume positions, and every bad input with its own error.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import { isPetalError } from '../errors.ts';
import { createAdmin, topicPartitions } from '../kafka/client.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { loadTf } from '../tf/tf.ts';
import { feed } from './feed.ts';
import { stream } from './stream.ts';

const tf = loadTf();
const testBroker = useTestBroker('petal-feed');

function numericTable(n: number) {
  const id = new Int32Array(n);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    id[i] = i;
    x[i] = i * 0.5;
  }
  return tableFromArrays({ id, x });
}

describe('stream and feed', { timeout: 180_000 }, () => {
  let topic: string;
  const N = 100_000;

  test('a table smaller than one message still reaches every partition, so no worker trains on nothing', async () => {
    const summary = await stream(numericTable(103), {
      connection: testBroker().connection,
      topic: 'few',
      partitions: 4,
    });
    assert.deepEqual(summary.partitionRows, [26, 26, 26, 25]);
  });

  test('100 k rows over 8 partitions: every id once per epoch, two epochs the same multiset', async () => {
    const progress: number[] = [];
    const summary = await stream(numericTable(N), {
      connection: testBroker().connection,
      topic: 'ids',
      partitions: 8,
      messageBytes: 64 * 1024,
      features: { xs: ['id', 'x'] },
      onProgress: (p) => progress.push(p.rows),
    });
    topic = summary.topic;
    assert.match(topic, /^ids-\d{8}-\d{6}/);
    assert.equal(summary.rows, N);
    assert.equal(summary.partitions, 8);
    assert.equal(
      summary.partitionRows.reduce((a, b) => a + b, 0),
      N,
    );
    // Equal shares: the workers of a sync step see the same rows per epoch (within one message's remainder).
    assert.ok(Math.max(...summary.partitionRows) - Math.min(...summary.partitionRows) < 8, `${summary.partitionRows}`);
    assert.equal(progress.at(-1), N);
    assert.deepEqual(
      summary.schema.map((c) => c.name),
      ['id', 'x'],
    );

    const f = feed({
      connection: testBroker().connection,
      topic,
      batchSize: 1000,
      epochs: 2,
      shuffleBuffer: 5000,
      seed: 7,
    });
    const seen = [new Uint8Array(N), new Uint8Array(N)];
    const before = tf.memory().numTensors;
    for await (const batch of f) {
      assert.deepEqual(batch.xs.shape.slice(1), [2]);
      const values = batch.xs.dataSync();
      for (let i = 0; i < batch.rows; i++) {
        const id = values[2 * i]!;
        assert.equal(values[2 * i + 1], id * 0.5);
        seen[batch.epoch]![id]!++;
      }
    }
    await f.close();
    assert.equal(tf.memory().numTensors, before, 'the feed leaked tensors');
    for (const epoch of seen)
      assert.ok(
        epoch.every((c) => c === 1),
        'an id was lost or repeated',
      );
    assert.deepEqual(f.stats(), { rows: 2 * N, batches: 200, skipped: 0, epoch: 1 });
  });

  test('without shuffling, each partition arrives in order; positions resume mid-epoch', async () => {
    const f = feed({
      connection: testBroker().connection,
      topic,
      batchSize: 500,
      partitions: [3],
      shuffleBuffer: 0,
      features: { xs: 'id' },
    });
    let last = -1;
    let rows = 0;
    let position;
    let firstUndelivered = -1;
    for await (const batch of f) {
      for (const id of batch.xs.dataSync()) {
        assert.ok(id > last, `id ${id} after ${last}`);
        last = id;
      }
      rows += batch.rows;
      if (rows === 5000) position = batch.position;
      // A position is where the feed stands after the group of batches that carry it.
      else if (position && firstUndelivered < 0 && JSON.stringify(batch.position) !== JSON.stringify(position))
        firstUndelivered = batch.xs.dataSync()[0]!;
    }
    await f.close();
    assert.ok(position);
    // Resuming continues exactly after the position's group: nothing lost, nothing repeated.
    const resumed = feed({
      connection: testBroker().connection,
      topic,
      batchSize: 500,
      partitions: [3],
      shuffleBuffer: 0,
      features: { xs: 'id' },
      resume: position,
    });
    const ids: number[] = [];
    for await (const batch of resumed) ids.push(...batch.xs.dataSync());
    await resumed.close();
    assert.equal(ids[0], firstUndelivered);
    assert.equal(ids.at(-1), last);
    assert.ok(
      ids.every((id, i) => i === 0 || id > ids[i - 1]!),
      'the resumed rows are out of order',
    );
  });

  test('bad input: each gets its own error naming the topic and column', async () => {
    const connection = testBroker().connection;
    const code = (c: string, pattern: RegExp) => (err: unknown) => {
      assert.ok(isPetalError(err, c), `${String(err)} is not ${c}`);
      assert.match(err.message, pattern);
      assert.ok(err.fix);
      return true;
    };
    await assert.rejects(stream([], { connection, topic: 'e' }), code('PETAL_FEED_EMPTY', /no rows.*topic e-/));
    await assert.rejects(
      stream(numericTable(10), { connection, topic: 'e', features: { xs: 'nope' } }),
      code('PETAL_FEED_MISSING_COLUMN', /column "nope"/),
    );
    await assert.rejects(
      stream([{ a: 'x' }], { connection, topic: 'e', features: { xs: { column: 'a', kind: 'vector' } } }),
      code('PETAL_FEED_TYPE', /column "a"/),
    );
    await assert.rejects(
      stream([{ a: 1 }, { a: null }], { connection, topic: 'e', features: { xs: 'a' } }),
      code('PETAL_FEED_NULLS', /column "a", row 1/),
    );
    await assert.rejects(
      stream(
        [
          { x: 1, y: 0 },
          { x: 2, y: Number.NaN },
        ],
        { connection, topic: 'e', features: { xs: 'x', ys: { column: 'y', kind: 'label', depth: 2 } } },
      ),
      code('PETAL_FEED_NAN_LABEL', /column "y", row 1/),
    );
    await assert.rejects(
      stream(
        [
          { x: 1, y: 'cat' },
          { x: 2, y: 'dog' },
        ],
        { connection, topic: 'e', vocabularies: { y: ['cat'] } },
      ),
      code('PETAL_FEED_UNKNOWN_LABEL', /"dog".*column "y", row 1/),
    );
    await assert.rejects(
      stream([{ v: [1, 2] }, { v: [1, 2, 3] }], { connection, topic: 'e', features: { xs: 'v' } }),
      code('PETAL_FEED_RAGGED', /column "v", row 1/),
    );
    await assert.rejects(
      stream(numericTable(10), { connection, topic, fresh: false }),
      code('PETAL_FEED_TOPIC_EXISTS', /complete stream/),
    );
    await assert.rejects(
      stream([{ other: 1 }], { connection, topic, fresh: false }),
      code('PETAL_FEED_SCHEMA', /another schema/),
    );
    assert.throws(() => feed({ connection, topic, batchSize: 0 }), /feed\.batchSize must be an integer ≥ 1/);
    assert.throws(() => feed({ connection, topic, batchSize: 1, bogus: 1 } as never), /feed\.bogus is unknown/);
  });

  test('an aborted stream stops, names where it stopped and leaves no topic behind', async () => {
    const connection = testBroker().connection;
    const controller = new AbortController();
    let topic = '';
    const stopped = stream(numericTable(200_000), {
      connection,
      topic: 'aborted',
      partitions: 4,
      messageBytes: 64 * 1024,
      signal: controller.signal,
      onProgress: (p) => {
        topic = p.topic;
        if (p.rows > 20_000) controller.abort();
      },
    });
    await assert.rejects(
      stopped,
      (e: unknown) =>
        isPetalError(e, 'PETAL_STREAM_ABORTED') &&
        /interrupted after \d+ rows; the partial topic is deleted/.test(e.message),
    );
    const admin = createAdmin(connection);
    try {
      assert.equal(await topicPartitions(admin, topic), undefined, `${topic} was deleted`);
    } finally {
      await admin.close();
    }
  });

  test('train and validation feeds run side by side', async () => {
    const val = await stream(numericTable(10_000), {
      connection: testBroker().connection,
      topic: 'val',
      partitions: 2,
      messageBytes: 16 * 1024,
    });
    const train = feed({
      connection: testBroker().connection,
      topic,
      name: 'train',
      batchSize: 4096,
      features: { xs: 'x', ys: 'id' },
    });
    const validation = feed({
      connection: testBroker().connection,
      topic: val.topic,
      name: 'validation',
      batchSize: 1000,
      features: { xs: 'x', ys: 'id' },
    });
    const t = train[Symbol.asyncIterator]();
    const v = validation[Symbol.asyncIterator]();
    let trainRows = 0;
    let valRows = 0;
    for (;;) {
      const [a, b] = await Promise.all([t.next(), v.next()]);
      if (!a.done) trainRows += a.value.rows;
      if (!b.done) valRows += b.value.rows;
      if (a.done && b.done) break;
    }
    await Promise.all([train.close(), validation.close()]);
    assert.equal(trainRows, N);
    assert.equal(valRows, 10_000);
  });
});
