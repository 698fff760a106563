import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PARTS, PART_ELEMENTS, cutParts, exchangeParts } from './exchange-parts.ts';
import { planShards } from './shard-plan.ts';

// Every element of every shard exactly once, in order.
function assertCovers(lengths: number[], parts: ReturnType<typeof cutParts>): void {
  const next = lengths.map(() => 0);
  for (const part of parts) {
    for (const g of part) {
      assert.equal(g.begin, next[g.shard], `shard ${g.shard} continues where it stopped`);
      assert.ok(g.end > g.begin);
      next[g.shard] = g.end;
    }
  }
  assert.deepEqual(next, lengths);
}

test('parts cover every trainable element once, cut inside a shard only at whole 4-lane vectors', () => {
  const lengths = [PART_ELEMENTS + 6, 3, 2 * PART_ELEMENTS + 1, 10];
  const parts = cutParts(lengths);
  assertCovers(lengths, parts);
  assert.equal(parts.length, 4);
  for (const part of parts) {
    for (const g of part) {
      if (g.end < lengths[g.shard]!) assert.equal(g.end % 4, 0, `a cut inside shard ${g.shard} at ${g.end}`);
    }
  }
  // Small shards share a part; a step with nothing trainable is still one (empty) part.
  assert.deepEqual(cutParts([8, 2]), [
    [
      { shard: 0, begin: 0, end: 8 },
      { shard: 1, begin: 0, end: 2 },
    ],
  ]);
  assert.deepEqual(cutParts([]), [[]]);
});

test('a huge PS still cuts a step into at most MAX_PARTS parts', () => {
  const lengths = [MAX_PARTS * PART_ELEMENTS * 3 + 5];
  const parts = cutParts(lengths);
  assert.ok(parts.length <= MAX_PARTS, `${parts.length} parts`);
  assertCovers(lengths, parts);
});

test('worker and PS derive the same parts from the plan (trainable slices of that PS only)', () => {
  const plan = planShards(
    [
      { name: 'big', shape: [1024, 1500] },
      { name: 'bias', shape: [1500] },
      { name: 'frozen', shape: [64], trainable: false },
    ],
    2,
  );
  for (const ps of [0, 1]) {
    const lengths = plan.slices.filter((s) => s.ps === ps && s.trainable).map((s) => s.end - s.begin);
    assert.deepEqual(exchangeParts(plan, ps), cutParts(lengths));
    assertCovers(lengths, exchangeParts(plan, ps));
  }
});
