import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CheckResult } from './checks.ts';
import { checkNode } from './checks.ts';
import { checkoutDir } from '../env/locations.ts';

const petal = fileURLToPath(new URL('../bin/petal.ts', import.meta.url));

function doctor(env: Record<string, string> = {}): { code: number | null; checks: Record<string, CheckResult> } {
  const r = spawnSync(process.execPath, [petal, 'doctor', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: CheckResult[] };
  assert.equal(report.ok, r.status === 0, 'exit code agrees with the report');
  return { code: r.status, checks: Object.fromEntries(report.checks.map((c) => [c.name, c])) };
}

test('doctor passes every check on a set-up machine', () => {
  const { code, checks } = doctor();
  for (const c of Object.values(checks)) assert.ok(c.ok, `${c.name}: ${c.detail} ${c.fix ?? ''}`);
  assert.equal(code, 0);
  assert.match(checks.tensorflow!.detail, /libtensorflow 2\.\d+\.\d+ .* backend "tensorflow"/);
  assert.match(checks.devices!.detail, /CPU:0/);
  assert.match(checks.jupyterlab!.detail, /JupyterLab 4\.6\./);
  assert.match(checks.kernelspec!.detail, /"TypeScript \(Petal\)"/);
  assert.ok(checks.kernelspec!.detail.includes(join(checkoutDir, 'kernel', 'src', 'main.ts')), 'runs this checkout');
});

test('doctor names the missing piece and its fix when settings point at wrong places', () => {
  const empty = mkdtempSync(join(tmpdir(), 'petal-doctor-'));
  try {
    const { code, checks } = doctor({ PETAL_KAFKA_LIBS: empty, PETAL_VENV: join(empty, 'no-venv') });
    assert.equal(code, 1);
    assert.equal(checks.node!.ok, true, 'unrelated checks still pass');
    assert.equal(checks.kafka!.ok, false);
    assert.ok(checks.kafka!.detail.includes(empty), 'names the folder it looked in');
    assert.match(checks.kafka!.fix ?? '', /npm run setup.*PETAL_KAFKA_LIBS/);
    assert.equal(checks.jupyterlab!.ok, false);
    assert.match(checks.jupyterlab!.fix ?? '', /PETAL_VENV/);
    assert.equal(checks.kernelspec!.ok, false);

    const noJava = doctor({ PETAL_JAVA: join(empty, 'java') });
    assert.equal(noJava.checks.kafka!.ok, false);
    assert.match(noJava.checks.kafka!.detail, /not found; Kafka .* needs Java ≥ 17/);
    assert.match(noJava.checks.kafka!.fix ?? '', /PETAL_JAVA/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('node check: 22.22 is the oldest accepted', () => {
  assert.equal(checkNode('22.22.0').ok, true);
  assert.equal(checkNode('24.0.0').ok, true);
  assert.equal(checkNode('22.21.9').ok, false);
  assert.match(checkNode('20.20.2').fix ?? '', /npm run setup/);
});
