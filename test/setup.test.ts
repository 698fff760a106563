// Setup's failures must name the missing piece and the fix, and leave nothing half-made behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const setup = fileURLToPath(new URL('../scripts/setup.ts', import.meta.url));

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
  assert.ok(
    existsSync(
      join(
        fileURLToPath(new URL('..', import.meta.url)),
        'node_modules',
        '@tensorflow',
        'tfjs-node',
        'lib',
        'napi-v8',
        'tfjs_binding.node',
      ),
    ),
  );
});
