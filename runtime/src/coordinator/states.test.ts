// The failure policy as a table: a worker failure within the budget restarts (restarting → running once every
// replacement is up), past it or for a PS fails the cluster naming the task; a failed replacement fails it too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { decide } from './states.ts';
import type { ClusterEvent } from './states.ts';

const failed = (task: string, restarts: number, maxRestarts: number): ClusterEvent => ({
  kind: 'task-failed',
  task,
  reason: 'its process (pid 7) exited on SIGKILL',
  budget: { restarts, maxRestarts },
});

test('a worker failure within the budget restarts it; running again once no replacement is pending', () => {
  const d = decide('running', failed('worker:1', 0, 3));
  assert.deepEqual(d, { next: 'restarting', actions: [{ kind: 'restart-task', task: 'worker:1' }] });
  assert.equal(decide('checkpointing', failed('worker:0', 2, 3)).next, 'restarting');
  const second = decide('restarting', failed('worker:0', 1, 3));
  assert.deepEqual(second.actions, [{ kind: 'restart-task', task: 'worker:0' }], 'a second loss while restarting');
  assert.equal(decide('restarting', { kind: 'task-restarted', task: 'worker:1', pending: 1 }).next, 'restarting');
  assert.equal(decide('restarting', { kind: 'task-restarted', task: 'worker:0', pending: 0 }).next, 'running');
  assert.equal(decide('restarting', { kind: 'checkpoint-begin' }).next, 'restarting');
  assert.equal(decide('restarting', { kind: 'stop' }).next, 'stopping');
});

test('past the budget, with maxRestarts 0, or for a PS: the cluster fails naming the task and how to go on', () => {
  for (const [event, fix] of [
    [failed('worker:1', 0, 0), /maxRestarts: N/],
    [failed('worker:1', 3, 3), /already replaced workers 3 time\(s\)/],
    [failed('ps:0', 0, 3), /PS failover is not supported.*job\.resume/],
  ] as const) {
    const d = decide('running', event);
    assert.equal(d.next, 'failed');
    assert.ok(isPetalError(d.failure, 'PETAL_CLUSTER_TASK_FAILED'));
    assert.match(d.failure.message, new RegExp(`^${(event as { task: string }).task} failed: its process`));
    assert.match(d.failure.message, fix);
    assert.deepEqual(
      d.actions.map((a) => a.kind),
      ['fail-training', 'stop-tasks'],
    );
  }
  const replacement = decide('restarting', { kind: 'restart-failed', task: 'worker:1', error: new Error('no') });
  assert.equal(replacement.next, 'failed');
  assert.equal(decide('stopping', failed('worker:1', 0, 3)).next, 'stopping', 'exits while stopping are expected');
});
