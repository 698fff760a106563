// One task of the local pool: a tied child process, its output as lines, its readiness report on fd 3, its exit.
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { PetalError } from '../errors.ts';
import { publishTask } from './diagnostics.ts';
import { LineSplitter, LogRing } from './log-lines.ts';
import type { LogLine } from './log-lines.ts';
import type { TiedChild } from './owner-tie.ts';
import { taskId } from './pool.ts';
import type { ReadyInfo, TaskExit, TaskHandle, TaskSpec } from './pool.ts';

/** The fd a task writes its one readiness line to (`PETAL_READY_FD`); stdout stays free for logs. */
export const READY_FD = 3;
/** Readiness lines longer than this are garbage, not a report. */
const MAX_READY_BYTES = 64 * 1024;
/** After the process exits, how long its output may still trickle in (a grandchild may hold the pipes forever). */
const DRAIN_MS = 1000;

/** What a LocalTask needs from its pool. */
export interface LocalTaskSettings {
  host: string;
  logLines: number;
  stopGraceMs: number;
  /** Every line, for the pool's subscribers. */
  onLine: (line: LogLine) => void;
}

/** A launched local task (see {@link TaskHandle}). */
export class LocalTask implements TaskHandle {
  readonly id: string;
  readonly role: string;
  readonly index: number;
  readonly pid: number;
  readonly host: string;
  readonly logs: LogRing;
  readonly ready: Promise<ReadyInfo>;
  readonly exited: Promise<TaskExit>;
  readonly #stopGraceMs: number;
  #exit: TaskExit | undefined; // set when the wrapper exited: from then on the pid is never signalled
  #settleReady: ((err: Error | undefined, info?: ReadyInfo) => void) | undefined;
  #readyTimer: NodeJS.Timeout | undefined;
  #drainTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<TaskExit> | undefined;
  #readyFdClosed = false;

  constructor(spec: TaskSpec, tied: TiedChild, settings: LocalTaskSettings) {
    this.id = taskId(spec);
    this.role = spec.role;
    this.index = spec.index;
    this.pid = tied.pid;
    this.host = settings.host;
    this.#stopGraceMs = settings.stopGraceMs;
    this.logs = new LogRing(settings.logLines);
    const { child } = tied;
    const streams = child.stdio.slice(1) as (Readable | null)[]; // stdout, stderr, readiness, the wrapper's control
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      const splitter = new LineSplitter((text) => {
        const line: LogLine = { task: this.id, stream: name, text, time: Date.now() };
        this.logs.push(line);
        settings.onLine(line);
      });
      stream?.on('data', (chunk: Buffer) => splitter.write(chunk));
      stream?.once('close', () => splitter.end());
    }

    this.ready = new Promise<ReadyInfo>((resolve, reject) => {
      this.#settleReady = (err, info) => {
        this.#settleReady = undefined;
        clearTimeout(this.#readyTimer);
        if (err) reject(err);
        else resolve(info ?? {});
      };
    });
    this.ready.catch(() => {}); // the caller may never await it; a stopped task must not crash the owner
    this.#readyTimer = setTimeout(() => this.#readyTimedOut(spec.readyTimeoutMs), spec.readyTimeoutMs);
    this.#readReport((child.stdio[READY_FD] as Readable | null) ?? null);

    this.exited = new Promise<TaskExit>((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.#exit = fromWrapper(code, signal);
        // Normally the pipes close with the process; a grandchild holding them must not keep us waiting.
        this.#drainTimer = setTimeout(() => {
          for (const stream of streams) stream?.destroy();
        }, DRAIN_MS);
      };
      // A command that fails at once (not found: 127) may have ended before we got its pid.
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
      else child.once('exit', onExit);
      child.once('close', () => {
        const exit = this.#exit ?? { code: null, signal: null };
        clearTimeout(this.#drainTimer);
        clearTimeout(this.#killTimer);
        // Our end of the owner pipe: should the wrapper have been killed alone, its watcher now stops the task.
        child.stdin?.destroy();
        this.#settleReady?.(
          new PetalError('PETAL_TASK_EXITED', `${this.#name()} exited ${describeExit(exit)} before it reported ready`, {
            fix: `read ${this.id}'s last log lines for the cause`,
            detail: this.#detail({ ...exit }),
          }),
        );
        publishTask({ pool: 'local', task: this.id, pid: this.pid, event: 'exited', ...exit });
        resolve(exit);
      });
    });
    publishTask({ pool: 'local', task: this.id, pid: this.pid, event: 'launched' });
  }

  stop(graceMs = this.#stopGraceMs): Promise<TaskExit> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<TaskExit> {
    if (this.#exit === undefined) {
      publishTask({ pool: 'local', task: this.id, pid: this.pid, event: 'stopping' });
      // The wrapper reaps the task and exits at once, so while the wrapper runs the pid is still the task's.
      this.#signal('SIGTERM');
      this.#killTimer = setTimeout(() => this.#signal('SIGKILL'), graceMs);
    }
    return this.exited;
  }

  #signal(name: NodeJS.Signals): void {
    if (this.#exit !== undefined) return;
    try {
      process.kill(this.pid, name);
    } catch {
      // already gone
    }
  }

  #readReport(stream: Readable | null): void {
    if (!stream) return;
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0 && text.length <= MAX_READY_BYTES) return;
      stream.off('data', onData);
      stream.destroy();
      this.#reported(newline < 0 ? text.slice(0, 200) : text.slice(0, newline));
    };
    stream.on('data', onData);
    stream.once('end', () => (this.#readyFdClosed = true));
  }

  #reported(line: string): void {
    if (!this.#settleReady) return;
    let info: unknown;
    try {
      info = JSON.parse(line);
    } catch {
      info = undefined;
    }
    const port = (info as { port?: unknown } | undefined)?.port;
    const valid =
      typeof info === 'object' &&
      info !== null &&
      !Array.isArray(info) &&
      (port === undefined || (Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536));
    if (valid) {
      this.#settleReady(undefined, info as ReadyInfo);
      publishTask({ pool: 'local', task: this.id, pid: this.pid, event: 'ready', port: port as number | undefined });
      return;
    }
    this.#notReady(
      new PetalError('PETAL_TASK_READY_REPORT', `${this.#name()} reported ready with ${JSON.stringify(line)}`, {
        fix: 'a task reports ready with one JSON object line on fd 3 (`reportReady({ port })`), port in 1–65535',
        detail: this.#detail({ report: line }),
      }),
    );
  }

  #readyTimedOut(timeoutMs: number): void {
    const hint = this.#readyFdClosed ? ' (it closed fd 3 without writing its report)' : '';
    this.#notReady(
      new PetalError('PETAL_TASK_READY_TIMEOUT', `${this.#name()} did not report ready within ${timeoutMs} ms${hint}`, {
        retryable: true,
        fix: `read ${this.id}'s last log lines for where it stalls, or raise readyTimeoutMs`,
        detail: this.#detail({ timeoutMs }),
      }),
    );
  }

  /** A task that will never be ready is of no use running: fail its readiness and stop it. */
  #notReady(err: PetalError): void {
    if (!this.#settleReady) return;
    publishTask({ pool: 'local', task: this.id, pid: this.pid, event: 'not-ready', reason: err.code });
    this.#settleReady(err);
    void this.stop();
  }

  #name(): string {
    return `${this.id} (pid ${this.pid} on ${this.host})`;
  }

  #detail(extra: Record<string, unknown>): Record<string, unknown> {
    return { task: this.id, pid: this.pid, host: this.host, ...extra };
  }
}

/** The wrapper exits with `sh`'s status: 128 + n when the task died of signal n. */
function fromWrapper(code: number | null, signal: NodeJS.Signals | null): TaskExit {
  if (code !== null && code > 128 && code < 128 + 65) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return { code: null, signal: name as NodeJS.Signals };
  }
  return { code, signal };
}

/** `with code 1`, `on SIGKILL`. */
export function describeExit(exit: TaskExit): string {
  return exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`;
}
