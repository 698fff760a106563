// One job on a running cluster, as trainLocalCluster() does it in-process, with tasks in their own processes:
// check the job against the cluster and its data, have the chief build the model and plan shards, hand each PS its
// shards and each worker its runWorker options, stream metrics, checkpoint every PS at the end and export the model.
// job.checkpoint makes every PS checkpoint on its own every N steps (with the workers' feed cursors); job.resume
// has every PS restore one step before serving, and each worker start from its saved cursor.
//
// Failover (sync, async and SSP alike): when the cluster replaces a lost worker, the job rolls back as a whole to the
// newest checkpoint every PS wrote in this job (or to its own start: initial values, or job.resume) — every PS
// restores values, slots and step, every worker resumes its partitions from that checkpoint's cursors. We chose this
// over re-reading only the lost worker's rows: in sync mode the survivors' updates after the checkpoint already mixed
// in the lost worker's gradients, so only a rollback leaves a timeline in which every row counts once per epoch.
import path from 'node:path';
import { stateDir as defaultStateDir } from '../env/locations.ts';
import { feed } from '../feed/index.ts';
import { assignPartitions, toOptimizerConfig, validateJobSpec, workerResumes } from '../job/index.ts';
import type { JobSpec, WorkerResume } from '../job/index.ts';
import type { KafkaConnection } from '../kafka/index.ts';
import type { LogLine } from '../pool/index.ts';
import { commonSteps, emaSlot, exportModel } from '../ps/index.ts';
import type { PsMode, PsStats, ShardPlan } from '../ps/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { TensorPayload } from '../protocol/index.ts';
import type { Connection } from '../transport/index.ts';
import type { EpochMetrics, StepMetrics, TrainResult, WorkerResult } from '../worker/index.ts';
import { abortSignal, fn, str } from '../options.ts';
import { attemptOutcome, newestCommon, survive } from './attempts.ts';
import { CoordinatorError, checkOptions, taskError } from './errors.ts';
import type { TaskInfo } from './registry.ts';

/** Options of cluster.train(). */
export interface ClusterTrainOptions {
  /** The model goes to `<outDir>/model`, checkpoints to job.checkpoint.dir or `<outDir>/checkpoints`, TensorBoard events to job.tensorboardDir or `<outDir>/tensorboard` (default: `<stateDir>/runs/run-<time>`). */
  outDir?: string;
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (m: EpochMetrics) => void;
  /** Every task's log lines while the job runs. */
  onLog?: (line: LogLine) => void;
  /** A lost worker was replaced and the whole job goes back to `toStep` (see ClusterTrainResult.rollbacks). */
  onRollback?: (rollback: { task: string; toStep: number }) => void;
  /**
   * Aborting stops the job: every PS ends it and every worker's run of it has ended before train() rejects with
   * PETAL_TRAIN_ABORTED. The cluster stays up for the next job.
   */
  signal?: AbortSignal;
}

/** What a job produced: trainLocalCluster's result, plus the train partitions each worker read and its rollbacks. */
export interface ClusterTrainResult extends TrainResult {
  assignments: number[][];
  /** One entry per lost worker: the global step the whole job went back to (0 or job.resume's step: its start). */
  rollbacks: { task: string; toStep: number }[];
}

/** What runJob needs from the cluster controller. */
export interface JobContext {
  ps: number;
  workers: number;
  mode: PsMode;
  /** The cluster's generation now (every restart bumps it). */
  generation: () => number;
  stateDir: string | undefined;
  task: (id: string) => { info: TaskInfo; connection: Connection };
  /** Rejects when the cluster fails (a PS died, or a worker past the restart budget) while the job runs. */
  failed: Promise<never>;
  /** Resolves with the task when the cluster decides to replace a lost worker, at once if it did since `generation`. */
  lost: (generation: number) => Promise<string>;
  /** Resolves once the cluster is running again (every replacement up); rejects when it failed or stopped. */
  whenRunning: () => Promise<void>;
  /** How long a worker's dropped link may take to become the cluster's verdict (a restart or a failure). */
  verdictMs: number;
  setMetricsSink: (sink: (m: { kind: 'step' | 'epoch'; metrics: unknown }) => void) => void;
  subscribeLogs: (listener: (line: LogLine) => void) => () => void;
  checkpointing: (on: boolean) => void;
}

/** Where an attempt starts: a checkpoint step under a dir, or (undefined) the initial values. */
type StartPoint = { dir: string; step: number } | undefined;

const LONG_MS = 2 ** 31 - 1; // a worker's job answers when training ends
const PREPARE_MS = 10 * 60_000;

/** Runs one job on the cluster; throws naming the task and cause when it fails, after ending every PS's job. */
export async function runJob(
  ctx: JobContext,
  rawSpec: unknown,
  kafka: KafkaConnection,
  options: ClusterTrainOptions,
): Promise<ClusterTrainResult> {
  checkOptions('train options', options, {
    outDir: str,
    onStep: fn,
    onEpoch: fn,
    onLog: fn,
    onRollback: fn,
    signal: abortSignal,
  });
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
  const stopped = whenAborted(options.signal);
  const race = <T>(p: Promise<T>): Promise<T> => Promise.race([p, ctx.failed, stopped.promise]);
  const assignments = await race(trainPartitions(kafka, spec.feeds.train.topic))
    .then((partitions) => assignPartitions(partitions, spec.workers, spec.feeds.train.topic))
    .catch((e: unknown) => {
      stopped.dispose();
      throw e;
    });
  const outDir = options.outDir ?? path.join(ctx.stateDir ?? defaultStateDir(), 'runs', `run-${Date.now()}`);
  const unsubscribe = options.onLog ? ctx.subscribeLogs(options.onLog) : undefined;
  ctx.setMetricsSink((m) => {
    if (m.kind === 'step') options.onStep?.(m.metrics as StepMetrics);
    else options.onEpoch?.(m.metrics as EpochMetrics);
  });
  const psIds = Array.from({ length: spec.ps }, (_, i) => `ps:${i}`);
  // The steps each PS checkpointed periodically in this job: the only ones a rollback may restore.
  const written = psIds.map(() => new Set<number>());
  let ending: Promise<unknown> | undefined = Promise.resolve();
  // The workers' runs of the current attempt: an aborted job ends only once they have.
  let runs: Promise<WorkerResult>[] = [];
  const endPs = (): Promise<unknown> =>
    (ending ??= Promise.all(
      psIds.map((id, i) =>
        Promise.resolve()
          .then(() => ctx.task(id).connection.request({ type: MessageType.psEndJob }, { timeoutMs: 10_000 }))
          .then((r) => {
            for (const step of (r.meta as { checkpointed?: number[] }).checkpointed ?? []) written[i]!.add(step);
          })
          .catch(() => undefined),
      ),
    ));
  try {
    const { plan, names, values } = await race(survive(ctx, () => prepare(ctx, spec)));
    const optimizer = toOptimizerConfig(spec.compile.optimizer);
    const ids = assignments.map((_, i) => `worker-${i}`);
    const start: StartPoint = spec.resume
      ? { dir: spec.resume.dir, step: await resumeStep(spec.resume, spec.ps) }
      : undefined;
    const tensorboardDir = spec.tensorboardDir ?? path.join(outDir, 'tensorboard');
    const rollbacks: ClusterTrainResult['rollbacks'] = [];
    let from = start;
    let workers: WorkerResult[];
    for (;;) {
      const generation = ctx.generation();
      const lost = ctx.lost(generation);
      ending = undefined;
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
                  generation,
                  ...(spec.checkpoint ? { checkpoints: spec.checkpoint } : {}),
                  ...(from ? { resume: from } : {}),
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
      const endpoints = psIds.map((id) => {
        const { host, port, socketPath, machine } = ctx.task(id).info;
        return { host, port: port!, ...(socketPath === undefined ? {} : { socketPath, machine }) };
      });
      runs = assignments.map((partitions, index) =>
        Promise.resolve()
          .then(() =>
            ctx.task(`worker:${index}`).connection.request(
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
                  generation,
                  tensorboardDir,
                  ...(resumes ? { resume: resumes[index] } : {}),
                },
              },
              { timeoutMs: LONG_MS },
            ),
          )
          .then((r) => r.meta as WorkerResult),
      );
      const outcome = await race(attemptOutcome(ctx, runs, lost, endPs));
      if (outcome.kind === 'done') {
        workers = outcome.workers;
        break;
      }
      await endPs();
      await race(ctx.whenRunning());
      const newest = spec.checkpoint ? newestCommon(written) : undefined;
      from = newest === undefined ? start : { dir: spec.checkpoint!.dir, step: newest };
      const rollback = { task: outcome.task, toStep: from?.step ?? 0 };
      rollbacks.push(rollback);
      options.onRollback?.({ ...rollback });
    }

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
      step: saved[0]!.globalStep, // not the newest step in the dir: an earlier job's may be newer
      slot: emaSlot(optimizer),
    });
    return {
      modelPath,
      globalStep: saved[0]!.globalStep,
      plan,
      workers,
      final: workers[0]?.epochs.at(-1),
      psStats: saved.map((s) => s.stats),
      assignments,
      rollbacks,
    };
  } finally {
    await endPs();
    // Ending the PS jobs ends the workers' runs (their next pull or push fails); the next job must not meet them.
    if (stopped.signal?.aborted) await Promise.race([Promise.allSettled(runs), ctx.failed]).catch(() => undefined);
    stopped.dispose();
    ctx.setMetricsSink(() => {});
    unsubscribe?.();
  }
}

/** A promise that rejects with PETAL_TRAIN_ABORTED when `signal` aborts (never without one), and its cleanup. */
function whenAborted(signal: AbortSignal | undefined): {
  promise: Promise<never>;
  signal: AbortSignal | undefined;
  dispose: () => void;
} {
  let onAbort = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () =>
      reject(
        new CoordinatorError('PETAL_TRAIN_ABORTED', 'the training job was stopped (train options.signal aborted)', {
          cause: signal?.reason,
          fix: 'the cluster is still up: train again (with job.checkpoint, job.resume = { dir: job.checkpoint.dir } goes on from the newest checkpoint)',
        }),
      );
  });
  promise.catch(() => {});
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return { promise, signal, dispose: () => signal?.removeEventListener('abort', onAbort) };
}

/** The chief builds the model: the shard plan, the variable order and the initial values. */
async function prepare(
  ctx: JobContext,
  spec: JobSpec,
): Promise<{ plan: ShardPlan; names: string[]; values: TensorPayload[] }> {
  const prepared = await ctx
    .task('worker:0')
    .connection.request({ type: MessageType.prepareJob, meta: { spec } }, { timeoutMs: PREPARE_MS })
    .catch((e: unknown) => {
      throw taskError('worker:0', 'could not build the model', e);
    });
  const { plan, names } = prepared.meta as { plan: ShardPlan; names: string[] };
  // The tensors view the receive buffer: copy them, they travel on to every PS (again on every rollback).
  const values: TensorPayload[] = prepared.tensors.map((t) => ({
    dtype: 'float32',
    shape: [...t.shape],
    data: new Float32Array(t.data as Float32Array),
  }));
  prepared.release?.();
  return { plan, names, values };
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
