// A learnable task for training tests: three Gaussian blobs far apart (a clear boundary, so ≥ 0.9 accuracy means
// training worked), the feature spec that feeds it, a small model's topology, and a job spec training it.
import { tableFromArrays } from 'apache-arrow';
import { loadTf } from '../../tf/tf.ts';

/** `n` rows of x0, x1 and a 3-class label, deterministic in `seed`. */
export function blobs(n: number, seed: number) {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centers = [
    [0, 3],
    [-2.6, -1.5],
    [2.6, -1.5],
  ];
  const x0 = new Float32Array(n);
  const x1 = new Float32Array(n);
  const label = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    label[i] = c;
    x0[i] = centers[c]![0]! + 0.8 * gauss();
    x1[i] = centers[c]![1]! + 0.8 * gauss();
  }
  return tableFromArrays({ x0, x1, label });
}

/** Two input columns, the label one-hot over 3 classes. */
export const features = { xs: ['x0', 'x1'], ys: { column: 'label', kind: 'onehot' as const, depth: 3 } };

/** A 2-16-3 dense classifier, as `model.toJSON()` gives it (what a job spec carries). */
export function topology(): Record<string, unknown> {
  const tf = loadTf();
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [2], name: 'hidden' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  const json = m.toJSON(null, false) as Record<string, unknown>;
  m.dispose();
  return json;
}

/** A sync job training topology() on the blobs of topic `train` (Adam 0.02, batch 32, seed 3); `over` replaces fields. */
export function blobsJob(train: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: { topology: topology() },
    compile: { optimizer: { name: 'adam', learningRate: 0.02 }, loss: 'categoricalCrossentropy' },
    feeds: { train: { topic: train } },
    batchSize: 32,
    epochs: 1,
    mode: 'sync',
    ps: 1,
    workers: 1,
    seed: 3,
    ...over,
  };
}
