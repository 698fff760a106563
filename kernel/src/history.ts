// The inputs (and text outputs) of this kernel's cells, for history_request: tail, range and search.
// Kept in memory: a kernel's history ends with it.

/** One history entry as history_reply carries it: [session, line, input] or [session, line, [input, output]]. */
export type HistoryEntry = [number, number, string] | [number, number, [string, string | null]];

/** This kernel's session number in replies (IPython numbers sessions from 1). */
export const SESSION = 1;

export interface HistoryRequest {
  hist_access_type?: string;
  output?: boolean;
  session?: number;
  start?: number;
  stop?: number;
  n?: number;
  pattern?: string;
  unique?: boolean;
}

export class History {
  readonly #inputs = new Map<number, string>();
  readonly #outputs = new Map<number, string>();

  add(line: number, input: string): void {
    this.#inputs.set(line, input);
  }

  setOutput(line: number, output: string): void {
    if (this.#inputs.has(line)) this.#outputs.set(line, output);
  }

  query(request: HistoryRequest): HistoryEntry[] {
    // Other (earlier) sessions are not kept; session 0 and negative numbers are relative to this one.
    if (request.session !== undefined && request.session > 0 && request.session !== SESSION) return [];
    let lines = [...this.#inputs.keys()];
    switch (request.hist_access_type) {
      case 'range': {
        const start = request.start ?? 0;
        const stop = request.stop ?? Number.POSITIVE_INFINITY;
        lines = lines.filter((l) => l >= start && (stop <= 0 || l < stop));
        break;
      }
      case 'search': {
        const pattern = globToRegExp(request.pattern ?? '*');
        lines = lines.filter((l) => pattern.test(this.#inputs.get(l)!));
        if (request.unique) {
          const seen = new Set<string>();
          lines = lines.reverse().filter((l) => {
            const input = this.#inputs.get(l)!;
            return seen.has(input) ? false : (seen.add(input), true);
          });
          lines.reverse();
        }
        if (request.n !== undefined && request.n !== null) lines = lines.slice(-request.n);
        break;
      }
      default: // tail
        lines = lines.slice(-(request.n ?? 10));
    }
    return lines.map((l) =>
      request.output
        ? [SESSION, l, [this.#inputs.get(l)!, this.#outputs.get(l) ?? null]]
        : [SESSION, l, this.#inputs.get(l)!],
    );
  }
}

/** IPython's history search patterns: `*` any run, `?` one character, matched against the whole input. */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${body}$`, 's');
}
