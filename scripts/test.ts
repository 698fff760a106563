// `npm test [-- FILES...]`: type-checks every package, makes sure the browser tests have a browser, then runs
// every test file (unit tests beside the code, cross-package ones in test/) with node's test runner.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.PETAL_CHROMIUM ?? '/usr/bin/chromium';

function run(cmd: string, args: string[]): number {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}

/** Debian's Chromium drives the browser tests; install it when missing (root only, as CI runs). */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `petal test: ${CHROMIUM} is missing; install it with \`sudo apt-get install chromium\` or set PETAL_CHROMIUM\n`,
    );
    process.exit(1);
  }
  process.stderr.write('petal test: installing Debian chromium for the browser tests\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', 'chromium'],
  ]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) {
      process.stderr.write(`petal test: apt-get ${args.join(' ')} failed; install chromium by hand\n`);
      process.exit(1);
    }
  }
}

ensureChromium();
// Static checks first: they take seconds and name the line, where a failing end-to-end test takes minutes.
const bin = (pkg: string, path: string): string => join(root, 'node_modules', pkg, path);
const checks: [string, string[]][] = [
  ['type errors', [bin('typescript', 'bin/tsc'), '-b']],
  ['lint errors', [bin('eslint', 'bin/eslint.js'), '.']],
  [
    'unformatted files (run `npm run format`)',
    [bin('prettier', 'bin/prettier.cjs'), '--check', '--log-level=warn', '.'],
  ],
];
for (const [what, args] of checks) {
  if (run(process.execPath, args) !== 0) {
    process.stderr.write(`petal test: ${what} (above); fix them first\n`);
    process.exit(1);
  }
}
const files = process.argv.slice(2);
const patterns =
  files.length > 0
    ? files
    : ['runtime/src/**/*.test.ts', 'kernel/src/**/*.test.ts', 'labextension/src/**/*.test.ts', 'test/**/*.test.ts'];
process.exit(run(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=600000', ...patterns]));
