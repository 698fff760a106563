// One job on a running cluster, as trainLocalCluster() does it in-process, with tasks in their own processes:
// check the job against the cluster and its data, have the chief build the model and plan shards, hand each PS its
// shards and each worker its runWorker options, stream metrics, checkpoint every PS at the end and export the model.
// job.checkpoint makes every PS checkpoint on its own every N steps (with the workers' feed cursors); job.resume
// has every PS restore one step before serving, and each worker start from its saved cursor.
import path from 'node:path';
import { isPetalError } from '../errors.ts';
import { stateDir as defaultStateDir } from '../env/locations.ts';
import { feed } from '../feed/index.ts';
import { assignPartitions, toOptimizerConfig, validateJobSpec, workerResumes } from '../job/index.ts';
import type { WorkerResume } from '../job/index.ts';
import type { KafkaConnection } from '../kafka/index.ts';
import type { LogLine } from '../pool/index.ts';
import { commonSteps, exportModel } from '../ps/index.ts';
import type { PsMode, PsStats, ShardPlan } from '../ps/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { TensorPayload } from '../protocol/index.ts';
import type { Connection } from '../transport/index.ts';
import type { EpochMetrics, StepMetrics, TrainResult, WorkerResult } from '../worker/index.ts';
import { fn, str } from '../options.ts';
import { CoordinatorError, checkOptions } from './errors.ts';
import type { TaskInfo } from './registry.ts';

/** Options of cluster.train(). */
export interface ClusterTrainOptions {
  /** The model goes to `<outDir>/model`, checkpoints to job.checkpoint.dir or `<outDir>/checkpoints`, TensorBoard events to job.tensorboardDir or `<outDir>/tensorboard` (default: `<stateDir>/runs/run-<time>`). */
  outDir?: string;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (m: EpochMetrics) => void;
  /** Every task's log lines while the job runs. */
  onLog?: (line: LogLine) => void;
}

/** What a job produced: trainLocalCluster's result, plus the train partitions each worker read. */
export interface ClusterTrainResult extends TrainResult {
  assignments: number[][];
}

/** What runJob needs from the cluster controller. */
export interface JobContext {
  ps: number;
  workers: number;
  mode: PsMode;
  generation: number;
  stateDir: string | undefined;
  task: (id: string) => { info: TaskInfo; connection: Connection };
  /** Rejects when the cluster fails (a task died or fell silent) while the job runs. */
  failed: Promise<never>;
  setMetricsSink: (sink: (m: { kind: 'step' | 'epoch'; metrics: unknown }) => void) => void;
  subscribeLogs: (listener: (line: LogLine) => void) => () => void;
  checkpointing: (on: boolean) => void;
}

const LONG_MS = 2 ** 31 - 1; // a worker's job answers when training ends
const PREPARE_MS = 10 * 60_000;

/** Runs one job on the cluster; throws naming the task and cause when it fails, after ending every PS's job. */
export async function runJob(
  ctx: JobContext,
  rawSpec: unknown,
  kafka: KafkaConnection,
  options: ClusterTrainOptions,
): Promise<ClusterTrainResult> {
  checkOptions('train options', options, { outDir: str, onStep: fn, onEpoch: fn, onLog: fn });
  const spec = validateJobSpec(rawSpec);
  if (spec.ps !== ctx.ps || spec.workers !== ctx.workers || spec.mode !== ctx.mode) {
    throw new CoordinatorError(
      'PETAL_JOB_CLUSTER',
      `the job asks for ${spec.ps} PS, ${spec.workers} workers, mode ${spec.mode}; the cluster has ${ctx.ps} PS, ${ctx.workers} workers, mode ${ctx.mode}`,
      {
        fix: `set job.ps = ${ctx.ps}, job.workers = ${ctx.workers}, job.mode = "${ctx.mode}", or start a cluster of the job's size`,
      },
    );
  }
  const race = <T>(p: Promise<T>): Promise<T> => Promise.race([p, ctx.failed]);
  const assignments = assignPartitions(
    await race(trainPartitions(kafka, spec.feeds.train.topic)),
    spec.workers,
    spec.feeds.train.topic,
  );
  const outDir = options.outDir ?? path.join(ctx.stateDir ?? defaultStateDir(), 'runs', `run-${Date.now()}`);
  const unsubscribe = options.onLog ? ctx.subscribeLogs(options.onLog) : undefined;
  ctx.setMetricsSink((m) => {
    if (m.kind === 'step') options.onStep?.(m.metrics as StepMetrics);
    else options.onEpoch?.(m.metrics as EpochMetrics);
  });
  const psIds = Array.from({ length: spec.ps }, (_, i) => `ps:${i}`);
  let psJobs = false;
  const endPs = async (): Promise<(PsStats | undefined)[]> => {
    if (!psJobs) return [];
    psJobs = false;
    return Promise.all(
      psIds.map((id) =>
        ctx
          .task(id)
          .connection.request({ type: MessageType.psEndJob }, { timeoutMs: 10_000 })
          .then((r) => (r.meta as { stats?: PsStats }).stats)
          .catch(() => undefined),
      ),
    );
  };
  try {
    const prepared = await race(
      ctx
        .task('worker:0')
        .connection.request({ type: MessageType.prepareJob, meta: { spec } }, { timeoutMs: PREPARE_MS }),
    ).catch((e: unknown) => {
      throw taskError('worker:0', 'could not build the model', e);
    });
    const { plan, names } = prepared.meta as { plan: ShardPlan; names: string[] };
    // The tensors view the receive buffer: copy them, they travel on to every PS.
    const values: TensorPayload[] = prepared.tensors.map((t) => ({
      dtype: 'float32',
      shape: [...t.shape],
      data: new Float32Array(t.data as Float32Array),
    }));
    prepared.release?.();

    psJobs = true;
    const optimizer = toOptimizerConfig(spec.compile.optimizer);
    const ids = assignments.map((_, i) => `worker-${i}`);
    const resume = spec.resume ? { dir: spec.resume.dir, step: await resumeStep(spec.resume, spec.ps) } : undefined;
    const started = await race(
      Promise.all(
        psIds.map((id) =>
          ctx
            .task(id)
            .connection.request({
              type: MessageType.psJob,
              meta: {
                plan,
                optimizer,
                mode: spec.mode,
                workers: ids,
                names,
                ...(spec.checkpoint ? { checkpoints: spec.checkpoint } : {}),
                ...(resume ? { resume } : {}),
              },
              tensors: values,
            })
            .catch((e: unknown) => {
              throw taskError(id, 'could not take its shards', e);
            }),
        ),
      ),
    );
    const restored = (started[0]?.meta as { restored?: { globalStep: number; feedPositions: unknown } }).restored;
    const resumes: WorkerResume[] | undefined = restored
      ? workerResumes(restored.globalStep, restored.feedPositions, ids)
      : undefined;
    const tensorboardDir = spec.tensorboardDir ?? path.join(outDir, 'tensorboard');
    const endpoints = psIds.map((id) => {
      const { host, port } = ctx.task(id).info;
      return { host, port: port! };
    });

    let first: Error | undefined;
    const runs = assignments.map((partitions, index) => {
      const id = `worker:${index}`;
      return ctx
        .task(id)
        .connection.request(
          {
            type: MessageType.workerJob,
            meta: {
              spec,
              index,
              id: ids[index],
              ps: endpoints,
              plan,
              kafka,
              partitions,
              generation: ctx.generation,
              tensorboardDir,
              ...(resumes ? { resume: resumes[index] } : {}),
            },
          },
          { timeoutMs: LONG_MS },
        )
        .then((r) => r.meta as WorkerResult)
        .catch((e: unknown) => {
          // One worker down would hold the others at the next barrier: ending the PS jobs releases them.
          first ??= taskError(id, 'failed', e);
          void endPs();
          throw e;
        });
    });
    const settled = await race(Promise.allSettled(runs));
    if (first) throw first;
    const workers = settled.map((s) => (s as PromiseFulfilledResult<WorkerResult>).value);

    ctx.checkpointing(true);
    const checkpointDir = spec.checkpoint?.dir ?? path.join(outDir, 'checkpoints');
    const saved = await race(
      Promise.all(
        psIds.map((id) =>
          ctx
            .task(id)
            .connection.request({
              type: MessageType.psCheckpoint,
              meta: { dir: checkpointDir, ...(spec.checkpoint?.keep ? { keep: spec.checkpoint.keep } : {}) },
            })
            .then((r) => r.meta as { globalStep: number; stats: PsStats }),
        ),
      ),
    ).finally(() => ctx.checkpointing(false));
    const modelPath = await exportModel({
      dir: checkpointDir,
      numPs: spec.ps,
      outDir: path.join(outDir, 'model'),
      modelTopology: spec.model.topology,
      order: names,
    });
    return {
      modelPath,
      globalStep: saved[0]!.globalStep,
      plan,
      workers,
      final: workers[0]?.epochs.at(-1),
      psStats: saved.map((s) => s.stats),
      assignments,
    };
  } finally {
    await endPs();
    ctx.setMetricsSink(() => {});
    unsubscribe?.();
  }
}

/** job.resume.step, or the newest step every PS checkpointed. Throws PETAL_TRAIN_RESUME when there is none. */
async function resumeStep(resume: { dir: string; step?: number }, numPs: number): Promise<number> {
  const steps = await commonSteps(resume.dir, numPs);
  const step = resume.step ?? steps.at(-1);
  if (step === undefined || !steps.includes(step)) {
    throw new CoordinatorError(
      'PETAL_TRAIN_RESUME',
      `no checkpoint ${step ?? ''} saved by all ${numPs} PS under ${resume.dir}`,
      {
        detail: { dir: resume.dir, step },
        fix: 'resume from job.checkpoint.dir of a run with the same number of PS (or drop job.resume.step)',
      },
    );
  }
  return step;
}

async function trainPartitions(kafka: KafkaConnection, topic: string): Promise<number> {
  const f = feed({ connection: kafka, topic, batchSize: 1 });
  try {
    return (await f.meta()).partitions;
  } finally {
    await f.close();
  }
}

function taskError(task: string, what: string, cause: unknown): CoordinatorError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new CoordinatorError('PETAL_TRAIN_FAILED', `${task} ${what}: ${message}`, {
    cause,
    fix: isPetalError(cause) && cause.fix ? cause.fix : `read ${task}'s log lines for the cause`,
    detail: { task, code: isPetalError(cause) ? cause.code : undefined },
  });
}
