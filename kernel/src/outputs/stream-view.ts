// How a StreamCard reads without the labextension: a progress line and an HTML progress bar with the partitions.
import { escapeHtml } from '../display.ts';
import type { StreamCard } from './types.ts';

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function headline(card: StreamCard): string {
  const of = card.totalRows >= 0 ? ` of ${card.totalRows}` : '';
  const rate = card.elapsedMs > 0 ? `, ${Math.round((card.rows * 1000) / card.elapsedMs)} rows/s` : '';
  return `${card.topic}: ${card.state}, ${card.rows}${of} rows, ${mb(card.bytes)} in ${card.partitions.length} partitions${rate}`;
}

/** text/plain: the progress line, rows per partition and the schema. */
export function streamText(card: StreamCard): string {
  const schema = card.schema ? [`  schema: ${card.schema.map((c) => `${c.name}: ${c.type}`).join(', ')}`] : [];
  const parts = `  rows per partition: ${card.partitions.map((p) => p.rows).join(' ')}`;
  return [headline(card), parts, ...schema, ...(card.error ? [`  error: ${card.error.message}`] : [])].join('\n');
}

/** text/html: a progress bar, then the partitions. */
export function streamHtml(card: StreamCard): string {
  const fraction = card.totalRows > 0 ? Math.min(1, card.rows / card.totalRows) : card.state === 'done' ? 1 : 0;
  const bar = `<progress value="${fraction.toFixed(3)}" max="1" style="width:20em"></progress>`;
  const parts = card.partitions
    .map((p, i) => `<td style="text-align:right" title="partition ${i}">${p.rows}</td>`)
    .join('');
  const error = card.error ? `<p style="color:#b00">${escapeHtml(card.error.message)}</p>` : '';
  return `<div>${bar} ${escapeHtml(headline(card))}</div><table><tr><th>rows per partition</th>${parts}</tr></table>${error}`;
}
