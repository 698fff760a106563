// The guarantee the systems we replace lacked: SIGKILL the process that started the cluster and every task
// (even one ignoring SIGTERM) exits within seconds, leaving no process and no held port.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually, newMarker, portFree, processesWith } from './fixtures/processes.ts';

const owner = fileURLToPath(new URL('./fixtures/owner.ts', import.meta.url));

test('SIGKILL of the owner leaves no task, wrapper or watcher behind, and frees every port', async () => {
  const marker = newMarker();
  const child = spawn(process.execPath, [owner, marker], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`owner exited ${code}: ${err}`)));
  });
  const { pids, ports } = JSON.parse(line) as { pids: number[]; ports: number[] };
  assert.equal(pids.length, 3);
  const before = processesWith(marker);
  for (const pid of pids) assert.ok(before.includes(pid), `task ${pid} runs`);
  for (const port of ports) assert.equal(await portFree(port), false, `port ${port} is held`);

  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;

  // worker:1 ignores SIGTERM: the watcher's SIGKILL after the owner grace (1 s) ends it.
  const clean = await eventually(async () => {
    if (processesWith(marker).length > 0) return false;
    for (const port of ports) if (!(await portFree(port))) return false;
    return true;
  }, 15_000);
  assert.ok(clean, `left behind: ${JSON.stringify(processesWith(marker))}`);
});
