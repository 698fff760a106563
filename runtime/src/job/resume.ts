// Resuming a job from a checkpoint: what each worker restarts from. The PS record every worker's feed cursor with
// the push that carried it, so a checkpoint taken at a sync point holds, for each worker, exactly the data behind
// the saved weights. This module turns those saved cursors into each worker's start (shared by the in-process
// cluster and the coordinator, which may not import the worker).
import type { FeedPosition } from '../feed/index.ts';

/**
 * Where a worker stands in its train feed. feed() stamps a batch with the position after the whole group of
 * batches it made from one fill of its pool, so a position alone would skip the group's later batches: a cursor
 * is the position where the current group began plus how many of the group's batches were trained on.
 */
export interface FeedCursor {
  position: FeedPosition;
  skip: number;
}

/** What the PS save as feed positions: the PS epoch and the cursor each worker sent with its last update. */
export interface SavedFeedPositions {
  epoch: number;
  workers: Record<string, FeedCursor | undefined>;
}

/** Where one worker restarts: its cursor and the step to count from. */
export interface WorkerResume {
  step: number;
  cursor: FeedCursor;
}

/** The start of `epoch`: every partition from offset 0. */
export function startOfEpoch(epoch: number): FeedPosition {
  return { epoch, offsets: {}, rows: {} };
}

/**
 * Each worker's start from a checkpoint's feed positions. A worker with no cursor, or one from an epoch the PS
 * had already left, consumed nothing of the PS's current epoch: it starts that epoch from the beginning.
 */
export function workerResumes(globalStep: number, saved: unknown, workerIds: readonly string[]): WorkerResume[] {
  const positions = isSaved(saved) ? saved : { epoch: 0, workers: {} };
  return workerIds.map((id) => {
    const c = positions.workers[id];
    const cursor = c && c.position.epoch >= positions.epoch ? c : { position: startOfEpoch(positions.epoch), skip: 0 };
    return { step: globalStep, cursor };
  });
}

function isSaved(v: unknown): v is SavedFeedPositions {
  const s = v as Partial<SavedFeedPositions> | null;
  return typeof s === 'object' && s !== null && Number.isInteger(s.epoch) && typeof s.workers === 'object';
}
