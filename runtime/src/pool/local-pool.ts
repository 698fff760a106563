// The embedded default pool: tasks are child processes on this machine, tied to this process (they die with it,
// even on SIGKILL), listening on the loopback only.
import { PetalError } from '../errors.ts';
import { LocalTask, READY_FD } from './local-task.ts';
import type { LogListener } from './log-lines.ts';
import { checkOptions, int, record, str, strings } from './options.ts';
import { spawnTied } from './owner-tie.ts';
import { checkTaskSpec, taskId } from './pool.ts';
import type { Pool, TaskHandle, TaskSpec } from './pool.ts';

/** The only address local tasks are told to bind (`PETAL_HOST`). */
export const LOCAL_HOST = '127.0.0.1';

/**
 * V8 flags every task gets when it runs this process's own Node (another Node may not know them). Workers copy a
 * model's gradients out of TensorFlow into fresh ArrayBuffers each step (tfjs-node's binding allocates one per read,
 * tfjs_backend.cc, with no way to read into a given buffer), and a PS reads each step's gradients in fresh 64 KiB
 * socket Buffers. By default V8 answers that external memory with a full mark-compact nearly every step: measured
 * on the 1+1 MLP step, 87–94 per 114 steps in the worker (~25 ms CPU a step) and 33 in the PS. Counted in the global
 * heap limit instead, the heap grows with it: 2 mark-compacts each, worker CPU 101–122 → 75–77 ms a step. The
 * flowers transfer run is as fast with it; its workers peak ~10% higher in memory (1.0 GB against 0.9).
 */
export const TASK_V8_FLAGS: readonly string[] = ['--external-memory-accounted-in-global-limit'];

/** Options of {@link LocalPool}. */
export interface LocalPoolOptions {
  /** The Node that runs task entries; this process's own by default. */
  node?: string;
  /** Flags before the entry file (e.g. `--max-old-space-size=4096`), after {@link TASK_V8_FLAGS}. */
  nodeArgs?: readonly string[];
  /** The environment tasks start from (each spec's `env` is added); this process's by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Log lines kept per task for tails and late subscribers (default 200). */
  logLines?: number;
  /** Default grace between SIGTERM and SIGKILL for `stop()` and `close()` (default 5000 ms). */
  stopGraceMs?: number;
  /** Grace between SIGTERM and SIGKILL when this process dies, rounded up to whole seconds (default 2000 ms). */
  ownerGraceMs?: number;
}

/**
 * Runs each task as `node [TASK_V8_FLAGS] [nodeArgs] entry [args]` under a `sh` wrapper whose watcher stops the
 * task when this process dies however it dies (see `owner-tie.ts`). We chose the wrapper over trusting tasks to
 * watch a pipe themselves because it needs nothing from the task: a task stuck in a long synchronous TensorFlow
 * call, or one that crashed its own watcher, is still stopped. Tasks get `PETAL_TASK_ID`, `PETAL_HOST=127.0.0.1`,
 * `PETAL_READY_FD=3` (one JSON line there means ready) and `PETAL_OWNER_FD=0` (the owner pipe, for a task that
 * wants to clean up on its own; `watchOwner()`). Each live task keeps this process's event loop alive.
 */
export class LocalPool implements Pool {
  readonly kind = 'local';
  readonly #node: string;
  readonly #nodeArgs: readonly string[];
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #logLines: number;
  readonly #stopGraceMs: number;
  readonly #ownerGraceMs: number;
  readonly #tasks = new Map<string, LocalTask>();
  readonly #launching = new Map<string, Promise<unknown>>();
  readonly #listeners = new Set<LogListener>();
  #closing: Promise<void> | undefined;

  constructor(options: LocalPoolOptions = {}) {
    checkOptions('localPool', options, {
      node: str,
      nodeArgs: strings,
      env: record,
      logLines: int(1, 100_000),
      stopGraceMs: int(0, 600_000),
      ownerGraceMs: int(0, 600_000),
    });
    this.#node = options.node ?? process.execPath;
    const own = options.node === undefined || options.node === process.execPath;
    this.#nodeArgs = [...(own ? TASK_V8_FLAGS : []), ...(options.nodeArgs ?? [])];
    this.#env = options.env ?? process.env;
    this.#logLines = options.logLines ?? 200;
    this.#stopGraceMs = options.stopGraceMs ?? 5000;
    this.#ownerGraceMs = options.ownerGraceMs ?? 2000;
  }

  launch(spec: TaskSpec): Promise<TaskHandle> {
    checkTaskSpec(spec);
    const id = taskId(spec);
    if (this.#closing) return Promise.reject(closedError(id));
    if (this.#tasks.has(id) || this.#launching.has(id))
      return Promise.reject(
        new PetalError('PETAL_POOL_DUPLICATE', `task ${id} is already running in this pool`, {
          fix: `stop ${id} first, or give the new task another index`,
          detail: { task: id },
        }),
      );
    const launching = this.#launch(spec, id);
    this.#launching.set(id, launching);
    const forget = (): void => void this.#launching.delete(id);
    launching.then(forget, forget);
    return launching;
  }

  async #launch(spec: TaskSpec, id: string): Promise<TaskHandle> {
    const env = {
      ...this.#env,
      ...spec.env,
      PETAL_TASK_ID: id,
      PETAL_TASK_ROLE: spec.role,
      PETAL_TASK_INDEX: String(spec.index),
      PETAL_HOST: LOCAL_HOST,
      PETAL_READY_FD: String(READY_FD),
      PETAL_OWNER_FD: '0',
    };
    const tied = await spawnTied(this.#node, [...this.#nodeArgs, spec.command.entry, ...(spec.command.args ?? [])], {
      stdio: ['pipe', 'pipe', 'pipe'], // stdout, stderr, readiness (fd 3)
      env,
      cwd: spec.cwd,
      graceS: this.#ownerGraceMs / 1000,
      name: `petal-${id}`,
    });
    const task = new LocalTask(spec, tied, {
      host: LOCAL_HOST,
      logLines: this.#logLines,
      stopGraceMs: this.#stopGraceMs,
      onLine: (line) => {
        for (const listener of this.#listeners) {
          try {
            listener(line);
          } catch {
            // one subscriber's bug must not silence the others
          }
        }
      },
    });
    this.#tasks.set(id, task);
    void task.exited.then(() => {
      if (this.#tasks.get(id) === task) this.#tasks.delete(id);
    });
    if (this.#closing) {
      // close() began while we spawned: it waits for us, and the task must not outlive the pool.
      await task.stop(0);
      throw closedError(id);
    }
    return task;
  }

  tasks(): TaskHandle[] {
    return [...this.#tasks.values()];
  }

  subscribe(listener: LogListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(graceMs = this.#stopGraceMs): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    await Promise.allSettled([...this.#launching.values()]);
    const tasks = [...this.#tasks.values()];
    await Promise.all(tasks.map((task) => task.stop(graceMs)));
    for (const task of tasks) task.logs.clearListeners();
    this.#listeners.clear();
  }
}

function closedError(id: string): PetalError {
  return new PetalError('PETAL_POOL_CLOSED', `cannot launch ${id}: the pool is closed`, {
    fix: 'create a new pool for a new cluster',
    detail: { task: id },
  });
}
