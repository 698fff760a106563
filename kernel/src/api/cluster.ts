// `cluster` of the "petal" module (and `%cluster up|down|status`): one cluster per kernel over the runtime's
// startCluster(), a live ClusterCard while it starts, its tasks' log lines and failures written to the cell that is
// running when they happen (and kept for `%logs`), and a teardown entry in the kernel's resources.
import { PetalError, startCluster } from '@petal/runtime';
import type { Cluster, ClusterListener, ClusterStatus, PsMode } from '@petal/runtime';
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
      state: t.state,
      heartbeatAgeMs: Math.max(0, now - t.lastHeartbeat),
      ...(t.failure === undefined ? {} : { failure: t.failure }),
    })),
    ...(readyMs === undefined ? {} : { readyMs }),
    ...(status.failure ? { error: { message: status.failure } } : {}),
  };
}

export function createClusterApi(deps: ClusterApiDeps): KernelClusterApi {
  let current: { cluster: Cluster; readyMs: number; forget: () => void } | undefined;

  // Remote logs in the cell: what a task prints while a cell runs shows under that cell, prefixed by the task.
  const listener: ClusterListener = {
    onLog: (line) => {
      deps.logs.add(line);
      if (deps.output.executing()) deps.output.write('stderr', `[${line.task}] ${line.text}\n`);
    },
    onTaskFailed: (task) => {
      const text = `${task.id} failed: ${task.failure ?? 'unknown cause'}`;
      deps.logs.add({ task: task.id, stream: 'stderr', text, time: Date.now() });
      if (deps.output.executing()) deps.output.write('stderr', `[${task.id}] ${text}\n`);
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

    async up(options: ClusterUpOptions = {}): Promise<ClusterCard> {
      checkOptions('PETAL_CLUSTER_OPTIONS', 'cluster.up()', options, ['ps', 'workers', 'mode']);
      const ps = options.ps ?? 1;
      const workers = options.workers ?? 2;
      const mode = (options.mode ?? 'sync') as PsMode;
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
        cluster = await startCluster({ ...deps.startOptions, ps, workers, mode, listener });
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
        `cluster running: ${ps} PS, ${workers} workers, mode ${mode}, ready in ${(readyMs / 1000).toFixed(1)} s`,
      );
    },

    down,

    status(): ClusterCard {
      const cluster = running();
      return cardValue('cluster', clusterCard(cluster.status(), current?.readyMs));
    },
  };
}
