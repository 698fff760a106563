// A child process for memory-bound tests: streams (`stream`) or feeds (`feed`) a large topic and prints one JSON
// line with its peak RSS (VmHWM), the RSS after start-up, and what it moved. A separate process, so the peak is
// this run's alone. Usage: node memory-child.ts stream|feed <connection json> <topic> <megabytes>
import { readFileSync } from 'node:fs';
import { FixedSizeList, Float32, Field, Int32, Table, makeData, makeVector } from 'apache-arrow';
import { createAdmin } from '../../kafka/client.ts';
import type { KafkaConnection } from '../../kafka/client.ts';
import { loadTf } from '../../tf/tf.ts';
import { feed } from '../feed.ts';
import { stream } from '../stream.ts';

/** Floats per vector row, and rows per generated chunk (4 MiB of vectors). */
const DIM = 64;
const CHUNK_ROWS = 16_384;

function kib(field: string): number {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/** `rows` rows of (id, DIM floats whose first is the id), made one chunk at a time as they are pulled. */
function* chunks(rows: number): Generator<Table> {
  for (let start = 0; start < rows; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, rows - start);
    const ids = new Int32Array(n);
    const values = new Float32Array(n * DIM);
    for (let i = 0; i < n; i++) {
      ids[i] = start + i;
      values[i * DIM] = start + i;
    }
    const type = new FixedSizeList(DIM, new Field('item', new Float32()));
    const child = makeData({ type: new Float32(), length: n * DIM, data: values });
    yield new Table({
      id: makeVector(makeData({ type: new Int32(), length: n, data: ids })),
      v: makeVector(makeData({ type, length: n, child })),
    });
  }
}

const [mode, connectionJson, topic = '', megabytes] = process.argv.slice(2);
const connection = JSON.parse(connectionJson!) as KafkaConnection;
const rows = Math.floor((Number(megabytes) * 1e6) / (DIM * 4 + 4));
const tf = loadTf();
// Start-up costs (TensorFlow, the Kafka client) are not the data's: measure them before moving any.
await createAdmin(connection).close();
const baselineKiB = kib('VmRSS');
if (mode === 'stream') {
  const summary = await stream(chunks(rows), { connection, topic, fresh: false, partitions: 8 });
  process.stdout.write(
    `${JSON.stringify({ peakKiB: kib('VmHWM'), baselineKiB, rows: summary.rows, bytes: summary.bytes })}\n`,
  );
} else {
  const f = feed({ connection, topic, batchSize: 1024, features: { xs: 'v' } });
  const seen = new Uint8Array(rows);
  let delivered = 0;
  for await (const batch of f) {
    // Every row's first float is its id: counts each once, through the tensors.
    const values = tf.tidy(() => batch.xs.slice([0, 0], [batch.rows, 1]).dataSync());
    for (const id of values) seen[id]!++;
    delivered += batch.rows;
  }
  await f.close();
  const once = seen.every((c) => c === 1);
  process.stdout.write(`${JSON.stringify({ peakKiB: kib('VmHWM'), baselineKiB, rows: delivered, once })}\n`);
}
