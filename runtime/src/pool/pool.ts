// Where tasks run, as one interface: the local pool (child processes here) now; ssh hosts and Kubernetes pods
// later. Nothing here names a transport: a task is an entry file with arguments, an environment and a readiness
// report, and whatever runs it hands back a handle with its logs, readiness, exit and a stop.
import type { LogListener, TaskLogs } from './log-lines.ts';
import { checkOptions, int, record, str, strings } from './options.ts';

/** The roles Petal starts; any other non-empty name is allowed for tools and tests. */
export type TaskRole = 'ps' | 'worker' | 'chief' | 'coordinator' | (string & {});

/** What to run for one task. */
export interface TaskSpec {
  role: TaskRole;
  /** The task's number within its role; with `role` it names the task (`worker:1`). */
  index: number;
  /** A Node entry file and its arguments; the pool picks the `node` that runs it. Never put secrets here. */
  command: { entry: string; args?: readonly string[] };
  /** Added to the pool's environment. Secrets (cluster token, Kafka credentials) go here, never in `args`. */
  env?: Readonly<Record<string, string>>;
  /** Working directory (the pool's own when omitted). */
  cwd?: string;
  /** How long the task may take to report ready before it counts as failed and is stopped. */
  readyTimeoutMs: number;
}

/** What a task reports once it serves: one JSON object, `port` where it listens. */
export interface ReadyInfo {
  port?: number;
  [key: string]: unknown;
}

/** How a task ended: an exit code, or the signal that killed it. */
export interface TaskExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One launched task. */
export interface TaskHandle {
  /** `role:index`. */
  readonly id: string;
  readonly role: TaskRole;
  readonly index: number;
  /** The task's own process id on its host (not a wrapper's). */
  readonly pid: number;
  /** Where it runs and where its ports listen (`127.0.0.1` for the local pool). */
  readonly host: string;
  /** Its stdout and stderr as lines: a bounded tail and a subscription. */
  readonly logs: TaskLogs;
  /**
   * Resolves with the task's readiness report; rejects (PETAL_TASK_EXITED, PETAL_TASK_READY_TIMEOUT,
   * PETAL_TASK_READY_REPORT) when it exits, stalls or reports garbage first. Never an unhandled rejection.
   */
  readonly ready: Promise<ReadyInfo>;
  /** Resolves once the task has exited and its output has been read; never rejects. */
  readonly exited: Promise<TaskExit>;
  /** SIGTERM, then SIGKILL after `graceMs` (the pool's default when omitted); idempotent; resolves on exit. */
  stop(graceMs?: number): Promise<TaskExit>;
}

/** Where tasks run. */
export interface Pool {
  /** `local`, `ssh`, `k8s`, … for messages and the cluster panel. */
  readonly kind: string;
  /** Starts one task; resolves once it runs (its pid known), not once it is ready: await `handle.ready` for that. */
  launch(spec: TaskSpec): Promise<TaskHandle>;
  /** Every task launched and not yet known to have exited. */
  tasks(): TaskHandle[];
  /** Every log line of every task, tagged with its task id (what the kernel shows in the cell). */
  subscribe(listener: LogListener): () => void;
  /** Stops every task it launched (and any launch in flight) and refuses new ones; idempotent. */
  close(graceMs?: number): Promise<void>;
}

/** `role:index`, the name a task goes by in messages, logs and the cluster panel. */
export function taskId(spec: Pick<TaskSpec, 'role' | 'index'>): string {
  return `${spec.role}:${spec.index}`;
}

const ROLE = /^[a-z][a-z0-9_-]{0,31}$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Throws PETAL_POOL_OPTIONS naming the first bad field of `spec`; the pools call it before anything runs. */
export function checkTaskSpec(spec: unknown, path = 'spec'): asserts spec is TaskSpec {
  checkOptions(
    path,
    spec,
    {
      role: (v) => (typeof v === 'string' && ROLE.test(v) ? undefined : `must match ${ROLE}`),
      index: int(0, 1_000_000),
      command: (v) => {
        try {
          checkOptions(`${path}.command`, v, { entry: str, args: strings }, ['entry']);
          return undefined;
        } catch (err) {
          return (err as Error).message;
        }
      },
      env: record,
      cwd: str,
      readyTimeoutMs: int(1, DAY_MS),
    },
    ['role', 'index', 'command', 'readyTimeoutMs'],
  );
}
