// The pool's gather: every layout of numeric, vector and one-hot features gives a batch's rows exactly as the
// columns hold them, in the order asked, whatever the run lengths of scalar features the gather takes four at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Field, FixedSizeList, Float32, Int32, Table, makeData, makeVector } from 'apache-arrow';
import { DenseRows, denseLayout } from './dense-rows.ts';
import { resolveSpec } from './feature-spec.ts';
import type { Feature } from './feature-spec.ts';

const ROWS = 300;
const SCALARS = Array.from({ length: 9 }, (_, c) => `s${c}`);
const place = { topic: 't', partition: 0, offset: 0n };

/** Columns whose every value tells its row and column apart: s<c>[row] = row * 100 + c, v[row] = row * 100 + 50 + j. */
function table(): Table {
  const columns: Record<string, ReturnType<typeof makeVector>> = {};
  SCALARS.forEach((name, c) => {
    const data = Float32Array.from({ length: ROWS }, (_, row) => row * 100 + c);
    columns[name] = makeVector(makeData({ type: new Float32(), length: ROWS, data }));
  });
  const values = Float32Array.from({ length: ROWS * 3 }, (_, k) => Math.floor(k / 3) * 100 + 50 + (k % 3));
  const type = new FixedSizeList(3, new Field('item', new Float32()));
  columns['v'] = makeVector(
    makeData({ type, length: ROWS, child: makeData({ type: new Float32(), length: ROWS * 3, data: values }) }),
  );
  const classes = Int32Array.from({ length: ROWS }, (_, row) => row % 4);
  columns['c'] = makeVector(makeData({ type: new Int32(), length: ROWS, data: classes }));
  return new Table(columns);
}

/** A row's values as the layout of `features` lays them out. */
function expectedRow(features: (string | Feature)[], row: number): number[] {
  return features.flatMap((f) => {
    const name = typeof f === 'string' ? f : f.column;
    if (name === 'v') return [0, 1, 2].map((j) => row * 100 + 50 + j);
    if (name === 'c') return [0, 1, 2, 3].map((k) => (k === row % 4 ? 1 : 0));
    return [row * 100 + SCALARS.indexOf(name)];
  });
}

const onehot: Feature = { column: 'c', kind: 'onehot', depth: 4 };
const layouts: Record<string, (string | Feature)[]> = {
  'nine scalars (4 + 4 + 1)': SCALARS,
  'three scalars (one at a time)': SCALARS.slice(0, 3),
  'two scalars': SCALARS.slice(0, 2),
  'one scalar': SCALARS.slice(0, 1),
  'runs broken by a vector and a one-hot': ['v', 's0', 's1', 's2', onehot, 's3', 's4', 's5', 's6', 's7', 'v', 's8'],
};

test('every layout gathers the rows asked for, shuffled or in pool order, from any start', () => {
  const data = table();
  const order = Int32Array.from({ length: ROWS }, (_, i) => (i * 7919) % ROWS); // a permutation: 7919 is prime
  for (const [name, features] of Object.entries(layouts)) {
    const spec = resolveSpec({ xs: features }, data.schema, {}, 't');
    const rows = new DenseRows(denseLayout(spec.xs), 64);
    // Appended in two slices (the pool grows past its first capacity).
    rows.append(data, place, 0, 120);
    rows.append(data, place, 120, ROWS);
    const width = expectedRow(features, 0).length;
    for (const [start, n] of [
      [0, 32],
      [37, 100],
      [290, 10],
    ] as const) {
      for (const shuffled of [true, false]) {
        const got = rows.take(shuffled ? order : undefined, start, n);
        assert.equal(got.length, n * width, name);
        const want = Array.from({ length: n }, (_, k) =>
          expectedRow(features, shuffled ? order[start + k]! : start + k),
        );
        assert.deepEqual(
          Array.from(got),
          want.flat(),
          `${name}, start ${start}, ${shuffled ? 'shuffled' : 'in order'}`,
        );
      }
    }
  }
});

test('each batch is an array of its own: a later take never writes over an earlier one', () => {
  const data = table();
  const spec = resolveSpec({ xs: SCALARS }, data.schema, {}, 't');
  const rows = new DenseRows(denseLayout(spec.xs), ROWS);
  rows.append(data, place, 0, ROWS);
  const first = rows.take(undefined, 0, 10);
  const kept = Array.from(first);
  rows.take(undefined, 10, 10);
  assert.notEqual(rows.take(undefined, 0, 10).buffer, first.buffer);
  assert.deepEqual(Array.from(first), kept);
});
