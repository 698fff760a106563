// Reads a partition's first record, the topic metadata every partition starts with.
import { fetchPartition } from '../kafka/client.ts';
import type { Consumer } from '../kafka/client.ts';
import { FeedCodes, feedError } from './errors.ts';
import { recordKind } from './topic-records.ts';
import type { TopicMeta } from './topic-records.ts';

/** The meta record at the start of `partition`, or undefined when the partition is still empty after `waitMs`. */
export async function readTopicMeta(
  consumer: Consumer,
  topic: string,
  partition: number,
  waitMs: number,
): Promise<TopicMeta | undefined> {
  const deadline = Date.now() + waitMs;
  do {
    const { records } = await fetchPartition(consumer, {
      topic,
      partition,
      offset: 0n,
      // The broker returns a first record batch whole whatever the limit: 1 byte asks for the meta record alone.
      maxBytes: 1,
      maxWaitTime: 200,
    });
    const first = records[0];
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
  } while (Date.now() < deadline);
  return undefined;
}
