// `npm run bench -- NAME`: runs test/bench/NAME.ts, which prints readable lines and, last, `BENCH {json}`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TASK_V8_FLAGS } from '../runtime/src/pool/local-pool.ts';

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
// The feed benchmark runs with the V8 flags of pool tasks, where feeds run during training (raw and Petal alike).
const taskFlags = name === 'feed' ? TASK_V8_FLAGS : [];
const r = spawnSync(process.execPath, ['--expose-gc', ...taskFlags, join(benchDir, `${name}.ts`), ...args], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
