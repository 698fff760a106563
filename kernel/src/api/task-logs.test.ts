import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LINES_PER_TASK, TaskLogs } from './task-logs.ts';

test('keeps the last lines of each task, merged by time, counting what it dropped', () => {
  const logs = new TaskLogs();
  for (let i = 0; i < LINES_PER_TASK + 5; i++) {
    logs.add({ task: 'worker:0', stream: 'stdout', text: `w${i}`, time: 2 * i });
    logs.add({ task: 'ps:0', stream: 'stderr', text: `p${i}`, time: 2 * i + 1 });
  }
  const all = logs.card();
  assert.equal(all.lines.length, 2 * LINES_PER_TASK);
  assert.equal(all.dropped, 10);
  assert.deepEqual(
    all.lines.slice(0, 2).map((l) => l.text),
    ['w5', 'p5'],
  );
  const one = logs.card('ps:0');
  assert.equal(one.task, 'ps:0');
  assert.ok(one.lines.every((l) => l.task === 'ps:0'));
  assert.equal(one.lines.at(-1)!.text, `p${LINES_PER_TASK + 4}`);
  assert.deepEqual(logs.card('worker:9').lines, []);
  logs.clear();
  assert.deepEqual(logs.tasks, []);
});
