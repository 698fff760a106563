// Follows a worker's train feed batch by batch and answers the cursor after each (see FeedCursor): the position
// where the current group of batches began and how many of them were taken. Groups are told apart by the position
// feed() stamps on them; every batch of one group carries the same one.
import type { FeedPosition } from '../feed/index.ts';
import { startOfEpoch } from '../job/index.ts';
import type { FeedCursor } from '../job/index.ts';

/** The cursor of a feed, advanced once per batch taken (trained on, or skipped on resume). */
export class CursorTracker {
  #start: FeedPosition | undefined;
  #key: string | undefined;
  #last: FeedPosition | undefined;
  #taken = 0;

  /** `resume`: the position the feed was resumed from (its first group starts there). */
  constructor(resume?: FeedPosition) {
    this.#start = resume;
  }

  /** Records one batch taken; returns the cursor just after it. */
  take(batch: { epoch: number; position: FeedPosition }): FeedCursor {
    const key = JSON.stringify(batch.position);
    if (key !== this.#key) {
      if (this.#key === undefined) {
        if (this.#start?.epoch !== batch.epoch) this.#start = startOfEpoch(batch.epoch);
      } else {
        this.#start = this.#last?.epoch === batch.epoch ? this.#last : startOfEpoch(batch.epoch);
      }
      this.#key = key;
      this.#taken = 0;
    }
    this.#last = batch.position;
    this.#taken++;
    return { position: this.#start!, skip: this.#taken };
  }
}
