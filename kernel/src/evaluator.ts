// Runs cells on tslab's converter (TypeScript → JavaScript with type checking, declarations carried from cell to
// cell) and executor, and answers completion, inspection and is_complete from the same TypeScript service. Magic
// lines become calls into the "petal" API before TypeScript sees the cell, and are masked for completion.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ConverterSet, Executor } from 'tslab/dist/executor.js';
import type { Converter } from 'tslab/dist/converter.js';
import { PetalError } from '@petal/runtime';
import { Interrupted, TypeScriptDiagnostics } from './error-content.ts';
import type { CellDiagnostic } from './error-content.ts';
import { CELL_MAGIC_LINE, MAGIC_LINE } from './magics/registry.ts';
import type { MagicRegistry } from './magics/registry.ts';
import type { PetalModule } from './api/types.ts';

const tslabRequire = createRequire(createRequire(import.meta.url).resolve('tslab/dist/main.js'));
const { createConverter, isCompleteCode } = tslabRequire('./converter.js') as typeof import('tslab/dist/converter.js');
const { createExecutor } = tslabRequire('./executor.js') as typeof import('tslab/dist/executor.js');
const { printQuickInfo } = tslabRequire('./inspect.js') as typeof import('tslab/dist/inspect.js');

/** The name of the global the transformed magic lines call. */
const HOOK = '__petal__';

/**
 * Globals every cell sees. It is prepended to the declarations tslab carries between cells: tslab keeps only
 * declarations of names, so this block never piles up. tslab compiles a name declared there as a variable of an
 * earlier cell (`exports.prompt`), so the values are also set among those variables (see `provide`). `extra` goes
 * inside the `declare global` block (tfjs-node's types for `tf`, once a cell mentions it).
 */
const prelude = (extra: string): string => `declare global {
${extra}
  /** Asks the person at the notebook for a line of text (a Jupyter input_request). */
  function prompt(message?: string, defaultValue?: string): string | null;
  /** Asks a yes/no question; true for "y" or "yes". */
  function confirm(message?: string): boolean;
  /** Petal's magic lines run through this. */
  var ${HOOK}: {
    magic(line: string, value?: () => unknown): Promise<unknown>;
    cellMagic(line: string, body: string): Promise<unknown>;
  };
}
`;

/** A cell that may use TensorFlow: from it on, `tf` from "petal" is typed with tfjs-node's module. */
const MENTIONS_TF = /\btf\b/;

/** What a cell did: its last expression's value, or why it failed. */
export type Outcome = { ok: true; hasValue: boolean; value: unknown } | { ok: false; error: unknown };

export interface EvaluatorOptions {
  /** The notebook folder: imports resolve from here. */
  dir: string;
  api: PetalModule;
  magics: MagicRegistry;
  /** Declaration text of the module "petal" (types.ts plus its values). */
  declaration: string;
  /** What types `tf` in full (declaration.ts's tfDeclaration()), added from the first cell that mentions `tf`. */
  tfDeclaration: string;
}

const DIAGNOSTIC_FORMAT = '%s%d:%d - %s';
const INTERRUPT_MESSAGES = ['Script execution was interrupted by `SIGINT`', 'Interrupted asynchronously'];

/** Serves the module "petal" to the TypeScript service as a virtual `node_modules/petal.d.ts`. */
function serveDeclaration(dir: string, declaration: string): void {
  const ts = tslabRequire('@tslab/typescript-for-tslab') as {
    sys: { fileExists(p: string): boolean; readFile(p: string, encoding?: string): string | undefined };
  };
  const file = join(dir, 'node_modules', 'petal.d.ts').replaceAll('\\', '/');
  const { fileExists, readFile } = ts.sys;
  ts.sys.fileExists = (p) => p === file || fileExists.call(ts.sys, p);
  ts.sys.readFile = (p, encoding) => (p === file ? declaration : readFile.call(ts.sys, p, encoding));
}

// tslab's converter drives TypeScript's watch program with a hand-run timer; when files it watches change on disk
// (`%npm install` writing node_modules), TypeScript schedules a second rebuild and the converter throws from then on.
const STUCK_TIMER = /rebuildTimer|clearing unexpected/;

/**
 * A converter with the prelude before every cell's declarations (`prelude(src)` gives it for the cell's source), which
 * replaces a stuck tslab converter with a fresh one (declarations live in the executor, so nothing is lost) and tries
 * again once.
 */
function preludedConverter(create: () => Converter, prelude: (src: string) => string): Converter {
  let converter = create();
  const retry = <T>(call: (c: Converter) => T): T => {
    try {
      return call(converter);
    } catch (err) {
      if (!(err instanceof Error) || !STUCK_TIMER.test(err.message)) throw err;
      try {
        converter.close();
      } catch {
        // it is being replaced because it is broken
      }
      converter = create();
      return call(converter);
    }
  };
  return {
    convert: (decls, src) => retry((c) => c.convert(prelude(src) + decls, src)),
    inspect: (decls, src, position) => retry((c) => c.inspect(prelude(src) + decls, src, position)),
    complete: (decls, src, position) => retry((c) => c.complete(prelude(src) + decls, src, position)),
    addModule: (name, content, meta) => retry((c) => c.addModule(name, content, meta)),
    close: () => converter.close(),
  };
}

/** Replaces magic lines by spaces, so TypeScript sees the rest at the same offsets. */
export function maskMagics(code: string): string {
  if (isCellMagic(code)) return code.replace(/[^\n]/g, ' ');
  return code
    .split('\n')
    .map((line) => (MAGIC_LINE.test(line) ? ' '.repeat(line.length) : line))
    .join('\n');
}

function isCellMagic(code: string): boolean {
  const first = code.split('\n').find((l) => l.trim() !== '');
  return first !== undefined && CELL_MAGIC_LINE.test(first);
}

export class Evaluator {
  readonly #magics: MagicRegistry;
  readonly #executor: Executor;
  readonly #convs: ConverterSet;
  #capture: { hasValue: boolean; value: unknown; errors: unknown[][] } = {
    hasValue: false,
    value: undefined,
    errors: [],
  };
  /** The value of a body-evaluating cell magic's body, between its two runs. */
  #bodyValue: unknown;

  constructor(options: EvaluatorOptions) {
    this.#magics = options.magics;
    serveDeclaration(options.dir, options.declaration);
    // Sticky: once loaded, tfjs-node's declarations stay in the program (dropping them would mean loading them again).
    let tfTyped = false;
    const light = prelude('');
    const full = prelude(options.tfDeclaration);
    const preludeFor = (src: string): string => {
      tfTyped ||= MENTIONS_TF.test(src);
      return tfTyped ? full : light;
    };
    let node: Converter | undefined;
    let browser: Converter | undefined;
    this.#convs = {
      get node() {
        return (node ??= preludedConverter(() => createConverter({ isJS: false, isBrowser: false }), preludeFor));
      },
      get browser() {
        return (browser ??= preludedConverter(() => createConverter({ isJS: false, isBrowser: true }), preludeFor));
      },
      close() {
        node?.close();
        browser?.close();
      },
    };
    void this.#convs.node; // the first conversion costs ~1 s; pay it at start, not in the first cell
    this.#executor = createExecutor(options.dir, this.#convs, {
      log: (value: unknown) => {
        this.#capture.hasValue = true;
        this.#capture.value = value;
      },
      error: (...args: unknown[]) => this.#capture.errors.push(args),
    });
    const api = options.api;
    const slot = globalThis as unknown as { __tslab__: { require: NodeJS.Require } };
    const required = slot.__tslab__.require;
    slot.__tslab__.require = new Proxy(required, {
      apply: (target, self, args: unknown[]) => (args[0] === 'petal' ? api : Reflect.apply(target, self, args)),
    });
    this.provide(HOOK, {
      magic: async (line: string, value?: () => unknown) => {
        if (!value) return await api.magic(line);
        const { magic, call } = this.#magics.parseLine(line);
        return await magic.run(call, api, value());
      },
      cellMagic: async (line: string, body: string) => {
        const { magic, call } = this.#magics.parseCell(line);
        const value = this.#bodyValue;
        this.#bodyValue = undefined;
        return await magic.run(call, body, api, magic.evaluatesBody ? value : undefined);
      },
    });
  }

  /** Makes `name` a global of every cell (it must be declared in the prelude too). */
  provide(name: string, value: unknown): void {
    (globalThis as Record<string, unknown>)[name] = value;
    this.#executor.locals[name] = value;
  }

  /** The cell with magic lines turned into calls; throws PETAL_MAGIC_* for a magic that would not parse. */
  transform(code: string): string {
    const lines = code.split('\n');
    const first = lines.findIndex((l) => l.trim() !== '');
    if (first >= 0 && CELL_MAGIC_LINE.test(lines[first]!)) {
      this.#magics.parseCell(lines[first]!);
      const body = lines.slice(first + 1).join('\n');
      return `await globalThis.${HOOK}.cellMagic(${JSON.stringify(lines[first]!.trim())}, ${JSON.stringify(body)})`;
    }
    return lines
      .map((line) => {
        const match = MAGIC_LINE.exec(line);
        if (!match) return line;
        const { call } = this.#magics.parseLine(line);
        const indent = /^[ \t]*/.exec(line)![0];
        // An expression magic's EXPR is cell code: TypeScript checks it and it sees the cell's variables.
        const value = call.expression === undefined ? '' : `, () => (${call.expression})`;
        return `${indent};await globalThis.${HOOK}.magic(${JSON.stringify(line.trim().slice(1))}${value});`;
      })
      .join('\n');
  }

  /**
   * A `%%name` cell whose magic evaluates its body: the first line, and the cell with that line blanked (so
   * diagnostics keep their line numbers).
   */
  #bodyMagic(code: string): { line: string; body: string } | undefined {
    const lines = code.split('\n');
    const first = lines.findIndex((l) => l.trim() !== '');
    if (first < 0 || !CELL_MAGIC_LINE.test(lines[first]!)) return undefined;
    const name = CELL_MAGIC_LINE.exec(lines[first]!)?.[1];
    if (name === undefined || !this.#magics.cellNames.includes(name)) return undefined;
    if (!this.#magics.parseCell(lines[first]!).magic.evaluatesBody) return undefined;
    return {
      line: lines[first]!.trim(),
      body: lines.map((l, i) => (i === first ? ' '.repeat(l.length) : l)).join('\n'),
    };
  }

  /** Runs one cell. Never throws: failures come back as the outcome's error. */
  async execute(code: string): Promise<Outcome> {
    let bodyMagic;
    try {
      bodyMagic = this.#bodyMagic(code);
    } catch (error) {
      return { ok: false, error };
    }
    if (!bodyMagic) return this.#run(code, code);
    // The body first, as any cell; then the magic with the body's value, as a cell of its own.
    const body = await this.#run(bodyMagic.body, code);
    if (!body.ok) return body;
    this.#bodyValue = body.hasValue ? body.value : undefined;
    return this.#run(`await globalThis.${HOOK}.cellMagic(${JSON.stringify(bodyMagic.line)}, "")`, code, false);
  }

  async #run(code: string, shown: string, transform = true): Promise<Outcome> {
    let source: string;
    try {
      source = transform ? this.transform(code) : code;
    } catch (error) {
      return { ok: false, error };
    }
    this.#capture = { hasValue: false, value: undefined, errors: [] };
    let ok: boolean;
    try {
      ok = await this.#executor.execute(source);
    } catch (error) {
      return { ok: false, error };
    }
    const { hasValue, value, errors } = this.#capture;
    this.#capture = { hasValue: false, value: undefined, errors: [] };
    if (ok && errors.length === 0) return { ok: true, hasValue, value };
    return { ok: false, error: this.#errorOf(errors, shown) };
  }

  #errorOf(errors: unknown[][], code: string): unknown {
    const diagnostics: CellDiagnostic[] = errors
      .filter((args) => args[0] === DIAGNOSTIC_FORMAT)
      .map(([, file, line, column, message]) => ({
        line: Number(line),
        column: Number(column),
        message: String(message),
        ...(file ? { file: String(file).trim() } : {}),
      }));
    if (diagnostics.length > 0) return new TypeScriptDiagnostics(diagnostics, code);
    const thrown = errors[0]?.[0];
    if (thrown instanceof Error && INTERRUPT_MESSAGES.includes(thrown.message)) return new Interrupted();
    if (errors.length === 0) return new PetalError('PETAL_KERNEL_INTERNAL', 'the cell failed without an error');
    return thrown;
  }

  /** Ends a cell that awaits (a cell that computes is ended by SIGINT itself, through breakOnSigint). */
  interrupt(): void {
    this.#executor.interrupt();
  }

  complete(code: string, cursor: number): { start: number; end: number; matches: string[] } {
    const lineStart = code.lastIndexOf('\n', cursor - 1) + 1;
    const lineEnd = code.indexOf('\n', cursor);
    const line = code.slice(lineStart, lineEnd < 0 ? code.length : lineEnd);
    if (MAGIC_LINE.test(line) || (lineStart === 0 && CELL_MAGIC_LINE.test(line))) {
      const { start, matches } = this.#magics.complete(code.slice(lineStart, cursor));
      return { start: lineStart + start, end: cursor, matches };
    }
    const masked = this.#mask(code);
    if (masked === undefined) return { start: cursor, end: cursor, matches: [] };
    const info = this.#executor.complete(masked, cursor);
    return { start: info.start, end: info.end, matches: info.candidates };
  }

  /** Hover text at `cursor`, or undefined. */
  inspect(code: string, cursor: number): string | undefined {
    const lineStart = code.lastIndexOf('\n', cursor - 1) + 1;
    const line = code.slice(lineStart).split('\n')[0] ?? '';
    const magic = MAGIC_LINE.exec(line) ?? CELL_MAGIC_LINE.exec(line);
    if (magic?.[1]) {
      try {
        return this.#magics.help(magic[1]);
      } catch {
        return undefined;
      }
    }
    const masked = this.#mask(code);
    if (masked === undefined) return undefined;
    const info = this.#executor.inspect(masked, cursor);
    // A name TypeScript cannot resolve has quick info of kind "" (and type any): nothing was found.
    return info && info.kind ? printQuickInfo(info) : undefined;
  }

  isComplete(code: string): { status: 'complete' } | { status: 'incomplete'; indent: string } {
    const masked = this.#mask(code);
    if (masked === undefined) return { status: 'complete' };
    const result = isCompleteCode(masked);
    return result.completed ? { status: 'complete' } : { status: 'incomplete', indent: result.indent ?? '' };
  }

  /** The cell as TypeScript sees it: magic lines blanked; undefined for a cell magic whose body is not code. */
  #mask(code: string): string | undefined {
    let body;
    try {
      body = this.#bodyMagic(code);
    } catch {
      body = undefined;
    }
    if (body) return maskMagics(body.body);
    return isCellMagic(code) ? undefined : maskMagics(code);
  }

  close(): void {
    this.#executor.close();
  }
}
