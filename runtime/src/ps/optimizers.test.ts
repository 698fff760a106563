import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { loadTf } from '../tf/tf.ts';
import { createOptimizer } from './optimizers.ts';
import type { OptimizerConfig } from './optimizers.ts';

const tf = loadTf();
// tfjs makes and keeps a few cached scalars on first use; make them before anything counts tensors.
tf.tidy(() => {
  const warm = tf.variable(tf.zeros([1]));
  for (const o of [tf.train.sgd(0.1), tf.train.adam()]) {
    o.applyGradients([{ name: warm.name, tensor: tf.ones([1]) }]);
    o.dispose();
  }
  warm.dispose();
});
const SIZE = 2000;
const STEPS = 6;

// A deterministic pseudo-random stream (the same inputs for tfjs and for us).
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function tfjsOptimizer(c: OptimizerConfig): import('@tensorflow/tfjs-node').Optimizer {
  switch (c.type) {
    case 'sgd':
      return tf.train.sgd(c.learningRate);
    case 'momentum':
      return tf.train.momentum(c.learningRate, c.momentum, c.useNesterov);
    case 'adam':
      return tf.train.adam(c.learningRate, c.beta1, c.beta2, c.epsilon);
    case 'rmsprop':
      return tf.train.rmsprop(c.learningRate, c.decay, c.momentum, c.epsilon, c.centered);
  }
}

// Relative error, with a floor of 10% of the array's largest magnitude: where an update cancels a value to near
// zero, float32 rounding of the operands (~1e-7 of their size per op, TensorFlow rounding after every op and we
// once per stored value) is a large fraction of the tiny result.
function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  const floor = 0.1 * want.reduce((a, b) => (Number.isNaN(b) ? a : Math.max(a, Math.abs(b))), 0);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(want[i]!) && Number.isNaN(got[i]!)) continue; // centered RMSProp's √(negative), as in tfjs
    const err = Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + floor);
    if (!(err <= 1e-6)) assert.fail(`${what}[${i}]: ${got[i]} vs tfjs ${want[i]} (relative ${err})`);
  }
}

const configs: OptimizerConfig[] = [
  { type: 'sgd', learningRate: 0.1 },
  { type: 'momentum', learningRate: 0.05, momentum: 0.9 },
  { type: 'momentum', learningRate: 0.05, momentum: 0.9, useNesterov: true },
  { type: 'adam' },
  { type: 'adam', learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 },
  { type: 'rmsprop', learningRate: 0.01 },
  { type: 'rmsprop', learningRate: 0.01, momentum: 0.9 },
  { type: 'rmsprop', learningRate: 0.01, decay: 0.95, momentum: 0.5, centered: true },
];

for (const config of configs) {
  test(`${JSON.stringify(config)} matches tfjs over ${STEPS} steps, slots included`, async () => {
    const rand = random(7);
    const init = Float32Array.from({ length: SIZE }, () => rand() * 2);
    const grads = Array.from({ length: STEPS }, () => Float32Array.from({ length: SIZE }, () => rand() * 0.3));

    const variable = tf.tidy(() =>
      tf.variable(tf.tensor1d(init), true, `petal_opt_test_${Math.random().toString(36).slice(2)}`),
    );
    const reference = tfjsOptimizer(config);
    for (const g of grads) tf.tidy(() => reference.applyGradients({ [variable.name]: tf.tensor1d(g) }));
    const wantParams = variable.dataSync() as Float32Array;
    const named = await reference.getWeights(); // [iterations, ...slots in tfjs's order]
    const wantSlots = new Map(
      named.map((w) => [w.name.slice(w.name.lastIndexOf('/') + 1), w.tensor.dataSync() as Float32Array]),
    );

    reference.dispose();
    variable.dispose();
    tf.dispose(named.map((w) => w.tensor));

    const before = tf.memory().numTensors;
    const ours = createOptimizer(config);
    const params = init.slice();
    const slots = ours.slotNames.map(() => new Float32Array(SIZE));
    for (const g of grads) {
      ours.apply(params, g, slots);
      ours.finishStep();
    }
    assertClose(params, wantParams, 'params');
    ours.slotNames.forEach((name, i) => {
      const want = wantSlots.get(name);
      assert.ok(want, `tfjs has slot ${name}`);
      assertClose(slots[i]!, want, name);
    });
    assert.equal(tf.memory().numTensors, before, 'our optimizers make no tensors');
  });
}

test('adam state survives state()/restoreState()', () => {
  const a = createOptimizer({ type: 'adam' });
  const b = createOptimizer({ type: 'adam' });
  const p1 = new Float32Array([1, 2]);
  const p2 = p1.slice();
  const s1 = [new Float32Array(2), new Float32Array(2)];
  const g = new Float32Array([0.1, -0.2]);
  for (let i = 0; i < 3; i++) {
    a.apply(p1, g, s1);
    a.finishStep();
  }
  b.restoreState(a.state());
  const s2 = s1.map((s) => s.slice());
  p2.set(p1);
  a.apply(p1, g, s1);
  b.apply(p2, g, s2);
  assert.deepEqual(p1, p2);
});

test('bad configs are refused naming the field', () => {
  assert.throws(
    () => createOptimizer({ type: 'adam', lr: 1 } as unknown as OptimizerConfig),
    (e: unknown) => isPetalError(e, 'PETAL_PS_OPTIONS') && /optimizer\.lr is not an option/.test(e.message),
  );
  assert.throws(() => createOptimizer({ type: 'sgd' } as OptimizerConfig), /optimizer\.learningRate is required/);
  assert.throws(
    () => createOptimizer({ type: 'adagrad' } as unknown as OptimizerConfig),
    /optimizer\.type must be one of/,
  );
  assert.throws(
    () => createOptimizer({ type: 'momentum', learningRate: -1, momentum: 0.9 }),
    /learningRate must be a number/,
  );
});
