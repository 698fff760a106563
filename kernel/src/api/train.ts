// `train` of the "petal" module (and `%train EXPR`): builds the runtime's job spec from a tfjs model and a few
// options (cluster size and mode from the running cluster, feed names through stream()'s map), runs it with
// cluster.train() and keeps a live TrainCard current. Errors of remote tasks propagate as the cell's error. A worker
// lost mid-job is one line in the running cell and one rollback on the card; an interrupt stops the job (Interrupts).
import { lostCause, restartLine, rollbackLine } from '@petal/runtime';
import type { JobSpec, TaskRestart } from '@petal/runtime';
import { withText } from '../display.ts';
import type { LiveOutputs } from '../live/live-outputs.ts';
import type { TrainCard } from '../outputs/types.ts';
import { cardError, checkOptions } from './check-options.ts';
import type { KernelClusterApi } from './cluster.ts';
import type { OutputSink } from './create-api.ts';
import type { Interrupts } from './interrupts.ts';
import { TrainSeries } from './train-series.ts';
import type { JobFeedSpec, KafkaApi, OptimizerSpec, TrainOptions, TrainSummary } from './types.ts';

const KEYS = [
  'model',
  'optimizer',
  'loss',
  'metrics',
  'feeds',
  'batchSize',
  'epochs',
  'initialWeights',
  'trainable',
  'checkpoint',
  'seed',
  'outDir',
];
const REQUIRED = ['model', 'optimizer', 'loss', 'feeds', 'batchSize', 'epochs'];

/** What train needs from the kernel. */
export interface TrainApiDeps {
  kafka: KafkaApi;
  cluster: KernelClusterApi;
  live: LiveOutputs;
  output: OutputSink;
  /** What an interrupt stops: the job runs under its signal. */
  interrupts: Interrupts;
  /** A stream() name → its last topic (an exact topic name passes through). */
  resolveTopic(name: string): string;
}

let jobs = 0;

/** The job spec of `options` on a cluster of `size`; feed names resolved. */
export function jobSpec(
  options: TrainOptions,
  size: Pick<JobSpec, 'ps' | 'workers' | 'mode'>,
  resolveTopic: (name: string) => string,
): JobSpec {
  const feed = (f: string | JobFeedSpec): JobFeedSpec =>
    typeof f === 'string' ? { topic: resolveTopic(f) } : { ...f, topic: resolveTopic(f.topic) };
  const optimizer: OptimizerSpec =
    typeof options.optimizer === 'string' ? { name: options.optimizer } : options.optimizer;
  const model = options.model as { toJSON?: (a: null, b: false) => unknown };
  const topology = typeof model?.toJSON === 'function' ? (model.toJSON(null, false) as Record<string, unknown>) : model;
  return {
    model: {
      topology: topology as Record<string, unknown>,
      ...(options.initialWeights === undefined ? {} : { initialWeights: options.initialWeights }),
      ...(options.trainable === undefined ? {} : { trainable: options.trainable }),
    },
    compile: {
      optimizer,
      loss: options.loss,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    },
    feeds: {
      train: feed(options.feeds.train),
      ...(options.feeds.validation === undefined ? {} : { validation: feed(options.feeds.validation) }),
    },
    batchSize: options.batchSize,
    epochs: options.epochs,
    ...size,
    ...(options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  };
}

export function createTrainApi(deps: TrainApiDeps): (options: TrainOptions) => Promise<TrainSummary> {
  return async (options) => {
    checkOptions('PETAL_TRAIN_OPTIONS', 'train()', options, KEYS, REQUIRED);
    checkOptions('PETAL_TRAIN_OPTIONS', 'train() feeds', options.feeds, ['train', 'validation'], ['train']);
    const cluster = deps.cluster.running();
    const connection = deps.kafka.connection();
    const status = cluster.status();
    const spec = jobSpec(options, { ps: status.ps, workers: status.workers, mode: status.mode }, deps.resolveTopic);
    const started = Date.now();
    const name = (options.model as { name?: unknown }).name;
    const series = new TrainSeries('worker-0');
    let card: TrainCard = {
      version: 1,
      job: `${typeof name === 'string' ? name : 'model'} #${++jobs}`,
      state: 'running',
      mode: status.mode,
      workers: status.workers,
      epochs: options.epochs,
      step: 0,
      steps: [],
      epochPoints: [],
      elapsedMs: 0,
    };
    const live = deps.live.start('train', card);
    const refresh = (): void => {
      card = {
        ...card,
        step: series.step,
        steps: [...series.steps],
        epochPoints: series.epochPoints.map((e) => ({ ...e })),
        elapsedMs: Date.now() - started,
      };
      live.update(card);
    };
    // Restarts during the job: held until the job says where it rolls back to, then one line names both.
    const restarts = new Map<string, TaskRestart>();
    const say = (text: string): void => {
      if (deps.output.executing()) deps.output.write('stderr', `${text}\n`);
    };
    const giveBack = deps.cluster.takeRestarts((r) => restarts.set(r.task, r));
    try {
      const result = await deps.interrupts.run((signal) =>
        cluster.train(spec, connection, {
          ...(options.outDir === undefined ? {} : { outDir: options.outDir }),
          signal,
          onRollback: ({ task, toStep }) => {
            const restart = restarts.get(task);
            restarts.delete(task);
            const cause = restart ? lostCause(restart) : 'was lost';
            say(rollbackLine(task, cause, toStep));
            card = { ...card, rollbacks: [...(card.rollbacks ?? []), { task, cause, toStep, time: Date.now() }] };
            series.rollBack(toStep);
            refresh();
          },
          onStep: (m) => {
            series.onStep(m);
            refresh();
          },
          onEpoch: (m) => {
            series.onEpoch(m);
            refresh();
          },
        }),
      );
      refresh();
      card = { ...card, state: 'done', step: Math.max(card.step, result.globalStep), modelPath: result.modelPath };
      live.finish(card);
      const final = result.final
        ? {
            loss: result.final.loss,
            metrics: result.final.metrics,
            ...(result.final.validation
              ? { validation: { loss: result.final.validation.loss, metrics: result.final.validation.metrics } }
              : {}),
          }
        : undefined;
      const summary: TrainSummary = { modelPath: result.modelPath, globalStep: result.globalStep, final, card };
      const validation = final?.validation
        ? `; validation ${Object.entries<number>({ loss: final.validation.loss, ...final.validation.metrics })
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ')}`
        : '';
      return withText(summary, `trained ${result.globalStep} steps${validation}; model at ${result.modelPath}`);
    } catch (err) {
      live.finish({ ...card, state: 'failed', elapsedMs: Date.now() - started, error: cardError(err) });
      throw err;
    } finally {
      giveBack();
      for (const r of restarts.values()) say(restartLine(r)); // replaced, but the job ended before rolling back
    }
  };
}
