import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOptimizer } from './optimizers.ts';
import { planShards } from './shard-plan.ts';
import { ShardStore } from './shard-store.ts';

const plan = planShards(
  [
    { name: 'w', shape: [3, 5] },
    { name: 'b', shape: [5] },
  ],
  1,
);
const store = (): ShardStore =>
  new ShardStore(
    plan,
    0,
    createOptimizer({ type: 'sgd', learningRate: 1 }),
    new Map([
      ['w', new Float32Array(15).fill(1)],
      ['b', new Float32Array(5).fill(2)],
    ]),
  );
const ones = (): Float32Array[] => [new Float32Array(15).fill(1), new Float32Array(5).fill(1)];

test('a pull copy stays unchanged until its reply is sent, and is reused after', () => {
  const s = store();
  const held = s.pullCopy();
  s.apply(ones()); // an update while the step-0 reply is still queued on a socket
  assert.deepEqual([...held.data[1]!], [2, 2, 2, 2, 2], 'the queued bytes did not change');
  const next = s.pullCopy();
  assert.notEqual(next.data[1], held.data[1]);
  assert.deepEqual([...next.data[1]!], [1, 1, 1, 1, 1]);
  assert.equal(s.pullCopy().data, next.data, 'pulls of one step share its copy');

  held.done();
  held.done(); // idempotent
  s.apply(ones());
  const reused = s.pullCopy();
  assert.equal(reused.data, held.data, 'a copy nobody holds is reused, not reallocated');
  assert.deepEqual([...reused.data[1]!], [0, 0, 0, 0, 0]);
});

test('sync sums: the first push is copied, later ones added, the update uses their average', () => {
  const s = store();
  s.accumulate([new Float32Array(15).fill(3), new Float32Array(5).fill(1)]);
  s.accumulate([new Float32Array(15).fill(1), new Float32Array(5).fill(2)]);
  assert.equal(s.gathered, 2);
  s.applyAverage();
  assert.equal(s.globalStep, 1);
  assert.deepEqual([...s.trainable[0]!.params].slice(0, 3), [-1, -1, -1]); // 1 - (3 + 1) / 2
  assert.deepEqual([...s.trainable[1]!.params], [0.5, 0.5, 0.5, 0.5, 0.5]); // 2 - (1 + 2) / 2
  // The next step starts from a clean sum without a zeroing pass.
  s.accumulate(ones());
  s.applyAverage();
  assert.deepEqual([...s.trainable[1]!.params], [-0.5, -0.5, -0.5, -0.5, -0.5]);
});
