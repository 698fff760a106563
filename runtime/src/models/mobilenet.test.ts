// The transfer model on the real MobileNet v1 weights: the folded base computes what the original computes at the
// cut, training mode changes nothing in the frozen base, the freeze rules leave only the chosen layers trainable,
// the saved folder starts a worker's model by name, and bad options or bases fail naming what to fix.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { isPetalError } from '../errors.ts';
import { layerTrainable } from '../job/index.ts';
import { loadTf } from '../tf/tf.ts';
import { createTrainStep } from '../worker/train-step.ts';
import { MOBILENET_V1_CUT, localMobileNet, transferModel } from './mobilenet.ts';
import type { TransferModel } from './mobilenet.ts';

const tf = loadTf();
const dir = mkdtempSync(path.join(tmpdir(), 'petal-models-'));
let transfer: TransferModel;
let original: LayersModel;

before(async () => {
  transfer = await transferModel({ classes: 5, fineTune: ['conv_pw_13'], seed: 1 });
  original = await tf.loadLayersModel(`file://${localMobileNet()}`);
});
after(() => {
  transfer.dispose();
  original.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function upToCut(model: LayersModel): LayersModel {
  return tf.model({ inputs: model.inputs, outputs: model.getLayer(MOBILENET_V1_CUT).output as never });
}

test('the folded base computes the original MobileNet at the cut, in training mode too', () => {
  const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 7);
  const [want, got, trained] = tf.tidy(() => [
    upToCut(original).predict(x) as Tensor,
    upToCut(transfer.model).predict(x) as Tensor,
    upToCut(transfer.model).apply(x, { training: true }) as Tensor,
  ]);
  const scale = tf.tidy(() => want.abs().max().dataSync()[0]!);
  const diff = (a: Tensor) => tf.tidy(() => a.sub(want).abs().max().dataSync()[0]!);
  assert.ok(scale > 0.5, 'the features are not all zero');
  assert.ok(diff(got) < 1e-3 * scale, `inference differs by ${diff(got)}`);
  // Unfolded, a BatchNormalization would use the batch's statistics here and move its averages.
  assert.ok(diff(trained) < 1e-3 * scale, `training mode differs by ${diff(trained)}`);
  tf.dispose([x, want, got, trained]);
});

test('only the fine-tuned block and the head train; the rules say the same as the layers', () => {
  const names = transfer.model.trainableWeights.map((w) => w.originalName).sort();
  assert.deepEqual(names, ['conv_pw_13/bias', 'conv_pw_13/kernel', 'head_dense/bias', 'head_dense/kernel']);
  for (const layer of transfer.model.layers) {
    assert.equal(layerTrainable(layer.name, true, transfer.trainable), layer.trainable, layer.name);
  }
  assert.deepEqual(transfer.inputShape, [224, 224, 3]);
  assert.equal(transfer.model.outputs[0]!.shape[1], 5);
});

test('it classifies images of other sizes too (e.g. a little larger than the training crops)', () => {
  for (const size of [256, 160]) {
    const p = tf.tidy(() => transfer.model.predict(tf.zeros([2, size, size, 3])) as Tensor);
    assert.deepEqual(p.shape, [2, 5], `${size} px`);
    p.dispose();
  }
});

test("the saved folder starts a worker's model with the same weights, matched by name", async () => {
  const saved = await transfer.save(path.join(dir, 'initial'));
  const step = await createTrainStep({
    topology: transfer.topology,
    loss: 'sparseCategoricalCrossentropy',
    trainable: transfer.trainable,
    initialWeights: saved,
  });
  try {
    const values = step.values();
    for (const w of transfer.model.weights) {
      const got = values.get(w.originalName);
      assert.ok(got, `${w.originalName} is in the worker's model`);
      assert.deepEqual(got, w.read().dataSync(), w.originalName);
    }
    assert.deepEqual(
      step.variables.filter((v) => v.trainable).map((v) => v.name),
      transfer.model.trainableWeights.map((w) => w.originalName),
    );
  } finally {
    step.dispose();
  }
});

test('a missing cut layer, an unreadable base and bad options fail naming what to fix', async () => {
  await assert.rejects(
    transferModel({ classes: 5, cut: 'conv_pw_99_relu' }),
    (e: unknown) => isPetalError(e, 'PETAL_MODEL_CUT') && /no layer named "conv_pw_99_relu"/.test(e.message),
  );
  const nowhere = path.join(dir, 'nowhere');
  await assert.rejects(
    transferModel({ classes: 5, base: nowhere }),
    (e: unknown) =>
      isPetalError(e, 'PETAL_MODEL_BASE') && e.message.includes(path.join(nowhere, 'model.json')) && !e.retryable,
  );
  await assert.rejects(
    transferModel({ classes: 1 }),
    (e: unknown) =>
      isPetalError(e, 'PETAL_MODEL_OPTIONS') && /transferModel\.classes must be an integer/.test(e.message),
  );
  await assert.rejects(
    transferModel({ classes: 5, fineTune: 'conv_pw_13' as never }),
    (e: unknown) =>
      isPetalError(e, 'PETAL_MODEL_OPTIONS') && /transferModel\.fineTune must be an array/.test(e.message),
  );
});
