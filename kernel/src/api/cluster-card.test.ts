// clusterCard(): the panel's view of a cluster status, in particular what `%cluster down` leaves in the cell.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterStatus } from '@petal/runtime';
import { clusterCard } from './cluster.ts';
import { clusterHtml, clusterText } from '../outputs/cluster-view.ts';

function status(state: ClusterStatus['state']): ClusterStatus {
  const task = (id: string, role: string, index: number): ClusterStatus['tasks'][number] => ({
    id,
    role,
    index,
    host: '127.0.0.1',
    pid: 100 + index,
    devices: ['cpu'],
    state: 'up',
    restarts: 0,
    lastHeartbeat: Date.now() - 50_000,
  });
  return {
    state,
    generation: 1,
    mode: 'sync',
    ps: 1,
    workers: 2,
    coordinator: { host: '127.0.0.1', port: 41000 },
    tasks: [
      task('ps:0', 'ps', 0),
      { ...task('worker:0', 'worker', 0), restarts: 1 },
      { ...task('worker:1', 'worker', 1), state: 'failed', failure: 'was killed (SIGKILL)' },
    ],
    restarts: 1,
    maxRestarts: 3,
  };
}

test('a running cluster shows its tasks up, their heartbeat age, and the restarts used', () => {
  const card = clusterCard(status('running'));
  assert.deepEqual(
    card.tasks.map((t) => t.state),
    ['up', 'up', 'failed'],
  );
  assert.deepEqual([card.restarts, card.maxRestarts, card.tasks[1]?.restarts], [1, 3, 1]);
  const text = clusterText(card);
  assert.match(text, /1 of 3 worker restarts used/);
  assert.match(text, /worker:0 +up .*heartbeat 50\.\d s ago +restarted 1×/);
});

test('after %cluster down the tasks read stopped, with no heartbeat age; a failed task keeps its failure', () => {
  const card = clusterCard(status('stopped'));
  assert.equal(card.state, 'stopped');
  assert.deepEqual(
    card.tasks.map((t) => t.state),
    ['stopped', 'stopped', 'failed'],
  );
  const text = clusterText(card);
  assert.doesNotMatch(text, /\bup\b/);
  assert.match(text, /ps:0 +stopped .*heartbeat –/);
  assert.match(text, /worker:1 +failed .*was killed \(SIGKILL\)/);
  assert.doesNotMatch(clusterHtml(card), /<td[^>]*>up<\/td>/);
});
