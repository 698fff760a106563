// The coordinator, in the process that owns the cluster (the CLI's supervisor, later the kernel): launches every
// task all-or-nothing, keeps the registry and heartbeats, stamps its generation on every message, streams task logs
// and metrics to subscribers, runs jobs (train-job.ts) and tears everything down. The controller is a state plus
// step(event): decide() (states.ts) says what an event means, step() does what it says.
import { fileURLToPath } from 'node:url';
import { LOOPBACK } from '../net/loopback.ts';
import { LocalPool, launchAll } from '../pool/index.ts';
import type { LogLine, Pool, TaskHandle, TaskRegistration, TaskSpec } from '../pool/index.ts';
import type { PsMode } from '../ps/index.ts';
import { MessageType } from '../protocol/index.ts';
import { createClusterToken, listen } from '../transport/index.ts';
import type { Connection, Handler, PetalServer } from '../transport/index.ts';
import type { EpochMetrics, StepMetrics } from '../worker/index.ts';
import { CoordinatorError, checkOptions } from './errors.ts';
import { TaskRegistry } from './registry.ts';
import type { TaskInfo } from './registry.ts';
import { decide } from './states.ts';
import type { ClusterAction, ClusterEvent, ClusterState } from './states.ts';
import { runJob } from './train-job.ts';
import type { ClusterTrainOptions, ClusterTrainResult } from './train-job.ts';
import type { KafkaConnection } from '../kafka/index.ts';
import { int, str } from '../options.ts';

/** Options of startCluster(). */
export interface StartClusterOptions {
  ps: number;
  workers: number;
  /** How the PS apply updates (default `sync`); every job on this cluster runs in it. */
  mode?: PsMode;
  /** Where tasks run (default: a LocalPool owned by the cluster and closed by stop()). */
  pool?: Pool;
  /** Where runs write models and checkpoints when a job names no outDir (default: stateDir()). */
  stateDir?: string;
  /** Every task must be up within this many ms of the call (default 30000). */
  deadlineMs?: number;
  /** Heartbeat period of every task (default 500 ms). */
  heartbeatMs?: number;
  /** A task silent this long is failed (default 5000 ms). */
  heartbeatTimeoutMs?: number;
  /** Task entry files (default: the built-in ps-task.ts and worker-task.ts); for tools and tests. */
  entries?: { ps?: string; worker?: string };
  /** Aborting fails the start and stops every task. */
  signal?: AbortSignal;
  /** Subscribed before anything starts, so it hears every task's first log lines (and a failed start's). */
  listener?: ClusterListener;
}

/** Metrics from a worker, as streamed to subscribers. */
export type ClusterMetrics = { kind: 'step'; metrics: StepMetrics } | { kind: 'epoch'; metrics: EpochMetrics };

/** What subscribers hear. Every callback is optional; one throwing does not silence the others. */
export interface ClusterListener {
  /** Each task's stdout/stderr line, tagged with the task (`worker:1`). */
  onLog?: (line: LogLine) => void;
  onState?: (state: ClusterState, failure?: Error) => void;
  onMetrics?: (m: ClusterMetrics) => void;
  onTaskFailed?: (task: TaskInfo) => void;
}

/** A snapshot for `petal cluster status` and the cluster panel. */
export interface ClusterStatus {
  state: ClusterState;
  generation: number;
  mode: PsMode;
  ps: number;
  workers: number;
  coordinator: { host: string; port: number };
  tasks: TaskInfo[];
  failure?: string;
}

/** A running cluster. */
export interface Cluster {
  readonly generation: number;
  readonly state: ClusterState;
  status(): ClusterStatus;
  subscribe(listener: ClusterListener): () => void;
  /** Runs a job to the end on this cluster (one at a time); see ClusterTrainOptions. */
  train(spec: unknown, kafka: KafkaConnection, options?: ClusterTrainOptions): Promise<ClusterTrainResult>;
  /** Stops every task and the coordinator; resolves once every process is gone. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the cluster has stopped or failed and its tasks are gone, with the final status. */
  readonly ended: Promise<ClusterStatus>;
}

const DEFAULT_ENTRIES = {
  ps: fileURLToPath(new URL('../ps/ps-task.ts', import.meta.url)),
  worker: fileURLToPath(new URL('../worker/worker-task.ts', import.meta.url)),
};

const schema = {
  ps: int(1, 1024),
  workers: int(1, 4095),
  mode: (v: unknown) =>
    v === 'sync' || v === 'async' || (typeof v === 'string' && /^ssp:\d{1,6}$/.test(v))
      ? undefined
      : 'must be "sync", "async" or "ssp:K" with K an integer ≥ 0',
  pool: (v: unknown) =>
    typeof (v as Pool | undefined)?.launch === 'function' ? undefined : 'must be a Pool (LocalPool, …)',
  stateDir: str,
  deadlineMs: int(1, 24 * 60 * 60 * 1000),
  heartbeatMs: int(10, 60_000),
  heartbeatTimeoutMs: int(20, 600_000),
  entries: (v: unknown) =>
    typeof v === 'object' && v !== null && Object.values(v).every((e) => typeof e === 'string')
      ? undefined
      : 'must be { ps?: string, worker?: string }',
  signal: (v: unknown) => (v instanceof AbortSignal ? undefined : 'must be an AbortSignal'),
  listener: (v: unknown) => (typeof v === 'object' && v !== null ? undefined : 'must be a ClusterListener object'),
};

/**
 * Starts a cluster: checks the options, listens for tasks, launches every PS and worker all-or-nothing by the
 * deadline. Throws PETAL_CLUSTER_OPTIONS, or PETAL_CLUSTER_START naming the task that failed with its last log
 * lines (every task stopped by then).
 */
export async function startCluster(options: StartClusterOptions): Promise<Cluster> {
  checkOptions('startCluster options', options, schema, ['ps', 'workers']);
  if ((options.heartbeatTimeoutMs ?? 5000) <= (options.heartbeatMs ?? 500))
    throw new CoordinatorError(
      'PETAL_CLUSTER_OPTIONS',
      'startCluster options.heartbeatTimeoutMs must exceed heartbeatMs',
      {
        fix: 'allow a few heartbeats before a task counts as silent (e.g. 10 × heartbeatMs)',
      },
    );
  const controller = new ClusterController(options);
  await controller.start();
  return controller;
}

class ClusterController implements Cluster {
  readonly generation = 1 + Math.floor(Math.random() * 0x7fff_fffe);
  readonly #options: StartClusterOptions;
  readonly #mode: PsMode;
  readonly #token = createClusterToken();
  readonly #pool: Pool;
  readonly #ownPool: boolean;
  readonly #registry: TaskRegistry;
  readonly #listeners = new Set<ClusterListener>();
  readonly #heartbeatMs: number;
  readonly #timeoutMs: number;
  #state: ClusterState = 'starting';
  #failure: Error | undefined;
  #server: PetalServer | undefined;
  #handles: TaskHandle[] = [];
  #unsubscribeLogs: (() => void) | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #teardown: Promise<void> | undefined;
  #job: { fail: (e: Error) => void; onMetrics: (m: ClusterMetrics) => void } | undefined;
  #endResolve!: (s: ClusterStatus) => void;
  readonly ended: Promise<ClusterStatus>;

  constructor(options: StartClusterOptions) {
    this.#options = options;
    this.#mode = options.mode ?? 'sync';
    this.#pool = options.pool ?? new LocalPool({ ownerGraceMs: 1000, stopGraceMs: 2000 });
    this.#ownPool = options.pool === undefined;
    this.#heartbeatMs = options.heartbeatMs ?? 500;
    this.#timeoutMs = options.heartbeatTimeoutMs ?? 5000;
    this.#registry = new TaskRegistry(taskIds(options));
    this.ended = new Promise((resolve) => (this.#endResolve = resolve));
    if (options.listener) this.#listeners.add(options.listener);
  }

  get state(): ClusterState {
    return this.#state;
  }

  async start(): Promise<void> {
    try {
      this.#server = await listen({
        token: this.#token,
        host: LOOPBACK,
        port: 0,
        generation: this.generation,
        handler: this.#handle,
        onConnection: (c) => void c.closed.then(() => this.#connectionLost(c)),
      });
      const ids = new Set(this.#taskIds());
      this.#unsubscribeLogs = this.#pool.subscribe((line) => {
        if (ids.has(line.task)) this.#emit((l) => l.onLog?.(line));
      });
      const launched = await launchAll(this.#pool, this.#specs(), {
        deadlineMs: this.#options.deadlineMs ?? 30_000,
        stopGraceMs: 2000,
        signal: this.#options.signal,
      });
      this.#handles = launched.map((l) => l.task);
    } catch (err) {
      this.#step({ kind: 'start-failed', error: err as Error });
      await this.#stopTasks();
      throw err;
    }
    for (const handle of this.#handles) {
      void handle.exited.then((exit) =>
        this.#taskFailed(handle.id, `its process exited (${exit.signal ? `on ${exit.signal}` : `code ${exit.code}`})`),
      );
    }
    this.#watchdog = setInterval(() => {
      for (const t of this.#registry.silent(Date.now(), this.#timeoutMs))
        this.#taskFailed(t.id, `no heartbeat for ${Date.now() - t.lastHeartbeat} ms (timeout ${this.#timeoutMs} ms)`);
    }, this.#heartbeatMs);
    this.#watchdog.unref();
    this.#step({ kind: 'ready' });
  }

  #taskIds(): string[] {
    return taskIds(this.#options);
  }

  #specs(): TaskSpec[] {
    const address = `${this.#server!.host}:${this.#server!.port}`;
    const env = {
      PETAL_COORDINATOR: address,
      PETAL_CLUSTER_TOKEN: this.#token,
      PETAL_GENERATION: String(this.generation),
    };
    const entries = { ...DEFAULT_ENTRIES, ...this.#options.entries };
    const spec = (role: 'ps' | 'worker', index: number): TaskSpec => ({
      role,
      index,
      command: { entry: entries[role] },
      env,
      readyTimeoutMs: this.#options.deadlineMs ?? 30_000,
    });
    return [
      ...Array.from({ length: this.#options.ps }, (_, i) => spec('ps', i)),
      ...Array.from({ length: this.#options.workers }, (_, i) => spec('worker', i)),
    ];
  }

  readonly #handle: Handler = (msg, connection) => {
    if (msg.generation !== this.generation) {
      throw new CoordinatorError(
        'PETAL_CLUSTER_STALE',
        `a message of generation ${msg.generation} reached generation ${this.generation}`,
        { fix: 'a task of an earlier cluster is still running: it is ignored and will exit' },
      );
    }
    switch (msg.type) {
      case MessageType.register: {
        const info = this.#registry.register(msg.meta as TaskRegistration, connection);
        if (!info)
          throw new CoordinatorError('PETAL_CLUSTER_REGISTER', 'this cluster did not launch the task registering', {
            fix: 'tasks join only the cluster that launched them',
          });
        return { type: MessageType.register, meta: { heartbeatMs: this.#heartbeatMs, generation: this.generation } };
      }
      case MessageType.heartbeat:
        this.#registry.beat(connection);
        return { type: MessageType.heartbeat, meta: { state: this.#state } };
      case MessageType.metrics: {
        this.#registry.beat(connection);
        const m = msg.meta as { kind: 'step'; metrics: StepMetrics } | { kind: 'epoch'; metrics: EpochMetrics };
        this.#job?.onMetrics(m);
        this.#emit((l) => l.onMetrics?.(m));
        return undefined;
      }
      default:
        throw new CoordinatorError('PETAL_CLUSTER_MESSAGE', `the coordinator takes no message type ${msg.type}`);
    }
  };

  #connectionLost(connection: Connection): void {
    const task = this.#registry.byConnection(connection);
    if (task) this.#taskFailed(task.id, 'its connection to the coordinator was lost');
  }

  #taskFailed(id: string, reason: string): void {
    if (this.#teardown) return; // stopping: exits are expected
    const info = this.#registry.markFailed(id, reason) ?? this.#registry.get(id)?.info;
    if (info) this.#emit((l) => l.onTaskFailed?.(info));
    this.#step({ kind: 'task-failed', task: id, reason });
  }

  /** The controller: decide, move, act. */
  #step(event: ClusterEvent): void {
    const decision = decide(this.#state, event);
    if (decision.failure) this.#failure = decision.failure;
    if (decision.next !== this.#state) {
      this.#state = decision.next;
      this.#emit((l) => l.onState?.(decision.next, this.#failure));
    }
    for (const action of decision.actions) this.#act(action);
  }

  #act(action: ClusterAction): void {
    if (action.kind === 'fail-training') this.#job?.fail(action.error);
    else void this.#stopTasks();
  }

  #stopTasks(): Promise<void> {
    this.#teardown ??= (async () => {
      clearInterval(this.#watchdog);
      for (const c of this.#registry.connections())
        c.send({ type: MessageType.shutdown }).catch(() => {
          // gone already
        });
      if (this.#ownPool) await this.#pool.close(2000);
      else await Promise.all(this.#handles.map((h) => h.stop(2000)));
      for (const c of this.#registry.connections()) c.destroy();
      this.#server?.destroy();
      await this.#server?.close();
      this.#unsubscribeLogs?.();
      this.#step({ kind: 'stopped' });
      this.#endResolve(this.status());
    })();
    return this.#teardown;
  }

  status(): ClusterStatus {
    return {
      state: this.#state,
      generation: this.generation,
      mode: this.#mode,
      ps: this.#options.ps,
      workers: this.#options.workers,
      coordinator: { host: this.#server?.host ?? LOOPBACK, port: this.#server?.port ?? 0 },
      tasks: this.#registry.list().map((t) => ({ ...t })),
      ...(this.#failure ? { failure: this.#failure.message } : {}),
    };
  }

  subscribe(listener: ClusterListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(call: (l: ClusterListener) => void): void {
    for (const l of this.#listeners) {
      try {
        call(l);
      } catch {
        // one subscriber's bug must not silence the others
      }
    }
  }

  async train(spec: unknown, kafka: KafkaConnection, options: ClusterTrainOptions = {}): Promise<ClusterTrainResult> {
    if (this.#state !== 'running')
      throw new CoordinatorError('PETAL_CLUSTER_STATE', `the cluster is ${this.#state}, not running`, {
        fix: this.#failure ? `it failed: ${this.#failure.message}; start a new cluster` : 'start a new cluster',
      });
    if (this.#job)
      throw new CoordinatorError('PETAL_CLUSTER_BUSY', 'a job is already training on this cluster', {
        fix: 'wait for it to finish, or start another cluster',
      });
    let fail!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => {});
    this.#job = { fail, onMetrics: () => {} };
    try {
      return await runJob(
        {
          ps: this.#options.ps,
          workers: this.#options.workers,
          mode: this.#mode,
          generation: this.generation,
          stateDir: this.#options.stateDir,
          task: (id) => {
            const entry = this.#registry.get(id);
            if (!entry || entry.info.state !== 'up')
              throw new CoordinatorError('PETAL_CLUSTER_TASK', `${id} is not up`, { fix: 'start a new cluster' });
            return entry;
          },
          failed,
          setMetricsSink: (sink) => {
            if (this.#job) this.#job.onMetrics = sink;
          },
          subscribeLogs: (onLog) => this.subscribe({ onLog }),
          checkpointing: (on) => this.#step({ kind: on ? 'checkpoint-begin' : 'checkpoint-end' }),
        },
        spec,
        kafka,
        options,
      );
    } finally {
      this.#job = undefined;
    }
  }

  stop(): Promise<void> {
    this.#step({ kind: 'stop' });
    return this.#stopTasks();
  }
}

function taskIds(options: { ps: number; workers: number }): string[] {
  return [
    ...Array.from({ length: options.ps }, (_, i) => `ps:${i}`),
    ...Array.from({ length: options.workers }, (_, i) => `worker:${i}`),
  ];
}
