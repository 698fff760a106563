// Who is in the cluster: each task's registration, its connection and its last heartbeat.
import type { HeartbeatNews, TaskRegistration } from '../pool/index.ts';
import type { Connection } from '../transport/index.ts';

/** One task as the coordinator knows it: what it registered, plus its id and health. */
export interface TaskInfo extends TaskRegistration {
  id: string;
  /** `up` once registered; `failed` when it exited or fell silent (until a replacement registers). */
  state: 'up' | 'failed';
  /** How many times this task was replaced after a failure. */
  restarts: number;
  lastHeartbeat: number;
  failure?: string;
}

/** The registry: bounded by the cluster size (the coordinator refuses tasks it did not launch). */
export class TaskRegistry {
  readonly #tasks = new Map<string, { info: TaskInfo; connection: Connection; quietUntil: number }>();
  readonly #expected: ReadonlySet<string>;

  constructor(expected: Iterable<string>) {
    this.#expected = new Set(expected);
  }

  /**
   * Records a task, or the replacement of a failed one; undefined when it is not one the cluster launched, or when
   * its id is up already (a replacement's predecessor must have failed first).
   */
  register(
    info: Omit<TaskInfo, 'id' | 'state' | 'lastHeartbeat' | 'restarts'>,
    connection: Connection,
  ): TaskInfo | undefined {
    const id = `${info.role}:${info.index}`;
    if (!this.#expected.has(id)) return undefined;
    const before = this.#tasks.get(id)?.info;
    if (before?.state === 'up') return undefined;
    const restarts = before ? before.restarts + 1 : 0;
    const entry: TaskInfo = { ...info, id, state: 'up', lastHeartbeat: Date.now(), restarts };
    this.#tasks.set(id, { info: entry, connection, quietUntil: 0 });
    return entry;
  }

  /** A sign of life, with the task's news (HeartbeatNews): a quiet time announced, its devices. */
  beat(connection: Connection, news: HeartbeatNews = {}): TaskInfo | undefined {
    for (const entry of this.#tasks.values()) {
      if (entry.connection === connection) {
        entry.info.lastHeartbeat = Date.now();
        if (news.quietMs !== undefined) entry.quietUntil = entry.info.lastHeartbeat + news.quietMs;
        if (news.devices) entry.info.devices = news.devices;
        return entry.info;
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

  /** Up tasks whose last heartbeat is older than `timeoutMs` (and past the quiet time they announced). */
  silent(now: number, timeoutMs: number): TaskInfo[] {
    return [...this.#tasks.values()]
      .filter((e) => e.info.state === 'up' && now - e.info.lastHeartbeat > timeoutMs && now > e.quietUntil)
      .map((e) => e.info);
  }

  list(): TaskInfo[] {
    return [...this.#tasks.values()].map((e) => e.info);
  }

  connections(): Connection[] {
    return [...this.#tasks.values()].map((e) => e.connection);
  }
}
