import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { assembleVariables, planShards, sliceVariables, slicesOf } from './shard-plan.ts';
import type { VariableSpec } from './shard-plan.ts';

const model: VariableSpec[] = [
  { name: 'conv1/kernel', shape: [3, 3, 3, 32] },
  { name: 'conv1/bias', shape: [32] },
  { name: 'dense1/kernel', shape: [1024, 512] }, // 2 MiB: larger than a fair share
  { name: 'dense1/bias', shape: [512] },
  { name: 'dense2/kernel', shape: [512, 100] },
  { name: 'dense2/bias', shape: [100] },
  { name: 'embed/frozen', shape: [1000, 64], trainable: false },
];

test('bytes are balanced across PS, the large variable split into contiguous slices', () => {
  const plan = planShards(model, 3);
  const total = plan.trainableBytes.reduce((a, b) => a + b, 0);
  assert.equal(total, (864 + 32 + 1024 * 512 + 512 + 51200 + 100) * 4);
  const max = Math.max(...plan.trainableBytes);
  assert.ok(max <= (total / 3) * 1.1, `max load ${max} within 10% of the fair share ${total / 3}`);
  const dense = plan.variables.find((v) => v.name === 'dense1/kernel')!;
  assert.ok(dense.slices.length >= 2, 'dense1/kernel is split');
  const pieces = plan.slices.filter((s) => s.variable === 'dense1/kernel');
  assert.equal(pieces[0]!.begin, 0);
  for (let i = 1; i < pieces.length; i++) assert.equal(pieces[i]!.begin, pieces[i - 1]!.end, 'contiguous');
  assert.equal(pieces.at(-1)!.end, 1024 * 512);
  assert.deepEqual(
    plan.frozenBytes.reduce((a, b) => a + b, 0),
    1000 * 64 * 4,
  );
  assert.ok(plan.slices.filter((s) => !s.trainable).every((s) => s.variable === 'embed/frozen'));
});

test('the plan is deterministic and a pure function of its inputs', () => {
  const a = planShards(model, 4);
  const b = planShards(structuredClone(model), 4);
  assert.deepEqual(a, b);
  assert.deepEqual(
    planShards(model, 1).slices.map((s) => s.ps),
    new Array(model.length).fill(0),
  );
});

test('slices reassemble into the original variables', () => {
  const plan = planShards(model, 3, { maxSliceBytes: 100_000 });
  const values = new Map(
    plan.variables.map((v) => [v.name, Float32Array.from({ length: v.size }, (_, i) => i * 0.5 + v.size)]),
  );
  const slices = sliceVariables(plan, values);
  // Each PS's slices, copied as a PS would hold them.
  const held = new Map<string, Float32Array>();
  for (let ps = 0; ps < 3; ps++) for (const s of slicesOf(plan, ps)) held.set(s.id, slices.get(s.id)!.slice());
  const back = assembleVariables(plan, held);
  for (const [name, data] of values) assert.deepEqual(back.get(name), data);
  held.delete(plan.slices[0]!.id);
  assert.throws(
    () => assembleVariables(plan, held),
    (e: unknown) => isPetalError(e, 'PETAL_PS_SHAPE'),
  );
});

test('bad inputs are refused naming the field', () => {
  assert.throws(() => planShards(model, 0), /numPs must be an integer ≥ 1/);
  assert.throws(
    () =>
      planShards(
        [
          { name: 'a', shape: [2] },
          { name: 'a', shape: [3] },
        ],
        2,
      ),
    /variables\[1\]\.name "a" appears twice/,
  );
  assert.throws(() => planShards([{ name: 'a', shape: [-1] }], 2), /variables\[0\]\.shape must be/);
  assert.throws(
    () => planShards([{ name: 'a', shape: [1], dtype: 'int32' } as VariableSpec], 2),
    /variables\[0\]\.dtype is not an option/,
  );
  assert.throws(() => planShards(model, 2, { maxSlice: 4 } as object), /planShards options\.maxSlice is not an option/);
});
