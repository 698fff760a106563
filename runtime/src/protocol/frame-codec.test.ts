import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { DEFAULT_LIMITS, FrameKind, HEADER_BYTES } from './frame.ts';
import type { Frame } from './frame.ts';
import { decodeFrame, encodeFrame, encodeFrameToBuffer, readFrameHeader } from './frame-codec.ts';

// An 8-aligned copy, as the transport's arena provides (Buffer.concat may hand out an unaligned pool slice).
function aligned(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(bytes.byteLength));
  out.set(bytes);
  return out;
}

const sample = (): Frame => ({
  kind: FrameKind.request,
  type: 200,
  requestId: 7,
  generation: 3,
  meta: { step: 12, names: ['w', 'b', 'mask'], note: 'ünïcode' },
  tensors: [
    { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -2, 3, Number.NaN, Infinity, -0]) },
    { dtype: 'int32', shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
    { dtype: 'uint8', shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
    { dtype: 'float64', shape: [0, 4], data: new Float64Array(0) },
  ],
});

test('a frame round-trips bit-exact, payloads 8-aligned and viewed without copying', () => {
  const bytes = aligned(encodeFrameToBuffer(sample()));
  assert.equal(bytes.byteLength % 8, 0);
  const frame = decodeFrame(bytes);
  const want = sample();
  assert.equal(frame.kind, want.kind);
  assert.equal(frame.type, 200);
  assert.equal(frame.requestId, 7);
  assert.equal(frame.generation, 3);
  assert.deepEqual(frame.meta, want.meta);
  assert.equal(frame.tensors.length, 4);
  for (let i = 0; i < 4; i++) {
    const got = frame.tensors[i]!;
    const exp = want.tensors[i]!;
    assert.equal(got.dtype, exp.dtype);
    assert.deepEqual(got.shape, exp.shape);
    assert.equal(got.data.constructor, exp.data.constructor);
    assert.deepEqual(
      Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength),
      Buffer.from(exp.data.buffer),
    );
    if (got.data.byteLength > 0) assert.equal(got.data.buffer, bytes.buffer, `tensor ${i} is a view, not a copy`);
  }
});

test('encoding hands tensor data out as views (no copy) and pads to 8 bytes', () => {
  const data = new Float32Array([1, 2, 3]);
  const { chunks, byteLength } = encodeFrame({
    kind: FrameKind.message,
    type: 1,
    requestId: 0,
    generation: 0,
    meta: undefined,
    tensors: [{ dtype: 'float32', shape: [3], data }],
  });
  assert.equal(chunks[1]!.buffer, data.buffer);
  assert.equal(
    chunks.reduce((n, c) => n + c.byteLength, 0),
    byteLength,
  );
  assert.equal(byteLength % 8, 0);
});

test('an unaligned buffer still decodes (by copying the payload)', () => {
  const bytes = encodeFrameToBuffer(sample());
  const shifted = new Uint8Array(bytes.byteLength + 1).subarray(1);
  shifted.set(bytes);
  const frame = decodeFrame(shifted);
  assert.deepEqual([...(frame.tensors[1]!.data as Int32Array)], [-1, 0, 2 ** 31 - 1]);
});

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isPetalError(err, code) || assert.fail(`expected ${code}, got ${String(err)}`));
}

test('malformed frames throw PETAL_PROTOCOL_* errors', () => {
  const good = aligned(encodeFrameToBuffer(sample()));
  const mutate = (f: (b: Buffer) => void): Uint8Array => {
    const b = Buffer.from(aligned(good));
    f(b);
    return aligned(b);
  };
  expectCode(() => decodeFrame(good.subarray(0, 10)), 'PETAL_PROTOCOL_MALFORMED');
  expectCode(() => decodeFrame(good.subarray(0, good.length - 8)), 'PETAL_PROTOCOL_MALFORMED');
  expectCode(() => decodeFrame(mutate((b) => b.writeUInt8(9, 4))), 'PETAL_PROTOCOL_VERSION');
  expectCode(() => decodeFrame(mutate((b) => b.writeUInt8(7, 5))), 'PETAL_PROTOCOL_MALFORMED');
  expectCode(() => decodeFrame(mutate((b) => b.writeUInt32LE(0, 8))), 'PETAL_PROTOCOL_MALFORMED'); // request without id
  expectCode(() => decodeFrame(mutate((b) => b.writeUInt32LE(3, 20))), 'PETAL_PROTOCOL_MALFORMED'); // count mismatch
  expectCode(() => decodeFrame(mutate((b) => b.writeUInt32LE(0xffff_fff8, 0))), 'PETAL_PROTOCOL_FRAME_TOO_LARGE');
  expectCode(() => decodeFrame(mutate((b) => b.writeUInt8(0x7b, HEADER_BYTES + 1))), 'PETAL_PROTOCOL_MALFORMED'); // bad JSON
  const json = Buffer.from(good.subarray(HEADER_BYTES, HEADER_BYTES + readFrameHeader(good, 0).metaBytes)).toString();
  for (const [from, to] of [
    ['"float32"', '"float99"'],
    ['"bytes":24', '"bytes":28'],
    ['[2,3]', '[2,4]'],
    ['"dtype":"int32"', '"dtype":"uint8"'],
  ] as const) {
    const bad = json.replace(from, to);
    assert.notEqual(bad, json, `pattern ${from} is in the metadata`);
    const b = Buffer.from(good);
    b.write(bad, HEADER_BYTES);
    expectCode(() => decodeFrame(aligned(b)), 'PETAL_PROTOCOL_MALFORMED');
  }
  expectCode(() => decodeFrame(good, { ...DEFAULT_LIMITS, maxFrameBytes: 64 }), 'PETAL_PROTOCOL_FRAME_TOO_LARGE');
  expectCode(() => decodeFrame(good, { ...DEFAULT_LIMITS, maxMetaBytes: 64 }), 'PETAL_PROTOCOL_MALFORMED');
});

test('encoding rejects frames that cannot be right', () => {
  const f = sample();
  expectCode(() => encodeFrame({ ...f, requestId: 0 }), 'PETAL_PROTOCOL_INVALID');
  expectCode(() => encodeFrame({ ...f, type: 70000 }), 'PETAL_PROTOCOL_INVALID');
  expectCode(
    () => encodeFrame({ ...f, tensors: [{ dtype: 'float32', shape: [4], data: new Float32Array(3) }] }),
    'PETAL_PROTOCOL_INVALID',
  );
  expectCode(
    () => encodeFrame({ ...f, tensors: [{ dtype: 'float32', shape: [3], data: new Int32Array(3) }] }),
    'PETAL_PROTOCOL_INVALID',
  );
  expectCode(() => encodeFrame({ ...f, meta: { n: 1n } }), 'PETAL_PROTOCOL_INVALID');
});

test('random and mutated bytes only ever throw ProtocolErrors', () => {
  let seed = 42;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const good = aligned(encodeFrameToBuffer(sample()));
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(rand() * 300));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
    } else {
      bytes = aligned(good);
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++)
        bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    }
    try {
      decodeFrame(bytes);
      accepted++;
    } catch (err) {
      assert.ok(isPetalError(err) && err.code.startsWith('PETAL_PROTOCOL_'), `unexpected ${String(err)}`);
    }
  }
  assert.ok(accepted < 2500, 'most mutations are caught');
});
