// How a sync step's exchange with one PS is cut into parts: consecutive ranges of the PS's trainable elements (its
// trainable slices in plan order, concatenated), about 2 MiB each. A worker pushes gradients and pulls values part
// by part, so the PS applies part i while part i+1 is still on the wire and sends part i back at once: transfer,
// update and the worker's copies overlap instead of running one after another. A pure function of the plan, so
// worker and PS agree without a word. Cuts inside a slice fall on multiples of 4 elements: the SIMD kernels run
// whole 4-lane vectors, and a part's last vector must not reach into the next part.
import { slicesOf } from './shard-plan.ts';
import type { ShardPlan } from './shard-plan.ts';

/** One contiguous range of one trainable slice: `shard` indexes the PS's trainable slices, [begin, end) its elements. */
export interface PartSegment {
  shard: number;
  begin: number;
  end: number;
}

/** One part: the segments it covers, in order. */
export type ExchangePart = readonly PartSegment[];

/** Elements a part aims at (2 MiB of float32): small enough to overlap, few enough that frames cost little. */
export const PART_ELEMENTS = 512 * 1024;
/** Most parts per PS: each is a request, and a PS connection runs 64 handlers at most. */
export const MAX_PARTS = 32;

/** The parts of PS `psIndex`'s trainable slices. */
export function exchangeParts(plan: ShardPlan, psIndex: number): ExchangePart[] {
  return cutParts(
    slicesOf(plan, psIndex)
      .filter((s) => s.trainable)
      .map((s) => s.end - s.begin),
  );
}

/** Cuts shards of these lengths into parts (see exchangeParts). */
export function cutParts(lengths: readonly number[]): ExchangePart[] {
  const total = lengths.reduce((a, n) => a + n, 0);
  const target = Math.max(PART_ELEMENTS, Math.ceil(total / MAX_PARTS / 4) * 4);
  const parts: PartSegment[][] = [];
  let current: PartSegment[] = [];
  let filled = 0;
  const close = (): void => {
    if (current.length > 0) parts.push(current);
    current = [];
    filled = 0;
  };
  lengths.forEach((length, shard) => {
    let at = 0;
    while (at < length) {
      const room = target - filled;
      let take = Math.min(length - at, room);
      if (at + take < length) take &= ~3; // a cut inside the shard: whole vectors on either side
      if (take === 0) {
        close();
        continue;
      }
      current.push({ shard, begin: at, end: at + take });
      filled += take;
      at += take;
      if (filled >= target) close();
    }
  });
  close();
  if (parts.length === 0) parts.push([]); // nothing trainable: one empty part still makes a step
  return parts;
}
