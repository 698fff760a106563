// How a LogsCard reads without the labextension: `[task] line` text, and the same in a <pre>.
import { escapeHtml } from '../display.ts';
import type { LogsCard } from './types.ts';

/** text/plain: one `[task] text` line per log line. */
export function logsText(card: LogsCard): string {
  const head = `logs${card.task ? ` of ${card.task}` : ''}: ${card.lines.length} lines${card.dropped > 0 ? ` (${card.dropped} older dropped)` : ''}`;
  return [head, ...card.lines.map((l) => `[${l.task}] ${l.text}`)].join('\n');
}

/** text/html: the lines in a <pre>, stderr in red. */
export function logsHtml(card: LogsCard): string {
  const lines = card.lines
    .map((l) => {
      const text = `[${escapeHtml(l.task)}] ${escapeHtml(l.text)}`;
      return l.stream === 'stderr' ? `<span style="color:#b00">${text}</span>` : text;
    })
    .join('\n');
  return `<pre style="max-height:30em;overflow:auto">${lines}</pre>`;
}
