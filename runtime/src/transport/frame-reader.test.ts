// The frame reader's arenas from an ArenaSource: frames land in the lent memory, every lent region goes back once
// out of use (and only once), and what the source cannot lend the reader allocates itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIMITS, FrameKind, encodeFrameToBuffer } from '../protocol/index.ts';
import { FrameReader } from './frame-reader.ts';
import type { ArenaSource } from './frame-reader.ts';

const REGION = 1024 * 1024;

/** Lends `count` regions of one ArrayBuffer and counts what it lends and gets back. */
function pool(count: number): ArenaSource & { memory: ArrayBuffer; lent: number; back: number; free: number } {
  const memory = new ArrayBuffer(count * REGION);
  const free = Array.from({ length: count }, (_, i) => new Uint8Array(memory, i * REGION, REGION));
  const p = {
    memory,
    lent: 0,
    back: 0,
    get free() {
      return free.length;
    },
    take(bytes: number) {
      if (bytes > REGION || free.length === 0) return undefined;
      const region = free.pop()!;
      p.lent++;
      let given = false;
      return {
        bytes: region,
        give() {
          assert.equal(given, false, 'a region is given back once');
          given = true;
          p.back++;
          free.push(region);
        },
      };
    },
  };
  return p;
}

const frameOf = (n: number, seed: number): Buffer =>
  encodeFrameToBuffer({
    kind: FrameKind.request,
    type: 1,
    requestId: seed,
    generation: 0,
    meta: { seed },
    tensors: [{ dtype: 'float32', shape: [n], data: Float32Array.from({ length: n }, (_, i) => seed + i) }],
  });

test('frames land in lent memory; regions go back once out of use; what cannot be lent is allocated', () => {
  const source = pool(2);
  const reader = new FrameReader(DEFAULT_LIMITS, source);
  // Three frames of 128 Ki floats (512 KiB each) in 64 KiB reads, each released before the next read, as the
  // connection does.
  const small = Buffer.concat([frameOf(128 * 1024, 1), frameOf(128 * 1024, 2), frameOf(128 * 1024, 3)]);
  const seen: number[] = [];
  for (let at = 0; at < small.length; at += 64 * 1024) {
    for (const f of reader.push(small.subarray(at, at + 64 * 1024))) {
      const data = f.tensors[0]!.data as Float32Array;
      assert.equal(data.buffer, source.memory, 'tensor data is a view of the lent memory');
      assert.equal(data[5], (f.meta as { seed: number }).seed + 5);
      seen.push((f.meta as { seed: number }).seed);
      f.release();
    }
  }
  assert.deepEqual(seen, [1, 2, 3]);

  // A frame larger than any region: the reader allocates its own arena and the bytes are still right.
  const big = frameOf(512 * 1024, 9);
  const [f] = reader.push(big);
  const data = f!.tensors[0]!.data as Float32Array;
  assert.notEqual(data.buffer, source.memory);
  assert.equal(data[512 * 1024 - 1], 9 + 512 * 1024 - 1);
  reader.dispose();
  assert.ok(source.lent >= 1);
  assert.equal(source.back, source.lent, 'every lent region is back once the reader is done');
  assert.equal(source.free, 2);
  f!.release(); // the big frame's arena was the reader's own: nothing more comes back
  assert.equal(source.back, source.lent);
});

test('a leased lent arena is not reused while its frame is held, and comes back on release after dispose', () => {
  const source = pool(3);
  const reader = new FrameReader(DEFAULT_LIMITS, source);
  const [a] = reader.push(frameOf(64 * 1024, 1));
  const [b] = reader.push(frameOf(64 * 1024, 2)); // a still held: lands elsewhere or after it, never over it
  const da = a!.tensors[0]!.data as Float32Array;
  assert.equal(da[0], 1);
  assert.equal(da[64 * 1024 - 1], 1 + 64 * 1024 - 1, 'the held frame is intact');
  assert.equal((b!.tensors[0]!.data as Float32Array)[0], 2);
  reader.dispose();
  assert.ok(source.back < source.lent, 'held frames keep their arena');
  a!.release();
  b!.release();
  assert.equal(source.back, source.lent);
});
