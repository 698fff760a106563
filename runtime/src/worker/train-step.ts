// One worker's model: built from the job's topology, weights set from what the PS sent, and per batch the loss,
// metrics and gradients of every trainable variable, computed inside tf.tidy and copied out as Float32Arrays. No
// optimizer lives here: the PS applies the update, so the worker only needs gradients (tf.variableGrads).
import path from 'node:path';
import type { LayersModel, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { canonicalName, layerTrainable } from '../job/index.ts';
import type { TrainableRule } from '../job/index.ts';
import type { VariableSpec } from '../ps/index.ts';
import { loadTf } from '../tf/tf.ts';
import type { Tf } from '../tf/tf.ts';
import { WorkerError } from './errors.ts';

/** Options of createTrainStep(). */
export interface TrainStepOptions {
  /** `model.toJSON(null, false)`. */
  topology: Record<string, unknown>;
  loss: string;
  metrics?: readonly string[];
  trainable?: readonly TrainableRule[];
  /** A tfjs layers model (folder or model.json) whose weights, matched by name and shape, replace the initial ones. */
  initialWeights?: string;
}

/** Sums over the rows of a batch (divide by rows for means). */
export interface BatchResult {
  rows: number;
  /** Mean loss of the batch. */
  loss: number;
  /** Mean of each metric over the batch, by the name the job used. */
  metrics: Record<string, number>;
}

/** A model ready to compute gradients. */
export interface TrainStep {
  /** Every weight (the shard plan's input), in the model's weight order, named as tfjs saves them. */
  readonly variables: readonly VariableSpec[];
  /** Current values of every weight, by name (copies). */
  values(): Map<string, Float32Array>;
  /** Sets weights by name (any subset). */
  setWeights(values: ReadonlyMap<string, Float32Array>): void;
  /** Loss, metrics and gradients of every trainable variable on one batch. */
  gradients(xs: Tensor, ys: Tensor): BatchResult & { grads: Map<string, Float32Array> };
  /**
   * The same, handing each gradient to `sink` as soon as it is copied out of TensorFlow (in variable order) and
   * letting the event loop turn before the next, so what the sink sends goes out while the rest is copied.
   */
  streamGradients(xs: Tensor, ys: Tensor, sink: (name: string, data: Float32Array) => void): Promise<BatchResult>;
  /** Loss and metrics on one batch, in inference mode. */
  evaluate(xs: Tensor, ys: Tensor): BatchResult;
  dispose(): void;
}

type LossFn = (yTrue: Tensor, yPred: Tensor) => Tensor;

/** Builds the model. Throws PETAL_WORKER_MODEL when the topology, loss or initial weights do not fit. */
export async function createTrainStep(options: TrainStepOptions): Promise<TrainStep> {
  const tf = loadTf();
  let model: LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: options.topology } as never);
  } catch (e) {
    throw new WorkerError('PETAL_WORKER_MODEL', `the model topology does not build: ${(e as Error).message}`, {
      cause: e,
      fix: 'pass model.toJSON(null, false) of a tfjs layers model (custom layers are not supported)',
    });
  }
  for (const layer of model.layers) layer.trainable = layerTrainable(layer.name, layer.trainable, options.trainable);
  const weights = model.weights;
  const variables: VariableSpec[] = weights.map((w) => ({
    name: w.originalName,
    shape: w.shape.map((d) => d ?? 0),
    trainable: w.trainable,
  }));
  const trainable = weights.filter((w) => w.trainable);
  const trainableVars = trainable.map((w) => w.read() as ReturnType<Tf['variable']>);
  const lossFn = lossFunction(tf, options.loss);
  // tfjs-node copies a tensor's values into TensorFlow lazily, at its first use. Pulled weights may view receive
  // buffers that are valid only until the next pull, so setWeights copies them in at once: the one copy they take.
  const backend = tf.backend() as unknown as { getInputTensorIds(tensors: Tensor[]): number[] };
  const upload = (t: Tensor): void => void backend.getInputTensorIds([t]);
  const metricFns = (options.metrics ?? []).map((m) => [m, metricFunction(tf, m, options.loss)] as const);
  // Loss and metrics of one batch, and the gradients as tensors kept out of the tidy (the caller disposes them).
  const compute = (xs: Tensor, ys: Tensor): { result: BatchResult; grads: Tensor[] } => {
    let out: { result: BatchResult; grads: Tensor[] } | undefined;
    tf.tidy(() => {
      const metricTensors: Tensor[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const pred = model.apply(xs, { training: true }) as Tensor;
        for (const [, fn] of metricFns) metricTensors.push(tf.keep(tf.mean(fn(ys, pred))));
        return tf.mean(lossFn(ys, pred)) as Scalar;
      }, trainableVars);
      const metrics: Record<string, number> = {};
      metricFns.forEach(([name], i) => {
        metrics[name] = metricTensors[i]!.dataSync()[0]!;
        metricTensors[i]!.dispose();
      });
      out = {
        result: { rows: xs.shape[0] ?? 0, loss: value.dataSync()[0]!, metrics },
        grads: trainableVars.map((v) => tf.keep(grads[v.name]!)),
      };
    });
    return out!;
  };

  // setWeights runs for each variable as its values arrive, every step: no walk over all weights for each.
  const weightByName = new Map(weights.map((w) => [w.originalName, w]));
  const step: TrainStep = {
    variables,
    values() {
      return new Map(weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
    },
    setWeights(values) {
      tf.tidy(() => {
        for (const [name, data] of values) {
          const w = weightByName.get(name);
          if (!w) continue;
          const t = tf.tensor(data, w.shape as number[], 'float32'); // no copy yet: it holds `data` itself
          upload(t);
          w.write(t);
        }
      });
    },
    gradients(xs, ys) {
      const { result, grads } = compute(xs, ys);
      const out = new Map<string, Float32Array>();
      try {
        trainable.forEach((w, i) => out.set(w.originalName, grads[i]!.dataSync() as Float32Array));
      } finally {
        tf.dispose(grads);
      }
      return { ...result, grads: out };
    },
    async streamGradients(xs, ys, sink) {
      const { result, grads } = compute(xs, ys);
      try {
        for (let i = 0; i < grads.length; i++) {
          sink(trainable[i]!.originalName, grads[i]!.dataSync() as Float32Array);
          grads[i]!.dispose();
          await new Promise(setImmediate);
        }
      } finally {
        tf.dispose(grads);
      }
      return result;
    },
    evaluate(xs, ys) {
      let result: BatchResult | undefined;
      tf.tidy(() => {
        const pred = model.apply(xs, { training: false }) as Tensor;
        const metrics: Record<string, number> = {};
        for (const [name, fn] of metricFns) metrics[name] = tf.mean(fn(ys, pred)).dataSync()[0]!;
        result = { rows: xs.shape[0] ?? 0, loss: tf.mean(lossFn(ys, pred)).dataSync()[0]!, metrics };
      });
      return result!;
    },
    dispose() {
      model.dispose();
    },
  };
  if (options.initialWeights) await loadInitialWeights(tf, step, options.initialWeights);
  return step;
}

async function loadInitialWeights(tf: Tf, step: TrainStep, where: string): Promise<void> {
  const file = where.endsWith('.json') ? where : path.join(where, 'model.json');
  let named: Record<string, Tensor>;
  try {
    const artifacts = await tf.io.fileSystem(file).load();
    named = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs ?? []);
  } catch (e) {
    throw new WorkerError('PETAL_WORKER_MODEL', `cannot read the initial weights at ${file}: ${(e as Error).message}`, {
      cause: e,
      fix: 'job.model.initialWeights must name a tfjs layers model saved with model.save("file://…")',
    });
  }
  try {
    const values = new Map<string, Float32Array>();
    for (const v of step.variables) {
      const t = named[v.name];
      if (t && t.size === v.shape.reduce((a, b) => a * b, 1)) values.set(v.name, t.dataSync() as Float32Array);
    }
    if (values.size === 0) {
      throw new WorkerError('PETAL_WORKER_MODEL', `no weight of ${file} matches the model's weight names`, {
        detail: { model: step.variables.map((v) => v.name).slice(0, 8), file: Object.keys(named).slice(0, 8) },
        fix: 'save the initial weights from a model with the same layer names',
      });
    }
    step.setWeights(values);
  } finally {
    for (const t of Object.values(named)) t.dispose();
  }
}

function lossFunction(tf: Tf, name: string): LossFn {
  switch (canonicalName(name)) {
    case 'meanSquaredError':
      return (y, p) => tf.metrics.meanSquaredError(y, p);
    case 'meanAbsoluteError':
      return (y, p) => tf.metrics.meanAbsoluteError(y, p);
    case 'binaryCrossentropy':
      return (y, p) => tf.metrics.binaryCrossentropy(y, p);
    case 'categoricalCrossentropy':
      return (y, p) => tf.metrics.categoricalCrossentropy(y, p);
    case 'sparseCategoricalCrossentropy':
      return (y, p) => tf.metrics.categoricalCrossentropy(sparseToOneHot(tf, y, p), p);
    default:
      throw new WorkerError('PETAL_WORKER_MODEL', `unknown loss "${name}"`, { fix: 'validate the job spec first' });
  }
}

function metricFunction(tf: Tf, name: string, loss: string): LossFn {
  const m = canonicalName(name);
  if (m === 'accuracy') {
    const l = canonicalName(loss);
    if (l === 'categoricalCrossentropy') return (y, p) => tf.metrics.categoricalAccuracy(y, p);
    if (l === 'sparseCategoricalCrossentropy') return (y, p) => tf.metrics.sparseCategoricalAccuracy(y, p);
    return (y, p) => tf.metrics.binaryAccuracy(y, p);
  }
  if (m === 'binaryAccuracy') return (y, p) => tf.metrics.binaryAccuracy(y, p);
  if (m === 'categoricalAccuracy') return (y, p) => tf.metrics.categoricalAccuracy(y, p);
  if (m === 'sparseCategoricalAccuracy') return (y, p) => tf.metrics.sparseCategoricalAccuracy(y, p);
  return lossFunction(tf, m);
}

function sparseToOneHot(tf: Tf, y: Tensor, p: Tensor): Tensor {
  return tf.oneHot(tf.cast(tf.reshape(y, [-1]), 'int32'), p.shape[p.shape.length - 1]!).toFloat();
}
