// `npm run bench -- backend [--steps N] [--rounds R] [--warmup W] [--batch-mlp B] [--batch-cnn B] [--profile]`
//
// tfjs-node's native backend against Python Keras on the same venv's TensorFlow: the same ~4.2 M-parameter MLP
// and the same small CNN, the same batch sizes, Adam(1e-3), categorical cross-entropy and input shapes, synthetic
// data made once outside the timed region. Keras runs its normal `model.fit` (a compiled tf.function graph) in a
// child process (backend_keras.py --serve); tfjs runs `model.fit`, `model.trainOnBatch` and a custom
// `optimizer.minimize` step in `tf.tidy`. `ratio` = fastest stock tfjs way ÷ Keras, examples/s, on the MLP.
//
// Fairness on a shared 2-core machine: both sides get the same thread pools (TF_NUM_INTRAOP_THREADS and
// TF_NUM_INTEROP_THREADS, default = available cores; set them to override) and oneDNN as the environment says.
// Warm-up steps are excluded. Each measurement is R rounds of N timed steps; the rounds of Keras and of every tfjs
// way are interleaved (order rotated per round), so a burst of load from something else hits both sides, and the
// best round counts (load only ever slows a run down; the median is printed too).
//
// One more way is a prototype of what Petal's training loop could add on the native backend (not part of
// `ratio`, reported as `ratioWithPetalKernels`): the custom step with tfjs-node's composite `Step` kernel
// (6 ops) replaced by Sign(Relu(x)), and Adam applied by TensorFlow's fused ResourceApplyAdam kernel.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadTf } from '@petal/runtime/tf';
import type { Tf } from '@petal/runtime/tf';
import { venvBin } from '@petal/runtime/locations';
import type {
  KernelConfig,
  NamedTensorMap,
  Scalar,
  Sequential,
  Tensor,
  TensorInfo,
  Variable,
} from '@tensorflow/tfjs-node';
import { boolArg, buildMlp, collectGarbage, intArg, median, num, printBench, round } from './bench-util.ts';

const args = process.argv.slice(2);
const STEPS = intArg(args, '--steps', 20);
const ROUNDS = intArg(args, '--rounds', 5);
const WARMUP = intArg(args, '--warmup', 5);
const BATCH_MLP = intArg(args, '--batch-mlp', 128);
const BATCH_CNN = intArg(args, '--batch-cnn', 32);
const PROFILE = boolArg(args, '--profile');

// Adam as Keras 3 defaults it, on both sides.
const LEARNING_RATE = 1e-3;
const BETA_1 = 0.9;
const BETA_2 = 0.999;
const EPSILON = 1e-7;

// Thread pools and log level must be in the environment before libtensorflow loads; the Keras child inherits them.
const cores = String(availableParallelism());
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
process.env.TF_NUM_INTRAOP_THREADS ??= cores;
process.env.TF_NUM_INTEROP_THREADS ??= cores;
const tf: Tf = loadTf();

const progress = (line: string): void => void process.stderr.write(`backend: ${line}\n`);

// ---------------------------------------------------------------------------------------------------------------
// The Keras reference, a child process answering one JSON line per command.

interface KerasHello {
  tf: string;
  keras: string;
  python: string;
  intraOpThreads: string;
  interOpThreads: string;
  onednn: string;
}
interface KerasSetup {
  params: number;
  jitCompile: boolean;
}
interface KerasRun {
  seconds: number;
  examplesPerSec: number;
  loss: number;
}

class KerasReference {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  #stderr = '';
  #failure: Error | undefined;

  constructor() {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'backend_keras.py');
    this.#child = spawn(venvBin('python'), [script, '--serve'], { env: process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const w = this.#waiting.shift();
      if (!w) return;
      try {
        const reply = JSON.parse(line) as Record<string, unknown>;
        if (typeof reply.error === 'string') w.reject(new Error(`backend_keras.py: ${reply.error}\n${this.#stderr}`));
        else w.resolve(reply);
      } catch {
        w.reject(new Error(`backend_keras.py printed a line that is not JSON: ${line}`));
      }
    });
    const fail = (err: Error): void => {
      this.#failure ??= err;
      for (const w of this.#waiting.splice(0)) w.reject(this.#failure);
    };
    this.#child.on('exit', (code, signal) =>
      fail(new Error(`backend_keras.py exited (${signal ?? code}); its stderr ends:\n${this.#stderr}`)),
    );
    this.#child.on('error', (err) =>
      fail(new Error(`could not run ${venvBin('python')} backend_keras.py: ${err.message}`, { cause: err })),
    );
  }

  /** The first line the child prints, once TensorFlow has loaded. */
  hello(): Promise<KerasHello> {
    return this.#next() as Promise<unknown> as Promise<KerasHello>;
  }

  setup(model: string, batch: number): Promise<KerasSetup> {
    return this.#ask({
      cmd: 'setup',
      model,
      batch,
      steps: STEPS,
      warmup: WARMUP,
      seed: 1,
    }) as Promise<unknown> as Promise<KerasSetup>;
  }

  run(model: string): Promise<KerasRun> {
    return this.#ask({ cmd: 'run', model }) as Promise<unknown> as Promise<KerasRun>;
  }

  close(): void {
    if (this.#failure) return;
    this.#child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }

  #next(): Promise<Record<string, unknown>> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #ask(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = this.#next();
    this.#child.stdin.write(`${JSON.stringify(cmd)}\n`);
    return reply;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Models and data, built exactly as backend_keras.py builds them.

interface ModelSpec {
  key: 'mlp' | 'cnn';
  title: string;
  inputShape: number[];
  classes: number;
  batch: number;
  build(): Sequential;
}

const specs: ModelSpec[] = [
  {
    key: 'mlp',
    title: 'MLP 784-2048-1024-512-10 (relu, softmax)',
    inputShape: [784],
    classes: 10,
    batch: BATCH_MLP,
    build: () => buildMlp(tf),
  },
  {
    key: 'cnn',
    title: 'CNN 64x64x3: 3x(conv3x3 relu + maxpool2) 16/32/64, dense 64 relu, dense 5 softmax',
    inputShape: [64, 64, 3],
    classes: 5,
    batch: BATCH_CNN,
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [64, 64, 3], filters: 16, kernelSize: 3, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 64, activation: 'relu' }),
          tf.layers.dense({ units: 5, activation: 'softmax' }),
        ],
      }),
  },
];

interface Data {
  x: Tensor;
  y: Tensor;
  xb: Tensor[];
  yb: Tensor[];
}

/** Random inputs with labels a fixed random projection decides, so a loss that falls shows training works. */
function synthetic(spec: ModelSpec): Data {
  const n = spec.batch * STEPS;
  return tf.tidy(() => {
    const x = tf.randomNormal([n, ...spec.inputShape], 0, 1, 'float32', 1);
    const features = spec.inputShape.reduce((a, b) => a * b, 1);
    const projection = tf.randomNormal([features, spec.classes], 0, 1, 'float32', 2);
    const labels = tf.argMax(tf.matMul(x.reshape([n, features]), projection), 1);
    const y = tf.oneHot(labels, spec.classes).toFloat();
    return { x, y, xb: tf.split(x, STEPS), yb: tf.split(y, STEPS) };
  });
}

function trainableVariables(model: Sequential): Variable[] {
  return model.trainableWeights.map((w) => w.read() as Variable);
}

function adam() {
  return tf.train.adam(LEARNING_RATE, BETA_1, BETA_2, EPSILON);
}

/** The loss `compile({loss: 'categoricalCrossentropy'})` uses, for the custom steps. */
function lossOf(model: Sequential, x: Tensor, y: Tensor): Scalar {
  return tf.metrics.categoricalCrossentropy(y, model.apply(x, { training: true }) as Tensor).mean() as Scalar;
}

// ---------------------------------------------------------------------------------------------------------------
// A prototype of native kernels a Petal training loop could install. Everything below goes through tfjs-node's
// binding (`executeOp`), which runs any TensorFlow op eagerly; it exists only on the native backend.

interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}
interface NativeBackend {
  binding: {
    executeOp(name: string, attrs: OpAttr[], inputIds: number[], outputs: number): unknown[];
    TF_Version: string;
    TF_FLOAT: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_STRING: number;
    TF_ATTR_SHAPE: number;
    TF_ATTR_BOOL: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: TensorInfo[]): Tensor;
  getInputTensorIds(inputs: TensorInfo[]): number[];
}

const native = tf.backend() as unknown as NativeBackend;
const B = native.binding;
const floatType = (name: string): OpAttr => ({ name, type: B.TF_ATTR_TYPE, value: B.TF_FLOAT });
const flag = (name: string, value: boolean): OpAttr => ({ name, type: B.TF_ATTR_BOOL, value });
const exec0 = (op: string, attrs: OpAttr[], inputs: TensorInfo[]): void =>
  void B.executeOp(op, attrs, native.getInputTensorIds(inputs), 0);

const stockStep = tf.getKernel('Step', 'tensorflow');
if (!stockStep) throw new Error('tfjs-node registers no Step kernel; this benchmark expects tfjs-node 4.x');

/** tfjs-node's Step (the ReLU gradient's mask) is IsNan+Greater+Fill+OnesLike+Select+Select; for alpha 0 Sign(Relu(x))
 * is the same function (NaN stays NaN) in 2 ops. Installed only around the prototype's steps. */
const fastStep: KernelConfig = {
  kernelName: 'Step',
  backendName: 'tensorflow',
  kernelFunc: (kernelArgs) => {
    const x = kernelArgs.inputs.x as TensorInfo;
    if (kernelArgs.attrs?.alpha !== 0 || x.dtype !== 'float32') return stockStep.kernelFunc(kernelArgs);
    return tf.tidy(() =>
      native.executeSingleOutput('Sign', [floatType('T')], [native.executeSingleOutput('Relu', [floatType('T')], [x])]),
    );
  },
};

function useStepKernel(config: KernelConfig): void {
  tf.unregisterKernel('Step', 'tensorflow');
  tf.registerKernel(config);
}

let nextResource = 0;
const resourcePrefix = `petal_bench_${process.pid}_`;

/** Adam applied by TensorFlow's fused ResourceApplyAdam: one multithreaded pass per variable instead of tfjs's
 * ~14 elementwise ops that each allocate a full-size tensor. Same update as Keras 3's Adam. The model's tfjs
 * Variables stay the source of truth: each step assigns them to the resource (one copy), applies, reads back. */
class NativeAdam {
  readonly #vars: Variable[];
  readonly #handles: { w: Tensor; m: Tensor; v: Tensor }[];
  readonly #lr: Scalar;
  readonly #beta1: Scalar;
  readonly #beta2: Scalar;
  readonly #epsilon: Scalar;
  #t = 0;
  #disposed = false;

  constructor(vars: Variable[]) {
    this.#vars = vars;
    this.#handles = vars.map((v) => {
      const h = { w: this.#resource(v.shape), m: this.#resource(v.shape), v: this.#resource(v.shape) };
      tf.tidy(() => {
        exec0('AssignVariableOp', [floatType('dtype')], [h.m, tf.zerosLike(v)]);
        exec0('AssignVariableOp', [floatType('dtype')], [h.v, tf.zerosLike(v)]);
      });
      return h;
    });
    this.#lr = tf.keep(tf.scalar(LEARNING_RATE));
    this.#beta1 = tf.keep(tf.scalar(BETA_1));
    this.#beta2 = tf.keep(tf.scalar(BETA_2));
    this.#epsilon = tf.keep(tf.scalar(EPSILON));
  }

  applyGradients(grads: NamedTensorMap): void {
    this.#t++;
    tf.tidy(() => {
      const beta1Power = tf.scalar(BETA_1 ** this.#t);
      const beta2Power = tf.scalar(BETA_2 ** this.#t);
      this.#vars.forEach((variable, i) => {
        const h = this.#handles[i]!;
        const g = grads[variable.name];
        if (!g) return;
        exec0('AssignVariableOp', [floatType('dtype')], [h.w, variable]);
        exec0(
          'ResourceApplyAdam',
          [floatType('T'), flag('use_locking', false), flag('use_nesterov', false)],
          [h.w, h.m, h.v, beta1Power, beta2Power, this.#lr, this.#beta1, this.#beta2, this.#epsilon, g],
        );
        variable.assign(native.executeSingleOutput('ReadVariableOp', [floatType('dtype')], [h.w]));
      });
    });
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const h of this.#handles) {
      for (const r of [h.w, h.m, h.v]) {
        exec0('DestroyResourceOp', [flag('ignore_lookup_error', true)], [r]);
        r.dispose();
      }
    }
    tf.dispose([this.#lr, this.#beta1, this.#beta2, this.#epsilon]);
  }

  #resource(shape: number[]): Tensor {
    return tf.keep(
      native.executeSingleOutput(
        'VarHandleOp',
        [
          { name: 'container', type: B.TF_ATTR_STRING, value: '' },
          { name: 'shared_name', type: B.TF_ATTR_STRING, value: `${resourcePrefix}${nextResource++}` },
          floatType('dtype'),
          { name: 'shape', type: B.TF_ATTR_SHAPE, value: shape },
        ],
        [],
      ),
    );
  }
}

/** The prototype must compute what it replaces: checked once, before anything is timed. */
function checkPrototype(): void {
  const special = [Number.NaN, -Infinity, -1, -0, 0, 1e-30, 2, Infinity];
  const stock = tf.tidy(() => tf.step(tf.tensor1d(special)).arraySync());
  useStepKernel(fastStep);
  const fast = tf.tidy(() => tf.step(tf.tensor1d(special)).arraySync());
  useStepKernel(stockStep!);
  if (stock.some((s, i) => !Object.is(s, fast[i]) && !(s === 0 && fast[i] === 0))) {
    throw new Error(`Sign(Relu(x)) differs from tfjs step(x): ${JSON.stringify(stock)} vs ${JSON.stringify(fast)}`);
  }
  // Three Adam steps on a small variable against Keras 3's update rule computed in doubles.
  const w0 = [0.5, -0.3, 0.1, 2];
  const gs = [
    [0.1, -0.2, 0.3, 1e-4],
    [-0.05, 0.4, 0.0, 1e-4],
    [0.2, 0.1, -0.3, -1e-4],
  ];
  const variable = tf.variable(tf.tensor1d(w0), true, `${resourcePrefix}check`);
  const opt = new NativeAdam([variable]);
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  gs.forEach((g, step) => {
    tf.tidy(() => opt.applyGradients({ [variable.name]: tf.tensor1d(g) }));
    const t = step + 1;
    const alpha = (LEARNING_RATE * Math.sqrt(1 - BETA_2 ** t)) / (1 - BETA_1 ** t);
    for (let i = 0; i < w.length; i++) {
      m[i]! += (g[i]! - m[i]!) * (1 - BETA_1);
      v[i]! += (g[i]! ** 2 - v[i]!) * (1 - BETA_2);
      w[i]! -= (alpha * m[i]!) / (Math.sqrt(v[i]!) + EPSILON);
    }
  });
  const got = variable.dataSync();
  opt.dispose();
  variable.dispose();
  w.forEach((expected, i) => {
    if (Math.abs(got[i]! - expected) > 1e-6)
      throw new Error(`ResourceApplyAdam gave ${got[i]} for w[${i}], Keras' rule ${expected}`);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The tfjs ways. Each owns a model and optimizer, warms up in create(), and trains STEPS steps per run().

interface Way {
  key: string;
  label: string;
  stock: boolean;
  /** Trains STEPS steps; the loss of the last one. The caller times it. */
  run(): Promise<number>;
  dispose(): void;
}

async function createWays(spec: ModelSpec, data: Data): Promise<Way[]> {
  const { batch } = spec;
  const ways: Way[] = [];

  {
    const model = spec.build();
    model.compile({ optimizer: adam(), loss: 'categoricalCrossentropy' });
    const fit = async (x: Tensor, y: Tensor): Promise<number> => {
      const h = await model.fit(x, y, { batchSize: batch, epochs: 1, shuffle: false, verbose: 0 });
      return Number(h.history.loss?.at(-1));
    };
    const n = batch * Math.min(WARMUP, STEPS);
    const [wx, wy] = tf.tidy(() => [data.x.slice(0, n), data.y.slice(0, n)]);
    await fit(wx!, wy!);
    tf.dispose([wx!, wy!]);
    ways.push({
      key: 'fit',
      label: 'model.fit',
      stock: true,
      run: () => fit(data.x, data.y),
      dispose: () => model.dispose(),
    });
  }

  {
    const model = spec.build();
    model.compile({ optimizer: adam(), loss: 'categoricalCrossentropy' });
    const steps = async (count: number): Promise<number> => {
      let loss = Number.NaN;
      for (let i = 0; i < count; i++) {
        const r = await model.trainOnBatch(data.xb[i % STEPS]!, data.yb[i % STEPS]!);
        loss = Array.isArray(r) ? r[0]! : r;
      }
      return loss;
    };
    await steps(WARMUP);
    ways.push({
      key: 'trainOnBatch',
      label: 'model.trainOnBatch (awaits the loss each step)',
      stock: true,
      run: () => steps(STEPS),
      dispose: () => model.dispose(),
    });
  }

  // Custom steps return the loss tensor and sync only once, after the last step: eager ops run synchronously on
  // the calling thread, so a per-step dataSync would add a copy, not change what is measured.
  const customWay = (
    key: string,
    label: string,
    stock: boolean,
    step: (i: number) => Scalar,
    before?: () => void,
    after?: () => void,
    dispose?: () => void,
  ): Way => {
    const steps = (count: number): number => {
      before?.();
      try {
        let last: Scalar | undefined;
        for (let i = 0; i < count; i++) {
          last?.dispose();
          last = step(i % STEPS);
        }
        const loss = last?.dataSync()[0] ?? Number.NaN;
        last?.dispose();
        return loss;
      } finally {
        after?.();
      }
    };
    steps(WARMUP);
    return { key, label, stock, run: async () => steps(STEPS), dispose: () => dispose?.() };
  };

  {
    const model = spec.build();
    const vars = trainableVariables(model);
    const optimizer = adam();
    ways.push(
      customWay(
        'custom',
        'custom step: optimizer.minimize in tf.tidy',
        true,
        (i) => tf.tidy(() => optimizer.minimize(() => lossOf(model, data.xb[i]!, data.yb[i]!), true, vars)!),
        undefined,
        undefined,
        () => {
          model.dispose();
          optimizer.dispose();
        },
      ),
    );
  }

  {
    const model = spec.build();
    const vars = trainableVariables(model);
    const optimizer = new NativeAdam(vars);
    ways.push(
      customWay(
        'petalKernels',
        'prototype: custom step + Sign(Relu) step kernel + fused ResourceApplyAdam',
        false,
        (i) =>
          tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => lossOf(model, data.xb[i]!, data.yb[i]!), vars);
            optimizer.applyGradients(grads);
            return value;
          }),
        () => useStepKernel(fastStep),
        () => useStepKernel(stockStep!),
        () => {
          model.dispose();
          optimizer.dispose();
        },
      ),
    );
  }
  return ways;
}

// ---------------------------------------------------------------------------------------------------------------
// Optional: where a custom step's time goes, per kernel (`--profile`).

async function profile(spec: ModelSpec, data: Data): Promise<void> {
  const model = spec.build();
  const vars = trainableVariables(model);
  const optimizer = adam();
  const step = (): void =>
    tf.tidy(() => void optimizer.minimize(() => lossOf(model, data.xb[0]!, data.yb[0]!), false, vars));
  for (let i = 0; i < 3; i++) step();
  const reps = 3;
  const byKernel = new Map<string, { count: number; ms: number }>();
  let kernels = 0;
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    const info = await tf.profile(step);
    for (const k of info.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const e = byKernel.get(k.name) ?? { count: 0, ms: 0 };
      e.count++;
      e.ms += ms;
      byKernel.set(k.name, e);
      kernels++;
    }
  }
  const wall = (performance.now() - t0) / reps;
  console.log(
    `profile ${spec.key}: stock custom step ${num(wall, 0, 1)} ms (profiled), ${kernels / reps} kernel calls per step; top kernels (composite kernels include the kernels they call):`,
  );
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    console.log(`  ${name.padEnd(24)} x${num(e.count / reps, 4)}  ${num(e.ms / reps, 7, 2)} ms`);
  }
  if (spec.key === 'mlp') {
    // What a worker pays to ship gradients to parameter servers: copying them out of TensorFlow.
    const grads = tf.tidy(() =>
      Object.values(tf.variableGrads(() => lossOf(model, data.xb[0]!, data.yb[0]!), vars).grads),
    );
    const bytes = grads.reduce((a, g) => a + g.size * 4, 0);
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      await Promise.all(grads.map((g) => g.data()));
      best = Math.min(best, performance.now() - t);
    }
    console.log(
      `  copying the MLP's gradients out of TensorFlow (${(bytes / 1e6).toFixed(1)} MB, await data()): ${best.toFixed(1)} ms`,
    );
    tf.dispose(grads);
  }
  model.dispose();
  optimizer.dispose();
}

// ---------------------------------------------------------------------------------------------------------------

interface Measured {
  label: string;
  stock: boolean;
  rates: number[];
  loss: number;
  tensorLeak: number;
}

const best = (m: Measured): number => Math.max(...m.rates);

async function main(): Promise<void> {
  checkPrototype();
  const keras = new KerasReference();
  try {
    const hello = await keras.hello();
    const versions = {
      tfjs: tf.version.tfjs,
      tfjsNode: tf.version['tfjs-node'],
      libtensorflow: B.TF_Version,
      tf: hello.tf,
      keras: hello.keras,
      python: hello.python,
      node: process.versions.node,
    };
    const threads = { intraOp: process.env.TF_NUM_INTRAOP_THREADS, interOp: process.env.TF_NUM_INTEROP_THREADS };
    if (hello.intraOpThreads !== threads.intraOp || hello.interOpThreads !== threads.interOp) {
      throw new Error(`thread settings differ: tfjs ${JSON.stringify(threads)}, keras ${JSON.stringify(hello)}`);
    }

    const results = new Map<
      string,
      { spec: ModelSpec; params: number; jit: boolean; keras: Measured; ways: Map<string, Measured> }
    >();
    const live: { spec: ModelSpec; data: Data; ways: Way[] }[] = [];
    for (const spec of specs) {
      progress(`${spec.key}: building models and data, ${WARMUP} warm-up steps per way`);
      const setup = await keras.setup(spec.key, spec.batch);
      const data = synthetic(spec);
      const ways = await createWays(spec, data);
      const params = spec.build();
      const paramCount = params.countParams();
      params.dispose();
      if (paramCount !== setup.params)
        throw new Error(`${spec.key}: tfjs has ${paramCount} parameters, Keras ${setup.params}`);
      const measured = new Map(
        ways.map((w) => [
          w.key,
          { label: w.label, stock: w.stock, rates: [] as number[], loss: Number.NaN, tensorLeak: 0 },
        ]),
      );
      results.set(spec.key, {
        spec,
        params: paramCount,
        jit: setup.jitCompile,
        keras: {
          label: 'model.fit (compiled tf.function graph)',
          stock: true,
          rates: [],
          loss: Number.NaN,
          tensorLeak: 0,
        },
        ways: measured,
      });
      live.push({ spec, data, ways });
    }

    for (let pass = 0; pass < ROUNDS; pass++) {
      for (const { spec, ways } of live) {
        const r = results.get(spec.key)!;
        progress(`round ${pass + 1}/${ROUNDS}: ${spec.key}`);
        const order: (Way | 'keras')[] = ['keras', ...ways];
        for (let k = 0; k < order.length; k++) {
          const entry = order[(k + pass) % order.length]!;
          collectGarbage();
          if (entry === 'keras') {
            const run = await keras.run(spec.key);
            r.keras.rates.push(run.examplesPerSec);
            r.keras.loss = run.loss;
            continue;
          }
          const m = r.ways.get(entry.key)!;
          const tensors = tf.memory().numTensors;
          const t0 = performance.now();
          m.loss = await entry.run();
          const seconds = (performance.now() - t0) / 1000;
          m.rates.push((spec.batch * STEPS) / seconds);
          m.tensorLeak = Math.max(m.tensorLeak, tf.memory().numTensors - tensors);
        }
      }
    }

    for (const { data, ways } of live) {
      for (const w of ways) w.dispose();
      tf.dispose([data.x, data.y, ...data.xb, ...data.yb]);
    }

    // Readable report.
    console.log(
      `backend: tfjs-node ${versions.tfjsNode} (libtensorflow ${versions.libtensorflow}, node ${versions.node}) vs Keras ${versions.keras} on TensorFlow ${versions.tf} (python ${versions.python}), same venv`,
    );
    console.log(
      `threads: intra-op ${threads.intraOp}, inter-op ${threads.interOp} on both sides (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS); oneDNN: ${hello.onednn === 'default' ? 'library default (on)' : `TF_ENABLE_ONEDNN_OPTS=${hello.onednn}`} on both`,
    );
    console.log(
      `timing: ${STEPS} timed steps per round after ${WARMUP} warm-up steps, ${ROUNDS} rounds interleaved across Keras and tfjs; best round (median in brackets)`,
    );
    console.log(
      'optimizer: Adam(lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7); loss: categorical cross-entropy; data: synthetic, made outside the timed region',
    );
    const summary: Record<string, unknown> = {};
    const ratios: Record<string, { ratio: number; way: string; withPetal: number }> = {};
    for (const [key, r] of results) {
      const kerasBest = best(r.keras);
      console.log('');
      console.log(
        `${key}: ${r.spec.title}, ${r.params.toLocaleString('en-US')} params, batch ${r.spec.batch}${r.jit ? ', Keras jit_compile on' : ', Keras XLA off (jit_compile=False)'}`,
      );
      const line = (side: string, m: Measured, ratio?: number): void => {
        const bestRate = best(m);
        const ms = (r.spec.batch / bestRate) * 1000;
        const leak = m.tensorLeak > 0 ? `  LEAKS ${m.tensorLeak} tensors/run` : '';
        const ratioText = ratio === undefined ? '' : `  ratio ${ratio.toFixed(2)}`;
        console.log(
          `  ${side.padEnd(5)} ${m.label.padEnd(74)} ${num(bestRate, 6)} ex/s [${num(median(m.rates), 5)}] ${num(ms, 6, 1)} ms/step  loss ${m.loss.toFixed(3)}${ratioText}${leak}`,
        );
      };
      line('keras', r.keras);
      for (const m of r.ways.values()) line('tfjs', m, best(m) / kerasBest);
      const stock = [...r.ways.entries()].filter(([, m]) => m.stock).sort((a, b) => best(b[1]) - best(a[1]))[0]!;
      const petal = r.ways.get('petalKernels')!;
      ratios[key] = { ratio: best(stock[1]) / kerasBest, way: stock[0], withPetal: best(petal) / kerasBest };
      summary[key] = {
        params: r.params,
        batch: r.spec.batch,
        kerasExamplesPerSec: round(kerasBest, 1),
        tfjsExamplesPerSec: round(best(stock[1]), 1),
        tfjsWay: stock[0],
        ways: Object.fromEntries(
          [...r.ways].map(([k, m]) => [
            k,
            { examplesPerSec: round(best(m), 1), median: round(median(m.rates), 1), stock: m.stock },
          ]),
        ),
        kerasMedian: round(median(r.keras.rates), 1),
        tensorsFlat: [...r.ways.values()].every((m) => m.tensorLeak <= 0),
      };
    }
    const mlp = ratios.mlp!;
    const cnn = ratios.cnn!;
    console.log('');
    console.log(
      `ratio (tfjs ÷ Keras examples/s, MLP) = ${mlp.ratio.toFixed(2)} using the fastest stock tfjs way, "${mlp.way}"; CNN: ${cnn.ratio.toFixed(2)} ("${cnn.way}")`,
    );
    console.log(
      `with the prototype Petal kernels (not in ratio): MLP ${mlp.withPetal.toFixed(2)}, CNN ${cnn.withPetal.toFixed(2)}`,
    );

    if (PROFILE) {
      console.log('');
      for (const spec of specs) {
        const data = synthetic(spec);
        await profile(spec, data);
        tf.dispose([data.x, data.y, ...data.xb, ...data.yb]);
      }
    }

    printBench({
      name: 'backend',
      ratio: round(mlp.ratio),
      ratioWay: mlp.way,
      cnnRatio: round(cnn.ratio),
      cnnRatioWay: cnn.way,
      ratioWithPetalKernels: round(mlp.withPetal),
      cnnRatioWithPetalKernels: round(cnn.withPetal),
      mlp: summary.mlp,
      cnn: summary.cnn,
      steps: STEPS,
      warmupSteps: WARMUP,
      rounds: ROUNDS,
      threads: { intraOp: Number(threads.intraOp), interOp: Number(threads.interOp), onednn: hello.onednn },
      versions,
    });
  } finally {
    keras.close();
  }
}

await main();
