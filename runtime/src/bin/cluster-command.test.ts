// `petal cluster up → status → down` through the real CLI process, with real task processes; a worker killed under
// `petal cluster up --max-restarts 1` is replaced, said in the cluster log, and status shows the new pid.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../net/loopback.ts';
import { processAlive } from '../pool/process-alive.ts';
import { clusterPaths } from './cluster-command.ts';

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
  const record = JSON.parse(json.stdout) as { pid: number; tasks: { id: string; pid: number; socketPath?: string }[] };
  t.after(() => {
    for (const pid of [record.pid, ...record.tasks.map((x) => x.pid)])
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.deepEqual(record.tasks.map((x) => x.id).sort(), ['ps:0', 'worker:0', 'worker:1']);
  assert.match((await cli(stateDir, 'status')).stdout, /worker:1 +pid \d+/);
  assert.equal((await cli(stateDir, 'up', '--ps', '1', '--workers', '2')).code, 0, 'up again is a no-op');
  const socketPath = record.tasks.find((x) => x.id === 'ps:0')?.socketPath;
  assert.ok(socketPath && existsSync(socketPath), 'the PS listens on its Unix socket too');
  const down = await cli(stateDir, 'down');
  assert.equal(down.code, 0, down.stderr);
  for (const pid of [record.pid, ...record.tasks.map((x) => x.pid)])
    assert.equal(processAlive(pid), false, `pid ${pid} gone`);
  assert.equal(existsSync(dirname(socketPath)), false, 'no socket file or directory left');
  assert.equal((await cli(stateDir, 'status')).code, 3);
  assert.match((await cli(stateDir, 'down')).stdout, /No cluster is running/);
});

test(
  'petal cluster up --max-restarts 1: a killed worker is replaced, the log says so, status shows the new pid',
  { timeout: 90_000 },
  async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'petal-cluster-state-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    const bad = await cli(stateDir, 'up', '--max-restarts', 'many');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--max-restarts must be an integer from 0 to 1000, not "many"/);
    const up = await cli(stateDir, 'up', '--ps', '1', '--workers', '2', '--max-restarts', '1');
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /up to 1 worker restarts/);
    type Record = { pid: number; restarts: number; maxRestarts: number; tasks: { id: string; pid: number }[] };
    const status = async (): Promise<Record> => JSON.parse((await cli(stateDir, 'status', '--json')).stdout) as Record;
    const first = await status();
    const pids = new Set([first.pid, ...first.tasks.map((x) => x.pid)]);
    t.after(() => {
      for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    assert.deepEqual([first.restarts, first.maxRestarts], [0, 1]);
    const victim = first.tasks.find((x) => x.id === 'worker:1')!.pid;
    process.kill(victim, 'SIGKILL');
    const { recordFile, logFile } = clusterPaths(stateDir);
    const replaced = (): boolean => {
      try {
        return (JSON.parse(readFileSync(recordFile, 'utf8')) as Record).restarts === 1;
      } catch {
        return false; // being rewritten
      }
    };
    assert.ok(await waitUntil(replaced, 60_000, 100), `worker:1 replaced; log:\n${readFileSync(logFile, 'utf8')}`);
    const second = await status();
    const worker = second.tasks.find((x) => x.id === 'worker:1')!;
    pids.add(worker.pid);
    assert.notEqual(worker.pid, victim);
    assert.equal(processAlive(worker.pid), true);
    assert.match(
      readFileSync(logFile, 'utf8'),
      /cluster: worker:1 was killed \(SIGKILL\); replacing it \(restart 1 of 1\)/,
    );
    assert.match((await cli(stateDir, 'status')).stdout, /restarts +1 of 1 used[\s\S]*worker:1 +pid \d+, restarted 1×/);
    assert.equal((await cli(stateDir, 'down')).code, 0);
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} gone`);
  },
);
