// loadTf must never fall back to the pure-JS backend: when the native pieces are missing it fails, naming the
// piece and the fix. Each case runs in a fresh process against a copy of tfjs-node with one piece broken.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tfjsNodeDir } from '../env/locations.ts';

const runtimeDir = fileURLToPath(new URL('../..', import.meta.url));
const modules = dirname(dirname(tfjsNodeDir()));

/** A tree where runtime/ sees every installed package, but its own copy of tfjs-node, altered by `breakIt`. */
function brokenInstall(breakIt: (tfjsNode: string, root: string) => void): {
  root: string;
  load: () => ReturnType<typeof spawnSync>;
} {
  const root = mkdtempSync(join(tmpdir(), 'petal-tf-'));
  cpSync(join(runtimeDir, 'src'), join(root, 'runtime', 'src'), { recursive: true });
  cpSync(join(runtimeDir, 'python'), join(root, 'runtime', 'python'), { recursive: true });
  mkdirSync(join(root, 'node_modules', '@tensorflow'), { recursive: true });
  for (const name of readdirSync(modules)) {
    if (name !== '@tensorflow') symlinkSync(join(modules, name), join(root, 'node_modules', name));
  }
  for (const name of readdirSync(join(modules, '@tensorflow'))) {
    if (name !== 'tfjs-node')
      symlinkSync(join(modules, '@tensorflow', name), join(root, 'node_modules', '@tensorflow', name));
  }
  const copy = join(root, 'node_modules', '@tensorflow', 'tfjs-node');
  cpSync(tfjsNodeDir(), copy, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => !src.includes(`${tfjsNodeDir()}/build`),
  });
  breakIt(copy, root);
  const script =
    "const { loadTf } = await import('./runtime/src/tf/tf.ts'); try { loadTf(); process.stdout.write('loaded\\n') } catch (e) { process.stdout.write(JSON.stringify({ code: e.code, message: e.message }) + '\\n') }";
  return {
    root,
    load: () => spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }),
  };
}

function failure(r: ReturnType<typeof spawnSync>): { code: string; message: string } {
  assert.equal(r.status, 0, String(r.stderr));
  const out = String(r.stdout).trim().split('\n').at(-1) ?? '';
  assert.notEqual(out, 'loaded', 'must not load without its native pieces');
  return JSON.parse(out) as { code: string; message: string };
}

test('a missing native binding is named, with the setup fix', (t) => {
  const { root, load } = brokenInstall((copy) => rmSync(join(copy, 'lib', 'napi-v8', 'tfjs_binding.node')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const err = failure(load());
  assert.equal(err.code, 'PETAL_TF_BINDING_MISSING');
  assert.match(err.message, /native binding is not built \(.*tfjs_binding\.node\)/);
  assert.match(err.message, /fix: run `npm run setup`/);
});

test('a binding whose libtensorflow is gone names the library and the venv fix', (t) => {
  const { root, load } = brokenInstall((copy, tree) => {
    const lib = join(copy, 'deps', 'lib');
    rmSync(lib, { recursive: true, force: true });
    mkdirSync(lib);
    for (const name of [
      'libtensorflow.so',
      'libtensorflow_cc.so.2',
      'libtensorflow_framework.so',
      'libtensorflow_framework.so.2',
    ]) {
      symlinkSync(join(tree, 'removed-venv', name), join(lib, name));
    }
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const err = failure(load());
  assert.equal(err.code, 'PETAL_TF_LIBRARY_MISSING');
  assert.match(err.message, /libtensorflow could not be loaded .*libtensorflow_(cc|framework)\.so\.2/);
  assert.match(err.message, /fix: run `npm run setup`.*PETAL_VENV/);
});
