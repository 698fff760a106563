// A transfer-learning model on MobileNet v1: the pretrained network up to a named layer (BatchNorms folded into
// their convolutions), then a small trainable head. What a job needs comes out of it: the topology, the rules that
// freeze the base, and a saved folder whose weights, matched by name, start the run.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { layerTrainable } from '../job/index.ts';
import type { TrainableRule } from '../job/index.ts';
import { sharedDataDir } from '../env/locations.ts';
import { int, num, optionsChecker, str, strings } from '../options.ts';
import { loadTf } from '../tf/tf.ts';
import type { Tf } from '../tf/tf.ts';
import { ModelError, modelOptionsError } from './errors.ts';
import { foldBatchNorm } from './fold-batch-norm.ts';
import type { LayerJson } from './fold-batch-norm.ts';

/** Where Google publishes MobileNet v1 0.25/224 in tfjs layers format (used when no local copy is found). */
export const MOBILENET_V1_URL = 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json';

/** The copy among the shared data (PETAL_DATA_DIR or `../shared/data`), read when present so tests and demos run
 * offline; undefined when there is none. */
export function localMobileNet(): string | undefined {
  const data = sharedDataDir();
  const file = data && join(data, 'mobilenet', 'model.json');
  return file && existsSync(file) ? file : undefined;
}

/** The layer MobileNet v1 is usually cut at: its last block's output, [7, 7, 1024 × alpha]. */
export const MOBILENET_V1_CUT = 'conv_pw_13_relu';

/** Options of transferModel(). */
export interface TransferModelOptions {
  /** Number of output classes (softmax). */
  classes: number;
  /** A tfjs layers model: a folder, a model.json path or an http(s) URL (default: the local copy, else MOBILENET_V1_URL). */
  base?: string;
  /** The last base layer kept (default MOBILENET_V1_CUT). */
  cut?: string;
  /** Base layer-name patterns that keep training (`*` any run of characters), e.g. `['conv_*_13']`; default none. */
  fineTune?: string[];
  /** Dropout rate before the classifier (default 0.2). */
  dropout?: number;
  /** Seeds the head's initial weights (default 0). */
  seed?: number;
}

/** A built transfer model and what a job spec needs of it. */
export interface TransferModel {
  /** The model, its layers' `trainable` flags already set by `trainable`. */
  readonly model: LayersModel;
  /** `model.toJSON(null, false)`: the job's `model.topology`. */
  readonly topology: Record<string, unknown>;
  /** The job's `model.trainable`: the base frozen except `fineTune`, the head trainable. */
  readonly trainable: TrainableRule[];
  /**
   * [height, width, channels] the base was trained at. The model takes images of any size (the base is
   * convolutional up to the pooling): e.g. validating a little larger than the training crops often scores higher.
   */
  readonly inputShape: [number, number, number];
  /** Saves the model (topology and weights) into `dir`; returns `dir`, the job's `model.initialWeights`. */
  save(dir: string): Promise<string>;
  dispose(): void;
}

/** Names of the head's layers; the trainable rules and tests refer to them. */
export const HEAD_LAYERS = { pool: 'head_pool', dropout: 'head_dropout', dense: 'head_dense' } as const;

const check = optionsChecker(modelOptionsError);

/** Builds base-to-`cut` + global average pooling + dropout + dense softmax. Throws PETAL_MODEL_* errors. */
export async function transferModel(options: TransferModelOptions): Promise<TransferModel> {
  check(
    'transferModel',
    options,
    { classes: int(2, 100_000), base: str, cut: str, fineTune: strings, dropout: num(0, 1), seed: int(0, 0xffff_ffff) },
    ['classes'],
  );
  const tf = loadTf();
  const base = options.base ?? localMobileNet() ?? MOBILENET_V1_URL;
  const cut = options.cut ?? MOBILENET_V1_CUT;
  const artifacts = await loadArtifacts(tf, base);
  const topology = artifacts.modelTopology as { model_config?: KerasModel } & KerasModel;
  const config = (topology.model_config ?? topology).config;
  const kept = ancestors(config.layers, cut, base);
  const named = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs ?? []);
  const folded = foldBatchNorm(tf, kept, named);
  disposeAll(named);
  const inputShape = anySize(folded.layers);
  let model: LayersModel;
  try {
    const layers = [...folded.layers, ...head(cut, options.classes, options.dropout ?? 0.2, options.seed ?? 0)];
    const json = {
      class_name: 'Model',
      config: {
        name: 'transfer',
        layers,
        input_layers: config.input_layers,
        output_layers: [[HEAD_LAYERS.dense, 0, 0]],
      },
    };
    model = await tf.models.modelFromJSON({ modelTopology: json } as never);
    for (const w of model.weights) {
      const value = folded.weights[w.originalName];
      if (value) w.write(value);
    }
  } finally {
    disposeAll(folded.weights);
  }
  const trainable: TrainableRule[] = [
    { pattern: '*', trainable: false },
    ...(options.fineTune ?? []).map((pattern) => ({ pattern, trainable: true })),
    { pattern: 'head_*', trainable: true },
  ];
  for (const layer of model.layers) layer.trainable = layerTrainable(layer.name, true, trainable);
  return {
    model,
    topology: model.toJSON(null, false) as Record<string, unknown>,
    trainable,
    inputShape,
    async save(dir) {
      await mkdir(dir, { recursive: true });
      await model.save(`file://${dir}`);
      return dir;
    },
    dispose() {
      model.dispose();
    },
  };
}

interface KerasModel {
  config: { layers: LayerJson[]; input_layers: unknown };
}

type ModelArtifacts = Awaited<ReturnType<NonNullable<ReturnType<Tf['io']['fileSystem']>['load']>>>;

async function loadArtifacts(tf: Tf, base: string): Promise<ModelArtifacts> {
  const remote = /^https?:\/\//.test(base);
  const file = remote || base.endsWith('.json') ? base : join(base, 'model.json');
  try {
    const handler = remote ? tf.io.http(file) : tf.io.fileSystem(file);
    const artifacts = await handler.load!();
    if (!artifacts.modelTopology || !artifacts.weightData) throw new Error('it holds no topology or no weights');
    return artifacts;
  } catch (cause) {
    throw new ModelError('PETAL_MODEL_BASE', `cannot load the base model from ${file}: ${(cause as Error).message}`, {
      cause,
      retryable: remote,
      fix: remote
        ? 'check the network, or pass base: a local folder holding model.json and its weight files'
        : `pass base: a folder or model.json of a tfjs layers model (or omit it to use ${MOBILENET_V1_URL})`,
    });
  }
}

/** The layers `cut` depends on, in the topology's order. */
function ancestors(layers: readonly LayerJson[], cut: string, base: string): LayerJson[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  if (!byName.has(cut)) {
    throw new ModelError('PETAL_MODEL_CUT', `the base model ${base} has no layer named "${cut}"`, {
      detail: { layers: layers.map((l) => l.name).slice(-12) },
      fix: `cut at one of its layers, e.g. ${MOBILENET_V1_CUT} for MobileNet v1`,
    });
  }
  const keep = new Set<string>();
  const visit = (name: string) => {
    if (keep.has(name)) return;
    keep.add(name);
    for (const node of byName.get(name)!.inbound_nodes) for (const edge of node) visit(edge[0]);
  };
  visit(cut);
  return layers.filter((l) => keep.has(l.name));
}

/** Frees the input layer's height and width; returns the [height, width, channels] it had (224² RGB if unset). */
function anySize(layers: LayerJson[]): [number, number, number] {
  const input = layers.find((l) => l.class_name === 'InputLayer');
  const shape = (input?.config.batch_input_shape ?? []) as (number | null)[];
  if (input) input.config = { ...input.config, batch_input_shape: [null, null, null, shape[3] ?? 3] };
  return [shape[1] ?? 224, shape[2] ?? 224, shape[3] ?? 3];
}

function head(cut: string, classes: number, dropout: number, seed: number): LayerJson[] {
  const { pool, dropout: drop, dense } = HEAD_LAYERS;
  return [
    {
      class_name: 'GlobalAveragePooling2D',
      name: pool,
      config: { name: pool, data_format: 'channels_last' },
      inbound_nodes: [[[cut, 0, 0, {}]]],
    },
    {
      class_name: 'Dropout',
      name: drop,
      // No seed: a seeded tfjs Dropout draws the same mask on every call, i.e. drops the same features every step.
      config: { name: drop, rate: dropout },
      inbound_nodes: [[[pool, 0, 0, {}]]],
    },
    {
      class_name: 'Dense',
      name: dense,
      config: {
        name: dense,
        units: classes,
        activation: 'softmax',
        use_bias: true,
        kernel_initializer: { class_name: 'GlorotUniform', config: { seed } },
        bias_initializer: { class_name: 'Zeros', config: {} },
      },
      inbound_nodes: [[[drop, 0, 0, {}]]],
    },
  ];
}

function disposeAll(tensors: Record<string, Tensor>): void {
  for (const t of Object.values(tensors)) t.dispose();
}
