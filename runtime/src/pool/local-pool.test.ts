// The local pool with real child processes: readiness on fd 3, tagged logs, stop escalation, validation, close.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isPetalError } from '../errors.ts';
import { eventually, newMarker, portFree, processesWith } from './fixtures/processes.ts';
import { launchAll } from './launch-all.ts';
import { LocalPool, TASK_V8_FLAGS } from './local-pool.ts';
import type { LogLine } from './log-lines.ts';
import type { TaskSpec } from './pool.ts';

const entry = fileURLToPath(new URL('./fixtures/task.ts', import.meta.url));
const marker = newMarker();
const spec = (role: string, index: number, mode: string, readyTimeoutMs = 20_000): TaskSpec => ({
  role,
  index,
  command: { entry, args: [mode, marker] },
  readyTimeoutMs,
});
const pools: LocalPool[] = [];
const newPool = (): LocalPool => {
  const pool = new LocalPool({ stopGraceMs: 2000 });
  pools.push(pool);
  return pool;
};
after(async () => {
  await Promise.all(pools.map((pool) => pool.close(0)));
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
    socket.once('close', () => socket.destroy());
  });
}

test('a ps and two workers come up with their ports; logs arrive tagged; close() stops all', async () => {
  const pool = newPool();
  const lines: LogLine[] = [];
  pool.subscribe((line) => lines.push(line));
  const up = await launchAll(pool, [spec('ps', 0, 'ok'), spec('worker', 0, 'ok'), spec('worker', 1, 'ok')], {
    deadlineMs: 30_000,
  });
  assert.deepEqual(
    up.map((t) => t.task.id),
    ['ps:0', 'worker:0', 'worker:1'],
  );
  for (const { task, ready } of up) {
    assert.equal(task.host, '127.0.0.1');
    assert.equal(ready['role'], task.role);
    // Run by this process's Node, every task gets the GC flags measured for the training step (local-pool.ts).
    assert.deepEqual(ready['execArgv'], [...TASK_V8_FLAGS]);
    assert.ok(typeof ready.port === 'number' && (await accepts(ready.port)), `${task.id} accepts on ${ready.port}`);
    assert.deepEqual(processesWith(marker).includes(task.pid), true, `pid ${task.pid} is the task itself`);
  }
  assert.equal(pool.tasks().length, 3);
  // stdout and stderr lines, each tagged with its task, both through the pool and in each task's ring.
  for (const { task, ready } of up) {
    const mine = (l: LogLine): boolean => l.task === task.id;
    assert.ok(await eventually(() => lines.filter(mine).length >= 2, 5000), `${task.id}'s lines arrive`);
    assert.ok(
      lines.some((l) => mine(l) && l.stream === 'stdout' && l.text === `${task.id} listening on port ${ready.port}`),
    );
    assert.ok(lines.some((l) => mine(l) && l.stream === 'stderr' && l.text === `${task.id} stderr works`));
    assert.ok(task.logs.tail().every(mine));
  }
  await Promise.all([pool.close(), pool.close()]);
  for (const { task, ready } of up) {
    assert.deepEqual(await task.exited, { code: 0, signal: null }, `${task.id} left cleanly via watchOwner`);
    assert.ok(await portFree(ready.port as number));
  }
  assert.deepEqual(processesWith(marker), []);
  assert.equal(pool.tasks().length, 0);
  await assert.rejects(pool.launch(spec('ps', 1, 'ok')), (err) => isPetalError(err, 'PETAL_POOL_CLOSED'));
});

test('stop() sends SIGTERM, then SIGKILL after the grace, and is idempotent', async () => {
  const pool = newPool();
  const task = await pool.launch(spec('worker', 7, 'stubborn'));
  await task.ready;
  const first = task.stop(300);
  const second = task.stop(300);
  assert.equal(first, second);
  assert.deepEqual(await first, { code: null, signal: 'SIGKILL' });
  assert.deepEqual(await task.stop(), { code: null, signal: 'SIGKILL' });
  assert.ok(task.logs.tail().some((l) => l.text === 'worker:7 ignores SIGTERM'));
  assert.ok(await eventually(() => !processesWith(marker).includes(task.pid), 5000));
});

test('readiness fails on a timeout or a garbage report, and the task is stopped', async () => {
  const pool = newPool();
  const hung = await pool.launch(spec('ps', 3, 'hang', 1500));
  const garbage = await pool.launch(spec('ps', 4, 'garbage'));
  await assert.rejects(
    hung.ready,
    (err) => isPetalError(err, 'PETAL_TASK_READY_TIMEOUT') && /ps:3 \(pid \d+/.test(String(err)),
  );
  await assert.rejects(garbage.ready, (err) => isPetalError(err, 'PETAL_TASK_READY_REPORT'));
  assert.equal((await hung.exited).signal, 'SIGTERM');
  assert.ok((await garbage.exited).signal !== null);
});

test('a crashed task rejects ready with its exit; options and specs are validated', async () => {
  const pool = newPool();
  const crashed = await pool.launch(spec('worker', 9, 'crash'));
  await assert.rejects(
    crashed.ready,
    (err) => isPetalError(err, 'PETAL_TASK_EXITED') && /with code 3/.test(String(err)),
  );
  assert.deepEqual(await crashed.exited, { code: 3, signal: null });
  assert.deepEqual(
    crashed.logs.tail().map((l) => [l.stream, l.text]),
    [
      ['stdout', 'worker:9 starting'],
      ['stderr', 'worker:9: boom: cannot open shard 7'],
    ],
  );
  assert.throws(
    () => new LocalPool({ stopGrace: 1 } as never),
    (err) => isPetalError(err, 'PETAL_POOL_OPTIONS'),
  );
  assert.throws(
    () => pool.launch({ ...spec('ps', 0, 'ok'), extra: 1 } as TaskSpec),
    (err) => isPetalError(err, 'PETAL_POOL_OPTIONS') && /spec\.extra is not an option/.test(String(err)),
  );
  assert.throws(
    () => pool.launch({ ...spec('ps', 0, 'ok'), env: { TOKEN: 'secret', N: 1 } } as unknown as TaskSpec),
    (err) => isPetalError(err, 'PETAL_POOL_OPTIONS') && !String(err).includes('secret'),
  );
  const missing = new LocalPool({ node: '/nonexistent/node' });
  pools.push(missing);
  const lost = await missing.launch(spec('ps', 6, 'ok'));
  await assert.rejects(
    lost.ready,
    (err) => isPetalError(err, 'PETAL_TASK_EXITED') && /with code 127/.test(String(err)),
  );
  assert.match(
    lost.logs
      .tail()
      .map((l) => l.text)
      .join('\n'),
    /not found/,
  );
  const first = await pool.launch(spec('ps', 5, 'ok'));
  await assert.rejects(pool.launch(spec('ps', 5, 'ok')), (err) => isPetalError(err, 'PETAL_POOL_DUPLICATE'));
  await first.stop();
});
