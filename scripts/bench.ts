// `npm run bench -- NAME`: runs test/bench/NAME.ts, which prints readable lines and, last, `BENCH {json}`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'bench');
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !existsSync(join(benchDir, `${name}.ts`))) {
  process.stderr.write(`usage: npm run bench -- NAME [ARGS]\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--expose-gc', join(benchDir, `${name}.ts`), ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
