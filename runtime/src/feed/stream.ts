// stream(): user data → one Arrow conversion → checks → a topic of Arrow IPC messages with a meta record first and
// an end marker last in every partition. At most `maxInFlight` encoded messages exist at once (backpressure), so
// memory beyond the input itself stays bounded however many rows there are.
import { channel } from 'node:diagnostics_channel';
import { tableToIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import { MAX_MESSAGE_BYTES } from '../kafka/broker-config.ts';
import { createAdmin, createProducer, createTopic } from '../kafka/client.ts';
import { TopicFetchers } from '../kafka/topic-fetchers.ts';
import type { KafkaConnection } from '../kafka/client.ts';
import { arrowMessages, rowsPerMessage, TARGET_MESSAGE_BYTES } from './arrow-messages.ts';
import { FeedCodes, checkKeys, feedError, intOption, optionError } from './errors.ts';
import { checkData, checkSpec, resolveSpec } from './feature-spec.ts';
import type { FeatureSpec, ResolvedSpec } from './feature-spec.ts';
import { partitionOf } from './partitioner.ts';
import { chunksOf, toArrowTable } from './to-arrow.ts';
import type { StreamInput, TableInput } from './to-arrow.ts';
import { readTopicMeta } from './topic-meta-reader.ts';
import { encodeJson, fingerprint, kindHeaders, schemaColumns } from './topic-records.ts';
import type { EndMarker, TopicMeta } from './topic-records.ts';
import { LabelOrder } from './label-order.ts';
import { encodeStringColumns } from './vocabulary.ts';
import type { Vocabularies } from './vocabulary.ts';

/** Progress of a stream, after each acknowledged message (also published on diagnostics channel `petal:feed:stream`). */
export interface StreamProgress {
  topic: string;
  rows: number;
  bytes: number;
  /** Rows in the input; -1 for chunked input, whose length is known only at the end. */
  totalRows: number;
  partitions: { rows: number; bytes: number; batches: number }[];
}

/** Options of `stream()`. */
export interface StreamOptions {
  connection: KafkaConnection;
  /** Topic name; with `fresh` (default) a time suffix is added so each call writes a topic of its own. */
  topic: string;
  fresh?: boolean;
  /** Partition count of a new topic (default 8). */
  partitions?: number;
  /** The feature spec to check the data against now, stored with the topic as the feeds' default. */
  features?: FeatureSpec;
  /** Fixed vocabularies of string columns; others are the sorted distinct labels. */
  vocabularies?: Vocabularies;
  /** Largest size of one Arrow IPC message in bytes (default 2 MiB); a table is cut into equal shares below it. */
  messageBytes?: number;
  /** Messages sent but not yet acknowledged, at most (default 4). */
  maxInFlight?: number;
  onProgress?: (progress: StreamProgress) => void;
  /** Aborting it stops the stream (PETAL_STREAM_ABORTED) and deletes the topic, as a failure does. */
  signal?: AbortSignal;
}

/** What `stream()` wrote. */
export interface StreamSummary {
  topic: string;
  partitions: number;
  rows: number;
  bytes: number;
  batches: number;
  /** Rows per partition, as the end markers say. */
  partitionRows: number[];
  schema: { name: string; type: string }[];
  fingerprint: string;
  vocabularies: Vocabularies;
  /** What the data may do to training that is not an error (rows ordered by label). */
  warnings: string[];
}

const progressChannel = channel('petal:feed:stream');
const optionKeys = [
  'connection',
  'topic',
  'fresh',
  'partitions',
  'features',
  'vocabularies',
  'messageBytes',
  'maxInFlight',
  'onProgress',
  'signal',
];
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,200}$/;

function checkOptions(options: StreamOptions): void {
  checkKeys('stream', options, optionKeys);
  if (!options.connection) throw optionError('stream.connection', 'is required', 'pass broker.connection');
  if (typeof options.topic !== 'string' || !TOPIC_NAME.test(options.topic)) {
    throw optionError(
      'stream.topic',
      'must be 1–200 characters of a-z A-Z 0-9 . _ -',
      `got ${JSON.stringify(options.topic)}`,
    );
  }
  intOption('stream.partitions', options.partitions, 1, 1024);
  intOption('stream.messageBytes', options.messageBytes, 1024, MAX_MESSAGE_BYTES / 2);
  intOption('stream.maxInFlight', options.maxInFlight, 1, 64);
  if (options.features !== undefined) checkSpec('stream.features', options.features);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw optionError('stream.onProgress', 'must be a function', 'pass (progress) => …');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw optionError('stream.signal', 'must be an AbortSignal', 'pass controller.signal');
  }
}

/** `name-YYYYMMDD-HHMMSS-mmm`: sorts by time, legal in Kafka, unique per call. */
function freshName(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').replace('.', '-').slice(0, 19);
  return `${name}-${stamp}${Math.random().toString(36).slice(2, 5)}`;
}

/**
 * Streams `data` (Arrow Table, nodejs-polars DataFrame, Arquero table or records — or an iterable of those as
 * chunks) into a Kafka topic as Arrow IPC messages over P partitions, with an idempotent producer. Every data check
 * of a table runs before any of it is sent (for chunks, before that chunk is sent); if producing fails, the topic
 * this call created is deleted, so nothing half-written is left as if complete.
 */
export async function stream(data: StreamInput, options: StreamOptions): Promise<StreamSummary> {
  checkOptions(options);
  const fresh = options.fresh ?? true;
  const topic = fresh ? freshName(options.topic) : options.topic;
  const chunks = chunksOf(data);
  const iterator = chunks ? toAsyncIterator(chunks) : undefined;
  const first = iterator ? await iterator.next() : { done: false, value: data as TableInput };
  const prepared = first.done ? undefined : prepare(first.value, topic, options, undefined);
  if (!prepared || prepared.table.numRows === 0) {
    await iterator?.return?.();
    throw feedError(
      FeedCodes.empty,
      iterator ? 'the first chunk of the data has no rows' : 'the data has no rows',
      { topic },
      { fix: 'check the filter or query that built it' },
    );
  }
  const { table, vocabularies, spec } = prepared;
  const columns = schemaColumns(table.schema);
  // The label column of the feature spec, or, without one, every string column (labels usually are).
  const ys = spec?.ys;
  const labelColumns = !spec
    ? Object.keys(vocabularies)
    : ys && (ys.kind === 'label' || ys.kind === 'onehot')
      ? [ys.column]
      : [];
  const labels = labelColumns.map((column) => new LabelOrder(column));
  const partitions = options.partitions ?? 8;
  const meta: TopicMeta = {
    format: 1,
    fingerprint: fingerprint(columns),
    columns,
    arrowSchema: Buffer.from(tableToIPC(table.slice(0, 0), 'stream')).toString('base64'),
    partitions,
    rows: iterator ? -1 : table.numRows,
    vocabularies,
    ...(options.features ? { features: options.features } : {}),
    messageBytes: options.messageBytes ?? TARGET_MESSAGE_BYTES,
  };
  try {
    await prepareTopic(options.connection, topic, meta, fresh);
  } catch (err) {
    await iterator?.return?.();
    throw err;
  }
  async function* tables(): AsyncGenerator<Table> {
    yield table;
    if (!iterator) return;
    let index = 1;
    for (let next = await iterator.next(); !next.done; next = await iterator.next(), index++) {
      const chunk = prepare(next.value, topic, options, meta).table;
      if (fingerprint(schemaColumns(chunk.schema)) !== meta.fingerprint) {
        const was = meta.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
        const now = schemaColumns(chunk.schema)
          .map((c) => `${c.name}: ${c.type}`)
          .join(', ');
        throw feedError(
          FeedCodes.schema,
          `chunk ${index} has another schema (${now}) than the first (${was})`,
          { topic },
          { fix: 'give every chunk the same columns and types' },
        );
      }
      yield chunk;
    }
  }
  try {
    return await produce(tables(), topic, meta, options, labels);
  } catch (err) {
    await iterator?.return?.();
    await deleteTopic(options.connection, topic);
    throw err;
  }
}

function toAsyncIterator(chunks: AsyncIterable<TableInput> | Iterable<TableInput>): AsyncIterator<TableInput> {
  if (Symbol.asyncIterator in chunks) return chunks[Symbol.asyncIterator]();
  const sync = chunks[Symbol.iterator]();
  return {
    next: async () => sync.next(),
    return: async () => sync.return?.() ?? { done: true, value: undefined },
  };
}

/**
 * One table (or chunk) → Arrow with string columns encoded and the data checked against the feature spec. Later
 * chunks (`meta` given) use the first chunk's vocabularies, which must therefore cover every label: pass
 * `vocabularies` for the string columns of chunked data.
 */
function prepare(
  data: TableInput,
  topic: string,
  options: StreamOptions,
  meta: TopicMeta | undefined,
): { table: Table; vocabularies: Vocabularies; spec: ResolvedSpec | undefined } {
  const converted = toArrowTable(data, topic);
  const encoded = encodeStringColumns(converted, meta?.vocabularies ?? options.vocabularies ?? {}, topic);
  const spec =
    options.features && encoded.table.numRows > 0
      ? resolveSpec(options.features, encoded.table.schema, encoded.vocabularies, topic, encoded.table)
      : undefined;
  if (spec) checkData(encoded.table, spec, topic);
  return { ...encoded, spec };
}

/** Throws when `topic` exists: naming its other schema, or that it holds a stream already. */
async function refuseExisting(connection: KafkaConnection, topic: string, meta: TopicMeta): Promise<void> {
  const fetchers = new TopicFetchers(connection, { topic, clientId: 'petal-stream-check' });
  let existing: TopicMeta | undefined;
  try {
    if ((await fetchers.partitionCount()) === undefined) return;
    existing = await readTopicMeta(fetchers.fetcher(0), 5000);
  } finally {
    fetchers.close();
  }
  if (existing && existing.fingerprint !== meta.fingerprint) {
    const was = existing.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
    const now = meta.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
    throw feedError(
      FeedCodes.schema,
      `the topic exists with another schema (${was}); this data has (${now})`,
      { topic },
      {
        fix: 'stream to a fresh topic (fresh: true, the default) or another name',
      },
    );
  }
  throw feedError(
    FeedCodes.topicExists,
    'the topic already holds a complete stream',
    { topic },
    {
      fix: 'stream to a fresh topic (fresh: true, the default), or delete the topic first',
    },
  );
}

async function prepareTopic(
  connection: KafkaConnection,
  topic: string,
  meta: TopicMeta,
  fresh: boolean,
): Promise<void> {
  if (!fresh) await refuseExisting(connection, topic, meta);
  const admin = createAdmin(connection, { clientId: 'petal-stream' });
  try {
    await createTopic(admin, topic, meta.partitions, {
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'max.message.bytes': String(MAX_MESSAGE_BYTES),
    });
  } finally {
    await admin.close();
  }
}

async function deleteTopic(connection: KafkaConnection, topic: string): Promise<void> {
  const admin = createAdmin(connection, { clientId: 'petal-stream-cleanup' });
  try {
    await admin.deleteTopics({ topics: [topic] });
  } catch {
    // The error that led here is the one to report; a topic without end markers is never read as complete.
  } finally {
    await admin.close().catch(() => {});
  }
}

// A send is retried when its partition has no leader yet (a topic created a moment ago: its leaders come up within
// tens of ms, one by one) or the broker restarts: soon at first, then every 500 ms, ~30 s in all. A flat 500 ms
// made most new topics' first sends wait half a second.
const SEND_RETRIES = 64;
const sendRetryDelay = (_client: unknown, _operation: string, attempt: number): number =>
  Math.min(500, 10 * 2 ** attempt);

async function produce(
  tables: AsyncIterable<Table>,
  topic: string,
  meta: TopicMeta,
  options: StreamOptions,
  labels: LabelOrder[],
): Promise<StreamSummary> {
  const producer = createProducer(options.connection, {
    clientId: 'petal-stream',
    idempotent: true,
    acks: -1,
    retries: SEND_RETRIES,
    retryDelay: sendRetryDelay,
  });
  const perPartition = Array.from({ length: meta.partitions }, () => ({ rows: 0, bytes: 0, batches: 0 }));
  const progress: StreamProgress = {
    topic,
    rows: 0,
    bytes: 0,
    totalRows: meta.rows,
    partitions: perPartition,
  };
  const send = (partition: number, kind: 'meta' | 'data' | 'end', value: Buffer) =>
    producer.send({ messages: [{ topic, partition, value, headers: kindHeaders(kind) }] });
  try {
    const metaValue = encodeJson(meta);
    await Promise.all(perPartition.map((_, p) => send(p, 'meta', metaValue)));
    // One send per partition at a time keeps each partition in order; up to maxInFlight partitions at once.
    const pending = new Map<number, Promise<void>>();
    const maxInFlight = Math.min(options.maxInFlight ?? 4, meta.partitions);
    let batches = 0;
    for await (const arrowTable of tables) {
      if (arrowTable.numRows === 0) continue;
      for (const l of labels) l.add(arrowTable);
      // A whole table is cut so that every partition gets the same whole number of equal messages (at most the
      // target size): the workers reading different partitions see the same rows per epoch, and a table smaller
      // than P messages still reaches every partition (a few hundred photos would otherwise fill one message, and
      // all but one worker would train on nothing). A stream of unknown length is cut at the target size.
      const target = rowsPerMessage(arrowTable, meta.messageBytes ?? TARGET_MESSAGE_BYTES);
      const share = Math.ceil(meta.rows / meta.partitions);
      const rows = meta.rows > 0 ? Math.ceil(share / Math.ceil(share / target)) : target;
      for (const message of arrowMessages(arrowTable, rows)) {
        if (options.signal?.aborted) {
          await Promise.allSettled(pending.values()); // nothing still in flight lands after the topic is deleted
          throw feedError(
            FeedCodes.aborted,
            `the stream was interrupted after ${progress.rows} rows; the partial topic is deleted`,
            { topic },
            { fix: 'stream the data again' },
          );
        }
        // Message indices run on across chunks, so the round-robin spreads chunks evenly too.
        const partition = partitionOf(batches, meta.partitions);
        const previous = pending.get(partition);
        if (previous) await previous;
        while (pending.size >= maxInFlight) await Promise.race(pending.values());
        const value = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength);
        const sent = send(partition, 'data', value).then(() => {
          pending.delete(partition);
          const stats = perPartition[partition]!;
          stats.rows += message.rows;
          stats.bytes += value.byteLength;
          stats.batches++;
          progress.rows += message.rows;
          progress.bytes += value.byteLength;
          options.onProgress?.(progress);
          if (progressChannel.hasSubscribers) progressChannel.publish(progress);
        });
        // A rejection is awaited below or by the race; this only keeps it from being reported unhandled meanwhile.
        sent.catch(() => {});
        pending.set(partition, sent);
        batches++;
      }
    }
    await Promise.all(pending.values());
    await Promise.all(
      perPartition.map((stats, partition) =>
        send(partition, 'end', encodeJson({ partition, rows: stats.rows, batches: stats.batches } satisfies EndMarker)),
      ),
    );
    return {
      topic,
      partitions: meta.partitions,
      rows: progress.rows,
      bytes: progress.bytes,
      batches,
      partitionRows: perPartition.map((s) => s.rows),
      schema: meta.columns,
      fingerprint: meta.fingerprint,
      vocabularies: meta.vocabularies,
      warnings: labels.map((l) => l.warning()).filter((w) => w !== undefined),
    };
  } finally {
    await producer.close();
  }
}
