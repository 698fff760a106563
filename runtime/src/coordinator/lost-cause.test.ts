import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lostCause, restartLine, rollbackLine } from './lost-cause.ts';
import type { TaskRestart } from './cluster.ts';

const restart = (exit: TaskRestart['exit'], reason: string): TaskRestart => ({
  task: 'worker:1',
  pid: 42,
  exit,
  reason,
  logTail: [],
  restarts: 1,
  maxRestarts: 3,
  generation: 7,
});

test('a restart reads as the signal, the exit code or the silence that caused it', () => {
  const killed = restart({ code: null, signal: 'SIGKILL' }, 'its process (pid 42) exited on SIGKILL');
  assert.equal(restartLine(killed), 'worker:1 was killed (SIGKILL); replacing it (restart 1 of 3)');
  assert.equal(
    lostCause(restart({ code: 1, signal: null }, 'its process (pid 42) exited with code 1')),
    'exited with code 1',
  );
  const silent = restart({ code: null, signal: 'SIGKILL' }, 'no heartbeat for 5012 ms (timeout 5000 ms)');
  assert.equal(
    lostCause(silent),
    'fell silent (no heartbeat for 5012 ms (timeout 5000 ms))',
    'not the SIGKILL that ended it',
  );
  assert.equal(
    rollbackLine('worker:1', 'was killed (SIGKILL)', 60),
    'worker:1 was killed (SIGKILL); replacing it and rolling back to step 60 (its newest checkpoint)',
  );
  assert.match(rollbackLine('worker:0', 'was killed (SIGKILL)', 0), /rolling back to step 0 \(no checkpoint yet/);
});
