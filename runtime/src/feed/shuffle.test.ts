// The seeded shuffle: exactly mulberry32 with the textbook floating-point draw ⌊u · (i + 1) / 2³²⌋, so a position
// written before the integer draw resumes into the same permutations; and a permutation, small pools or large.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shuffle } from './shuffle.ts';

/** Fisher–Yates driven by mulberry32, written plainly. */
function reference(n: number, state: number): { order: Int32Array; state: number } {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let a = state >>> 0;
  for (let i = n - 1; i > 0; i--) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const j = Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return { order, state: a };
}

test('permutations and the state after each match the plain mulberry32 shuffle, across the 65,536-row switch', () => {
  for (const seed of [0, 1, 0xdeadbeef, 4294967295]) {
    const shuffle = new Shuffle(seed);
    let state = seed >>> 0;
    for (const n of [1, 2, 10_240, 65_536, 65_537, 100_003]) {
      const expected = reference(n, state);
      assert.deepEqual(shuffle.permutation(n).subarray(0, n), expected.order, `seed ${seed}, n ${n}`);
      assert.equal(shuffle.state, expected.state);
      state = expected.state;
    }
  }
});

test('every row once: a permutation however the pool size compares with the draw switch', () => {
  const shuffle = new Shuffle(7);
  for (const n of [3, 65_536, 131_072]) {
    const seen = new Uint8Array(n);
    for (const i of shuffle.permutation(n).subarray(0, n)) seen[i]!++;
    assert.ok(
      seen.every((c) => c === 1),
      `n ${n}`,
    );
  }
});
