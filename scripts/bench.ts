// `npm run bench -- NAME`: runs test/bench/NAME.ts, which prints readable lines and, last, `BENCH {json}`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'bench');
// Benchmarks are the .ts files of test/bench; helpers there start with `_` or are bench-util.ts.
const isBenchmark = (file: string): boolean =>
  file.endsWith('.ts') && !file.startsWith('_') && file !== 'bench-util.ts';
const available = readdirSync(benchDir)
  .filter(isBenchmark)
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- NAME [ARGS]\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--expose-gc', join(benchDir, `${name}.ts`), ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
