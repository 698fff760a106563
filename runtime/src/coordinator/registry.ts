// Who is in the cluster: each task's registration, its connection and its last heartbeat.
import type { Connection } from '../transport/index.ts';

/** One task as the coordinator knows it. */
export interface TaskInfo {
  id: string;
  role: string;
  index: number;
  host: string;
  port?: number;
  pid: number;
  devices: string[];
  /** `up` once registered; `failed` when it exited or fell silent. */
  state: 'up' | 'failed';
  lastHeartbeat: number;
  failure?: string;
}

/** The registry: bounded by the cluster size (the coordinator refuses tasks it did not launch). */
export class TaskRegistry {
  readonly #tasks = new Map<string, { info: TaskInfo; connection: Connection }>();
  readonly #expected: ReadonlySet<string>;

  constructor(expected: Iterable<string>) {
    this.#expected = new Set(expected);
  }

  /** Records a task; false when it is not one the cluster launched. */
  register(info: Omit<TaskInfo, 'id' | 'state' | 'lastHeartbeat'>, connection: Connection): TaskInfo | undefined {
    const id = `${info.role}:${info.index}`;
    if (!this.#expected.has(id)) return undefined;
    const entry: TaskInfo = { ...info, id, state: 'up', lastHeartbeat: Date.now() };
    this.#tasks.set(id, { info: entry, connection });
    return entry;
  }

  beat(connection: Connection): TaskInfo | undefined {
    for (const { info, connection: c } of this.#tasks.values()) {
      if (c === connection) {
        info.lastHeartbeat = Date.now();
        return info;
      }
    }
    return undefined;
  }

  byConnection(connection: Connection): TaskInfo | undefined {
    for (const { info, connection: c } of this.#tasks.values()) if (c === connection) return info;
    return undefined;
  }

  get(id: string): { info: TaskInfo; connection: Connection } | undefined {
    return this.#tasks.get(id);
  }

  markFailed(id: string, reason: string): TaskInfo | undefined {
    const entry = this.#tasks.get(id);
    if (!entry || entry.info.state === 'failed') return undefined;
    entry.info.state = 'failed';
    entry.info.failure = reason;
    return entry.info;
  }

  /** Up tasks whose last heartbeat is older than `timeoutMs`. */
  silent(now: number, timeoutMs: number): TaskInfo[] {
    return this.list().filter((t) => t.state === 'up' && now - t.lastHeartbeat > timeoutMs);
  }

  list(): TaskInfo[] {
    return [...this.#tasks.values()].map((e) => e.info);
  }

  connections(): Connection[] {
    return [...this.#tasks.values()].map((e) => e.connection);
  }
}
