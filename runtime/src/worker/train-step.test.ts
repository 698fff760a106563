import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { loadTf } from '../tf/tf.ts';
import { createTrainStep } from './train-step.ts';

const tf = loadTf();

function model() {
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 4, activation: 'relu', inputShape: [3], name: 'base' }),
      tf.layers.dense({ units: 2, activation: 'softmax', name: 'head' }),
    ],
  });
}

test('gradients + one SGD step equal tfjs trainOnBatch; tensors stay flat', async () => {
  const ref = model();
  const step = await createTrainStep({
    topology: ref.toJSON(null, false) as Record<string, unknown>,
    loss: 'categorical_crossentropy',
    metrics: ['accuracy', 'mse'],
  });
  assert.deepEqual(
    step.variables.map((v) => [v.name, v.shape, v.trainable]),
    [
      ['base/kernel', [3, 4], true],
      ['base/bias', [4], true],
      ['head/kernel', [4, 2], true],
      ['head/bias', [2], true],
    ],
  );
  step.setWeights(new Map(ref.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array])));
  const xs = tf.tensor2d([0.1, 0.2, 0.3, -1, 0.5, 2, 0.7, -0.3, 0.4], [3, 3]);
  const ys = tf.tensor2d([1, 0, 0, 1, 1, 0], [3, 2]);
  const baseline = tf.memory().numTensors;
  let r = step.gradients(xs, ys);
  for (let i = 0; i < 5; i++) r = step.gradients(xs, ys);
  step.evaluate(xs, ys);
  step.setWeights(step.values());
  assert.equal(tf.memory().numTensors, baseline, 'no tensor leaks across steps');
  assert.equal(r.rows, 3);
  assert.ok(r.metrics.accuracy! >= 0 && r.metrics.accuracy! <= 1 && r.metrics.mse! > 0);

  const lr = 0.5;
  const before = step.values();
  ref.compile({ optimizer: tf.train.sgd(lr), loss: 'categoricalCrossentropy' });
  const loss = (await ref.trainOnBatch(xs, ys)) as number;
  assert.ok(Math.abs(loss - r.loss) < 1e-6, `loss ${r.loss} vs tfjs ${loss}`);
  for (const w of ref.weights) {
    const want = w.read().dataSync();
    const p = before.get(w.originalName)!;
    const g = r.grads.get(w.originalName)!;
    want.forEach((x, j) => assert.ok(Math.abs(x - (p[j]! - lr * g[j]!)) < 1e-6, w.originalName));
  }
  // Streamed, the same gradients arrive one by one in variable order, the same figures come back, nothing leaks.
  const beforeStream = tf.memory().numTensors;
  const streamed: [string, Float32Array][] = [];
  const s = await step.streamGradients(xs, ys, (name, data) => streamed.push([name, data]));
  assert.deepEqual(
    streamed.map(([name]) => name),
    step.variables.map((v) => v.name),
  );
  assert.deepEqual(new Map(streamed), r.grads);
  assert.deepEqual(
    { rows: s.rows, loss: s.loss, metrics: s.metrics },
    { rows: r.rows, loss: r.loss, metrics: r.metrics },
  );
  await assert.rejects(
    step.streamGradients(xs, ys, () => {
      throw new Error('the sink failed');
    }),
    /the sink failed/,
  );
  assert.equal(tf.memory().numTensors, beforeStream, 'neither a stream nor a failing sink leaks a tensor');
  tf.dispose([xs, ys]);
  step.dispose();
  ref.dispose();
});

test('trainable rules freeze layers: their weights get no gradient', async () => {
  const m = model();
  const step = await createTrainStep({
    topology: m.toJSON(null, false) as Record<string, unknown>,
    loss: 'sparseCategoricalCrossentropy',
    metrics: ['accuracy'],
    trainable: [{ pattern: 'ba*', trainable: false }],
  });
  assert.deepEqual(
    step.variables.filter((v) => !v.trainable).map((v) => v.name),
    ['base/kernel', 'base/bias'],
  );
  const [x, y] = [tf.ones([2, 3]), tf.tensor1d([0, 1])];
  const r = step.gradients(x, y);
  tf.dispose([x, y]);
  assert.deepEqual([...r.grads.keys()], ['head/kernel', 'head/bias']);
  step.dispose();
  m.dispose();
});

test('a topology that does not build is PETAL_WORKER_MODEL', async () => {
  await assert.rejects(createTrainStep({ topology: { class_name: 'Nope', config: {} }, loss: 'mse' }), (e: unknown) =>
    isPetalError(e, 'PETAL_WORKER_MODEL'),
  );
});
