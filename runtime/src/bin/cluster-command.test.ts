// `petal cluster up → status → down` through the real CLI process, with real task processes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processAlive } from '../pool/process-alive.ts';

const petal = fileURLToPath(new URL('../../bin/petal.mjs', import.meta.url));

function cli(stateDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [petal, 'cluster', ...args],
      { env: { ...process.env, PETAL_STATE_DIR: stateDir }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

test('petal cluster up → status → down → status', { timeout: 90_000 }, async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'petal-cluster-state-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  assert.equal((await cli(stateDir, 'status')).code, 3);
  const up = await cli(stateDir, 'up', '--ps', '1', '--workers', '2');
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /Cluster is up: 1 PS, 2 workers, mode sync/);
  const json = await cli(stateDir, 'status', '--json');
  assert.equal(json.code, 0);
  const record = JSON.parse(json.stdout) as { pid: number; tasks: { id: string; pid: number }[] };
  t.after(() => {
    for (const pid of [record.pid, ...record.tasks.map((x) => x.pid)])
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.deepEqual(record.tasks.map((x) => x.id).sort(), ['ps:0', 'worker:0', 'worker:1']);
  assert.match((await cli(stateDir, 'status')).stdout, /worker:1 +pid \d+/);
  assert.equal((await cli(stateDir, 'up', '--ps', '1', '--workers', '2')).code, 0, 'up again is a no-op');
  const down = await cli(stateDir, 'down');
  assert.equal(down.code, 0, down.stderr);
  for (const pid of [record.pid, ...record.tasks.map((x) => x.pid)])
    assert.equal(processAlive(pid), false, `pid ${pid} gone`);
  assert.equal((await cli(stateDir, 'status')).code, 3);
  assert.match((await cli(stateDir, 'down')).stdout, /No cluster is running/);
});
