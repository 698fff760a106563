// feed(): assigned partitions → Arrow messages (round-robin across partitions) → a bounded shuffle pool → batches
// of tensors, with a bounded prefetch ahead of the consumer. Every epoch re-reads the partitions from their first
// offset. Each batch carries the exact state after its group of batches (offsets, the pooled rows not delivered
// yet, the round-robin turn and the shuffle state), so a resumed feed makes the very batches the first run would
// have made next: a checkpoint restarts mid-epoch with no row repeated or missed, shuffled or not.
import { channel } from 'node:diagnostics_channel';
import { tableFromIPC } from 'apache-arrow';
import type { Schema } from 'apache-arrow';
import type { Tensor } from '@tensorflow/tfjs-node';
import type { KafkaConnection } from '../kafka/client.ts';
import type { PartitionFetcher } from '../kafka/partition-fetcher.ts';
import { TopicFetchers } from '../kafka/topic-fetchers.ts';
import { loadTf } from '../tf/tf.ts';
import type { Tf } from '../tf/tf.ts';
import { FeedCodes, checkKeys, feedError, intOption, optionError } from './errors.ts';
import { checkSpec, resolveSpec } from './feature-spec.ts';
import type { FeatureSpec, ResolvedSpec } from './feature-spec.ts';
import { readMessageAt, readPartition } from './partition-reader.ts';
import type { PartitionMessage } from './partition-reader.ts';
import { prefetch } from './prefetch.ts';
import { readTopicMeta } from './topic-meta-reader.ts';
import type { TopicMeta } from './topic-records.ts';
import { RowPool } from './row-pool.ts';
import type { PendingMessage } from './row-pool.ts';
import { Shuffle, shuffleState } from './shuffle.ts';

/**
 * Where a feed stands: resume a feed from it with `feed({ ..., resume })`. Plain JSON. The fields after `rows` are
 * absent at the start of an epoch and in positions written before they existed (such a resume starts with an empty
 * pool, the first partition and the epoch's seed).
 */
export interface FeedPosition {
  epoch: number;
  /** Partition → the next offset to read (decimal string; bigint-safe JSON). */
  offsets: Record<number, string>;
  /** Partition → rows in the messages before that offset (to check the end marker's count after a resume). */
  rows: Record<number, number>;
  /** Rows read into the shuffle pool but not delivered yet, by message, in pool order. */
  pending?: PendingMessage[];
  /** The partition the round-robin reads next. */
  next?: number;
  /** The shuffle generator's state. */
  random?: number;
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
 * Bytes asked of the partitions per fetch round, shared among the partitions a feed reads (at most 8 MiB, at least
 * 1 MiB each). Kafka still returns a first record batch larger than the ask whole, so big messages pass; the bound
 * keeps a feed's memory near 2 × this (each reader holds the response being read and the next one in flight),
 * whatever the topic size and partition count. Reading ahead, a fetch's round trip overlaps the decoding of the one
 * before. 8 MiB takes three of stream()'s 2 MiB messages per fetch. (One message per fetch, or the partitions' first
 * fetches staggered in their turn order, measured slower than every partition fetching three at once.)
 */
const FETCH_BUDGET_BYTES = 64 * 1024 * 1024;
/** Bytes one fetch of a partition may ask for when a feed reads `partitions` of them. */
export const fetchBytes = (partitions: number): number =>
  Math.min(8 << 20, Math.max(1 << 20, Math.floor(FETCH_BUDGET_BYTES / Math.max(1, partitions))));
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
  // A connection per partition read, so the broker serves the partitions in parallel, and one that answers where
  // they are led; made again after close().
  let topicFetchers: TopicFetchers | undefined;
  let metaPromise: Promise<TopicMeta> | undefined;
  let closed = false;

  const fetchers = (): TopicFetchers =>
    (topicFetchers ??= new TopicFetchers(options.connection, { topic, clientId: `petal-feed-${name}` }));
  const fetcher = (partition: number): PartitionFetcher => fetchers().fetcher(partition);
  /** The partitions this feed reads of a topic of `count`. */
  const readPartitions = (count: number): number[] => options.partitions ?? Array.from({ length: count }, (_, i) => i);

  function meta(): Promise<TopicMeta> {
    // Read on the first partition's fetcher. The partitions' connections open while the topic is looked up (those
    // known before it: the first, and all when the feed names them): authenticating takes the broker a few ms,
    // which the first fetches no longer wait for.
    const first = options.partitions?.[0] ?? 0;
    return (metaPromise ??= (async () => {
      for (const p of options.partitions ?? [first]) fetcher(p).open();
      const count = await fetchers().partitionCount();
      if (count === undefined) {
        throw feedError(
          FeedCodes.incomplete,
          'the topic does not exist',
          { topic },
          { fix: 'use the topic name stream() returned' },
        );
      }
      for (const p of readPartitions(count)) if (p < count) fetcher(p).open();
      const found = await readTopicMeta(fetcher(first), idleMs);
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

  /** The partitions in round-robin order from `first` (a resume carries on the turn it stopped at). */
  function turnFrom(partitions: number[], first: number | undefined): number[] {
    const at = first === undefined ? 0 : Math.max(0, partitions.indexOf(first));
    return [...partitions.slice(at), ...partitions.slice(0, at)];
  }

  async function* messages(
    partitions: number[],
    read: Map<number, { offset: bigint; rows: number }>,
    expectedBatch: number | undefined,
  ): AsyncGenerator<PartitionMessage> {
    const readers = partitions.map((partition) =>
      readPartition(fetcher(partition), {
        from: read.get(partition)!.offset,
        rowsBefore: read.get(partition)!.rows,
        maxBytes: fetchBytes(partitions.length),
        idleMs,
        expectedBatch,
      }),
    );
    // One message asked ahead of every reader: each partition's first fetch starts now, not at its turn.
    const pull = (r: AsyncGenerator<PartitionMessage>) => {
      const next = r.next();
      next.catch(() => {});
      return next;
    };
    let live = readers.map((reader) => ({ reader, head: pull(reader) }));
    try {
      // Round-robin across partitions, one message each: interleaves them without buffering any partition. Ended
      // partitions leave the turn; the order of the rest never changes, so a resume reproduces it.
      while (live.length > 0 && !closed) {
        const next: typeof live = [];
        for (const entry of live) {
          const item = await entry.head;
          if (item.done) continue;
          entry.head = pull(entry.reader);
          next.push(entry);
          yield item.value;
        }
        live = next;
      }
    } finally {
      await Promise.all(readers.map((r) => r.return(undefined).catch(() => {})));
    }
  }

  async function* batches(
    featureSpec: FeatureSpec,
    resolved: ResolvedSpec,
    topicMeta: TopicMeta,
    partitions: number[],
  ): AsyncGenerator<FeedBatch> {
    const startEpoch = options.resume?.epoch ?? 0;
    const poolRows = Math.max(shuffleBuffer, batchSize);
    let pool: RowPool | undefined;
    // Made at the first message: a List column's vector length is known only from the data.
    const poolFor = (message: PartitionMessage): RowPool =>
      (pool ??= new RowPool(
        resolved.xs.concat(resolved.ys ?? []).some((f) => f.kind === 'vector' && f.size === 0)
          ? resolveSpec(featureSpec, schemaOf(topicMeta), topicMeta.vocabularies, topic, message.table)
          : resolved,
        topic,
        skip,
        poolRows,
      ));
    const report = (partition: number, offset: bigint, rows: number) => {
      stats.skipped += rows;
      if (skippedChannel.hasSubscribers) skippedChannel.publish({ name, topic, partition, offset, rows });
    };
    const turnAfter = (partition: number) => partitions[(partitions.indexOf(partition) + 1) % partitions.length]!;
    for (let epoch = startEpoch; epoch < epochs && !closed; epoch++) {
      stats.epoch = epoch;
      pool?.clear();
      const resume = epoch === options.resume?.epoch ? options.resume : undefined;
      const shuffle = new Shuffle(resume?.random ?? shuffleState(options.seed ?? 0, epoch));
      // Partition → the next offset to read and the rows of the messages before it.
      const read = new Map(
        partitions.map((p) => [p, { offset: BigInt(resume?.offsets[p] ?? '0'), rows: resume?.rows[p] ?? 0 }]),
      );
      let turn = turnFrom(partitions, resume?.next)[0]!;
      // The message being taken into the pool, from its row `from` on: its rows not pooled yet, for positions.
      let remainder: PendingMessage | undefined;
      // Batches are made one at a time as the consumer pulls: images are decoded only for the batch being made.
      function* emit(final: boolean): Generator<FeedBatch> {
        if (!pool) return;
        const rows = pool.rows;
        const count = final ? Math.ceil(rows / batchSize) : Math.floor(rows / batchSize);
        if (count === 0) return;
        // The rows of whole batches are shuffled and delivered; the rest stay, in arrival order, for the next group.
        const delivered = Math.min(rows, count * batchSize);
        const order = shuffleBuffer > 0 ? shuffle.permutation(delivered) : undefined;
        const pending = pool.pending(delivered);
        const last = pending.at(-1);
        // A pending message's rows run to its end: the remainder of that message is listed already.
        if (remainder && !(last?.partition === remainder.partition && last.offset === remainder.offset))
          pending.push(remainder);
        const position: FeedPosition = { epoch, offsets: {}, rows: {}, pending, next: turn, random: shuffle.state };
        for (const [p, r] of read) {
          position.offsets[p] = String(r.offset);
          position.rows[p] = r.rows;
        }
        for (let b = 0; b < count; b++) {
          const size = Math.min(batchSize, rows - b * batchSize);
          const batch = pool.batch(tf, order, b * batchSize, size, (r) => report(r.partition, r.offset, 1));
          yield { ...batch, epoch, position };
        }
        pool.keepTail(delivered);
      }
      // A message enters the pool in slices, so the pool never holds more than its rows: the shuffle's random reads
      // stay within a cache-sized window, and every group is exactly the pool (rows carried over included).
      function* add(message: PartitionMessage, from: number): Generator<FeedBatch> {
        const rows = poolFor(message);
        const { partition, offset, table } = message;
        for (let at = from; at < table.numRows;) {
          const to = Math.min(table.numRows, at + Math.max(1, poolRows - rows.rows));
          const skipped = rows.append(table, { topic, partition, offset }, at, to);
          if (skipped > 0) report(partition, offset, skipped);
          at = to;
          remainder = at < table.numRows ? { partition, offset: String(offset), from: at } : undefined;
          // Images vary in size: the pool is bounded by bytes too, never below one batch.
          if (rows.rows >= poolRows || (rows.bytes >= POOL_BYTES && rows.rows >= batchSize)) yield* emit(false);
        }
        // Numbers were copied into the pool: the fetched bytes can be read into again. Pooled images view them.
        if (!rows.viewsMessages) message.release();
      }
      // Rows a resume position names as read but not delivered go back first, in their pool order, as they went in
      // then; their messages lie before the offsets to read, so nothing is counted twice.
      for (const m of resume?.pending ?? []) {
        yield* add(await readMessageAt(fetcher(m.partition), BigInt(m.offset)), m.from);
      }
      for await (const message of messages(turnFrom(partitions, turn), read, topicMeta.messageBytes)) {
        // The reader has moved past this message before any of its rows is delivered: positions say so.
        read.set(message.partition, {
          offset: message.offset + 1n,
          rows: read.get(message.partition)!.rows + message.table.numRows,
        });
        turn = turnAfter(message.partition);
        yield* add(message, 0);
      }
      yield* emit(true);
    }
  }

  async function* iterate(): AsyncGenerator<FeedBatch> {
    const topicMeta = await meta();
    const partitions = readPartitions(topicMeta.partitions);
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
      for await (const batch of prefetch(
        batches(featureSpec, spec, topicMeta, partitions),
        options.prefetch ?? 2,
        dispose,
      )) {
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
      topicFetchers?.close();
      topicFetchers = undefined;
    },
  };
}

/** The Arrow schema stored in the meta record (an empty IPC stream), for checks before any data is read. */
function schemaOf(meta: TopicMeta): Schema {
  return tableFromIPC(Buffer.from(meta.arrowSchema, 'base64')).schema;
}
