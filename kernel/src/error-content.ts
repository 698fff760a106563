// The one place that turns anything a cell throws (TypeScript diagnostics, PetalErrors, exceptions, interrupts,
// thrown non-errors) into the content of a Jupyter `error` message and of an error execute_reply.
import { inspect } from 'node:util';
import { isPetalError } from '@petal/runtime';

/** The `ename`/`evalue`/`traceback` triple Jupyter shows. */
export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** One TypeScript diagnostic in a cell, 1-based. */
export interface CellDiagnostic {
  line: number;
  column: number;
  message: string;
  file?: string;
}

/** A cell that did not type-check: every diagnostic, with the line it points at. */
export class TypeScriptDiagnostics extends Error {
  override name = 'TypeScriptError';
  readonly diagnostics: CellDiagnostic[];
  readonly source: string;

  constructor(diagnostics: CellDiagnostic[], source: string) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.diagnostics = diagnostics;
    this.source = source;
  }
}

/** A cell ended by SIGINT or an interrupt_request. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor() {
    super('the cell was interrupted; what earlier cells defined is kept');
  }
}

function formatDiagnostic(d: CellDiagnostic): string {
  return `${d.file ? `${d.file} ` : ''}${d.line}:${d.column} - ${d.message}`;
}

const RED = '\x1b[31m';
const RESET = '\x1b[0m';

// Frames below the cell (the kernel, tslab, node internals) say nothing to the person who wrote the cell.
const INTERNAL_FRAME = /\(node:|[/\\]tslab[/\\]dist[/\\]|[/\\]kernel[/\\]src[/\\]|^\s+at new Promise/;

/** Error content for `err`. */
export function errorContent(err: unknown): ErrorContent {
  if (err instanceof TypeScriptDiagnostics) {
    const lines = err.source.split('\n');
    const traceback = err.diagnostics.flatMap((d) => {
      const code = d.file ? undefined : lines[d.line - 1];
      const pointer = code === undefined ? [] : [`    ${code}`, `    ${' '.repeat(Math.max(0, d.column - 1))}^`];
      return [`${RED}TypeScriptError${RESET}: ${formatDiagnostic(d)}`, ...pointer];
    });
    return { ename: err.name, evalue: err.message, traceback };
  }
  if (err instanceof Interrupted)
    return { ename: err.name, evalue: err.message, traceback: [`${RED}Interrupted${RESET}: ${err.message}`] };
  if (isPetalError(err)) {
    // Ours carry what to do in the message (its fix line); their stack would only show Petal's insides.
    return { ename: err.code, evalue: err.message, traceback: [`${RED}${err.code}${RESET}: ${err.message}`] };
  }
  if (err instanceof Error) {
    // Node decorates errors thrown in vm code with the generated JavaScript line above the message; skip to frames.
    const stack = (err.stack ?? '').split('\n');
    const head = stack.findIndex((line) => /^\s+at /.test(line));
    const frames = head < 0 ? [] : stack.slice(head).filter((line) => !INTERNAL_FRAME.test(line));
    const message = [`${err.name}: ${err.message}`];
    const cause = err.cause === undefined ? [] : [`caused by: ${inspect(err.cause, { depth: 2 })}`];
    return {
      ename: err.name,
      evalue: err.message,
      traceback: [`${RED}${message.join('\n')}${RESET}`, ...frames, ...cause],
    };
  }
  const text = inspect(err, { depth: 4 });
  return { ename: 'Uncaught', evalue: text, traceback: [`${RED}Uncaught${RESET} ${text}`] };
}
