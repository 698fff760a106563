// A whole training run in this process: PS and workers as in-process servers and loops over real sockets and a
// real broker. Tests use it, and the coordinator will do the same steps with tasks in a pool: every worker gets
// only serializable WorkerOptions (plus callbacks), so moving one into its own process changes no logic.
import path from 'node:path';
import { feed } from '../feed/index.ts';
import type { KafkaConnection } from '../kafka/index.ts';
import { assignPartitions, toOptimizerConfig, validateJobSpec } from '../job/index.ts';
import type { JobSpec } from '../job/index.ts';
import { any, fn, optionsChecker, str } from '../options.ts';
import { exportModel, startParameterServer } from '../ps/index.ts';
import type { ParameterServer, PsStats, ShardPlan } from '../ps/index.ts';
import { isPetalError } from '../errors.ts';
import { createClusterToken } from '../transport/index.ts';
import { workerOptionsError } from './errors.ts';
import { prepareModel } from './prepare-model.ts';
import { runWorker } from './worker.ts';
import type { EpochMetrics, StepMetrics, WorkerResult } from './worker.ts';

/** Options of trainLocalCluster(). */
export interface LocalClusterOptions {
  /** A job spec (validated here). */
  spec: unknown;
  kafka: KafkaConnection;
  /** The model goes to `<outDir>/model`; checkpoints to job.checkpoint.dir or `<outDir>/checkpoints`. */
  outDir: string;
  /** Train partitions per worker (default: partition p to worker p mod workers). */
  assignments?: number[][];
  onStep?: (m: StepMetrics) => void;
  onEpoch?: (m: EpochMetrics) => void;
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
    { spec: any, kafka: any, outDir: str, assignments: any, onStep: fn, onEpoch: fn },
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
  const ids = assignments.map((_, i) => `worker-${i}`);
  const servers: ParameterServer[] = [];
  const controller = new AbortController();
  let finished = false;
  try {
    for (let i = 0; i < spec.ps; i++) {
      servers.push(
        await startParameterServer({
          token,
          plan,
          psIndex: i,
          optimizer: toOptimizerConfig(spec.compile.optimizer),
          mode: spec.mode,
          workers: ids,
          values,
        }),
      );
    }
    const checkpointDir = spec.checkpoint?.dir ?? path.join(options.outDir, 'checkpoints');
    if (spec.checkpoint) for (const ps of servers) void periodicCheckpoints(ps, spec.checkpoint, () => finished);

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
    finished = true;

    await Promise.all(servers.map((ps) => ps.checkpoint(checkpointDir, { keep: spec.checkpoint?.keep })));
    const modelPath = await exportModel({
      dir: checkpointDir,
      numPs: spec.ps,
      outDir: path.join(options.outDir, 'model'),
      modelTopology: spec.model.topology,
      order: variables.map((v) => v.name),
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
    finished = true;
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

async function periodicCheckpoints(
  ps: ParameterServer,
  options: NonNullable<JobSpec['checkpoint']>,
  done: () => boolean,
): Promise<void> {
  let next = options.everySteps;
  while (!done()) {
    try {
      // Resolves right after the update that makes the step `next`; never when the run ends first (then unused).
      await ps.checkpoint(options.dir, { atStep: next, keep: options.keep });
    } catch (e) {
      if (!isPetalError(e, 'PETAL_PS_CHECKPOINT_MISSED')) return;
    }
    next = (Math.floor(ps.globalStep / options.everySteps) + 1) * options.everySteps;
  }
}
