// A whole training run in this process: PS and workers as in-process servers and loops over real sockets and a
// real broker. Tests use it, and the coordinator will do the same steps with tasks in a pool: every worker gets
// only serializable WorkerOptions (plus callbacks), so moving one into its own process changes no logic.
// Periodic checkpoints are the PS's own (job.checkpoint); job.resume restores every PS from one step and starts
// each worker from its saved feed cursor.
import path from 'node:path';
import { feed } from '../feed/index.ts';
import type { KafkaConnection } from '../kafka/index.ts';
import { assignPartitions, toOptimizerConfig, validateJobSpec, workerResumes } from '../job/index.ts';
import type { JobSpec, WorkerResume } from '../job/index.ts';
import { abortSignal, any, fn, optionsChecker, str } from '../options.ts';
import { commonSteps, emaSlot, exportModel, startParameterServer } from '../ps/index.ts';
import type { ParameterServer, PsStats, ShardPlan } from '../ps/index.ts';
import { isPetalError } from '../errors.ts';
import { createClusterToken } from '../transport/index.ts';
import { WorkerError, workerOptionsError } from './errors.ts';
import { prepareModel } from './prepare-model.ts';
import { runWorker } from './worker.ts';
import type { EpochMetrics, StepMetrics, WorkerResult } from './worker.ts';

/** Options of trainLocalCluster(). */
export interface LocalClusterOptions {
  /** A job spec (validated here). */
  spec: unknown;
  kafka: KafkaConnection;
  /** The model goes to `<outDir>/model`; checkpoints to job.checkpoint.dir or `<outDir>/checkpoints`; TensorBoard events to job.tensorboardDir or `<outDir>/tensorboard`. */
  outDir: string;
  /** Train partitions per worker (default: partition p to worker p mod workers). */
  assignments?: number[][];
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (m: EpochMetrics) => void;
  /** Aborting stops every worker (the run then throws PETAL_WORKER_ABORTED); periodic checkpoints written stay. */
  signal?: AbortSignal;
}

/** What a run produced. */
export interface TrainResult {
  /** model.json of the trained model, loadable with tf.loadLayersModel('file://…'). */
  modelPath: string;
  globalStep: number;
  plan: ShardPlan;
  workers: WorkerResult[];
  /** The chief's last epoch (with validation when the job has a validation feed). */
  final: EpochMetrics | undefined;
  psStats: PsStats[];
}

const check = optionsChecker(workerOptionsError);

/** Plans shards, starts the PS, runs the workers to the end, exports the model. Stops everything on the first failure. */
export async function trainLocalCluster(options: LocalClusterOptions): Promise<TrainResult> {
  check(
    'trainLocalCluster options',
    options,
    { spec: any, kafka: any, outDir: str, assignments: any, onStep: fn, onEpoch: fn, signal: abortSignal },
    ['spec', 'kafka', 'outDir'],
  );
  const spec: JobSpec = validateJobSpec(options.spec);
  const { variables, values, plan } = await prepareModel(spec);
  const assignments = options.assignments ?? (await roundRobin(spec, options.kafka));
  if (assignments.length !== spec.workers) {
    throw workerOptionsError(
      `trainLocalCluster options.assignments has ${assignments.length} entries for ${spec.workers} workers`,
    );
  }

  const token = createClusterToken();
  const optimizer = toOptimizerConfig(spec.compile.optimizer);
  const ids = assignments.map((_, i) => `worker-${i}`);
  const servers: ParameterServer[] = [];
  const controller = new AbortController();
  const stop = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  const checkpointDir = spec.checkpoint?.dir ?? path.join(options.outDir, 'checkpoints');
  try {
    for (let i = 0; i < spec.ps; i++) {
      servers.push(
        await startParameterServer({
          token,
          plan,
          psIndex: i,
          optimizer,
          mode: spec.mode,
          workers: ids,
          values,
          ...(spec.checkpoint ? { checkpoints: spec.checkpoint } : {}),
        }),
      );
    }
    const resumes = spec.resume ? await restoreAll(spec, servers, ids) : undefined;

    const endpoints = servers.map((s) => ({ host: s.host, port: s.port }));
    const runs = assignments.map((partitions, index) =>
      runWorker({
        spec,
        index,
        id: ids[index],
        ps: endpoints,
        token,
        plan,
        kafka: options.kafka,
        partitions,
        ...(resumes ? { resume: resumes[index] } : {}),
        tensorboardDir: spec.tensorboardDir ?? path.join(options.outDir, 'tensorboard'),
        onStep: options.onStep,
        onEpoch: options.onEpoch,
        signal: controller.signal,
      }).catch((e: unknown) => {
        // One worker down would hold the others at the next barrier: stop them all, report the first cause.
        controller.abort(e);
        throw e;
      }),
    );
    const settled = await Promise.allSettled(runs);
    const failure = settled.find((s) => s.status === 'rejected' && !isPetalError(s.reason, 'PETAL_WORKER_ABORTED'));
    const anyFailure = failure ?? settled.find((s) => s.status === 'rejected');
    if (anyFailure) throw (anyFailure as PromiseRejectedResult).reason;
    const workers = settled.map((s) => (s as PromiseFulfilledResult<WorkerResult>).value);

    await Promise.all(servers.map((ps) => ps.checkpoint(checkpointDir, { keep: spec.checkpoint?.keep })));
    const modelPath = await exportModel({
      dir: checkpointDir,
      numPs: spec.ps,
      outDir: path.join(options.outDir, 'model'),
      modelTopology: spec.model.topology,
      order: variables.map((v) => v.name),
      slot: emaSlot(optimizer),
    });
    return {
      modelPath,
      globalStep: servers[0]!.globalStep,
      plan,
      workers,
      final: workers[0]?.epochs.at(-1),
      psStats: servers.map((s) => structuredClone(s.stats)),
    };
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await Promise.allSettled(servers.map((s) => s.close()));
  }
}

async function roundRobin(spec: JobSpec, kafka: KafkaConnection): Promise<number[][]> {
  const f = feed({ connection: kafka, topic: spec.feeds.train.topic, batchSize: spec.batchSize });
  try {
    const { partitions } = await f.meta();
    return assignPartitions(partitions, spec.workers, spec.feeds.train.topic);
  } finally {
    await f.close();
  }
}

/** Restores every PS from the newest step all of them saved (or job.resume.step); each worker's start. */
async function restoreAll(spec: JobSpec, servers: ParameterServer[], ids: string[]): Promise<WorkerResume[]> {
  const { dir, step: wanted } = spec.resume!;
  const step = wanted ?? (await commonSteps(dir, spec.ps)).at(-1);
  const restored = step === undefined ? [] : await Promise.all(servers.map((ps) => ps.restore(dir, step)));
  const first = restored[0];
  if (step === undefined || !first || restored.some((r) => !r)) {
    throw new WorkerError(
      'PETAL_WORKER_RESUME',
      `no checkpoint ${step ?? ''} saved by all ${spec.ps} PS under ${dir}`,
      {
        detail: { dir, step },
        fix: 'resume from job.checkpoint.dir of a run with the same number of PS (or drop job.resume.step)',
      },
    );
  }
  return workerResumes(first.globalStep, first.feedPositions, ids);
}
