// `npm run bench -- feed [--rows N] [--cols C] [--json-rows N] [--images N] [--json-images N] [--image-size S]
//                        [--partitions P] [--batch B] [--image-batch B] [--rounds R]`
//
// Petal's data plane against its references, on a broker of its own (temp dir, stopped at the end), on two data
// sets: (a) the flowers photos as a binary JPEG column (+ an int32 label), (b) a numeric table of N rows × C float32
// columns + a float32 target. For each:
//   raw      a raw consumer: the same topic's bytes read with the Kafka client library's Fetch (@platformatic/kafka,
//            the client Petal uses for everything else), every partition at once on a client of its own, each
//            fetching its next bytes as soon as the last arrived, and nothing done with them;
//   raw-fetch the same through the fetch path feed() reads with (kafka/partition-fetcher.ts: responses read into
//            reused memory, records parsed in place): Petal's own ceiling of reading, with no decoding at all;
//   decoded  feed()'s reading alone: every partition through its reader (bounded fetches sized by the topic's message
//            size) to decoded Arrow messages, no batching: what feed() costs before the shuffle pool and tensors;
//   petal    feed() all the way to tensors (default options: shuffle pool 10 × batch, prefetch 2): Arrow decode,
//            shuffle pool, one tensor per output per batch;
//   per-row  one JSON message per row on another topic (the TensorFlowOnSpark style): fetch, JSON.parse, a tensor
//            per row, stacked per batch (images: base64 in the JSON, decoded per row);
//   stream   the producer: stream() from an in-memory table to an acknowledged topic.
// MB/s counts the Arrow bytes of the topic (the same bytes for raw and petal; JSON bytes for per-row).
// `ratio` = petal ÷ raw MB/s on the numeric table (goal ≥ 0.8); `ratioFetch` = petal ÷ raw-fetch there (what the
// feed keeps of its own reading rate); `vsPerRow` = petal ÷ per-row rows/s there.
// Read rounds of raw and petal are interleaved and the best counts (load only ever slows a run down). scripts/bench.ts
// runs this file with the V8 flags of pool tasks (TASK_V8_FLAGS), as feeds run there during training.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Binary, Int32, Table, makeData, makeVector, tableFromArrays } from 'apache-arrow';
import { MAX_MESSAGE_BYTES, feed, startBroker, stream } from '@petal/runtime';
import type { FeatureSpec, KafkaConnection, StreamSummary } from '@petal/runtime';
import { loadTf } from '@petal/runtime/tf';
import type { Tensor } from '@tensorflow/tfjs-node';
import { fetchBytes } from '../../runtime/src/feed/feed.ts';
import { TARGET_MESSAGE_BYTES } from '../../runtime/src/feed/arrow-messages.ts';
import { readPartition } from '../../runtime/src/feed/partition-reader.ts';
import type { Consumer } from '../../runtime/src/kafka/client.ts';
import { createAdmin, createConsumer, createProducer, createTopic } from '../../runtime/src/kafka/client.ts';
import type { PartitionFetcher } from '../../runtime/src/kafka/partition-fetcher.ts';
import { TopicFetchers } from '../../runtime/src/kafka/topic-fetchers.ts';
import { collectGarbage, intArg, num, printBench, round } from './bench-util.ts';

const args = process.argv.slice(2);
const ROWS = intArg(args, '--rows', 1_000_000);
const COLS = intArg(args, '--cols', 8);
const JSON_ROWS = intArg(args, '--json-rows', 100_000);
const IMAGES = intArg(args, '--images', 3670);
const JSON_IMAGES = intArg(args, '--json-images', 1000);
const SIZE = intArg(args, '--image-size', 96);
const PARTITIONS = intArg(args, '--partitions', 8);
const BATCH = intArg(args, '--batch', 1024);
// The flowers demo's batch size: a batch of 1024 photos at 96×96 is 113 MB of float32.
const IMAGE_BATCH = intArg(args, '--image-batch', 32);
const ROUNDS = intArg(args, '--rounds', 3);
const FLOWERS = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'flowers');

const tf = loadTf();
const progress = (line: string): void => void process.stderr.write(`feed: ${line}\n`);
const MB = 1e6;

interface Rate {
  seconds: number;
  rows: number;
  bytes: number;
}
const mbps = (r: Rate) => r.bytes / MB / r.seconds;
const rps = (r: Rate) => r.rows / r.seconds;
const best = (rs: Rate[]) => rs.reduce((a, b) => (b.seconds < a.seconds ? b : a));

function line(label: string, r: Rate): void {
  process.stdout.write(
    `  ${label.padEnd(10)} ${num(mbps(r), 9, 1)} MB/s ${num(rps(r), 12)} rows/s ${num(r.seconds, 8, 3)} s  (${r.rows} rows, ${num(r.bytes / MB, 0, 1)} MB)\n`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Data

function numericTable(n: number, cols: number): Table {
  const columns: Record<string, Float32Array> = {};
  let seed = 1;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1;
  for (let c = 0; c < cols; c++) {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = rand();
    columns[`f${c}`] = values;
  }
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = columns.f0![i]! * 2 + 1;
  columns.y = y;
  return tableFromArrays(columns);
}

interface Photos {
  table: Table;
  files: Buffer[];
  labels: Int32Array;
}

/** The flowers as one Arrow table: `image` (Binary, the JPEG file bytes) and `label` (Int32, class index). */
function flowersTable(limit: number): Photos {
  const classes = readdirSync(FLOWERS, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const files: Buffer[] = [];
  const labelList: number[] = [];
  for (const [label, name] of classes.entries()) {
    for (const file of readdirSync(join(FLOWERS, name)).sort()) {
      if (file.endsWith('.jpg')) {
        files.push(readFileSync(join(FLOWERS, name, file)));
        labelList.push(label);
      }
    }
  }
  // Interleave classes so any prefix holds all of them.
  const order = files.map((_, i) => i).sort((a, b) => ((a * 2654435761) >>> 0) - ((b * 2654435761) >>> 0));
  const picked = order.slice(0, limit);
  const offsets = new Int32Array(picked.length + 1);
  for (let i = 0; i < picked.length; i++) offsets[i + 1] = offsets[i]! + files[picked[i]!]!.byteLength;
  const data = new Uint8Array(offsets[picked.length]!);
  for (let i = 0; i < picked.length; i++) data.set(files[picked[i]!]!, offsets[i]!);
  const labels = Int32Array.from(picked, (i) => labelList[i]!);
  const image = makeVector(makeData({ type: new Binary(), length: picked.length, valueOffsets: offsets, data }));
  const label = makeVector(makeData({ type: new Int32(), length: picked.length, data: labels }));
  return { table: new Table({ image, label }), files: picked.map((i) => files[i]!), labels };
}

// ---------------------------------------------------------------------------------------------------------------
// Readers

/**
 * One partition's records from `offset` with the Kafka client library's own Fetch (the library's parsed records):
 * what a consumer written with that client reads.
 */
async function libraryFetch(
  consumer: Consumer,
  request: { topic: string; partition: number; offset: bigint },
): Promise<{ values: (Buffer | null)[]; next: bigint; highWatermark: bigint }> {
  const { topic, partition, offset } = request;
  const metadata = await consumer.metadata({ topics: [topic] });
  const topicMetadata = metadata.topics.get(topic)!;
  const leader = topicMetadata.partitions[partition]!;
  const response = await consumer.fetch({
    node: leader.leader,
    minBytes: 1,
    maxBytes: MAX_MESSAGE_BYTES,
    maxWaitTime: 500,
    topics: [
      {
        topicId: topicMetadata.id,
        partitions: [
          {
            partition,
            fetchOffset: offset,
            partitionMaxBytes: MAX_MESSAGE_BYTES,
            currentLeaderEpoch: leader.leaderEpoch,
            lastFetchedEpoch: leader.leaderEpoch,
          },
        ],
      },
    ],
  });
  const values: (Buffer | null)[] = [];
  let next = offset;
  let highWatermark = offset;
  for (const part of response.responses.flatMap((r) => r.partitions)) {
    highWatermark = part.highWatermark;
    for (const batch of part.records ?? []) {
      for (const record of batch.records) {
        const at = batch.firstOffset + BigInt(record.offsetDelta);
        if (at < offset) continue;
        values.push(record.value);
        next = at + 1n;
      }
    }
  }
  return { values, next, highWatermark };
}

/** Every record value of every partition, one fetch's at a time: round-robin, one fetch in flight. */
async function* fetchAll(connection: KafkaConnection, groupId: string, topic: string, partitions: number) {
  const consumer = createConsumer(connection, { groupId, maxBytes: 2 * MAX_MESSAGE_BYTES });
  try {
    const offsets = Array.from({ length: partitions }, () => 0n);
    let live = offsets.map((_, p) => p);
    while (live.length > 0) {
      const next: number[] = [];
      for (const p of live) {
        const fetched = await libraryFetch(consumer, { topic, partition: p, offset: offsets[p]! });
        yield fetched.values;
        offsets[p] = fetched.next;
        if (offsets[p]! < fetched.highWatermark) next.push(p);
      }
      live = next;
    }
  } finally {
    await consumer.close(true);
  }
}

/**
 * A raw consumer: every record of every partition fetched with the client library's Fetch (all partitions at once,
 * a client each, each asking for its next bytes as soon as the last arrived) and dropped.
 */
async function rawRead(connection: KafkaConnection, topic: string, partitions: number): Promise<number> {
  const read = async (partition: number): Promise<number> => {
    const consumer = createConsumer(connection, { groupId: 'bench-raw', maxBytes: 2 * MAX_MESSAGE_BYTES });
    let bytes = 0;
    try {
      for (let offset = 0n; ;) {
        const fetched = await libraryFetch(consumer, { topic, partition, offset });
        for (const v of fetched.values) bytes += v?.byteLength ?? 0;
        offset = fetched.next;
        if (offset >= fetched.highWatermark) return bytes;
      }
    } finally {
      await consumer.close(true);
    }
  };
  const bytes = await Promise.all(Array.from({ length: partitions }, (_, p) => read(p)));
  return bytes.reduce((a, b) => a + b, 0);
}

/** Sums `read` over a PartitionFetcher for each partition, all at once, as feed() makes them; closes them after. */
async function overFetchers(
  connection: KafkaConnection,
  topic: string,
  partitions: number,
  read: (fetcher: PartitionFetcher) => Promise<number>,
): Promise<number> {
  const fetchers = new TopicFetchers(connection, { topic, clientId: 'bench' });
  try {
    const all = Array.from({ length: partitions }, (_, partition) => fetchers.fetcher(partition));
    return (await Promise.all(all.map(read))).reduce((a, b) => a + b, 0);
  } finally {
    fetchers.close();
  }
}

/** The same with the fetch feed() reads through (PartitionFetcher): the ceiling of Petal's own reading. */
function rawFetcherRead(connection: KafkaConnection, topic: string, partitions: number): Promise<number> {
  return overFetchers(connection, topic, partitions, async (fetcher) => {
    let bytes = 0;
    for (let offset = 0n; ;) {
      const fetched = await fetcher.fetch({ offset, maxBytes: MAX_MESSAGE_BYTES, maxWaitTime: 500 });
      for (const r of fetched.records) bytes += r.value?.byteLength ?? 0;
      if (fetched.records.length > 0) offset = fetched.records.at(-1)!.offset + 1n;
      fetched.release();
      if (offset >= fetched.highWatermark) return bytes;
    }
  });
}

/** The feed's reading alone: every partition's messages decoded to Arrow, as feed() reads them, and dropped. */
function decodedRead(connection: KafkaConnection, topic: string, partitions: number): Promise<number> {
  return overFetchers(connection, topic, partitions, async (fetcher) => {
    let rows = 0;
    const messages = readPartition(fetcher, {
      from: 0n,
      rowsBefore: 0,
      maxBytes: fetchBytes(partitions),
      idleMs: 30_000,
      expectedBatch: TARGET_MESSAGE_BYTES,
    });
    for await (const message of messages) {
      rows += message.table.numRows;
      message.release();
    }
    return rows;
  });
}

/** Petal: feed() to tensors; the batches are dropped (the next pull disposes them). */
async function petalRead(
  connection: KafkaConnection,
  topic: string,
  features: FeatureSpec,
  batchSize: number,
): Promise<number> {
  const f = feed({ connection, topic, batchSize, features, name: `bench-${Math.random()}` });
  let rows = 0;
  for await (const batch of f) rows += batch.rows;
  await f.close();
  return rows;
}

/** Produces one JSON message per row (sends of 500 messages each); returns the JSON bytes. */
async function produceRows(
  connection: KafkaConnection,
  topic: string,
  rows: number,
  row: (i: number) => unknown,
): Promise<number> {
  const admin = createAdmin(connection);
  await createTopic(admin, topic, PARTITIONS, { 'max.message.bytes': String(MAX_MESSAGE_BYTES) });
  await admin.close();
  const producer = createProducer(connection, { acks: -1, idempotent: true });
  let bytes = 0;
  try {
    for (let start = 0; start < rows; start += 500) {
      const messages = [];
      for (let i = start; i < Math.min(rows, start + 500); i++) {
        const value = Buffer.from(JSON.stringify(row(i)));
        bytes += value.byteLength;
        messages.push({ topic, partition: i % PARTITIONS, value });
      }
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
  return bytes;
}

/** The per-row baseline's consumer: fetch, JSON.parse each record, a tensor per row, stacked per batch. */
async function perRowRead(
  connection: KafkaConnection,
  topic: string,
  rowTensors: (row: Record<string, unknown>) => [Tensor, Tensor],
  batchSize: number,
): Promise<number> {
  let rows = 0;
  let xs: Tensor[] = [];
  let ys: Tensor[] = [];
  const flush = () => {
    if (xs.length === 0) return;
    tf.tidy(() => [tf.stack(xs), tf.stack(ys)]).forEach((t) => t.dispose());
    for (const t of [...xs, ...ys]) t.dispose();
    xs = [];
    ys = [];
  };
  for await (const values of fetchAll(connection, 'bench-json', topic, PARTITIONS)) {
    for (const value of values) {
      const [x, y] = rowTensors(JSON.parse(value!.toString()) as Record<string, unknown>);
      xs.push(x);
      ys.push(y);
      rows++;
      if (xs.length === batchSize) flush();
    }
  }
  flush();
  return rows;
}

async function timed(run: () => Promise<number>, rows: number, bytes: number): Promise<Rate> {
  collectGarbage();
  const t0 = performance.now();
  const got = await run();
  const seconds = (performance.now() - t0) / 1000;
  if (got !== rows && got !== bytes) throw new Error(`read ${got}, expected ${rows} rows or ${bytes} bytes`);
  return { seconds, rows, bytes };
}

// ---------------------------------------------------------------------------------------------------------------
// One data set

interface SetResult {
  stream: Rate;
  raw: Rate;
  rawFetch: Rate;
  decoded: Rate;
  petal: Rate;
  perRow: Rate;
  perRowProduce: Rate;
}

async function measure(
  label: string,
  connection: KafkaConnection,
  table: Table,
  features: FeatureSpec,
  batchSize: number,
  perRow: { rows: number; row: (i: number) => unknown; tensors: (row: Record<string, unknown>) => [Tensor, Tensor] },
): Promise<SetResult> {
  progress(`${label}: stream()`);
  const t0 = performance.now();
  const summary: StreamSummary = await stream(table, {
    connection,
    topic: `bench-${label}`,
    partitions: PARTITIONS,
    features,
  });
  const streamRate = { seconds: (performance.now() - t0) / 1000, rows: summary.rows, bytes: summary.bytes };
  const raws: Rate[] = [];
  const rawFetches: Rate[] = [];
  const decodeds: Rate[] = [];
  const petals: Rate[] = [];
  const tensorsBefore = tf.memory().numTensors;
  for (let r = 0; r < ROUNDS; r++) {
    progress(`${label}: read round ${r + 1}/${ROUNDS}`);
    // The consumer's records include the meta and end records: compare with the total, count the Arrow bytes.
    const raw = await timed(
      () => rawRead(connection, summary.topic, PARTITIONS).then(() => summary.rows),
      summary.rows,
      summary.bytes,
    );
    raws.push(raw);
    rawFetches.push(
      await timed(
        () => rawFetcherRead(connection, summary.topic, PARTITIONS).then(() => summary.rows),
        summary.rows,
        summary.bytes,
      ),
    );
    decodeds.push(await timed(() => decodedRead(connection, summary.topic, PARTITIONS), summary.rows, summary.bytes));
    petals.push(
      await timed(() => petalRead(connection, summary.topic, features, batchSize), summary.rows, summary.bytes),
    );
  }
  if (tf.memory().numTensors !== tensorsBefore) throw new Error('feed() leaked tensors');
  progress(`${label}: per-row JSON baseline (${perRow.rows} rows)`);
  const jsonTopic = `bench-${label}-json-${Date.now()}`;
  const p0 = performance.now();
  const jsonBytes = await produceRows(connection, jsonTopic, perRow.rows, perRow.row);
  const perRowProduce = { seconds: (performance.now() - p0) / 1000, rows: perRow.rows, bytes: jsonBytes };
  const perRowRate = await timed(
    () => perRowRead(connection, jsonTopic, perRow.tensors, batchSize),
    perRow.rows,
    jsonBytes,
  );
  const admin = createAdmin(connection);
  await admin.deleteTopics({ topics: [summary.topic, jsonTopic] });
  await admin.close();
  return {
    stream: streamRate,
    raw: best(raws),
    rawFetch: best(rawFetches),
    decoded: best(decodeds),
    petal: best(petals),
    perRow: perRowRate,
    perRowProduce,
  };
}

function report(title: string, r: SetResult): void {
  process.stdout.write(`${title}\n`);
  line('stream', r.stream);
  line('raw', r.raw);
  line('raw-fetch', r.rawFetch);
  line('decoded', r.decoded);
  line('petal', r.petal);
  line('per-row', r.perRow);
  line('(produce)', r.perRowProduce);
  process.stdout.write(
    `  petal ÷ raw ${round(mbps(r.petal) / mbps(r.raw), 2)} (MB/s); petal ÷ per-row ${round(rps(r.petal) / rps(r.perRow), 1)} (rows/s)\n`,
  );
}

// ---------------------------------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'petal-bench-feed-'));
const started = performance.now();
progress('starting a broker');
const broker = await startBroker({ dataDir: join(dir, 'kafka'), logFile: join(dir, 'kafka', 'broker.log') });
try {
  const connection = broker.connection;
  process.stdout.write(
    `feed bench: numeric ${ROWS} rows × ${COLS} float32 + target (JSON baseline ${JSON_ROWS} rows), ` +
      `flowers ${IMAGES} JPEGs → ${SIZE}×${SIZE}×3 (JSON baseline ${JSON_IMAGES}), ${PARTITIONS} partitions, ` +
      `batch ${BATCH} (flowers ${IMAGE_BATCH}), best of ${ROUNDS} interleaved read rounds\n`,
  );

  progress('building the numeric table');
  const numeric = numericTable(ROWS, COLS);
  const cols = Array.from({ length: COLS }, (_, c) => `f${c}`);
  const numericFeatures: FeatureSpec = { xs: cols, ys: 'y' };
  const columns = cols.map((c) => numeric.getChild(c)!.toArray() as Float32Array);
  const target = numeric.getChild('y')!.toArray() as Float32Array;
  const numericResult = await measure('numeric', connection, numeric, numericFeatures, BATCH, {
    rows: Math.min(JSON_ROWS, ROWS),
    row: (i) => {
      const row: Record<string, number> = { y: target[i]! };
      for (let c = 0; c < COLS; c++) row[cols[c]!] = columns[c]![i]!;
      return row;
    },
    tensors: (row) => [tf.tensor1d(cols.map((c) => row[c] as number)), tf.scalar(row.y as number)],
  });
  report(`numeric table (${ROWS} rows × ${COLS + 1} float32)`, numericResult);

  progress('reading the flowers');
  const photos = flowersTable(IMAGES);
  const imageFeatures: FeatureSpec = {
    xs: { column: 'image', kind: 'image', height: SIZE, width: SIZE },
    ys: { column: 'label', kind: 'label', depth: 5 },
  };
  const flowersResult = await measure('flowers', connection, photos.table, imageFeatures, IMAGE_BATCH, {
    rows: Math.min(JSON_IMAGES, photos.table.numRows),
    row: (i) => ({ image: photos.files[i]!.toString('base64'), label: photos.labels[i] }),
    tensors: (row) =>
      tf.tidy(() => {
        const image = tf.node.decodeImage(Buffer.from(row.image as string, 'base64'), 3, 'int32', false);
        return [
          tf.image.resizeBilinear(image as import('@tensorflow/tfjs-node').Tensor3D, [SIZE, SIZE]).div(255),
          tf.scalar(row.label as number, 'int32'),
        ];
      }),
  });
  report(`flowers (${photos.table.numRows} JPEGs, binary column)`, flowersResult);

  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`total ${num(seconds, 0, 1)} s\n`);
  printBench({
    name: 'feed',
    ratio: round(mbps(numericResult.petal) / mbps(numericResult.raw)),
    ratioFetch: round(mbps(numericResult.petal) / mbps(numericResult.rawFetch)),
    vsPerRow: round(rps(numericResult.petal) / rps(numericResult.perRow), 2),
    numeric: {
      rows: ROWS,
      cols: COLS + 1,
      rawMBps: round(mbps(numericResult.raw), 1),
      rawFetchMBps: round(mbps(numericResult.rawFetch), 1),
      decodedMBps: round(mbps(numericResult.decoded), 1),
      petalMBps: round(mbps(numericResult.petal), 1),
      petalRowsPerSec: Math.round(rps(numericResult.petal)),
      perRowRowsPerSec: Math.round(rps(numericResult.perRow)),
      streamMBps: round(mbps(numericResult.stream), 1),
      streamRowsPerSec: Math.round(rps(numericResult.stream)),
    },
    flowers: {
      images: photos.table.numRows,
      size: SIZE,
      rawMBps: round(mbps(flowersResult.raw), 1),
      petalMBps: round(mbps(flowersResult.petal), 1),
      petalRowsPerSec: Math.round(rps(flowersResult.petal)),
      perRowRowsPerSec: Math.round(rps(flowersResult.perRow)),
      vsPerRow: round(rps(flowersResult.petal) / rps(flowersResult.perRow), 2),
      streamMBps: round(mbps(flowersResult.stream), 1),
    },
    jsonRows: Math.min(JSON_ROWS, ROWS),
    jsonImages: Math.min(JSON_IMAGES, photos.table.numRows),
    partitions: PARTITIONS,
    batch: BATCH,
    imageBatch: IMAGE_BATCH,
    rounds: ROUNDS,
    seconds: round(seconds, 1),
  });
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
