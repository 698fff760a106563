// launchAll is all-or-nothing: a crash or a missed deadline stops every task and names the culprit with its logs.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isPetalError } from '../errors.ts';
import type { PetalError } from '../errors.ts';
import { eventually, newMarker, processesWith } from './fixtures/processes.ts';
import { launchAll } from './launch-all.ts';
import { LocalPool } from './local-pool.ts';
import type { TaskSpec } from './pool.ts';

const entry = fileURLToPath(new URL('./fixtures/task.ts', import.meta.url));
const pools: LocalPool[] = [];
after(async () => {
  await Promise.all(pools.map((pool) => pool.close(0)));
});
function setup(): { pool: LocalPool; spec: (role: string, index: number, mode: string) => TaskSpec; marker: string } {
  const pool = new LocalPool();
  pools.push(pool);
  const marker = newMarker();
  return {
    pool,
    marker,
    spec: (role, index, mode) => ({ role, index, command: { entry, args: [mode, marker] }, readyTimeoutMs: 60_000 }),
  };
}

async function startError(run: Promise<unknown>): Promise<PetalError> {
  try {
    await run;
  } catch (err) {
    assert.ok(isPetalError(err, 'PETAL_CLUSTER_START'), String(err));
    return err as PetalError;
  }
  assert.fail('launchAll resolved');
}

test('one task crashing on start fails the start, names it with its log tail, and leaves nothing running', async () => {
  const { pool, spec, marker } = setup();
  const pids: number[] = [];
  const launch = pool.launch.bind(pool);
  pool.launch = async (s) => {
    const task = await launch(s);
    pids.push(task.pid);
    return task;
  };
  const err = await startError(
    launchAll(pool, [spec('ps', 0, 'ok'), spec('worker', 0, 'ok'), spec('worker', 1, 'crash')], { deadlineMs: 30_000 }),
  );
  const crashed = err.detail['pid'] as number;
  assert.equal(err.detail['task'], 'worker:1');
  assert.match(err.message, new RegExp(`worker:1 \\(pid ${crashed} on 127\\.0\\.0\\.1\\) exited with code 3`));
  assert.match(err.message, /! worker:1: boom: cannot open shard 7/);
  assert.match(err.message, /\| worker:1 starting/);
  assert.match(err.message, /every task launched was stopped \(3 of 3\)/);
  assert.ok(err.fix);
  assert.equal(pids.length, 3);
  assert.ok(pids.includes(crashed));
  assert.deepEqual(processesWith(marker), [], 'no task, wrapper or watcher left');
  assert.equal(pool.tasks().length, 0);
});

test('a task missing the deadline fails the start the same way', async () => {
  const { pool, spec, marker } = setup();
  const err = await startError(launchAll(pool, [spec('ps', 0, 'ok'), spec('worker', 0, 'hang')], { deadlineMs: 2000 }));
  assert.equal(err.detail['failure'], 'deadline');
  assert.equal(err.detail['task'], 'worker:0');
  assert.match(
    err.message,
    /not every task was ready within 2000 ms; waiting for worker:0 \(pid \d+ on 127\.0\.0\.1\)/,
  );
  assert.match(err.message, /worker:0 loading… \(forever\)/);
  assert.deepEqual(err.detail['notReady'], ['worker:0']);
  assert.deepEqual(processesWith(marker), []);
});

test('an aborted start stops everything; bad options and repeated tasks launch nothing', async () => {
  const { pool, spec, marker } = setup();
  const controller = new AbortController();
  const run = launchAll(pool, [spec('ps', 0, 'hang'), spec('worker', 0, 'hang')], {
    deadlineMs: 30_000,
    signal: controller.signal,
  });
  assert.ok(await eventually(() => pool.tasks().length === 2, 10_000));
  controller.abort();
  const err = await startError(run);
  assert.equal(err.detail['failure'], 'aborted');
  assert.deepEqual(processesWith(marker), []);

  await assert.rejects(
    launchAll(pool, [spec('ps', 0, 'ok')], { deadlineMs: 1000, deadline: 5 } as never),
    (e) => isPetalError(e, 'PETAL_POOL_OPTIONS') && /launchAll\.deadline is not an option/.test(String(e)),
  );
  await assert.rejects(
    launchAll(pool, [spec('ps', 0, 'ok'), spec('ps', 0, 'ok')], { deadlineMs: 1000 }),
    (e) => isPetalError(e, 'PETAL_POOL_OPTIONS') && /repeats task ps:0/.test(String(e)),
  );
  assert.equal(pool.tasks().length, 0);
});
