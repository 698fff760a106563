// The job spec: everything a training run needs, as plain JSON (the notebook builds it, the coordinator ships it
// to every task). Validated once, up front: unknown keys rejected, every message names the field path and a hint.
import { PetalError, isPetalError } from '../errors.ts';
import { any, bool, int, optionsChecker, str } from '../options.ts';
import type { Check } from '../options.ts';
import type { FeatureSpec } from '../feed/index.ts';
import { createOptimizer } from '../ps/index.ts';
import type { LearningRateSchedule, OptimizerConfig, PsMode } from '../ps/index.ts';

/** Optimizer by tfjs name with tfjs's parameters (see OptimizerConfig for each one's defaults), and optionally a
 * Keras-style schedule of its learning rate over the job's update steps. */
export interface OptimizerSpec {
  name: 'sgd' | 'momentum' | 'adam' | 'rmsprop';
  learningRate?: number;
  momentum?: number;
  useNesterov?: boolean;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  decay?: number;
  centered?: boolean;
  schedule?: LearningRateSchedule;
  /** Keras' use_ema: the model is exported with moving averages of the trained values (see OptimizerConfig). */
  useEma?: boolean;
  emaMomentum?: number;
}

/** A layer-name rule: `pattern` matches layer names (`*` is any run of characters); the last matching rule wins. */
export interface TrainableRule {
  pattern: string;
  trainable: boolean;
}

/** A named feed of the job. */
export interface JobFeedSpec {
  topic: string;
  /** Columns → tensors (default: the spec stored with the topic by stream()). */
  features?: FeatureSpec;
  /** Rows in the shuffle pool; 0 keeps partition order (default: the feed's, 10 × batchSize). Train feed only. */
  shuffleBuffer?: number;
  /** Batch size of this feed (default: the job's batchSize). */
  batchSize?: number;
}

/** A training job, JSON-serializable. */
export interface JobSpec {
  model: {
    /** `model.toJSON(null, false)`: the Keras topology. */
    topology: Record<string, unknown>;
    /** A tfjs layers model (a folder holding model.json, or model.json itself) whose weights, matched by name, start the run. */
    initialWeights?: string;
    /** Rules that freeze (or unfreeze) layers by name; frozen weights are served once, never updated. */
    trainable?: TrainableRule[];
  };
  compile: { optimizer: OptimizerSpec; loss: string; metrics?: string[] };
  feeds: { train: JobFeedSpec; validation?: JobFeedSpec };
  batchSize: number;
  epochs: number;
  mode: PsMode;
  /** Number of parameter servers. */
  ps: number;
  /** Number of workers. */
  workers: number;
  /** Every PS checkpoints every `everySteps` global steps into `dir` (with each worker's feed cursor); the newest `keep` (default 3) stay. */
  checkpoint?: { dir: string; everySteps: number; keep?: number };
  /** Start from a checkpoint (PS values, optimizer slots, global step, feed cursors): the newest step every PS saved under `dir`, or `step`. */
  resume?: { dir: string; step?: number };
  /** Where the chief writes TensorBoard event files (default `<outDir>/tensorboard`). */
  tensorboardDir?: string;
  /** Seeds the shuffle of the train feed (same seed, same order). */
  seed?: number;
}

/** Losses a job may name (Keras names, camelCase or snake_case). */
export const LOSSES = [
  'meanSquaredError',
  'meanAbsoluteError',
  'binaryCrossentropy',
  'categoricalCrossentropy',
  'sparseCategoricalCrossentropy',
] as const;
/** Metrics a job may name. `accuracy` picks binary, categorical or sparse accuracy from the loss, as Keras does. */
export const METRICS = [
  'accuracy',
  'binaryAccuracy',
  'categoricalAccuracy',
  'sparseCategoricalAccuracy',
  ...LOSSES,
] as const;

/** An invalid job spec: `detail.path` names the field. */
export class JobSpecError extends PetalError {
  constructor(message: string, path: string, fix = 'correct the named field of the job spec') {
    super('PETAL_JOB_SPEC', message, { fix, detail: { path } });
    this.name = 'JobSpecError';
  }
}

const specError = (message: string): JobSpecError => new JobSpecError(message, message.split(' ')[0] ?? '');
const check = optionsChecker(specError);

/** Normalizes `categorical_crossentropy` → `categoricalCrossentropy`, `acc` → `accuracy`. */
export function canonicalName(name: string): string {
  const camel = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const aliases: Record<string, string> = { acc: 'accuracy', mse: 'meanSquaredError', mae: 'meanAbsoluteError' };
  return aliases[camel] ?? camel;
}

const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(canonicalName(v)) ? undefined : `must be one of ${values.join(', ')}`;
const object: Check = (v) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? undefined : 'must be an object';

/** Validates a job spec (parsed JSON). Returns it typed, or throws PETAL_JOB_SPEC naming the field path. */
export function validateJobSpec(json: unknown): JobSpec {
  check(
    'job',
    json,
    {
      model: object,
      compile: object,
      feeds: object,
      batchSize: int(1, 1_000_000),
      epochs: int(1, 1_000_000),
      mode: (v) =>
        v === 'sync' || v === 'async' || (typeof v === 'string' && /^ssp:\d{1,6}$/.test(v))
          ? undefined
          : 'must be "sync", "async" or "ssp:K" (K an integer ≥ 0, e.g. "ssp:1")',
      ps: int(1, 1024),
      workers: int(1, 4096),
      checkpoint: object,
      resume: object,
      tensorboardDir: str,
      seed: int(0, 0xffff_ffff),
    },
    ['model', 'compile', 'feeds', 'batchSize', 'epochs', 'mode', 'ps', 'workers'],
  );
  const spec = json as JobSpec;

  check('job.model', spec.model, { topology: object, initialWeights: str, trainable: any }, ['topology']);
  const topology = spec.model.topology as { class_name?: unknown; config?: unknown };
  if (typeof topology.class_name !== 'string' || typeof topology.config !== 'object') {
    throw new JobSpecError(
      'job.model.topology must be a Keras topology ({class_name, config})',
      'job.model.topology',
      'pass model.toJSON(null, false) of a tfjs layers model',
    );
  }
  if (spec.model.trainable !== undefined) {
    if (!Array.isArray(spec.model.trainable)) throw specError('job.model.trainable must be an array of rules');
    spec.model.trainable.forEach((r, i) =>
      check(`job.model.trainable[${i}]`, r, { pattern: str, trainable: bool }, ['pattern', 'trainable']),
    );
  }

  check('job.compile', spec.compile, { optimizer: object, loss: oneOf(LOSSES), metrics: any }, ['optimizer', 'loss']);
  if (spec.compile.metrics !== undefined) {
    if (!Array.isArray(spec.compile.metrics)) throw specError('job.compile.metrics must be an array of metric names');
    spec.compile.metrics.forEach((m, i) => {
      const hint = oneOf(METRICS)(m);
      if (hint) throw specError(`job.compile.metrics[${i}] ${hint} (got ${JSON.stringify(m)})`);
    });
  }
  toOptimizerConfig(spec.compile.optimizer);

  check('job.feeds', spec.feeds, { train: object, validation: object }, ['train']);
  for (const name of ['train', 'validation'] as const) {
    const f = spec.feeds[name];
    if (f === undefined) continue;
    check(
      `job.feeds.${name}`,
      f,
      { topic: str, features: object, shuffleBuffer: int(0, 100_000_000), batchSize: int(1, 1_000_000) },
      ['topic'],
    );
  }
  if (spec.checkpoint !== undefined) {
    check(
      'job.checkpoint',
      spec.checkpoint,
      { dir: str, everySteps: int(1, Number.MAX_SAFE_INTEGER), keep: int(1, 1_000_000) },
      ['dir', 'everySteps'],
    );
  }
  if (spec.resume !== undefined) {
    check('job.resume', spec.resume, { dir: str, step: int(0, Number.MAX_SAFE_INTEGER) }, ['dir']);
  }
  return spec;
}

/** The PS optimizer config of a spec's optimizer. Throws PETAL_JOB_SPEC naming `job.compile.optimizer.<field>`. */
export function toOptimizerConfig(o: OptimizerSpec): OptimizerConfig {
  const path = 'job.compile.optimizer';
  if (typeof o !== 'object' || o === null) throw specError(`${path} must be an object`);
  const { name, ...params } = o;
  if (name === undefined) throw specError(`${path}.name is required (sgd, momentum, adam or rmsprop)`);
  const config = { type: name, ...params } as OptimizerConfig;
  try {
    createOptimizer(config, path);
  } catch (e) {
    if (!isPetalError(e, 'PETAL_PS_OPTIONS')) throw e;
    const message = e.message
      .split('\n')[0]!
      .replace(`${path}.type`, `${path}.name`)
      .replace('(known: type,', '(known: name,');
    throw new JobSpecError(message, message.split(' ')[0]!, 'see the tfjs optimizer parameters (learningRate, …)');
  }
  return config;
}

/** Whether layer `name` trains under `rules` (last match wins), starting from the layer's own flag. */
export function layerTrainable(name: string, own: boolean, rules: readonly TrainableRule[] = []): boolean {
  let result = own;
  for (const r of rules) {
    const re = new RegExp(`^${r.pattern.split('*').map(escape).join('.*')}$`);
    if (re.test(name)) result = r.trainable;
  }
  return result;
}

function escape(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
