// The fetch limit a partition reader asks for: whole record batches only, so no response carries a cut batch that
// crossed the wire for nothing. (Reading itself is tested against a real broker in feed.test.ts and memory.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { askBytes, batchBytesNear } from './partition-reader.ts';

const MiB = 1 << 20;

test('before any data batch is seen, a fetch asks for exactly one batch', () => {
  assert.equal(askBytes(4 * MiB, 0), 1);
});

test('batches too big for two per fetch come one per fetch, however the limit compares', () => {
  assert.equal(askBytes(4 * MiB, 2.1e6), 1);
  assert.equal(askBytes(4 * MiB, 3 * MiB), 1);
  assert.equal(askBytes(4 * MiB, 9 * MiB), 1);
});

test('small batches come as many per fetch as surely fit by the largest seen', () => {
  assert.equal(askBytes(4 * MiB, 100_000), 41 * 100_000);
  assert.equal(askBytes(4 * MiB, 2 * MiB), 4 * MiB);
  assert.ok(askBytes(8 * MiB, 1100) <= 8 * MiB);
});

test("a topic's message size plans the first fetch: several whole batches, not one", () => {
  // stream()'s default 2 MiB messages, fetched 8 MiB at a time: three batches from the first fetch on.
  const planned = batchBytesNear(2 * MiB);
  assert.ok(planned > 2 * MiB && planned < 2.25 * MiB, `planned ${planned}`);
  assert.equal(askBytes(8 * MiB, planned), 3 * planned);
});
