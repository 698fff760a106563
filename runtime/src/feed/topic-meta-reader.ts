// Reads a partition's first record, the topic metadata every partition starts with.
import type { PartitionFetcher } from '../kafka/partition-fetcher.ts';
import { FeedCodes, feedError } from './errors.ts';
import { recordKind } from './topic-records.ts';
import type { TopicMeta } from './topic-records.ts';

/** The meta record at the start of the fetcher's partition, or undefined when it is still empty after `waitMs`. */
export async function readTopicMeta(fetcher: PartitionFetcher, waitMs: number): Promise<TopicMeta | undefined> {
  const { topic, partition } = fetcher;
  const deadline = Date.now() + waitMs;
  do {
    const fetched = await fetcher.fetch({
      offset: 0n,
      // The broker returns a first record batch whole whatever the limit: 1 byte asks for the meta record alone.
      maxBytes: 1,
      maxWaitTime: 200,
    });
    try {
      const first = fetched.records[0];
      if (first) {
        if (recordKind(first.headers) !== 'meta' || !first.value) {
          throw feedError(
            FeedCodes.corrupt,
            'the first record is not Petal topic metadata',
            { topic, partition, offset: first.offset },
            {
              fix: 'feed only topics written by stream()',
            },
          );
        }
        return JSON.parse(first.value.toString()) as TopicMeta;
      }
    } finally {
      fetched.release();
    }
  } while (Date.now() < deadline);
  return undefined;
}
