import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTf } from './tf.ts';

test('TensorFlow loads with the native backend', () => {
  const tf = loadTf();
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.equal(loadTf(), tf, 'loaded once per process');
});

test('a small CNN learns: loss falls over a few steps and no tensor leaks', () => {
  const tf = loadTf();
  // Images with a bright square in the left or right half; the label says which half.
  const n = 64;
  const { xs, ys } = tf.tidy(() => {
    const side = tf.randomUniform([n], 0, 2, 'int32', 7);
    const cols = tf.range(0, 16).reshape([1, 1, 16, 1]);
    const left = cols.less(8).cast('float32');
    const mask = side.reshape([n, 1, 1, 1]).cast('float32');
    const img = mask.mul(left).add(tf.scalar(1).sub(mask).mul(tf.scalar(1).sub(left)));
    return {
      xs: img.tile([1, 16, 1, 1]).add(tf.randomNormal([n, 16, 16, 1], 0, 0.1, 'float32', 3)),
      ys: tf.oneHot(side, 2),
    };
  });
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [16, 16, 1],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({
        units: 2,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
  const optimizer = tf.train.adam(0.05);
  const step = (): number =>
    tf.tidy(() => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(ys, model.predict(xs) as ReturnType<typeof tf.tensor>),
        true,
      );
      return loss!.dataSync()[0]!;
    });
  const first = step();
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 20; i++) last = step();
  assert.equal(tf.memory().numTensors, before, 'tensors stay flat across steps');
  assert.ok(last < first * 0.5, `loss should fall by half at least: ${first} -> ${last}`);
  tf.dispose([xs, ys]);
  model.dispose();
  optimizer.dispose();
});
