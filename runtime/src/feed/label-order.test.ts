// When stream() warns that rows came grouped by label: runs counted across all the tables (chunks) of one stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import { LabelOrder } from './label-order.ts';

const labels = (values: number[]) => tableFromArrays({ label: Int32Array.from(values) });
const repeat = (value: number, n: number) => Array.from({ length: n }, () => value);

test('classes one after another warn, even when each class came in a chunk of its own', () => {
  const order = new LabelOrder('label');
  for (const c of [0, 1, 2]) order.add(labels(repeat(c, 500)));
  assert.match(order.warning()!, /ordered by label \(3 runs of one value over 1500 rows\)/);
  // A chunk continuing the last class adds no run.
  order.add(labels(repeat(2, 500)));
  assert.match(order.warning()!, /3 runs of one value over 2000 rows/);
});

test('mixed classes, a single class, and short runs do not warn', () => {
  const mixed = new LabelOrder('label');
  mixed.add(labels(Array.from({ length: 1500 }, (_, i) => (i * 7919) % 3)));
  assert.equal(mixed.warning(), undefined);
  const single = new LabelOrder('label');
  single.add(labels(repeat(4, 1000)));
  assert.equal(single.warning(), undefined);
  // Sorted, but too few rows per run for a feed's pool to matter.
  const small = new LabelOrder('label');
  small.add(labels([0, 0, 1, 1, 2, 2]));
  assert.equal(small.warning(), undefined);
});

test('a table without the column counts nothing', () => {
  const order = new LabelOrder('label');
  order.add(tableFromArrays({ other: Int32Array.from(repeat(1, 500)) }));
  assert.equal(order.warning(), undefined);
});
