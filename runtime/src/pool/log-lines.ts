// A task's output as lines: split from byte chunks (bounded line length), kept in a bounded ring, fanned out.
import { StringDecoder } from 'node:string_decoder';

/** One line a task wrote, tagged with the task and the stream. */
export interface LogLine {
  /** `role:index`, e.g. `worker:1`. */
  task: string;
  stream: 'stdout' | 'stderr';
  text: string;
  /** Milliseconds since the epoch when the line arrived here. */
  time: number;
}

/** Called for every line, synchronously; what it throws is swallowed so one subscriber cannot break the rest. */
export type LogListener = (line: LogLine) => void;

/** The log lines of one task: the last few kept, every new one announced. */
export interface TaskLogs {
  /** The last `count` lines kept (all kept lines when omitted), oldest first. */
  tail(count?: number): LogLine[];
  /** Calls `listener` for each line from now on; returns the unsubscribe function. */
  subscribe(listener: LogListener): () => void;
}

/** Longer lines are cut there (the rest continues as a new line) so a task cannot grow our memory unboundedly. */
export const MAX_LINE_CHARS = 16 * 1024;

/** Splits a byte stream into lines: `\n` or `\r\n` ends one; a decoder keeps UTF-8 characters whole across chunks. */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #onLine: (text: string) => void;
  #partial = '';

  constructor(onLine: (text: string) => void) {
    this.#onLine = onLine;
  }

  /** Feeds a chunk; emits every line it completes. */
  write(chunk: Buffer | string): void {
    this.#take(typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
  }

  /** Emits what is left as a last line (a task's final words often lack the newline). */
  end(): void {
    this.#take(this.#decoder.end());
    if (this.#partial.length > 0) this.#emit(this.#partial);
    this.#partial = '';
  }

  #take(text: string): void {
    let rest = this.#partial + text;
    for (;;) {
      const newline = rest.indexOf('\n');
      if (newline < 0) break;
      this.#emit(rest.slice(0, newline));
      rest = rest.slice(newline + 1);
    }
    while (rest.length >= MAX_LINE_CHARS) {
      this.#onLine(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.#partial = rest;
  }

  #emit(line: string): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let at = 0; at < text.length; at += MAX_LINE_CHARS) this.#onLine(text.slice(at, at + MAX_LINE_CHARS));
    if (text.length === 0) this.#onLine('');
  }
}

/** A bounded ring of the last `capacity` lines plus their subscribers. */
export class LogRing implements TaskLogs {
  readonly #lines: (LogLine | undefined)[];
  readonly #listeners = new Set<LogListener>();
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#lines = new Array<LogLine | undefined>(capacity);
  }

  /** Keeps `line` (dropping the oldest when full) and hands it to every subscriber. */
  push(line: LogLine): void {
    this.#lines[this.#next] = line;
    this.#next = (this.#next + 1) % this.#lines.length;
    this.#size = Math.min(this.#size + 1, this.#lines.length);
    for (const listener of this.#listeners) {
      try {
        listener(line);
      } catch {
        // A subscriber's bug must not stop the task's other subscribers or the pool.
      }
    }
  }

  tail(count = this.#size): LogLine[] {
    const n = Math.max(0, Math.min(count, this.#size));
    const out: LogLine[] = [];
    for (let i = n; i > 0; i--) {
      const line = this.#lines[(this.#next - i + this.#lines.length) % this.#lines.length];
      if (line) out.push(line);
    }
    return out;
  }

  subscribe(listener: LogListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Drops every subscriber (the task is gone and its pool closed). */
  clearListeners(): void {
    this.#listeners.clear();
  }
}
