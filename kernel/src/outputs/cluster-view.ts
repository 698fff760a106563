// How a ClusterCard reads without the labextension: a text table and an HTML table of the tasks.
import { escapeHtml } from '../display.ts';
import type { ClusterCard, TaskCard } from './types.ts';

function age(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function headline(card: ClusterCard): string {
  const ps = card.tasks.filter((t) => t.role === 'ps').length;
  const ready = card.readyMs === undefined ? '' : `, ready in ${(card.readyMs / 1000).toFixed(1)} s`;
  const restarts =
    card.restarts === undefined ? '' : `, ${card.restarts} of ${card.maxRestarts ?? '?'} worker restarts used`;
  return `cluster ${card.state}: ${ps} PS, ${card.tasks.length - ps} workers, mode ${card.mode}${ready}${restarts}`;
}

function restarted(t: TaskCard): string {
  return t.restarts ? `restarted ${t.restarts}×` : '';
}

/** A stopped task has no heartbeat to age. */
function heartbeat(t: TaskCard): string {
  return t.state === 'stopped' ? '–' : `${age(t.heartbeatAgeMs)} ago`;
}

/** text/plain: the headline and one line per task. */
export function clusterText(card: ClusterCard): string {
  const tasks = card.tasks.map(
    (t) =>
      `  ${t.id.padEnd(10)} ${t.state.padEnd(7)} pid ${String(t.pid).padEnd(8)} ${t.host}${t.port ? `:${t.port}` : ''}  heartbeat ${heartbeat(t)}${t.restarts ? `  ${restarted(t)}` : ''}${t.failure ? `  ${t.failure}` : ''}`,
  );
  return [headline(card), ...tasks, ...(card.error ? [`  error: ${card.error.message}`] : [])].join('\n');
}

/** text/html: a table of the tasks. */
export function clusterHtml(card: ClusterCard): string {
  const cell = (text: string): string => `<td style="text-align:left">${escapeHtml(text)}</td>`;
  const rows = card.tasks
    .map(
      (t) =>
        `<tr>${cell(t.id)}${cell(t.state)}${cell(String(t.pid))}${cell(`${t.host}${t.port ? `:${t.port}` : ''}`)}${cell(t.devices.join(', '))}${cell(heartbeat(t))}${cell(restarted(t))}${cell(t.failure ?? '')}</tr>`,
    )
    .join('');
  const head = ['task', 'state', 'pid', 'address', 'devices', 'heartbeat', 'restarts', 'failure']
    .map((h) => `<th style="text-align:left">${h}</th>`)
    .join('');
  const error = card.error ? `<p style="color:#b00">${escapeHtml(card.error.message)}</p>` : '';
  return `<table><caption style="text-align:left">${escapeHtml(headline(card))}</caption><tr>${head}</tr>${rows}</table>${error}`;
}
