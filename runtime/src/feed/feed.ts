// feed(): assigned partitions → Arrow messages (round-robin across partitions) → tensors → a bounded shuffle pool
// → batches, with a bounded prefetch ahead of the consumer. Every epoch re-reads the partitions from their first
// offset; each batch carries the offsets to resume from, so a checkpoint can restart mid-epoch.
import { channel } from 'node:diagnostics_channel';
import { tableFromIPC } from 'apache-arrow';
import type { Schema } from 'apache-arrow';
import type { Tensor } from '@tensorflow/tfjs-node';
import { MAX_MESSAGE_BYTES } from '../kafka/broker-config.ts';
import { createConsumer, topicPartitions } from '../kafka/client.ts';
import type { Consumer, KafkaConnection } from '../kafka/client.ts';
import { loadTf } from '../tf/tf.ts';
import type { Tf } from '../tf/tf.ts';
import { FeedCodes, checkKeys, feedError, intOption, optionError } from './errors.ts';
import { checkSpec, resolveSpec } from './feature-spec.ts';
import type { FeatureSpec, ResolvedSpec } from './feature-spec.ts';
import { readPartition } from './partition-reader.ts';
import type { PartitionMessage } from './partition-reader.ts';
import { prefetch } from './prefetch.ts';
import { readTopicMeta } from './topic-meta-reader.ts';
import type { TopicMeta } from './topic-records.ts';
import { RowPool, permutation } from './row-pool.ts';

/** Where a feed stands: resume a feed from it with `feed({ ..., resume })`. */
export interface FeedPosition {
  epoch: number;
  /** Partition → the first offset whose rows are not all delivered yet (decimal string; bigint-safe JSON). */
  offsets: Record<number, string>;
  /** Partition → rows before that offset (to check the end marker's count after a resume). */
  rows: Record<number, number>;
}

/** One batch. Its tensors belong to the feed and are disposed when the next batch is pulled: clone to keep. */
export interface FeedBatch {
  xs: Tensor;
  ys: Tensor | undefined;
  rows: number;
  epoch: number;
  position: FeedPosition;
}

/** Options of `feed()`. */
export interface FeedOptions {
  connection: KafkaConnection;
  topic: string;
  /** Shows in errors and diagnostics (`train`, `validation`). */
  name?: string;
  batchSize: number;
  /** Partitions to read (default all): the runtime assigns them to workers. */
  partitions?: number[];
  /** Columns → tensors; default the spec stored by stream(). */
  features?: FeatureSpec;
  epochs?: number;
  /** Rows in the shuffle pool; 0 keeps the order of each partition (default 10 × batchSize). */
  shuffleBuffer?: number;
  seed?: number;
  /** Batches made ahead of the consumer (default 2). */
  prefetch?: number;
  /** A corrupt image: 'fail' (default) throws; 'skip' drops the row and counts it in stats().skipped. */
  onDecodeError?: 'fail' | 'skip';
  resume?: FeedPosition;
  /** How long a partition may yield nothing before it is an error, ms (default 30000). */
  idleTimeoutMs?: number;
}

/** A running feed: iterate it for batches; `stats()` and `meta()` at any time; `close()` when done early. */
export interface Feed extends AsyncIterable<FeedBatch> {
  readonly name: string;
  meta(): Promise<TopicMeta>;
  stats(): { rows: number; batches: number; skipped: number; epoch: number };
  close(): Promise<void>;
}

const skippedChannel = channel('petal:feed:skipped');

/**
 * Bytes asked of one partition per fetch. Kafka still returns a first record batch larger than this whole, so big
 * messages pass; the bound keeps a feed's memory near partitions × this, whatever the topic size (at 64 MiB a
 * 300 MB topic was held whole: each round-robin reader keeps its last response). 8 MiB halves the fetches of 4 MiB
 * (each costs a round trip and a response parse): 1 M rows × 9 float32 over 8 partitions read in ~130 ms, not ~200.
 * Reading one fetch ahead per partition on the shared connection was measured 10x slower (each queued fetch of a
 * partition took ~260 ms); one connection per partition avoided that but gained nothing over this.
 */
const FETCH_BYTES = 8 * 1024 * 1024;
/** Bytes the shuffle pool may hold before it emits (it holds at least one batch whatever the size). */
const POOL_BYTES = 64 * 1024 * 1024;
const optionKeys = [
  'connection',
  'topic',
  'name',
  'batchSize',
  'partitions',
  'features',
  'epochs',
  'shuffleBuffer',
  'seed',
  'prefetch',
  'onDecodeError',
  'resume',
  'idleTimeoutMs',
];

function checkOptions(o: FeedOptions): void {
  checkKeys('feed', o, optionKeys);
  if (!o.connection) throw optionError('feed.connection', 'is required', 'pass broker.connection');
  if (typeof o.topic !== 'string' || o.topic === '')
    throw optionError('feed.topic', 'is required', 'pass the topic stream() returned');
  if (o.batchSize === undefined) throw optionError('feed.batchSize', 'is required', 'e.g. batchSize: 32');
  intOption('feed.batchSize', o.batchSize, 1);
  intOption('feed.epochs', o.epochs, 1);
  intOption('feed.shuffleBuffer', o.shuffleBuffer, 0);
  intOption('feed.prefetch', o.prefetch, 1, 64);
  intOption('feed.idleTimeoutMs', o.idleTimeoutMs, 100);
  if (o.onDecodeError !== undefined && o.onDecodeError !== 'fail' && o.onDecodeError !== 'skip') {
    throw optionError('feed.onDecodeError', "must be 'fail' or 'skip'", `got ${JSON.stringify(o.onDecodeError)}`);
  }
  if (o.partitions !== undefined) {
    if (!Array.isArray(o.partitions) || o.partitions.length === 0)
      throw optionError('feed.partitions', 'must be a non-empty array', 'e.g. [0, 1]');
    o.partitions.forEach((p, i) => intOption(`feed.partitions[${i}]`, p, 0));
  }
  if (o.features !== undefined) checkSpec('feed.features', o.features);
}

/** A seeded PRNG (mulberry32): the same seed and epoch shuffle the same way on every worker. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reads `options.topic` as batches of tensors. Options are checked now; nothing connects until iteration. */
export function feed(options: FeedOptions): Feed {
  checkOptions(options);
  const tf: Tf = loadTf();
  const name = options.name ?? 'feed';
  const { topic, batchSize } = options;
  const shuffleBuffer = options.shuffleBuffer ?? 10 * batchSize;
  const epochs = options.epochs ?? 1;
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const skip = options.onDecodeError === 'skip';
  const stats = { rows: 0, batches: 0, skipped: 0, epoch: 0 };
  let consumer: Consumer | undefined;
  let metaPromise: Promise<TopicMeta> | undefined;
  let closed = false;

  const client = (): Consumer =>
    (consumer ??= createConsumer(options.connection, {
      clientId: `petal-feed-${name}`,
      groupId: `petal-feed-${name}`,
      maxBytes: 2 * MAX_MESSAGE_BYTES,
      retries: 0,
      timeout: 5000,
    }));

  function meta(): Promise<TopicMeta> {
    return (metaPromise ??= (async () => {
      if ((await topicPartitions(client(), topic)) === undefined) {
        throw feedError(
          FeedCodes.incomplete,
          'the topic does not exist',
          { topic },
          { fix: 'use the topic name stream() returned' },
        );
      }
      const found = await readTopicMeta(client(), topic, options.partitions?.[0] ?? 0, idleMs);
      if (!found)
        throw feedError(
          FeedCodes.incomplete,
          'the topic holds no data yet',
          { topic },
          { fix: 'stream() into it first' },
        );
      return found;
    })());
  }

  async function* messages(partitions: number[], epoch: number): AsyncGenerator<PartitionMessage> {
    const resume = epoch === options.resume?.epoch ? options.resume : undefined;
    const readers = partitions.map((partition) =>
      readPartition(client(), {
        topic,
        partition,
        from: BigInt(resume?.offsets[partition] ?? '0'),
        rowsBefore: resume?.rows[partition] ?? 0,
        maxBytes: FETCH_BYTES,
        idleMs,
        meta: () => {},
      }),
    );
    try {
      // Round-robin across partitions, one message each: interleaves them without buffering any partition.
      let live = readers.slice();
      while (live.length > 0 && !closed) {
        const next: typeof live = [];
        for (const reader of live) {
          const item = await reader.next();
          if (item.done) continue;
          next.push(reader);
          yield item.value;
        }
        live = next;
      }
    } finally {
      await Promise.all(readers.map((r) => r.return(undefined)));
    }
  }

  async function* batches(spec: ResolvedSpec, partitions: number[]): AsyncGenerator<FeedBatch> {
    const startEpoch = options.resume?.epoch ?? 0;
    const poolRows = Math.max(shuffleBuffer, batchSize);
    const pool = new RowPool(spec, topic, skip, poolRows);
    const rowsBefore = new Map<number, number>(partitions.map((p) => [p, 0]));
    const report = (partition: number, offset: bigint, rows: number) => {
      stats.skipped += rows;
      if (skippedChannel.hasSubscribers) skippedChannel.publish({ name, topic, partition, offset, rows });
    };
    for (let epoch = startEpoch; epoch < epochs && !closed; epoch++) {
      stats.epoch = epoch;
      pool.clear();
      const rand = random((options.seed ?? 0) * 1000003 + epoch);
      const next = new Map<number, bigint>(); // partition → offset after its last message read
      // Partition → the lowest offset of a message with rows still in the pool.
      const sources = new Map<number, bigint>();
      const resume = epoch === options.resume?.epoch ? options.resume : undefined;
      for (const p of partitions) rowsBefore.set(p, resume?.rows[p] ?? 0);
      const delivered = new Map<number, number>(rowsBefore); // rows handed over per partition, for positions
      // Batches are made one at a time as the consumer pulls: images are decoded only for the batch being made.
      function* emit(final: boolean): Generator<FeedBatch> {
        const rows = pool.rows;
        const count = final ? Math.ceil(rows / batchSize) : Math.floor(rows / batchSize);
        if (count === 0) return;
        const restRows = Math.max(0, rows - count * batchSize);
        const position: FeedPosition = { epoch, offsets: {}, rows: {} };
        for (const p of partitions) {
          const held = restRows > 0 ? sources.get(p) : undefined;
          position.offsets[p] = String(held ?? next.get(p) ?? BigInt(resume?.offsets[p] ?? '0'));
          position.rows[p] = held === undefined ? (delivered.get(p) ?? 0) : (rowsBefore.get(p) ?? 0);
        }
        if (restRows === 0) sources.clear();
        const order = shuffleBuffer > 0 ? permutation(rows, rand) : undefined;
        for (let b = 0; b < count; b++) {
          const size = Math.min(batchSize, rows - b * batchSize);
          const batch = pool.batch(tf, order, b * batchSize, size, (r) => report(r.partition, r.offset, 1));
          yield { ...batch, epoch, position };
        }
        pool.keep(order, count * batchSize, restRows);
      }
      for await (const message of messages(partitions, epoch)) {
        const place = { topic, partition: message.partition, offset: message.offset };
        const skipped = pool.append(message.table, place);
        if (skipped > 0) report(message.partition, message.offset, skipped);
        if (!sources.has(message.partition)) sources.set(message.partition, message.offset);
        next.set(message.partition, message.offset + 1n);
        delivered.set(message.partition, (delivered.get(message.partition) ?? 0) + message.table.numRows);
        // Images vary in size: the pool is bounded by bytes too, never below one batch.
        if (pool.rows >= poolRows || (pool.bytes >= POOL_BYTES && pool.rows >= batchSize)) {
          // Rows before a message fully emitted: positions point past it only when nothing of it stays pooled.
          yield* emit(false);
          if (pool.rows === 0) for (const p of partitions) rowsBefore.set(p, delivered.get(p) ?? 0);
        }
      }
      yield* emit(true);
    }
  }

  async function* iterate(): AsyncGenerator<FeedBatch> {
    const topicMeta = await meta();
    const partitions = options.partitions ?? Array.from({ length: topicMeta.partitions }, (_, i) => i);
    for (const p of partitions) {
      if (p >= topicMeta.partitions) {
        throw optionError(
          'feed.partitions',
          `names partition ${p}, but topic ${topic} has ${topicMeta.partitions}`,
          `use 0 to ${topicMeta.partitions - 1}`,
        );
      }
    }
    const featureSpec = options.features ?? topicMeta.features;
    if (!featureSpec)
      throw optionError('feed.features', 'is required: the topic stores no feature spec', 'pass features: { xs, ys }');
    // Checked against the stored schema before the first fetch of data.
    const schema = schemaOf(topicMeta);
    const spec = resolveSpec(featureSpec, schema, topicMeta.vocabularies, topic);
    let previous: FeedBatch | undefined;
    const dispose = (b: FeedBatch) => {
      b.xs.dispose();
      b.ys?.dispose();
    };
    try {
      for await (const batch of prefetch(batches(spec, partitions), options.prefetch ?? 2, dispose)) {
        if (previous) dispose(previous);
        previous = batch;
        stats.rows += batch.rows;
        stats.batches++;
        yield batch;
      }
    } finally {
      if (previous) dispose(previous);
    }
  }

  return {
    name,
    meta,
    stats: () => ({ ...stats }),
    [Symbol.asyncIterator]: () => iterate(),
    async close() {
      closed = true;
      const c = consumer;
      consumer = undefined;
      await c?.close(true);
    },
  };
}

/** The Arrow schema stored in the meta record (an empty IPC stream), for checks before any data is read. */
function schemaOf(meta: TopicMeta): Schema {
  return tableFromIPC(Buffer.from(meta.arrowSchema, 'base64')).schema;
}
