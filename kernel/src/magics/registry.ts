// Magics: `%name [sub] [--flags] [args]` lines and `%%name ...` cells, each thin sugar over the "petal" API (a
// magic's run() calls the same function a cell would import). Magics register here; the parser checks every line
// against the registered specs before a cell runs, so a typo fails at once with the valid choices.
import { parseArgs } from 'node:util';
import { PetalError } from '@petal/runtime';
import type { PetalModule } from '../api/types.ts';

/** A flag: its type and how help shows it (`--port N (client port)`). */
export interface FlagSpec {
  type: 'string' | 'boolean';
  help: string;
}

/** Flags and positional arguments of a magic or of one of its subcommands. */
export interface ArgsSpec {
  summary: string;
  flags?: Record<string, FlagSpec>;
  /** Name of the positional arguments in help (`PKG...`); absent means none are allowed. */
  positionals?: { name: string; min: number; max: number };
}

/** One parsed magic invocation. */
export interface MagicCall {
  name: string;
  subcommand: string | undefined;
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** For a magic with `expression`: the TypeScript expression text before the flags. */
  expression?: string;
}

/** A line magic. With `subcommands`, the first word picks one (`%kafka up`); else `args` applies directly. */
export interface LineMagic {
  name: string;
  summary: string;
  subcommands?: Record<string, ArgsSpec>;
  args?: ArgsSpec;
  /**
   * The help name of a leading TypeScript expression (`EXPR`): the text up to the first ` --flag` is evaluated in the
   * cell's scope and its value passed to run() (`%train opts --epochs 3`).
   */
  expression?: string;
  run(call: MagicCall, api: PetalModule, value?: unknown): unknown;
}

/** A cell magic: `%%name args` on the first line, the rest of the cell is its body. */
export interface CellMagic {
  name: string;
  summary: string;
  args: ArgsSpec;
  /** The body is run as ordinary cell code first, and run() gets the value of its last expression. */
  evaluatesBody?: boolean;
  run(call: MagicCall, body: string, api: PetalModule, value?: unknown): unknown;
}

/** `%name rest` at the start of a line (indentation allowed). */
export const MAGIC_LINE = /^[ \t]*%(?!%)([A-Za-z_][\w-]*)?(.*)$/;
/** `%%name rest` as the first line of a cell. */
export const CELL_MAGIC_LINE = /^[ \t]*%%([A-Za-z_][\w-]*)?(.*)$/;

function usageError(message: string, fix: string): PetalError {
  return new PetalError('PETAL_MAGIC_USAGE', message, { fix });
}

/** Splits a magic's argument text like a shell: whitespace separates, quotes group. */
export function splitArgs(text: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) words.push(m[1]?.replace(/\\(.)/g, '$1') ?? m[2] ?? m[3] ?? '');
  return words;
}

function flagList(spec: ArgsSpec): string {
  const flags = Object.values(spec.flags ?? {}).map((f) => f.help);
  return flags.length > 0 ? flags.join(', ') : 'none';
}

function parseWith(where: string, spec: ArgsSpec, args: string[]): Pick<MagicCall, 'flags' | 'positionals'> {
  const options = Object.fromEntries(Object.entries(spec.flags ?? {}).map(([name, f]) => [name, { type: f.type }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageError(`${where}: ${(err as Error).message.split('\n')[0]}`, `valid flags: ${flagList(spec)}`);
  }
  const { min, max } = spec.positionals ?? { min: 0, max: 0 };
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const want = spec.positionals ? `${spec.positionals.name}` : 'no arguments';
    throw usageError(
      `${where}: ${n < min ? 'missing' : 'unexpected'} argument${n > max ? ` "${parsed.positionals[max]}"` : ''}`,
      `usage: ${where} ${want}${spec.flags ? ` [flags: ${flagList(spec)}]` : ''}`,
    );
  }
  return { flags: { ...parsed.values } as MagicCall['flags'], positionals: parsed.positionals };
}

/** `%name EXPR [--flags]`: the expression is the text before the first ` --`, the flags are parsed as usual. */
function parseExpression(line: string, magic: LineMagic): MagicCall {
  const rest = line.trim().replace(/^%/, '').slice(magic.name.length);
  const at = rest.search(/\s--[A-Za-z]/);
  const expression = (at < 0 ? rest : rest.slice(0, at)).trim();
  const where = `%${magic.name}`;
  const spec = magic.args ?? { summary: magic.summary };
  if (expression === '')
    throw usageError(
      `${where} needs ${magic.expression}`,
      `usage: ${where} ${magic.expression} [flags: ${flagList(spec)}]`,
    );
  const parsed = parseWith(where, spec, at < 0 ? [] : splitArgs(rest.slice(at)));
  return { name: magic.name, subcommand: undefined, ...parsed, expression };
}

/** The magics one kernel knows. */
export class MagicRegistry {
  readonly #line = new Map<string, LineMagic>();
  readonly #cell = new Map<string, CellMagic>();

  addLine(magic: LineMagic): this {
    this.#line.set(magic.name, magic);
    return this;
  }

  addCell(magic: CellMagic): this {
    this.#cell.set(magic.name, magic);
    return this;
  }

  get lineNames(): string[] {
    return [...this.#line.keys()].sort();
  }

  get cellNames(): string[] {
    return [...this.#cell.keys()].sort();
  }

  #valid(): string {
    const line = this.lineNames.map((n) => `%${n}`).join(', ');
    const cell = this.cellNames.map((n) => `%%${n}`).join(', ');
    return `valid magics: ${line}${cell ? `; cell magics: ${cell}` : ''} (details: %help)`;
  }

  /** Parses a `%name ...` line (with or without the `%`); throws PETAL_MAGIC_UNKNOWN / PETAL_MAGIC_USAGE. */
  parseLine(line: string): { magic: LineMagic; call: MagicCall } {
    const [name = '', ...args] = splitArgs(line.trim().replace(/^%/, ''));
    const magic = this.#line.get(name);
    if (!magic) {
      const what = name === '' ? 'a magic line needs a name' : `unknown magic %${name}`;
      throw new PetalError('PETAL_MAGIC_UNKNOWN', what, { fix: this.#valid() });
    }
    if (magic.expression !== undefined) return { magic, call: parseExpression(line, magic) };
    if (!magic.subcommands) {
      return {
        magic,
        call: { name, subcommand: undefined, ...parseWith(`%${name}`, magic.args ?? { summary: '' }, args) },
      };
    }
    const [sub, ...rest] = args;
    const valid = Object.keys(magic.subcommands);
    const spec = sub === undefined ? undefined : magic.subcommands[sub];
    if (!spec || sub === undefined) {
      throw usageError(
        sub === undefined ? `%${name} needs a subcommand` : `%${name}: unknown subcommand "${sub}"`,
        `valid: ${valid.map((s) => `%${name} ${s}`).join(', ')}`,
      );
    }
    return { magic, call: { name, subcommand: sub, ...parseWith(`%${name} ${sub}`, spec, rest) } };
  }

  /** Parses the first line of a `%%name ...` cell. */
  parseCell(firstLine: string): { magic: CellMagic; call: MagicCall } {
    const [name = '', ...args] = splitArgs(firstLine.trim().replace(/^%%/, ''));
    const magic = this.#cell.get(name);
    if (!magic) {
      throw new PetalError(
        'PETAL_MAGIC_UNKNOWN',
        name === '' ? 'a cell magic needs a name' : `unknown cell magic %%${name}`,
        {
          fix: this.#valid(),
        },
      );
    }
    return { magic, call: { name, subcommand: undefined, ...parseWith(`%%${name}`, magic.args, args) } };
  }

  /** Help for one magic, or all of them. */
  help(name?: string): string {
    const show = (title: string, spec: ArgsSpec): string => {
      const pos = spec.positionals ? ` ${spec.positionals.name}` : '';
      const flags = spec.flags
        ? ` [${Object.values(spec.flags)
            .map((f) => f.help)
            .join('] [')}]`
        : '';
      return `  ${`${title}${pos}${flags}`}\n      ${spec.summary}`;
    };
    const describe = (magic: LineMagic): string =>
      magic.subcommands
        ? Object.entries(magic.subcommands)
            .map(([sub, spec]) => show(`%${magic.name} ${sub}`, spec))
            .join('\n')
        : show(
            `%${magic.name}${magic.expression ? ` ${magic.expression}` : ''}`,
            magic.args ?? { summary: magic.summary },
          );
    if (name !== undefined) {
      const bare = name.replace(/^%+/, '');
      const line = this.#line.get(bare);
      const cell = this.#cell.get(bare);
      if (!line && !cell) throw new PetalError('PETAL_MAGIC_UNKNOWN', `unknown magic %${bare}`, { fix: this.#valid() });
      return [line ? `%${bare}: ${line.summary}\n${describe(line)}` : '', cell ? show(`%%${bare}`, cell.args) : '']
        .filter(Boolean)
        .join('\n');
    }
    const lines = [...this.#line.values()].map(describe);
    const cells = [...this.#cell.values()].map((m) => show(`%%${m.name}`, m.args));
    return [
      'Petal magics (each is sugar over `import { … } from "petal"`):',
      ...lines,
      ...(cells.length > 0 ? ['cell magics:', ...cells] : []),
    ].join('\n');
  }

  /** Completions for the text of a magic line up to the cursor: magic names, subcommands, then flags. */
  complete(before: string): { start: number; matches: string[] } {
    const words = before.replace(/^[ \t]*/, '');
    const offset = before.length - words.length;
    const parts = words.split(/\s+/);
    const word = parts[parts.length - 1] ?? '';
    const start = before.length - word.length;
    if (parts.length === 1) {
      const isCell = word.startsWith('%%');
      const names = isCell ? this.cellNames.map((n) => `%%${n}`) : this.lineNames.map((n) => `%${n}`);
      return { start: offset, matches: names.filter((n) => n.startsWith(word)) };
    }
    const magic = this.#line.get((parts[0] ?? '').replace(/^%/, ''));
    if (!magic) return { start, matches: [] };
    if (magic.subcommands && parts.length === 2)
      return { start, matches: Object.keys(magic.subcommands).filter((s) => s.startsWith(word)) };
    const spec = magic.subcommands ? magic.subcommands[parts[1] ?? ''] : magic.args;
    const flags = Object.keys(spec?.flags ?? {}).map((f) => `--${f}`);
    return { start, matches: word.startsWith('-') ? flags.filter((f) => f.startsWith(word)) : [] };
  }
}
