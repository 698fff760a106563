// The coordinator, in the process that owns the cluster (the CLI's supervisor, later the kernel): launches every
// task all-or-nothing, keeps the registry and heartbeats, stamps its generation on every message, streams task logs
// and metrics to subscribers, runs jobs (train-job.ts) and tears everything down. The controller is a state plus
// step(event): decide() (states.ts) says what an event means, step() does what it says.
//
// Failover: a worker that exits or falls silent is replaced (while `maxRestarts` lasts). The controller bumps the
// generation (what the dead task still sends is ignored: its registration is gone and its stamps are old), stops
// what is left of it, launches a replacement for the same index through the pool and goes back to `running` once it
// registers. A job running then rolls back to its newest complete checkpoint (train-job.ts).
import { fileURLToPath } from 'node:url';
import { LOOPBACK } from '../net/loopback.ts';
import { LocalPool, describeExit, launchAll } from '../pool/index.ts';
import type { HeartbeatNews, LogLine, Pool, TaskExit, TaskHandle, TaskRegistration, TaskSpec } from '../pool/index.ts';
import type { PsMode } from '../ps/index.ts';
import { MessageType } from '../protocol/index.ts';
import { createClusterToken, listen, removeSocketDir } from '../transport/index.ts';
import type { Connection, Handler, PetalServer } from '../transport/index.ts';
import type { EpochMetrics, StepMetrics } from '../worker/index.ts';
import { isPetalError } from '../errors.ts';
import { CoordinatorError, checkOptions } from './errors.ts';
import { TaskRegistry } from './registry.ts';
import type { TaskInfo } from './registry.ts';
import { decide } from './states.ts';
import type { ClusterAction, ClusterEvent, ClusterState } from './states.ts';
import { runJob } from './train-job.ts';
import type { JobContext } from './train-job.ts';
import type { ClusterTrainOptions, ClusterTrainResult } from './train-job.ts';
import type { KafkaConnection } from '../kafka/index.ts';
import { int, str } from '../options.ts';

const HEARTBEAT_TIMEOUT_MS = 30_000;

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
  /**
   * A task silent this long is failed (default 30000 ms). Generous on purpose: one training step of an image model
   * holds a worker's event loop for seconds on a loaded machine, and a task that dies is seen at once by its exit.
   */
  heartbeatTimeoutMs?: number;
  /** Failed workers replaced in the cluster's life before a failure fails it (default 3; 0 fails at once). */
  maxRestarts?: number;
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
  /** A failed worker is being replaced (the state is `restarting`): which, how it ended, its last lines. */
  onRestart?: (restart: TaskRestart) => void;
}

/** One replacement of a failed task, as listeners hear of it. */
export interface TaskRestart {
  task: string;
  /** The failed process's pid. */
  pid: number;
  /** How its process ended (`signal: 'SIGKILL'`); a silent task is stopped first. */
  exit: TaskExit;
  /** Why it counted as failed (exit, lost connection, heartbeat silence). */
  reason: string;
  /** Its last log lines. */
  logTail: string[];
  /** Restarts so far, this one included, and the budget. */
  restarts: number;
  maxRestarts: number;
  /** The generation the cluster moved to. */
  generation: number;
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
  /** Failed workers replaced so far, and the budget. */
  restarts: number;
  maxRestarts: number;
  failure?: string;
}

/** A running cluster. */
export interface Cluster {
  /** Bumped on every restart: messages stamped with an older one come from an attempt rolled back. */
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
  maxRestarts: int(0, 1000),
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
  if ((options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS) <= (options.heartbeatMs ?? 500))
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

/** What the running job hears from the controller. */
interface JobHooks {
  fail: (e: Error) => void;
  onMetrics: (m: ClusterMetrics) => void;
}

/** Log lines of a failed task quoted in its failure and restart events. */
const TAIL_LINES = 20;
/** After a task's link drops, how long its exit may take to be seen (the exit names the signal; see #linkLost). */
const EXIT_GRACE_MS = 2000;

class ClusterController implements Cluster {
  // Random, so a task of another cluster is told apart; low enough to be bumped on every restart within a u32.
  #generation = 1 + Math.floor(Math.random() * 0x3fff_fffe);
  readonly #options: StartClusterOptions;
  readonly #mode: PsMode;
  readonly #token = createClusterToken();
  readonly #pool: Pool;
  readonly #ownPool: boolean;
  readonly #registry: TaskRegistry;
  readonly #listeners = new Set<ClusterListener>();
  readonly #heartbeatMs: number;
  readonly #timeoutMs: number;
  readonly #maxRestarts: number;
  #restarts = 0;
  #lastLost = '';
  #pendingRestarts = 0;
  #replacing: Promise<void> = Promise.resolve();
  readonly #lossWaiters = new Set<(task: string) => void>();
  readonly #stateWaiters = new Set<() => void>();
  #state: ClusterState = 'starting';
  #failure: Error | undefined;
  #server: PetalServer | undefined;
  readonly #handles = new Map<string, TaskHandle>();
  #unsubscribeLogs: (() => void) | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #teardown: Promise<void> | undefined;
  #job: JobHooks | undefined;
  #endResolve!: (s: ClusterStatus) => void;
  readonly ended: Promise<ClusterStatus>;

  constructor(options: StartClusterOptions) {
    this.#options = options;
    this.#mode = options.mode ?? 'sync';
    this.#pool = options.pool ?? new LocalPool({ ownerGraceMs: 1000, stopGraceMs: 2000 });
    this.#ownPool = options.pool === undefined;
    this.#heartbeatMs = options.heartbeatMs ?? 500;
    this.#timeoutMs = options.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    this.#maxRestarts = options.maxRestarts ?? 3;
    this.#registry = new TaskRegistry(taskIds(options));
    this.ended = new Promise((resolve) => (this.#endResolve = resolve));
    if (options.listener) this.#listeners.add(options.listener);
  }

  get state(): ClusterState {
    return this.#state;
  }

  get generation(): number {
    return this.#generation;
  }

  async start(): Promise<void> {
    try {
      this.#server = await listen({
        token: this.#token,
        host: LOOPBACK,
        port: 0,
        generation: this.#generation,
        handler: this.#handle,
        onConnection: (c) => void c.closed.then(() => this.#linkLost(c)),
      });
      const ids = new Set(taskIds(this.#options));
      this.#unsubscribeLogs = this.#pool.subscribe((line) => {
        if (ids.has(line.task)) this.#emit((l) => l.onLog?.(line));
      });
      const launched = await launchAll(
        this.#pool,
        taskIds(this.#options).map((id) => this.#spec(id)),
        { deadlineMs: this.#options.deadlineMs ?? 30_000, stopGraceMs: 2000, signal: this.#options.signal },
      );
      for (const { task } of launched) this.#handles.set(task.id, task);
    } catch (err) {
      this.#step({ kind: 'start-failed', error: err as Error });
      await this.#stopTasks();
      throw err;
    }
    for (const handle of this.#handles.values()) this.#watch(handle);
    let tick = Date.now();
    this.#watchdog = setInterval(() => {
      const now = Date.now();
      const late = now - tick > 2 * this.#heartbeatMs;
      tick = now;
      // Timers run before pending I/O: after this process was blocked, heartbeats that arrived meanwhile are not
      // read yet. Judge silence on the next tick, not the tasks' for our own stall.
      if (late) return;
      for (const t of this.#registry.silent(now, this.#timeoutMs))
        this.#taskFailed(t.id, `no heartbeat for ${now - t.lastHeartbeat} ms (timeout ${this.#timeoutMs} ms)`);
    }, this.#heartbeatMs);
    this.#watchdog.unref();
    this.#step({ kind: 'ready' });
  }

  /** What the pool runs for `ps:N` / `worker:N`, in the current generation. */
  #spec(id: string): TaskSpec {
    const [role, index] = id.split(':') as ['ps' | 'worker', string];
    const entries = { ...DEFAULT_ENTRIES, ...this.#options.entries };
    return {
      role,
      index: Number(index),
      command: { entry: entries[role] },
      env: {
        PETAL_COORDINATOR: `${this.#server!.host}:${this.#server!.port}`,
        PETAL_CLUSTER_TOKEN: this.#token,
        PETAL_GENERATION: String(this.#generation),
      },
      readyTimeoutMs: this.#options.deadlineMs ?? 30_000,
    };
  }

  /** A task's exit fails it, unless a replacement has taken its place since. */
  #watch(handle: TaskHandle): void {
    void handle.exited.then((exit) => {
      // A task ended by a signal (SIGKILL, the OOM killer) never ran its exit handler: its socket directory is left.
      const info = this.#registry.get(handle.id)?.info;
      if (exit.signal && info?.socketPath && info.pid === handle.pid) removeSocketDir(info.socketPath, info.machine);
      if (this.#handles.get(handle.id) === handle)
        this.#taskFailed(handle.id, `its process (pid ${handle.pid}) exited ${describeExit(exit)}`);
    });
  }

  readonly #handle: Handler = (msg, connection) => {
    if (msg.generation > this.#generation) {
      throw new CoordinatorError(
        'PETAL_CLUSTER_STALE',
        `a message of generation ${msg.generation} reached generation ${this.#generation}`,
        { fix: 'a task of another cluster is still running: it is ignored and will exit' },
      );
    }
    switch (msg.type) {
      case MessageType.register: {
        const info = this.#registry.register(msg.meta as TaskRegistration, connection);
        if (!info)
          throw new CoordinatorError(
            'PETAL_CLUSTER_REGISTER',
            'this cluster did not launch the task registering, or that task is up already',
            { fix: 'tasks join only the cluster that launched them, once' },
          );
        connection.generation = this.#generation;
        return { type: MessageType.register, meta: { heartbeatMs: this.#heartbeatMs, generation: this.#generation } };
      }
      case MessageType.heartbeat:
        this.#registry.beat(connection, heartbeatNews(msg.meta));
        return { type: MessageType.heartbeat, meta: { state: this.#state, generation: this.#generation } };
      case MessageType.metrics: {
        // Figures of an attempt rolled back since (or of a task replaced since) describe nothing that counts.
        if (msg.generation < this.#generation || this.#registry.byConnection(connection)?.state !== 'up') return;
        this.#registry.beat(connection);
        const m = msg.meta as ClusterMetrics;
        this.#job?.onMetrics(m);
        this.#emit((l) => l.onMetrics?.(m));
        return undefined;
      }
      default:
        throw new CoordinatorError('PETAL_CLUSTER_MESSAGE', `the coordinator takes no message type ${msg.type}`);
    }
  };

  /**
   * A task's link dropped. Its process usually ended with it, and its exit (with the signal) reports the failure;
   * one still running without a link is failed here after a short grace.
   */
  #linkLost(connection: Connection): void {
    const task = this.#registry.byConnection(connection);
    if (!task || task.state !== 'up') return;
    const timer = setTimeout(() => {
      if (this.#registry.get(task.id)?.connection === connection)
        this.#taskFailed(task.id, 'its connection to the coordinator was lost');
    }, EXIT_GRACE_MS);
    timer.unref();
  }

  #taskFailed(id: string, reason: string): void {
    if (this.#teardown) return; // stopping: exits are expected
    const info = this.#registry.markFailed(id, reason);
    if (!info) return; // the second sign of one failure (exit, lost link, silence)
    this.#emit((l) => l.onTaskFailed?.(info));
    this.#step({
      kind: 'task-failed',
      task: id,
      reason: `${reason}${quoteTail(this.#handles.get(id))}`,
      budget: { restarts: this.#restarts, maxRestarts: this.#maxRestarts },
    });
  }

  /** The controller: decide, move, act. */
  #step(event: ClusterEvent): void {
    const decision = decide(this.#state, event);
    if (decision.failure) this.#failure = decision.failure;
    if (decision.next !== this.#state) {
      this.#state = decision.next;
      this.#emit((l) => l.onState?.(decision.next, this.#failure));
      for (const wake of [...this.#stateWaiters]) wake();
    }
    for (const action of decision.actions) this.#act(action);
  }

  #act(action: ClusterAction): void {
    switch (action.kind) {
      case 'fail-training':
        this.#job?.fail(action.error);
        return;
      case 'stop-tasks':
        void this.#stopTasks();
        return;
      case 'restart-task': {
        this.#restarts++;
        this.#lastLost = action.task;
        this.#pendingRestarts++;
        // At once: from here on, whatever the lost attempt still sends carries an old generation.
        this.#generation++;
        for (const c of this.#registry.connections()) c.generation = this.#generation;
        for (const lost of this.#lossWaiters) lost(action.task);
        this.#lossWaiters.clear();
        const restarts = this.#restarts;
        this.#replacing = this.#replacing.then(() => this.#replace(action.task, restarts));
        return;
      }
    }
  }

  /** Stops what is left of a failed task, tells listeners how it ended, launches its replacement. Never rejects. */
  async #replace(id: string, restarts: number): Promise<void> {
    const old = this.#handles.get(id)!;
    let handle: TaskHandle | undefined;
    let event: ClusterEvent;
    try {
      const exit = await old.stop(2000); // at once when it is gone; a silent one is stopped first
      const restart: TaskRestart = {
        task: id,
        pid: old.pid,
        exit,
        reason: this.#registry.get(id)?.info.failure ?? 'failed',
        logTail: old.logs.tail(TAIL_LINES).map((l) => l.text),
        restarts,
        maxRestarts: this.#maxRestarts,
        generation: this.#generation,
      };
      this.#emit((l) => l.onRestart?.(restart));
      this.#emit((l) =>
        l.onLog?.({
          task: 'coordinator',
          stream: 'stderr',
          text: `${id} (pid ${old.pid}) exited ${describeExit(exit)}: replacing it (restart ${restarts} of ${this.#maxRestarts}, generation ${this.#generation})`,
          time: Date.now(),
        }),
      );
      if (this.#teardown) return;
      handle = await this.#pool.launch(this.#spec(id));
      this.#handles.set(id, handle);
      if (this.#teardown) {
        await handle.stop(0);
        return;
      }
      this.#watch(handle);
      await handle.ready; // tasks register before they report ready
      event = { kind: 'task-restarted', task: id, pending: --this.#pendingRestarts };
    } catch (err) {
      this.#pendingRestarts--;
      event = {
        kind: 'restart-failed',
        task: id,
        error: new CoordinatorError(
          'PETAL_CLUSTER_RESTART',
          `${id} could not be replaced: ${(err as Error).message}${quoteTail(handle)}`,
          {
            cause: err,
            fix: isPetalError(err) && err.fix ? err.fix : `read ${id}'s log lines for the cause`,
            detail: { task: id, restarts },
          },
        ),
      };
    }
    this.#step(event);
  }

  /** Resolves once the cluster is running (at once when it is); rejects when it fails or stops first. */
  #whenRunning(): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (): boolean => {
        if (this.#state === 'running') resolve();
        else if (this.#state === 'failed' || this.#state === 'stopping' || this.#state === 'stopped')
          reject(this.#failure ?? new CoordinatorError('PETAL_CLUSTER_STATE', `the cluster is ${this.#state}`));
        else return false;
        return true;
      };
      if (settle()) return;
      const wake = (): void => void (settle() && this.#stateWaiters.delete(wake));
      this.#stateWaiters.add(wake);
    });
  }

  #stopTasks(): Promise<void> {
    this.#teardown ??= (async () => {
      clearInterval(this.#watchdog);
      for (const c of this.#registry.connections())
        c.send({ type: MessageType.shutdown }).catch(() => {
          // gone already
        });
      if (this.#ownPool) await this.#pool.close(2000);
      else await Promise.all([...this.#handles.values()].map((h) => h.stop(2000)));
      await this.#replacing; // a replacement launched meanwhile stops itself (see #replace)
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
      generation: this.#generation,
      mode: this.#mode,
      ps: this.#options.ps,
      workers: this.#options.workers,
      coordinator: { host: this.#server?.host ?? LOOPBACK, port: this.#server?.port ?? 0 },
      tasks: this.#registry.list().map((t) => ({ ...t })),
      restarts: this.#restarts,
      maxRestarts: this.#maxRestarts,
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
        fix: this.#failure
          ? `it failed: ${this.#failure.message}; start a new cluster`
          : this.#state === 'restarting'
            ? 'a failed worker is being replaced: try again in a moment'
            : 'start a new cluster',
      });
    if (this.#job)
      throw new CoordinatorError('PETAL_CLUSTER_BUSY', 'a job is already training on this cluster', {
        fix: 'wait for it to finish, or start another cluster',
      });
    let fail!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => {});
    const job: JobHooks = { fail, onMetrics: () => {} };
    this.#job = job;
    const ctx: JobContext = {
      ps: this.#options.ps,
      workers: this.#options.workers,
      mode: this.#mode,
      generation: () => this.#generation,
      stateDir: this.#options.stateDir,
      task: (id) => {
        const entry = this.#registry.get(id);
        if (!entry || entry.info.state !== 'up')
          throw new CoordinatorError('PETAL_CLUSTER_TASK', `${id} is not up`, { fix: 'start a new cluster' });
        return entry;
      },
      failed,
      lost: (since) =>
        this.#generation > since
          ? Promise.resolve(this.#lastLost)
          : new Promise((resolve) => this.#lossWaiters.add(resolve)),
      whenRunning: () => this.#whenRunning(),
      verdictMs: EXIT_GRACE_MS + this.#timeoutMs,
      setMetricsSink: (sink) => (job.onMetrics = sink),
      subscribeLogs: (onLog) => this.subscribe({ onLog }),
      checkpointing: (on) => this.#step({ kind: on ? 'checkpoint-begin' : 'checkpoint-end' }),
    };
    try {
      return await runJob(ctx, spec, kafka, options);
    } finally {
      this.#job = undefined;
      this.#lossWaiters.clear();
    }
  }

  stop(): Promise<void> {
    this.#step({ kind: 'stop' });
    return this.#stopTasks();
  }
}

/** `; its last N log lines:` and the lines, as the start error quotes them (`!` marks stderr). */
function quoteTail(task: TaskHandle | undefined): string {
  const tail = task?.logs.tail(TAIL_LINES) ?? [];
  if (tail.length === 0) return ' (no log lines)';
  const lines = tail.map((l) => `\n    ${l.stream === 'stderr' ? '!' : '|'} ${l.text}`);
  return `; its last ${tail.length} log lines:${lines.join('')}`;
}

/** What a heartbeat's metadata holds that makes sense: a quiet time (at most 10 minutes), a few device names. */
function heartbeatNews(meta: unknown): HeartbeatNews {
  const m = (typeof meta === 'object' && meta !== null ? meta : {}) as { quietMs?: unknown; devices?: unknown };
  const ms = m.quietMs;
  const devices = m.devices;
  return {
    ...(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? { quietMs: Math.min(ms, 600_000) } : {}),
    ...(Array.isArray(devices) && devices.length <= 64 && devices.every((d) => typeof d === 'string' && d.length < 200)
      ? { devices: devices as string[] }
      : {}),
  };
}

function taskIds(options: { ps: number; workers: number }): string[] {
  return [
    ...Array.from({ length: options.ps }, (_, i) => `ps:${i}`),
    ...Array.from({ length: options.workers }, (_, i) => `worker:${i}`),
  ];
}
