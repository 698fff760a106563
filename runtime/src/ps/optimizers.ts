// Optimizers that update a flat float32 shard in place, with tfjs's math (tf.train.sgd, momentum, adam, rmsprop).
// Typed-array loops: the shard already lives in a Float32Array (it arrives from and leaves for the wire), so
// TensorFlow would cost a copy in and a copy out per slot plus one full-size tensor per op, while one fused pass
// touches each element once. Adam, the default and the costliest (a sqrt and two divisions per element), runs in
// WebAssembly SIMD (simd-kernels.ts: 4.2 M elements in ~7 ms in a ShardStore's memory vs ~38 ms in scalar JS here,
// float32 rounding after every op as in TensorFlow). The others are scalar JS: intermediates stay in doubles and
// only stored values round to float32, about one float32 ulp per step off. Constants are rounded to float32 first,
// as tfjs's scalars are.
import { PsError } from './errors.ts';
import { checkSchedule, scheduledRate } from './learning-rate.ts';
import type { LearningRateSchedule } from './learning-rate.ts';
import { bool, checkOptions, num, str } from './options.ts';
import type { Check } from './options.ts';
import { simdKernels } from './simd-kernels.ts';

/** Which optimizer, with tfjs's parameters and defaults, and optionally a schedule for its learning rate. */
export type OptimizerConfig = (
  | { type: 'sgd'; learningRate: number }
  | { type: 'momentum'; learningRate: number; momentum: number; useNesterov?: boolean }
  | { type: 'adam'; learningRate?: number; beta1?: number; beta2?: number; epsilon?: number }
  | { type: 'rmsprop'; learningRate: number; decay?: number; momentum?: number; epsilon?: number; centered?: boolean }
) & {
  /** A Keras-style schedule of the learning rate over the update steps. */
  schedule?: LearningRateSchedule;
  /**
   * Keras' `use_ema`: keep an exponential moving average of every trainable value (slot `ema`; after update t,
   * `ema = d × ema + (1 − d) × value`, the first update copying the value); the trained model is exported with these
   * averages, which are steadier than the last step's values. As tf.train.ExponentialMovingAverage with
   * num_updates, `d = min(emaMomentum, (1 + t) / (10 + t))`: a run of a few dozen steps is not averaged back to its
   * first ones.
   */
  useEma?: boolean;
  /** Default 0.99 (Keras'). */
  emaMomentum?: number;
};

/** The slot holding the moving averages when `useEma` is set (the last slot). */
export const EMA_SLOT = 'ema';

/** Updates shards in place. Per-element state lives in slots the caller owns; per-step state (Adam's β powers) here. */
export interface ShardOptimizer {
  readonly type: OptimizerConfig['type'];
  /** The config with every default filled in. */
  readonly config: OptimizerConfig;
  /** Per-element state arrays, by tfjs's slot names (`m`, `v`, `momentum`, `rms`, `mg`), one per shard. */
  readonly slotNames: readonly string[];
  /** Applies one gradient to one shard: `params` and `slots` (in slotNames order) change in place. */
  apply(params: Float32Array, grad: Float32Array, slots: readonly Float32Array[]): void;
  /** Ends an update step (after apply() on every shard of that step). */
  finishStep(): void;
  /** Per-step state (the update count, Adam's β powers), for checkpoints. */
  state(): Record<string, number>;
  /** Restores what state() returned. */
  restoreState(state: Record<string, number>): void;
}

/** tfjs's backend epsilon for float32, the default of adam and rmsprop. */
export const DEFAULT_EPSILON = 1e-7;

const r = Math.fround;

const schedule =
  (path: string): Check =>
  (v) => {
    try {
      checkSchedule(`${path}.schedule`, v);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
const schemas = (path: string) => {
  const common = { type: str, schedule: schedule(path), useEma: bool, emaMomentum: num(0, 1) };
  return {
    sgd: { ...common, learningRate: num(0, Infinity, true) },
    momentum: {
      ...common,
      learningRate: num(0, Infinity, true),
      momentum: num(0, Infinity),
      useNesterov: bool,
    },
    adam: {
      ...common,
      learningRate: num(0, Infinity, true),
      beta1: num(0, 1),
      beta2: num(0, 1),
      epsilon: num(0, Infinity, true),
    },
    rmsprop: {
      ...common,
      learningRate: num(0, Infinity, true),
      decay: num(0, 1),
      momentum: num(0, Infinity),
      epsilon: num(0, Infinity, true),
      centered: bool,
    },
  };
};
const required = { sgd: ['learningRate'], momentum: ['learningRate', 'momentum'], adam: [], rmsprop: ['learningRate'] };

/** Validates a config (unknown keys rejected, PETAL_PS_OPTIONS names the field) and makes its optimizer. */
export function createOptimizer(config: OptimizerConfig, path = 'optimizer'): ShardOptimizer {
  const type = (config as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(required, type)) {
    throw new PsError(
      'PETAL_PS_OPTIONS',
      `${path}.type must be one of sgd, momentum, adam, rmsprop (got ${JSON.stringify(type)})`,
      {
        fix: 'pick one of the tfjs optimizers Petal applies on the parameter servers',
      },
    );
  }
  const t = type as OptimizerConfig['type'];
  checkOptions(path, config, schemas(path)[t], required[t]);
  const optimizer = baseOptimizer(config);
  return config.useEma ? withEma(optimizer, config.emaMomentum ?? 0.99) : optimizer;
}

/** The slot of the moving averages (what a trained model is exported with) when `config.useEma`, else undefined. */
export function emaSlot(config: OptimizerConfig): number | undefined {
  return config.useEma ? createOptimizer(config).slotNames.indexOf(EMA_SLOT) : undefined;
}

function baseOptimizer(config: OptimizerConfig): ShardOptimizer {
  switch (config.type) {
    case 'sgd':
      return sgd(config);
    case 'momentum':
      return momentum({ useNesterov: false, ...config });
    case 'adam':
      return adam({ learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: DEFAULT_EPSILON, ...config });
    case 'rmsprop':
      return rmsprop({ decay: 0.9, momentum: 0, epsilon: DEFAULT_EPSILON, centered: false, ...config });
  }
}

/** `optimizer` plus the moving average of the values it updates, in one more slot (EMA_SLOT, last). */
function withEma(optimizer: ShardOptimizer, momentum: number): ShardOptimizer {
  return {
    ...optimizer,
    config: { ...optimizer.config, useEma: true, emaMomentum: momentum },
    slotNames: [...optimizer.slotNames, EMA_SLOT],
    apply(p, g, slots) {
      optimizer.apply(p, g, slots.slice(0, -1));
      const ema = slots.at(-1)!;
      const t = optimizer.state().step ?? 0; // updates before this one
      // As Keras: the first update's average is the updated value itself.
      if (t === 0) {
        ema.set(p);
        return;
      }
      const d = r(Math.min(momentum, (1 + t) / (10 + t)));
      const rest = r(1 - d);
      for (let i = 0; i < p.length; i++) ema[i] = d * ema[i]! + rest * p[i]!;
    },
  };
}

/** Counts updates (like tfjs's `iterations`) and gives the scheduled rate of the next one, rounded to float32. */
function updateCounter(config: { learningRate: number; schedule?: LearningRateSchedule }) {
  let step = 0;
  return {
    rate: () => r(scheduledRate(config.learningRate, config.schedule, step)),
    finishStep() {
      step++;
    },
    state: (): Record<string, number> => ({ step }),
    restoreState(state: Record<string, number>) {
      step = state.step ?? 0;
    },
  };
}

function sgd(config: { type: 'sgd'; learningRate: number; schedule?: LearningRateSchedule }): ShardOptimizer {
  const counter = updateCounter(config);
  return {
    type: 'sgd',
    config,
    slotNames: [],
    apply(p, g) {
      const c = -counter.rate();
      for (let i = 0; i < p.length; i++) p[i] = c * g[i]! + p[i]!;
    },
    finishStep: counter.finishStep,
    state: counter.state,
    restoreState: counter.restoreState,
  };
}

function momentum(config: {
  type: 'momentum';
  learningRate: number;
  momentum: number;
  useNesterov: boolean;
  schedule?: LearningRateSchedule;
}): ShardOptimizer {
  const counter = updateCounter(config);
  const m = r(config.momentum);
  return {
    type: 'momentum',
    config,
    slotNames: ['momentum'],
    apply(p, g, [acc]) {
      const a = acc!;
      const c = -counter.rate();
      if (config.useNesterov) {
        for (let i = 0; i < p.length; i++) {
          const gi = g[i]!;
          const na = m * a[i]! + gi;
          a[i] = na;
          p[i] = c * (gi + na * m) + p[i]!;
        }
      } else {
        for (let i = 0; i < p.length; i++) {
          const na = m * a[i]! + g[i]!;
          a[i] = na;
          p[i] = c * na + p[i]!;
        }
      }
    },
    finishStep: counter.finishStep,
    state: counter.state,
    restoreState: counter.restoreState,
  };
}

function adam(config: {
  type: 'adam';
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  schedule?: LearningRateSchedule;
}): ShardOptimizer {
  const counter = updateCounter(config);
  const b1 = r(config.beta1);
  const b2 = r(config.beta2);
  const omb1 = r(1 - config.beta1);
  const omb2 = r(1 - config.beta2);
  const eps = r(config.epsilon);
  // tfjs keeps β1^t and β2^t as float32 variables multiplied once per step.
  let accBeta1 = b1;
  let accBeta2 = b2;
  const kernels = simdKernels();
  return {
    type: 'adam',
    config,
    slotNames: ['m', 'v'],
    apply(p, g, [m, v]) {
      kernels.adam(p, g, m!, v!, {
        beta1: b1,
        oneMinusBeta1: omb1,
        beta2: b2,
        oneMinusBeta2: omb2,
        oneMinusAccBeta1: r(1 - accBeta1),
        oneMinusAccBeta2: r(1 - accBeta2),
        epsilon: eps,
        negLearningRate: -counter.rate(),
      });
    },
    finishStep() {
      counter.finishStep();
      accBeta1 = r(accBeta1 * b1);
      accBeta2 = r(accBeta2 * b2);
    },
    state: () => ({ ...counter.state(), accBeta1, accBeta2 }),
    restoreState(state) {
      counter.restoreState(state);
      accBeta1 = r(state.accBeta1 ?? b1);
      accBeta2 = r(state.accBeta2 ?? b2);
    },
  };
}

function rmsprop(config: {
  type: 'rmsprop';
  learningRate: number;
  decay: number;
  momentum: number;
  epsilon: number;
  centered: boolean;
  schedule?: LearningRateSchedule;
}): ShardOptimizer {
  const counter = updateCounter(config);
  const d = r(config.decay);
  const omd = r(1 - config.decay);
  const mo = r(config.momentum);
  const eps = r(config.epsilon);
  return {
    type: 'rmsprop',
    config,
    slotNames: config.centered ? ['rms', 'momentum', 'mg'] : ['rms', 'momentum'],
    apply(p, g, [msSlot, momSlot, mgSlot]) {
      const ms = msSlot!;
      const mom = momSlot!;
      const lr = counter.rate();
      if (mgSlot) {
        const mg = mgSlot;
        for (let i = 0; i < p.length; i++) {
          const gi = g[i]!;
          ms[i] = ms[i]! * d + gi * gi * omd;
          mg[i] = mg[i]! * d + gi * omd;
          const mgi = mg[i]!;
          // E[g²] - E[g]² cancels badly: round as TensorFlow does here, or the result drifts ~1e-6 from tfjs.
          mom[i] = mom[i]! * mo + (gi * lr) / Math.sqrt(r(ms[i]! - r(r(mgi * mgi) + eps)));
          p[i] = p[i]! - mom[i]!;
        }
      } else {
        for (let i = 0; i < p.length; i++) {
          const gi = g[i]!;
          ms[i] = ms[i]! * d + gi * gi * omd;
          mom[i] = mom[i]! * mo + (gi * lr) / Math.sqrt(ms[i]! + eps);
          p[i] = p[i]! - mom[i]!;
        }
      }
    },
    finishStep: counter.finishStep,
    state: counter.state,
    restoreState: counter.restoreState,
  };
}
