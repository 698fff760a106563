// The broker stops and restarts (same data dir, same ports) while stream() is producing: the idempotent producer's
// retries carry the stream across the gap, and feed() then counts every id exactly once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import { startBroker } from '../kafka/broker.ts';
import type { Broker } from '../kafka/broker.ts';
import { loadTf } from '../tf/tf.ts';
import { feed } from './feed.ts';
import { stream } from './stream.ts';

const tf = loadTf();
let broker: Broker;
let dir: string;
const brokerOptions = () => ({ dataDir: join(dir, 'kafka'), logFile: join(dir, 'kafka', 'broker.log') });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'petal-feed-restart-'));
  broker = await startBroker(brokerOptions());
});
after(async () => {
  try {
    await broker?.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const CHUNKS = 40;
const CHUNK_ROWS = 5_000;
const N = CHUNKS * CHUNK_ROWS;
/** The topic the first test streams, read again by the second. */
let streamed: string | undefined;

test('a broker restart in the middle of stream() loses and duplicates nothing', { timeout: 150_000 }, async (t) => {
  const { connection, port, controllerPort } = broker;
  let restart: Promise<void> | undefined;
  let pulledAtStop = 0;
  let acknowledged = 0;
  let acknowledgedWhenDown = -1;
  // Chunks are pulled as the producer needs them; the restart starts a third of the way in, while sends are in flight.
  async function* chunks(): AsyncGenerator<Table> {
    for (let c = 0; c < CHUNKS; c++) {
      if (c === Math.floor(CHUNKS / 3)) {
        pulledAtStop = c;
        restart = (async () => {
          await broker.stop();
          acknowledgedWhenDown = acknowledged;
          broker = await startBroker({ ...brokerOptions(), port, controllerPort });
        })();
      }
      const id = Int32Array.from({ length: CHUNK_ROWS }, (_, i) => c * CHUNK_ROWS + i);
      yield tableFromArrays({ id, x: Float32Array.from(id, (i) => i / 2) });
    }
  }
  const started = Date.now();
  const summary = await stream(chunks(), {
    connection,
    topic: 'restart',
    partitions: 4,
    messageBytes: 16 * 1024,
    onProgress: (p) => (acknowledged = p.rows),
  });
  await restart;
  t.diagnostic(
    `restart began after ${pulledAtStop} of ${CHUNKS} chunks; ${acknowledgedWhenDown} of ${N} rows acknowledged ` +
      `when the broker was down; stream took ${Date.now() - started} ms`,
  );
  // The restart really fell in the middle: part of the data was acknowledged before, the rest after it.
  assert.ok(acknowledgedWhenDown > 0 && acknowledgedWhenDown < N, `acknowledged ${acknowledgedWhenDown}`);
  assert.equal(summary.rows, N);
  streamed = summary.topic;

  const f = feed({ connection: broker.connection, topic: summary.topic, batchSize: 2000, features: { xs: 'id' } });
  const seen = new Uint8Array(N);
  for await (const batch of f) for (const id of batch.xs.dataSync()) seen[id]!++;
  await f.close();
  assert.equal(f.stats().rows, N);
  assert.ok(
    seen.every((c) => c === 1),
    `ids lost: ${seen.filter((c) => c === 0).length}, repeated: ${seen.filter((c) => c > 1).length}`,
  );
  assert.equal(tf.memory().numTensors, 0);
});

test(
  'a broker restart between epochs of feed(): it reconnects, and every id arrives once per epoch',
  { timeout: 150_000 },
  async (t) => {
    assert.ok(streamed, 'the stream test ran first');
    const { connection, port, controllerPort } = broker;
    const f = feed({ connection, topic: streamed, batchSize: 2000, epochs: 2, features: { xs: 'id' } });
    const seen = [new Uint8Array(N), new Uint8Array(N)];
    let restartedAt: number | undefined;
    for await (const batch of f) {
      for (const id of batch.xs.dataSync()) seen[batch.epoch]![id]!++;
      // Halfway through the first epoch every byte of it has been fetched: the second epoch's first fetches meet the
      // connections the restart broke.
      if (restartedAt === undefined && f.stats().rows >= N / 2) {
        restartedAt = f.stats().rows;
        await broker.stop();
        broker = await startBroker({ ...brokerOptions(), port, controllerPort });
      }
    }
    await f.close();
    t.diagnostic(`restarted after ${restartedAt} rows`);
    assert.equal(f.stats().rows, 2 * N);
    for (const [epoch, counts] of seen.entries()) {
      assert.ok(
        counts.every((c) => c === 1),
        `epoch ${epoch}: ids lost ${counts.filter((c) => c === 0).length}, repeated ${counts.filter((c) => c > 1).length}`,
      );
    }
    assert.equal(tf.memory().numTensors, 0);
  },
);
