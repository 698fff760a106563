// `npm run demo -- NAME [-p KEY=VALUE ...]`: executes notebooks/NAME.ipynb headless (nbclient, the Petal kernel),
// the way a user's "Run All" would, and prints last `DEMO {json}`: the figures the notebook's cell tagged `result`
// displays as application/json, plus the whole run's wall time. `-p` overrides a `const KEY = …;` line of the cell
// tagged `parameters` (papermill's convention), e.g. `-p IMAGES_PER_CLASS=60 -p EPOCHS=1` for a quick run.
// The executed copy, outputs included, is written under the state dir; the source notebook is never modified.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KERNEL_NAME } from '@petal/kernel/kernelspec';
import { jupyterEnv, stateDir, venvBin } from '@petal/runtime/locations';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const notebooksDir = join(root, 'notebooks');
const CELL_TIMEOUT_S = 900;

interface Cell {
  cell_type: string;
  source: string | string[];
  metadata: { tags?: string[] };
  outputs?: { output_type: string; data?: Record<string, unknown> }[];
}
interface Notebook {
  cells: Cell[];
}

function fail(message: string, code = 1): never {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(code);
}

const text = (source: string | string[]): string => (Array.isArray(source) ? source.join('') : source);
const tagged = (nb: Notebook, tag: string): Cell | undefined => nb.cells.find((c) => c.metadata.tags?.includes(tag));

/** Rewrites `const KEY = …;` lines of the parameters cell; a key it does not declare is an error naming the ones it does. */
function applyParameters(nb: Notebook, overrides: Map<string, unknown>): void {
  if (overrides.size === 0) return;
  const cell = tagged(nb, 'parameters');
  if (!cell) fail('the notebook has no cell tagged "parameters", so -p has nothing to set', 2);
  const declared = /^(\s*(?:export\s+)?const\s+)([A-Za-z_$][\w$]*)(\s*(?::[^=]+)?=\s*)(.*?)(;?\s*(?:\/\/.*)?)$/;
  const names: string[] = [];
  const lines = text(cell.source)
    .split('\n')
    .map((line) => {
      const m = declared.exec(line);
      if (!m) return line;
      const [, head, name, eq, , tail] = m as unknown as string[];
      names.push(name!);
      return overrides.has(name!) ? `${head}${name}${eq}${JSON.stringify(overrides.get(name!))}${tail}` : line;
    });
  for (const key of overrides.keys()) {
    if (!names.includes(key)) fail(`-p ${key}: the parameters cell declares ${names.join(', ') || 'nothing'}`, 2);
  }
  cell.source = lines.join('\n');
}

function parseOverrides(values: string[]): Map<string, unknown> {
  const overrides = new Map<string, unknown>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) fail(`-p ${v}: write KEY=VALUE, e.g. -p EPOCHS=2`, 2);
    const raw = v.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a bare word is a string
    }
    overrides.set(v.slice(0, eq), value);
  }
  return overrides;
}

function execute(input: string, output: string): Promise<number> {
  const script = join(root, 'scripts', 'run_notebook.py');
  const args = [script, input, output, KERNEL_NAME, String(CELL_TIMEOUT_S), notebooksDir];
  // jupyterEnv: KERNEL_NAME resolves to this checkout's kernelspec, not the one the shared venv holds.
  const child = spawn(venvBin('python'), args, { env: jupyterEnv(), stdio: 'inherit' });
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code ?? 1));
    child.once('error', (err) => fail(`could not run the venv's python (${err.message}); run npm run setup`));
  });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { param: { type: 'string', short: 'p', multiple: true, default: [] } },
  });
  const available = readdirSync(notebooksDir)
    .filter((f) => f.endsWith('.ipynb'))
    .map((f) => f.slice(0, -6));
  const name = positionals[0];
  if (!name || !available.includes(name)) {
    fail(`usage: npm run demo -- NAME [-p KEY=VALUE ...]\nnotebooks: ${available.join(', ') || '(none)'}`, 2);
  }
  const nb = JSON.parse(readFileSync(join(notebooksDir, `${name}.ipynb`), 'utf8')) as Notebook;
  applyParameters(nb, parseOverrides(values.param));
  const runs = join(stateDir(), 'demo');
  mkdirSync(runs, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const input = join(runs, `${name}-${stamp}.input.ipynb`);
  const output = join(runs, `${name}-${stamp}.ipynb`);
  writeFileSync(input, JSON.stringify(nb, null, 1));
  const started = performance.now();
  const code = await execute(input, output);
  const wallS = (performance.now() - started) / 1000;
  process.stdout.write(`executed notebook: ${output}\n`);
  if (code !== 0) fail(`${name}.ipynb failed after ${wallS.toFixed(1)} s (the error is above)`);
  const executed = JSON.parse(readFileSync(output, 'utf8')) as Notebook;
  const result = tagged(executed, 'result')
    ?.outputs?.map((o) => o.data?.['application/json'])
    .find((d) => d !== undefined);
  if (result === undefined) fail('the cell tagged "result" displayed no application/json figures');
  process.stdout.write(`DEMO ${JSON.stringify({ name, ...(result as object), wall_s: +wallS.toFixed(1) })}\n`);
}

await main();
