import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { MessageType } from '../protocol/index.ts';
import { loadTf } from '../tf/tf.ts';
import { connect, createClusterToken } from '../transport/index.ts';
import type { Connection } from '../transport/index.ts';
import { createOptimizer } from './optimizers.ts';
import type { OptimizerConfig } from './optimizers.ts';
import { startParameterServer } from './parameter-server.ts';
import type { PsMode } from './parameter-server.ts';
import { planShards } from './shard-plan.ts';
import { psHarness } from './testing/ps-harness.ts';

const tf = loadTf();
// A tiny linear model y = xW + b, plus a frozen embedding.
const plan = planShards(
  [
    { name: 'w', shape: [4, 2] },
    { name: 'b', shape: [2] },
    { name: 'frozen', shape: [3], trainable: false },
  ],
  1,
);
const init = new Map([
  ['w', Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8])],
  ['b', Float32Array.from([0.05, -0.05])],
  ['frozen', Float32Array.from([7, 8, 9])],
]);
const { token, start, client } = psHarness(plan, init);
async function pull(
  c: Connection,
  worker: string,
  step: number,
): Promise<{ globalStep: number; params: Float32Array[] }> {
  const reply = await c.request({ type: MessageType.pullParams, meta: { worker, step } });
  const params = reply.tensors.map((t) => (t.data as Float32Array).slice());
  const { globalStep } = reply.meta as { globalStep: number };
  reply.release();
  return { globalStep, params };
}
async function push(
  c: Connection,
  worker: string,
  step: number,
  grads: Float32Array[],
): Promise<{ accepted: boolean; reason?: string }> {
  const reply = await c.request({
    type: MessageType.pushGradients,
    meta: { worker, step },
    tensors: grads.map((g) => ({ dtype: 'float32', shape: [g.length], data: g })),
  });
  reply.release();
  return reply.meta as { accepted: boolean; reason?: string };
}

// Mean squared error gradients of the linear model on one worker's batch, computed by TensorFlow in tf.tidy.
function gradients(params: Float32Array[], worker: string, step: number): Float32Array[] {
  return tf.tidy(() => {
    const seed = (worker === 'a' ? 1 : 2) + step * 10;
    const x = tf.tensor2d(
      Array.from({ length: 8 * 4 }, (_, i) => Math.sin(seed + i)),
      [8, 4],
    );
    const y = tf.tensor2d(
      Array.from({ length: 8 * 2 }, (_, i) => Math.cos(seed * i)),
      [8, 2],
    );
    const w = tf.tensor2d(params[0]!, [4, 2]);
    const b = tf.tensor1d(params[1]!);
    const g = tf.grads((w: import('@tensorflow/tfjs-node').Tensor, b: import('@tensorflow/tfjs-node').Tensor) =>
      tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, w), b)),
    )([w, b]);
    return g.map((t) => t.dataSync() as Float32Array);
  });
}

test('sync: 2 workers over real sockets equal applying the averaged gradients directly; tensors stay flat', async () => {
  const config: OptimizerConfig = { type: 'adam', learningRate: 0.01 };
  const ps = await start('sync', config);
  const [ca, cb] = [await client(ps), await client(ps)];
  const reference = createOptimizer(config);
  const ref = [init.get('w')!.slice(), init.get('b')!.slice()];
  const refSlots = ref.map((p) => reference.slotNames.map(() => new Float32Array(p.length)));
  let tensorsAfterFirst = -1;
  for (let step = 0; step < 4; step++) {
    const [pa, pb] = await Promise.all([pull(ca, 'a', step), pull(cb, 'b', step)]);
    assert.equal(pa.globalStep, step);
    assert.deepEqual(pa.params, ref, `step ${step}: the PS holds the reference values`);
    assert.deepEqual(pb.params, ref);
    const ga = gradients(pa.params, 'a', step);
    const gb = gradients(pb.params, 'b', step);
    const results = await Promise.all([push(ca, 'a', step, ga), push(cb, 'b', step, gb)]);
    assert.ok(results.every((r) => r.accepted));
    ref.forEach((p, i) => {
      const avg = ga[i]!.map((g, j) => g + gb[i]![j]!).map((s) => s / 2);
      reference.apply(p, avg, refSlots[i]!);
    });
    reference.finishStep();
    if (step === 0) tensorsAfterFirst = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, tensorsAfterFirst, 'tf.memory().numTensors stays flat across steps');
  const last = await pull(ca, 'a', 4);
  assert.equal(last.globalStep, 4);
  assert.deepEqual(last.params, ref);
  assert.deepEqual(ps.store.trainable[0]!.slots, refSlots[0], 'optimizer slots match too');

  // A push for a step already applied is dropped and counted.
  const stale = await push(ca, 'a', 2, gradients(last.params, 'a', 2));
  assert.deepEqual(stale, { accepted: false, reason: 'stale', globalStep: 4 });
  assert.equal(ps.stats.dropped.stale, 1);
  assert.equal(ps.globalStep, 4);

  // Frozen weights come from their own call, never with the per-step pull.
  assert.equal(last.params.length, 2);
  const frozen = await ca.request({ type: MessageType.pullFrozen });
  assert.deepEqual(frozen.tensors[0]!.data, init.get('frozen'));
  frozen.release();
});

test('sync: a worker leaving the live set releases the barrier', async () => {
  const ps = await start('sync', { type: 'sgd', learningRate: 0.5 });
  const ca = await client(ps);
  const g = [new Float32Array(8).fill(1), new Float32Array(2).fill(1)];
  assert.ok((await push(ca, 'a', 0, g)).accepted);
  const waiting = pull(ca, 'a', 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ps.globalStep, 0, 'waits for b');
  ps.setLiveWorkers(['a']);
  const { globalStep, params } = await waiting;
  assert.equal(globalStep, 1);
  assert.equal(params[1]![0], Math.fround(Math.fround(0.05) - 0.5));
});

test('async: each push is applied at once', async () => {
  const ps = await start('async', { type: 'sgd', learningRate: 0.25 });
  const [ca, cb] = [await client(ps), await client(ps)];
  const g = [new Float32Array(8).fill(1), new Float32Array(2).fill(2)];
  await push(ca, 'a', 0, g);
  assert.equal(ps.globalStep, 1);
  await push(cb, 'b', 0, g);
  await push(ca, 'a', 1, g);
  const { globalStep, params } = await pull(cb, 'b', 1);
  assert.equal(globalStep, 3);
  assert.ok(Math.abs(params[1]![0]! - (0.05 - 3 * 0.5)) < 1e-6);
});

test('ssp:1: the fast worker’s pull blocks until the slowest catches up', async () => {
  const ps = await start('ssp:1', { type: 'sgd', learningRate: 0.1 });
  const [ca, cb] = [await client(ps), await client(ps)];
  const g = [new Float32Array(8).fill(1), new Float32Array(2).fill(1)];
  await pull(ca, 'a', 0);
  await push(ca, 'a', 0, g);
  await pull(ca, 'a', 1); // one ahead of b: allowed
  await push(ca, 'a', 1, g);
  let released = false;
  const blocked = pull(ca, 'a', 2).then((r) => ((released = true), r));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(released, false, 'a is 2 steps ahead of b and waits');
  await push(cb, 'b', 0, g);
  const r = await blocked;
  assert.equal(released, true);
  assert.equal(r.globalStep, 3);
});

test('a client with the wrong token is refused', async () => {
  const ps = await start('sync', { type: 'sgd', learningRate: 0.1 });
  await assert.rejects(connect({ port: ps.port, token: createClusterToken() }), (e: unknown) =>
    isPetalError(e, 'PETAL_TRANSPORT_AUTH'),
  );
});

test('bad pushes and options are refused with codes', async () => {
  const ps = await start('sync', { type: 'sgd', learningRate: 0.1 });
  const ca = await client(ps);
  await assert.rejects(push(ca, 'a', 0, [new Float32Array(3)]), (e: unknown) => isPetalError(e, 'PETAL_PS_SHAPE'));
  await assert.rejects(push(ca, 'a', 5, [new Float32Array(8), new Float32Array(2)]), (e: unknown) =>
    isPetalError(e, 'PETAL_PS_STEP_AHEAD'),
  );
  await assert.rejects(
    startParameterServer({
      token,
      plan,
      psIndex: 0,
      optimizer: { type: 'sgd', learningRate: 1 },
      workers: [],
      values: init,
      mode: 'ssp' as PsMode,
    }),
    /parameterServer options\.mode must be/,
  );
  await assert.rejects(
    startParameterServer({
      token,
      plan,
      psIndex: 0,
      optimizer: { type: 'sgd', learningRate: 1 },
      workers: [],
      values: init,
      extra: 1,
    } as never),
    (e: unknown) => isPetalError(e, 'PETAL_PS_OPTIONS') && /options\.extra is not an option/.test(e.message),
  );
});
