// `cluster` of the "petal" module (and `%cluster up|down|status`): one cluster per kernel over the runtime's
// startCluster(), a live ClusterCard while it starts, its tasks' log lines, failures and restarts written to the cell
// that is running when they happen (and kept for `%logs`), and a teardown entry in the kernel's resources. A job
// running takes the restart events over (train.ts), to name the step it rolls back to in the same line.
import { PetalError, restartLine, startCluster } from '@petal/runtime';
import type { Cluster, ClusterListener, ClusterStatus, PsMode, TaskRestart } from '@petal/runtime';
import { withText } from '../display.ts';
import type { LiveOutputs } from '../live/live-outputs.ts';
import { cardValue } from '../outputs/card-bundle.ts';
import type { ClusterCard } from '../outputs/types.ts';
import type { OutputSink } from './create-api.ts';
import { cardError, checkOptions } from './check-options.ts';
import type { TaskLogs } from './task-logs.ts';
import type { ClusterApi, ClusterUpOptions } from './types.ts';
import type { Resources } from '../resources.ts';

/** The advice every "no cluster" error gives. */
export const CLUSTER_UP_FIX = 'run %cluster up --ps 1 --workers 2 (or cluster.up({ ps: 1, workers: 2 }))';

/** What the cluster API needs from the kernel. */
export interface ClusterApiDeps {
  resources: Resources;
  live: LiveOutputs;
  output: OutputSink;
  logs: TaskLogs;
  /** For tests and tools: passed on to startCluster (task entries, heartbeats). */
  startOptions?: { heartbeatMs?: number; heartbeatTimeoutMs?: number; deadlineMs?: number };
}

/** The public ClusterApi plus what train() needs. */
export interface KernelClusterApi extends ClusterApi {
  /** The running cluster; throws PETAL_CLUSTER_DOWN naming `%cluster up` when there is none. */
  running(): Cluster;
  /** While a job runs, its restart events go to `sink` instead of a line of their own; returns the undo. */
  takeRestarts(sink: (restart: TaskRestart) => void): () => void;
}

/** The panel's view of a cluster status. */
export function clusterCard(status: ClusterStatus, readyMs?: number): ClusterCard {
  const now = Date.now();
  return {
    version: 1,
    state: status.state,
    generation: status.generation,
    mode: status.mode,
    pool: 'local',
    coordinator: status.coordinator,
    tasks: status.tasks.map((t) => ({
      id: t.id,
      role: t.role,
      index: t.index,
      host: t.host,
      ...(t.port === undefined ? {} : { port: t.port }),
      pid: t.pid,
      devices: t.devices,
      // The registry keeps a stopped cluster's tasks as they last were; a task that was up is now stopped.
      state: status.state === 'stopped' && t.state === 'up' ? 'stopped' : t.state,
      heartbeatAgeMs: Math.max(0, now - t.lastHeartbeat),
      ...(t.failure === undefined ? {} : { failure: t.failure }),
      restarts: t.restarts,
    })),
    ...(readyMs === undefined ? {} : { readyMs }),
    restarts: status.restarts,
    maxRestarts: status.maxRestarts,
    ...(status.failure ? { error: { message: status.failure } } : {}),
  };
}

/** What libtensorflow prints on stderr whenever it loads (absl's preamble, oneDNN's notice): kept for `%logs`, kept
 * out of the cell, where every worker would repeat it. TF_CPP_MIN_LOG_LEVEL does not silence these. */
const LOAD_BANNER =
  /^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|I0000 .*port\.cc:\d+\] oneDNN custom operations are on)/;

export function createClusterApi(deps: ClusterApiDeps): KernelClusterApi {
  let current: { cluster: Cluster; readyMs: number; forget: () => void } | undefined;
  let restartSink: ((restart: TaskRestart) => void) | undefined;
  const say = (task: string, text: string): void => {
    deps.logs.add({ task, stream: 'stderr', text, time: Date.now() });
    if (deps.output.executing()) deps.output.write('stderr', `[${task}] ${text}\n`);
  };

  // Remote logs in the cell: what a task prints while a cell runs shows under that cell, prefixed by the task.
  const listener: ClusterListener = {
    onLog: (line) => {
      deps.logs.add(line);
      if (deps.output.executing() && !LOAD_BANNER.test(line.text))
        deps.output.write('stderr', `[${line.task}] ${line.text}\n`);
    },
    onTaskFailed: (task) => say(task.id, `${task.id} failed: ${task.failure ?? 'unknown cause'}`),
    onRestart: (restart) => {
      if (restartSink) restartSink(restart);
      else say(restart.task, restartLine(restart));
    },
  };

  const running = (): Cluster => {
    const cluster = current?.cluster;
    if (!cluster || cluster.state === 'stopped' || cluster.state === 'stopping')
      throw new PetalError('PETAL_CLUSTER_DOWN', 'no cluster is up in this kernel', { fix: CLUSTER_UP_FIX });
    return cluster;
  };

  const down = async (): Promise<ClusterCard | undefined> => {
    if (!current) return undefined;
    const { cluster, readyMs, forget } = current;
    current = undefined;
    await cluster.stop();
    forget();
    return cardValue('cluster', clusterCard(cluster.status(), readyMs));
  };

  return {
    running,

    takeRestarts(sink) {
      restartSink = sink;
      return () => {
        if (restartSink === sink) restartSink = undefined;
      };
    },

    async up(options: ClusterUpOptions = {}): Promise<ClusterCard> {
      checkOptions('PETAL_CLUSTER_OPTIONS', 'cluster.up()', options, ['ps', 'workers', 'mode', 'maxRestarts']);
      const ps = options.ps ?? 1;
      const workers = options.workers ?? 2;
      const mode = (options.mode ?? 'sync') as PsMode;
      const { maxRestarts } = options;
      if (maxRestarts !== undefined && !(Number.isInteger(maxRestarts) && maxRestarts >= 0 && maxRestarts <= 1000))
        throw new PetalError(
          'PETAL_CLUSTER_OPTIONS',
          `cluster.up() option "maxRestarts" must be an integer from 0 to 1000, not ${String(maxRestarts)}`,
          { fix: 'cluster.up({ maxRestarts: 3 }) (0: a failed worker fails the cluster at once)' },
        );
      if (current && current.cluster.state !== 'failed' && current.cluster.state !== 'stopped') {
        const st = current.cluster.status();
        throw new PetalError(
          'PETAL_CLUSTER_UP',
          `a cluster is already up in this kernel (${st.ps} PS, ${st.workers} workers, mode ${st.mode})`,
          { fix: 'use it, or run %cluster down first' },
        );
      }
      await down(); // a failed one: its processes are gone, its teardown entry goes too
      deps.logs.clear();
      const started = Date.now();
      const starting: ClusterCard = {
        version: 1,
        state: 'starting',
        generation: 0,
        mode,
        pool: 'local',
        coordinator: { host: '', port: 0 },
        tasks: [],
      };
      const live = deps.live.start('cluster', starting);
      let cluster: Cluster;
      try {
        cluster = await startCluster({
          ...deps.startOptions,
          ps,
          workers,
          mode,
          ...(maxRestarts === undefined ? {} : { maxRestarts }),
          listener,
        });
      } catch (err) {
        live.finish({ ...starting, state: 'failed', error: cardError(err) });
        throw err;
      }
      const readyMs = Date.now() - started;
      const forget = deps.resources.add({
        name: `cluster (${ps} PS, ${workers} workers)`,
        stop: () => cluster.stop(),
      });
      current = { cluster, readyMs, forget };
      const card = clusterCard(cluster.status(), readyMs);
      live.finish(card);
      return withText(
        card,
        `cluster running: ${ps} PS, ${workers} workers, mode ${mode}, up to ${card.maxRestarts} worker restarts, ready in ${(readyMs / 1000).toFixed(1)} s`,
      );
    },

    down,

    status(): ClusterCard {
      const cluster = running();
      return cardValue('cluster', clusterCard(cluster.status(), current?.readyMs));
    },
  };
}
