// Record batches taken apart in place: values and headers as views, values moved to 8-aligned addresses, a batch
// cut short at the end of a response left for the next fetch, and batches this reader cannot take apart refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnreadableBatchError, parseRecordBatches } from './record-batches.ts';

const zigzag = (n: number): number[] => {
  const out: number[] = [];
  let v = (n << 1) ^ (n >> 31);
  v >>>= 0;
  do {
    out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>>= 7;
  } while (v > 0);
  return out;
};

const field = (bytes: Buffer | null): number[] => (bytes ? [...zigzag(bytes.length), ...bytes] : zigzag(-1));

interface TestRecord {
  value: Buffer | null;
  headers?: [string, string][];
  key?: Buffer;
}

/** A magic-2 record batch as a broker stores it (the CRC is not checked by the reader, so it is left 0). */
function batch(baseOffset: bigint, records: TestRecord[], attributes = 0): Buffer {
  const body: number[] = [];
  records.forEach((r, i) => {
    const record = [
      0, // attributes
      ...zigzag(0), // timestamp delta
      ...zigzag(i), // offset delta
      ...field(r.key ?? null),
      ...field(r.value),
      ...zigzag(r.headers?.length ?? 0),
      ...(r.headers ?? []).flatMap(([k, v]) => [...field(Buffer.from(k)), ...field(Buffer.from(v))]),
    ];
    body.push(...zigzag(record.length), ...record);
  });
  const head = Buffer.alloc(61);
  head.writeBigInt64BE(baseOffset, 0);
  head.writeInt32BE(61 - 12 + body.length, 8);
  head.writeInt8(2, 16); // magic
  head.writeInt16BE(attributes, 21);
  head.writeInt32BE(records.length - 1, 23);
  head.writeInt32BE(records.length, 57);
  return Buffer.concat([head, Buffer.from(body)]);
}

/** `bytes` at the start of memory of their own (an 8-aligned address), as a fetch response lands. */
function landed(bytes: Buffer): Buffer {
  const memory = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(memory);
  return memory;
}

test('records come with their offsets, values, headers and batch size', () => {
  const first = batch(10n, [
    { value: Buffer.from('alpha'), headers: [['petal-kind', 'data']] },
    { value: null, key: Buffer.from('k') },
  ]);
  const second = batch(12n, [
    {
      value: Buffer.from('omega'),
      headers: [
        ['a', '1'],
        ['b', '2'],
      ],
    },
  ]);
  const records = parseRecordBatches(landed(Buffer.concat([first, second])), 10n);
  assert.deepEqual(
    records.map((r) => [r.offset, r.value?.toString() ?? null, r.batchBytes]),
    [
      [10n, 'alpha', first.length],
      [11n, null, first.length],
      [12n, 'omega', second.length],
    ],
  );
  assert.deepEqual(
    records[2]!.headers.map(([k, v]) => [k!.toString(), v!.toString()]),
    [
      ['a', '1'],
      ['b', '2'],
    ],
  );
  assert.equal(records[0]!.headers[0]![1]!.toString(), 'data');
});

test('every value starts at an 8-aligned address, with its bytes intact, and is a view into the fetched memory', () => {
  const values = [1, 9, 250, 4099].map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff)));
  const memory = landed(Buffer.concat(values.map((value, i) => batch(BigInt(i), [{ value, headers: [['h', 'v']] }]))));
  const records = parseRecordBatches(memory, 0n);
  assert.equal(records.length, values.length);
  records.forEach((r, i) => {
    assert.equal(r.value!.byteOffset % 8, 0, `value ${i} at ${r.value!.byteOffset}`);
    assert.ok(r.value!.equals(values[i]!), `value ${i} intact`);
    assert.equal(r.value!.buffer, memory.buffer, 'no copy');
    assert.equal(r.headers[0]![1]!.toString(), 'v', 'headers after the value stay readable');
  });
});

test('records before the asked offset are left out (a batch may start before it)', () => {
  const memory = landed(
    batch(5n, [{ value: Buffer.from('a') }, { value: Buffer.from('b') }, { value: Buffer.from('c') }]),
  );
  assert.deepEqual(
    parseRecordBatches(memory, 6n).map((r) => r.offset),
    [6n, 7n],
  );
});

test('a batch cut short at the end of the response is left for the next fetch', () => {
  const whole = batch(0n, [{ value: Buffer.from('whole') }]);
  const cut = batch(1n, [{ value: Buffer.alloc(100, 1) }]);
  for (const keep of [5, 40, 61, cut.length - 1]) {
    const records = parseRecordBatches(landed(Buffer.concat([whole, cut.subarray(0, keep)])), 0n);
    assert.deepEqual(
      records.map((r) => r.offset),
      [0n],
      `cut at ${keep}`,
    );
  }
});

test('transaction markers are skipped; compressed and old-format batches are refused by name', () => {
  const control = batch(0n, [{ value: Buffer.from([0, 0, 0, 0]) }], 0x20);
  const data = batch(1n, [{ value: Buffer.from('x') }]);
  assert.deepEqual(
    parseRecordBatches(landed(Buffer.concat([control, data])), 0n).map((r) => r.offset),
    [1n],
  );
  assert.throws(
    () => parseRecordBatches(landed(batch(0n, [{ value: Buffer.from('z') }], 1)), 0n),
    (err) => err instanceof UnreadableBatchError && /compressed record batch \(codec 1\)/.test(err.message),
  );
  const old = batch(0n, [{ value: Buffer.from('z') }]);
  old.writeInt8(1, 16);
  assert.throws(
    () => parseRecordBatches(landed(old), 0n),
    (err) => err instanceof UnreadableBatchError && /format 1/.test(err.message),
  );
});
