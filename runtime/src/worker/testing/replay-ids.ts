// What a worker trained on, replayed: the ids of its partitions in feed order, as the worker's feed (same seed,
// batch size and epochs, no shuffle pool) delivers them, from the start or from a checkpointed cursor.
import type { FeedBatch } from '../../feed/index.ts';
import { feed } from '../../feed/index.ts';
import type { FeedCursor } from '../../job/index.ts';
import type { KafkaConnection } from '../../kafka/index.ts';
import { CursorTracker } from '../feed-cursor.ts';

/** The feed a replay reads: the job's topic, batch size, seed and epochs. */
export interface ReplayFeed {
  connection: KafkaConnection;
  topic: string;
  batchSize: number;
  seed: number;
  epochs: number;
}

/** Ids (the `id` column) of `partitions`, `limit` batches at most, from the start or `from`; `last` is the cursor
 * after the last batch taken. */
export async function replayIds(job: ReplayFeed, partitions: number[], limit: number, from?: FeedCursor) {
  const f = feed({
    connection: job.connection,
    topic: job.topic,
    batchSize: job.batchSize,
    partitions,
    features: { xs: ['id'] },
    shuffleBuffer: 0,
    seed: job.seed, // a cursor carries the feed's random state
    epochs: job.epochs,
    ...(from ? { resume: from.position } : {}),
  });
  const tracker = new CursorTracker(from?.position);
  const ids: number[] = [];
  let skip = from?.skip ?? 0;
  let batches = 0;
  let last: FeedCursor | undefined;
  try {
    for await (const b of f as AsyncIterable<FeedBatch>) {
      if (skip > 0) {
        skip--;
        tracker.take(b);
        continue;
      }
      if (batches === limit) break;
      last = tracker.take(b);
      ids.push(...Array.from(b.xs.dataSync(), Math.round));
      batches++;
    }
  } finally {
    await f.close();
  }
  return { ids, batches, last };
}
