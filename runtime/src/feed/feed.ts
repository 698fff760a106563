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
import { toTensors } from './to-tensors.ts';
import type { Chunk } from './to-tensors.ts';

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
 * 300 MB topic was held whole: each round-robin reader keeps its last response).
 */
const FETCH_BYTES = 4 * 1024 * 1024;
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

interface PoolChunk extends Chunk {
  /** Partition → the lowest offset of a message with rows in this chunk. */
  sources: Map<number, bigint>;
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
    const pool: PoolChunk[] = [];
    const rowsBefore = new Map<number, number>(partitions.map((p) => [p, 0]));
    try {
      for (let epoch = startEpoch; epoch < epochs && !closed; epoch++) {
        stats.epoch = epoch;
        const rand = random((options.seed ?? 0) * 1000003 + epoch);
        const next = new Map<number, bigint>(); // partition → offset after its last message read
        const resume = epoch === options.resume?.epoch ? options.resume : undefined;
        for (const p of partitions) rowsBefore.set(p, resume?.rows[p] ?? 0);
        const delivered = new Map<number, number>(rowsBefore); // rows handed over per partition, for positions
        const emit = (final: boolean): FeedBatch[] => {
          const rows = pool.reduce((n, c) => n + c.rows, 0);
          const full = Math.floor(rows / batchSize);
          const count = final ? Math.ceil(rows / batchSize) : full;
          if (count === 0) return [];
          const sources = new Map<number, bigint>();
          for (const c of pool)
            for (const [p, o] of c.sources)
              sources.set(p, sources.has(p) ? (sources.get(p)! < o ? sources.get(p)! : o) : o);
          const out = tf.tidy(() => {
            const xs = pool.length === 1 ? pool[0]!.xs : tf.concat(pool.map((c) => c.xs));
            const ys = pool[0]!.ys ? (pool.length === 1 ? pool[0]!.ys : tf.concat(pool.map((c) => c.ys!))) : undefined;
            let order: Tensor | undefined;
            if (shuffleBuffer > 0) {
              const idx = new Int32Array(rows);
              for (let i = 0; i < rows; i++) idx[i] = i;
              for (let i = rows - 1; i > 0; i--) {
                const j = Math.floor(rand() * (i + 1));
                const t = idx[i]!;
                idx[i] = idx[j]!;
                idx[j] = t;
              }
              order = tf.tensor1d(idx, 'int32');
            }
            const sx = order ? tf.gather(xs, order) : xs;
            const sy = ys && order ? tf.gather(ys, order) : ys;
            // One Split op per emit, not one Slice per batch: ops cost ~0.1 ms each in tfjs-node, batches are many.
            const sizes: number[] = [];
            for (let b = 0; b < count; b++) sizes.push(Math.min(batchSize, rows - b * batchSize));
            const restRows = rows - count * batchSize;
            if (restRows > 0) sizes.push(restRows);
            // clone(): with one part and no shuffle, sx may be a pooled chunk's own tensor, disposed below.
            const xsParts = sizes.length === 1 ? [sx.clone()] : tf.split(sx, sizes);
            const ysParts = sy ? (sizes.length === 1 ? [sy.clone()] : tf.split(sy, sizes)) : undefined;
            const parts = sizes.slice(0, count).map((size, b) => ({ xs: xsParts[b]!, ys: ysParts?.[b], rows: size }));
            const rest = restRows > 0 ? { xs: xsParts[count]!, ys: ysParts?.[count] } : undefined;
            return { parts, rest };
          });
          for (const c of pool) {
            c.xs.dispose();
            c.ys?.dispose();
          }
          pool.length = 0;
          if (out.rest)
            pool.push({ xs: out.rest.xs, ys: out.rest.ys, rows: rows - count * batchSize, skipped: 0, sources });
          const position: FeedPosition = { epoch, offsets: {}, rows: {} };
          for (const p of partitions) {
            const held = out.rest ? sources.get(p) : undefined;
            position.offsets[p] = String(held ?? next.get(p) ?? BigInt(resume?.offsets[p] ?? '0'));
            position.rows[p] = held === undefined ? (delivered.get(p) ?? 0) : (rowsBefore.get(p) ?? 0);
          }
          return out.parts.map((part) => ({ ...part, epoch, position }));
        };
        for await (const message of messages(partitions, epoch)) {
          const chunk = toTensors(
            tf,
            message.table,
            spec,
            { topic, partition: message.partition, offset: message.offset },
            skip,
          );
          if (chunk.skipped > 0) {
            stats.skipped += chunk.skipped;
            if (skippedChannel.hasSubscribers)
              skippedChannel.publish({
                name,
                topic,
                partition: message.partition,
                offset: message.offset,
                rows: chunk.skipped,
              });
          }
          pool.push({ ...chunk, sources: new Map([[message.partition, message.offset]]) });
          next.set(message.partition, message.offset + 1n);
          delivered.set(message.partition, (delivered.get(message.partition) ?? 0) + message.table.numRows);
          if (pool.reduce((n, c) => n + c.rows, 0) >= Math.max(shuffleBuffer, batchSize)) {
            // Rows before a message fully emitted: positions point past it only when nothing of it stays pooled.
            for (const b of emit(false)) yield b;
            if (pool.length === 0) for (const p of partitions) rowsBefore.set(p, delivered.get(p) ?? 0);
          }
        }
        for (const b of emit(true)) yield b;
      }
    } finally {
      for (const c of pool) {
        c.xs.dispose();
        c.ys?.dispose();
      }
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
