// Reads one partition from an offset up to its end marker, one bounded fetch at a time (pull-based: the next fetch
// happens only when the caller wants more). Fetch errors — a broker restarting — are retried until `idleMs` passes
// without progress; a partition that ends without its end marker in that time is an error, never a short epoch.
import { tableFromIPC } from 'apache-arrow';
import type { Table } from 'apache-arrow';
import { errorMessages, fetchPartition } from '../kafka/client.ts';
import type { Consumer } from '../kafka/client.ts';
import { FeedCodes, feedError } from './errors.ts';
import { recordKind } from './topic-records.ts';
import type { EndMarker, TopicMeta } from './topic-records.ts';

/** One data message of a partition. */
export interface PartitionMessage {
  partition: number;
  offset: bigint;
  table: Table;
}

export interface ReadOptions {
  topic: string;
  partition: number;
  from: bigint;
  /** Rows the caller has seen before `from` (when resuming), so the end marker's count still checks. */
  rowsBefore: number;
  maxBytes: number;
  idleMs: number;
  meta: (meta: TopicMeta) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Yields the data messages of one partition from `from` to its end marker, checking the marker's row count. */
export async function* readPartition(consumer: Consumer, options: ReadOptions): AsyncGenerator<PartitionMessage> {
  const { topic, partition, maxBytes, idleMs } = options;
  let offset = options.from;
  let rows = options.rowsBefore;
  let lastProgress = Date.now();
  for (;;) {
    let records;
    try {
      ({ records } = await fetchPartition(consumer, { topic, partition, offset, maxBytes, maxWaitTime: 500 }));
    } catch (err) {
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
      continue;
    }
    if (records.length === 0) {
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
      continue;
    }
    lastProgress = Date.now();
    for (const record of records) {
      offset = record.offset + 1n;
      const kind = recordKind(record.headers);
      if (kind === 'meta') {
        options.meta(JSON.parse(record.value!.toString()) as TopicMeta);
      } else if (kind === 'end') {
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
        let table: Table;
        try {
          table = tableFromIPC(record.value);
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
        rows += table.numRows;
        yield { partition, offset: record.offset, table };
      } else {
        throw feedError(
          FeedCodes.corrupt,
          'a record without a Petal kind header',
          { topic, partition, offset: record.offset },
          {
            fix: 'feed only topics written by stream()',
          },
        );
      }
    }
  }
}
