// The cluster panel: the cluster's state, where its coordinator listens, how many worker restarts it has used, and
// one row per task with its heartbeat and how often it was replaced.
import type { ClusterCard, TaskCard } from '@petal/kernel/outputs';
import { h, header } from '../dom.ts';
import { duration } from '../format.ts';

/** A heartbeat older than this marks the row stale: the coordinator would soon declare the task lost. */
const STALE_HEARTBEAT_MS = 10_000;

function taskRow(task: TaskCard): HTMLTableRowElement {
  const stale = task.state === 'up' && task.heartbeatAgeMs > STALE_HEARTBEAT_MS;
  return h(
    'tr',
    { class: 'petal-task', 'data-state': task.state, 'data-stale': stale },
    h('td', {}, task.id),
    h('td', {}, task.role),
    h('td', { class: 'petal-num' }, task.index),
    h('td', {}, task.port === undefined ? task.host : `${task.host}:${task.port}`),
    h('td', { class: 'petal-num' }, task.pid),
    h('td', {}, task.devices.length > 0 ? task.devices.join(', ') : '–'),
    h(
      'td',
      {},
      h('span', { class: 'petal-badge', 'data-state': task.state }, task.state),
      task.failure !== undefined && h('div', { class: 'petal-failure' }, task.failure),
    ),
    // A stopped task sends no heartbeats: its last one's age would only grow.
    h(
      'td',
      { class: 'petal-num petal-heartbeat' },
      task.state === 'stopped' ? '–' : `${duration(task.heartbeatAgeMs)} ago`,
    ),
    h('td', { class: 'petal-restarts' }, task.restarts ? `restarted ${task.restarts}×` : ''),
  );
}

/** "1 of 3 worker restarts used", when the card knows its budget. */
function restartsUsed(card: ClusterCard): string | undefined {
  if (card.restarts === undefined) return undefined;
  return `${card.restarts} of ${card.maxRestarts ?? '?'} worker restarts used`;
}

/** Renders a `ClusterCard`. */
export function renderClusterCard(card: ClusterCard): HTMLElement {
  const facts: [string, string][] = [
    ['mode', card.mode],
    ['pool', card.pool],
    ['generation', String(card.generation)],
    ['coordinator', `${card.coordinator.host}:${card.coordinator.port}`],
  ];
  if (card.readyMs !== undefined) facts.push(['ready in', duration(card.readyMs)]);
  const used = restartsUsed(card);
  const exhausted = card.restarts !== undefined && card.maxRestarts !== undefined && card.restarts >= card.maxRestarts;
  const head = h(
    'tr',
    {},
    ...['task', 'role', '#', 'address', 'pid', 'devices', 'state', 'heartbeat', 'restarts'].map((name) =>
      h('th', {}, name),
    ),
  );
  return h(
    'div',
    { class: 'petal-cluster' },
    header('Cluster', card.state, facts),
    used !== undefined && h('div', { class: 'petal-restarts-used', 'data-exhausted': exhausted }, used),
    h('table', { class: 'petal-table' }, h('thead', {}, head), h('tbody', {}, ...card.tasks.map(taskRow))),
  );
}
