// The log lines of the cluster's tasks the kernel keeps for `%logs`: the last LINES_PER_TASK of each task (a ring per
// task; the tasks are the cluster's, so the whole is bounded), merged by time into a LogsCard.
import type { LogEntry, LogsCard } from '../outputs/types.ts';

/** Lines kept per task. */
export const LINES_PER_TASK = 200;
/** Lines one card carries at most (the newest). */
export const LINES_PER_CARD = 1000;

/** Bounded rings of task log lines. */
export class TaskLogs {
  readonly #rings = new Map<string, { lines: LogEntry[]; dropped: number }>();

  /** Forgets every line (a new cluster starts). */
  clear(): void {
    this.#rings.clear();
  }

  add(line: LogEntry): void {
    let ring = this.#rings.get(line.task);
    if (!ring) this.#rings.set(line.task, (ring = { lines: [], dropped: 0 }));
    ring.lines.push(line);
    if (ring.lines.length > LINES_PER_TASK) {
      ring.lines.shift();
      ring.dropped += 1;
    }
  }

  /** Task ids with lines, sorted. */
  get tasks(): string[] {
    return [...this.#rings.keys()].sort();
  }

  /** The card of one task's lines, or of every task's. */
  card(task?: string): LogsCard {
    const rings =
      task === undefined ? [...this.#rings.values()] : [this.#rings.get(task)].filter((r) => r !== undefined);
    const lines = rings.flatMap((r) => r.lines).sort((a, b) => a.time - b.time);
    const cut = Math.max(0, lines.length - LINES_PER_CARD);
    const dropped = rings.reduce((n, r) => n + r.dropped, 0) + cut;
    return { version: 1, ...(task === undefined ? {} : { task }), lines: lines.slice(cut), dropped };
  }
}
