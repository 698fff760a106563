import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { loadTf } from '../tf/tf.ts';
import { scheduledRate } from './learning-rate.ts';
import { createOptimizer, emaSlot } from './optimizers.ts';
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
  // A schedule changes the rate of every update; tfjs gets the same rate set before each of its steps.
  { type: 'sgd', learningRate: 0.1, schedule: { name: 'cosineDecay', decaySteps: 4 } },
  { type: 'momentum', learningRate: 0.05, momentum: 0.9, schedule: { name: 'cosineDecay', decaySteps: 5, alpha: 0.1 } },
  { type: 'adam', learningRate: 0.01, schedule: { name: 'cosineDecay', decaySteps: 4, alpha: 0.2 } },
  { type: 'rmsprop', learningRate: 0.01, momentum: 0.9, schedule: { name: 'cosineDecay', decaySteps: 3 } },
];

/** Sets a tfjs optimizer's rate for its next step: SGD and momentum cache it as a scalar, the others read the field. */
function setRate(o: import('@tensorflow/tfjs-node').Optimizer, rate: number): void {
  const sgdLike = o as unknown as { setLearningRate?: (r: number) => void; learningRate: number };
  if (sgdLike.setLearningRate) sgdLike.setLearningRate(rate);
  else sgdLike.learningRate = rate;
}

for (const config of configs) {
  test(`${JSON.stringify(config)} matches tfjs over ${STEPS} steps, slots included`, async () => {
    const rand = random(7);
    const init = Float32Array.from({ length: SIZE }, () => rand() * 2);
    const grads = Array.from({ length: STEPS }, () => Float32Array.from({ length: SIZE }, () => rand() * 0.3));

    const variable = tf.tidy(() =>
      tf.variable(tf.tensor1d(init), true, `petal_opt_test_${Math.random().toString(36).slice(2)}`),
    );
    const reference = tfjsOptimizer(config);
    const baseRate = (reference as unknown as { learningRate: number }).learningRate;
    grads.forEach((g, step) => {
      if (config.schedule) setRate(reference, scheduledRate(baseRate, config.schedule, step));
      tf.tidy(() => reference.applyGradients({ [variable.name]: tf.tensor1d(g) }));
    });
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

test('cosineDecay falls from the rate to alpha × rate over decaySteps updates, then stays', () => {
  const schedule = { name: 'cosineDecay', decaySteps: 100, alpha: 0.1 } as const;
  assert.equal(scheduledRate(0.5, schedule, 0), 0.5);
  assert.ok(Math.abs(scheduledRate(0.5, schedule, 50) - 0.5 * 0.55) < 1e-12, 'halfway: the mean of both ends');
  assert.ok(scheduledRate(0.5, schedule, 25) > scheduledRate(0.5, schedule, 26), 'falls every step');
  assert.ok(Math.abs(scheduledRate(0.5, schedule, 100) - 0.05) < 1e-12);
  assert.ok(Math.abs(scheduledRate(0.5, schedule, 1000) - 0.05) < 1e-12);
  assert.equal(scheduledRate(0.5, undefined, 1000), 0.5, 'no schedule: constant');
});

test('the update count, which drives the schedule, survives state()/restoreState()', () => {
  const config: OptimizerConfig = { type: 'sgd', learningRate: 1, schedule: { name: 'cosineDecay', decaySteps: 2 } };
  const a = createOptimizer(config);
  a.apply(new Float32Array([0]), new Float32Array([1]), []);
  a.finishStep();
  const b = createOptimizer(config);
  b.restoreState(a.state());
  const p = new Float32Array([0]);
  b.apply(p, new Float32Array([1]), []); // step 1 of 2: half the rate
  assert.ok(Math.abs(p[0]! + 0.5) < 1e-7, `got ${p[0]}`);
});

test('useEma: the values update as without it, and slot "ema" holds their moving average', () => {
  const plain = createOptimizer({ type: 'adam', learningRate: 0.1 });
  const averaged = createOptimizer({ type: 'adam', learningRate: 0.1, useEma: true, emaMomentum: 0.2 });
  assert.deepEqual(averaged.slotNames, ['m', 'v', 'ema']);
  const p1 = new Float32Array([1, -2]);
  const p2 = p1.slice();
  const s1 = [new Float32Array(2), new Float32Array(2)];
  const s2 = [new Float32Array(2), new Float32Array(2), new Float32Array(2)];
  const want = new Float32Array(2);
  for (let step = 0; step < 6; step++) {
    const g = new Float32Array([0.3 - step, 0.2 * step]);
    plain.apply(p1, g, s1);
    plain.finishStep();
    averaged.apply(p2, g, s2);
    averaged.finishStep();
    // The first update's average is the value itself, then ema = d ema + (1 - d) value, d = min(0.2, (1+t)/(10+t)):
    // 2/11 at t = 1, then 0.2 from t = 2 (3/12 > 0.2).
    const d = step === 1 ? Math.fround(2 / 11) : Math.fround(0.2);
    for (let i = 0; i < 2; i++) want[i] = step === 0 ? p1[i]! : d * want[i]! + Math.fround(1 - d) * p1[i]!;
  }
  assert.deepEqual(p2, p1, 'the averages do not touch the trained values');
  assertClose(s2[2]!, want, 'ema');
  assert.notDeepEqual(s2[2], p2, 'the average lags the values');
  assert.equal(emaSlot({ type: 'adam', useEma: true }), 2);
  assert.equal(emaSlot({ type: 'sgd', learningRate: 1, useEma: true }), 0);
  assert.equal(emaSlot({ type: 'adam' }), undefined);
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
  assert.throws(
    () => createOptimizer({ type: 'adam', schedule: { name: 'cosineDecay' } } as unknown as OptimizerConfig),
    /optimizer\.schedule\.decaySteps is required/,
  );
  assert.throws(() => createOptimizer({ type: 'adam', emaMomentum: 2 }), /optimizer\.emaMomentum must be a number/);
  assert.throws(
    () =>
      createOptimizer({ type: 'adam', schedule: { name: 'stepDecay', decaySteps: 9 } } as unknown as OptimizerConfig),
    (e: unknown) =>
      isPetalError(e, 'PETAL_PS_OPTIONS') && /optimizer\.schedule\.name must be "cosineDecay"/.test(e.message),
  );
});
