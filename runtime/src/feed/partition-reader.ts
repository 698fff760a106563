// Reads one partition from an offset up to its end marker, one bounded fetch at a time, with the next fetch asked
// for as soon as a response arrives (unless it held the end marker), so the broker serves it while the caller
// decodes this one: at most two responses per partition exist. Each fetch asks for whole record batches only (see
// `askBytes`). Fetch errors — a broker restarting — are retried until `idleMs` passes without progress; a partition
// that ends without its end marker in that time is an error, never a short epoch.
import { tableFromIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import { errorMessages } from '../kafka/client.ts';
import { isPetalError } from '../errors.ts';
import type { FetchedRecord, PartitionFetcher, RecordFetch } from '../kafka/partition-fetcher.ts';
import { FeedCodes, feedError } from './errors.ts';
import { recordKind } from './topic-records.ts';
import type { EndMarker } from './topic-records.ts';

/** One data message of a partition. */
export interface PartitionMessage {
  partition: number;
  offset: bigint;
  /** Views the fetched bytes until `release()`. */
  table: Table;
  /**
   * Done with the table: once every message of a fetch is released, the fetcher reuses its memory. A message never
   * released is left to the garbage collector (a pool that keeps views into it, as of images, does that).
   */
  release(): void;
}

export interface ReadOptions {
  from: bigint;
  /** Rows the caller has seen before `from` (when resuming), so the end marker's count still checks. */
  rowsBefore: number;
  /** The most bytes one fetch asks for (a single record batch larger than this still comes whole). */
  maxBytes: number;
  idleMs: number;
  /** The size a data batch is expected near (the topic's message target), until the first one shows its real size. */
  expectedBatch?: number;
}

/**
 * How long the broker may hold a fetch that finds no new record (a partition still being written). Short, because
 * the broker serves one request per connection at a time: a waiting fetch holds up whatever is queued behind it.
 */
const MAX_WAIT_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The limit of the next fetch. The broker fills a response up to the limit, cutting the record batch there (the
 * client drops the cut part after it crossed the wire: with 2 MiB messages and a 4 MiB limit, half of each response;
 * 55 MB read for a 36 MB topic), and returns a first batch whole however small the limit. So ask for as many whole
 * batches as surely fit by the largest data batch seen, or for exactly one (a 1-byte limit) when fewer than two fit
 * or none was seen yet.
 */
export function askBytes(maxBytes: number, largestBatch: number): number {
  const batches = largestBatch > 0 ? Math.floor(maxBytes / largestBatch) : 0;
  return batches >= 2 ? batches * largestBatch : 1;
}

/**
 * The record-batch size to plan fetches by for messages of about `messageBytes` of column data: the Arrow IPC
 * framing and the Kafka record add a little (a message cut by the plan is fetched again, never lost).
 */
export function batchBytesNear(messageBytes: number): number {
  return Math.ceil(messageBytes * 1.05) + 16 * 1024;
}

/** Yields the data messages of one partition from `from` to its end marker, checking the marker's row count. */
export async function* readPartition(
  fetcher: PartitionFetcher,
  options: ReadOptions,
): AsyncGenerator<PartitionMessage> {
  const { topic, partition } = fetcher;
  const { maxBytes, idleMs } = options;
  let offset = options.from;
  let rows = options.rowsBefore;
  let lastProgress = Date.now();
  // Data batches only: the meta and end records are tiny and would make the next ask cut a data batch.
  let largestBatch = 0;
  const expected = options.expectedBatch === undefined ? 0 : batchBytesNear(options.expectedBatch);
  const fetchNext = (): Promise<RecordFetch> => {
    const request = { offset, maxBytes: askBytes(maxBytes, largestBatch || expected), maxWaitTime: MAX_WAIT_MS };
    const pending = fetcher.fetch(request);
    // Awaited later, or dropped when the reader stops early: never an unhandled rejection meanwhile.
    pending.catch(() => {});
    return pending;
  };
  let next = fetchNext();
  for (;;) {
    let fetched: RecordFetch;
    try {
      fetched = await next;
    } catch (err) {
      // A partition holding what no retry can read fails now, not after idleMs.
      if (isPetalError(err) && !err.retryable) throw err;
      if (Date.now() - lastProgress > idleMs) {
        throw feedError(
          FeedCodes.incomplete,
          `reading failed for ${idleMs} ms: ${errorMessages(err)}`,
          { topic, partition, offset },
          {
            cause: err,
            retryable: true,
            fix: 'check that the broker is running (`petal kafka status`)',
          },
        );
      }
      await sleep(250);
      next = fetchNext();
      continue;
    }
    const { records } = fetched;
    if (records.length === 0) {
      fetched.release();
      if (Date.now() - lastProgress > idleMs) {
        throw feedError(
          FeedCodes.incomplete,
          `the partition ended without its end marker (no new record for ${idleMs} ms)`,
          { topic, partition, offset },
          {
            fix: 'the stream() that wrote it failed or is still running; stream the data again',
          },
        );
      }
      next = fetchNext();
      continue;
    }
    lastProgress = Date.now();
    offset = records.at(-1)!.offset + 1n;
    const kinds = records.map((r) => recordKind(r.headers));
    records.forEach((r, i) => {
      if (kinds[i] === 'data' && r.batchBytes > largestBatch) largestBatch = r.batchBytes;
    });
    // Past the end marker there is nothing to read (a fetch there would wait on the broker for new records).
    if (kinds.at(-1) !== 'end') next = fetchNext();
    const releaser = releaseAfter(kinds.filter((k) => k === 'data').length, fetched);
    for (const [i, record] of records.entries()) {
      const kind = kinds[i];
      // A meta record is skipped: the feed read the topic's meta before any partition.
      if (kind === 'end') {
        const end = JSON.parse(record.value!.toString()) as EndMarker;
        if (end.rows !== rows) {
          throw feedError(
            FeedCodes.rowCount,
            `read ${rows} rows but the end marker says ${end.rows}`,
            { topic, partition, offset: record.offset },
            {
              fix: 'the topic lost or repeated data; stream it again',
            },
          );
        }
        return;
      } else if (kind === 'data' && record.value) {
        const table = decode(record, topic, partition);
        rows += table.numRows;
        yield { partition, offset: record.offset, table, release: releaser() };
      } else if (kind !== 'meta') {
        throw notPetal(topic, partition, record.offset);
      }
    }
  }
}

/** The data message at `offset` of a partition: what a resumed feed re-reads for rows a position names. */
export async function readMessageAt(fetcher: PartitionFetcher, offset: bigint): Promise<PartitionMessage> {
  const { topic, partition } = fetcher;
  // The batch holding `offset`, whole, and nothing after it.
  const fetched = await fetcher.fetch({ offset, maxBytes: 1, maxWaitTime: MAX_WAIT_MS });
  const record = fetched.records.find((r) => r.offset === offset);
  if (!record || recordKind(record.headers) !== 'data') {
    fetched.release();
    throw feedError(
      FeedCodes.incomplete,
      'the resume position names a data message the topic does not hold',
      { topic, partition, offset },
      { fix: 'resume with a position taken from this topic, or start the epoch over (omit resume)' },
    );
  }
  return { partition, offset, table: decode(record, topic, partition), release: () => fetched.release() };
}

/** Makes one-shot releases for the `messages` data messages of a fetch; the last one releases the fetch. */
function releaseAfter(messages: number, fetched: RecordFetch): () => () => void {
  let held = messages;
  if (held === 0) fetched.release();
  return () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--held === 0) fetched.release();
    };
  };
}

function decode(record: FetchedRecord, topic: string, partition: number): Table {
  try {
    return tableFromIPC(record.value!);
  } catch (cause) {
    throw feedError(
      FeedCodes.corrupt,
      'a data record is not an Arrow IPC stream',
      { topic, partition, offset: record.offset },
      {
        cause,
        fix: 'feed only topics written by stream()',
      },
    );
  }
}

function notPetal(topic: string, partition: number, offset: bigint) {
  return feedError(
    FeedCodes.corrupt,
    'a record without a Petal kind header',
    { topic, partition, offset },
    {
      fix: 'feed only topics written by stream()',
    },
  );
}
