// Remote task logs (`%logs`): one line per entry with its time and task, stderr marked.
import type { LogsCard } from '@petal/kernel/outputs';
import { h, header } from '../dom.ts';
import { clock, count } from '../format.ts';

/** Renders a `LogsCard`. */
export function renderLogsCard(card: LogsCard): HTMLElement {
  const facts: [string, string][] = [['lines', count(card.lines.length)]];
  if (card.dropped > 0) facts.push(['dropped', `${count(card.dropped)} older lines`]);
  return h(
    'div',
    { class: 'petal-logs' },
    header(card.task === undefined ? 'Logs' : `Logs of ${card.task}`, undefined, facts),
    h(
      'div',
      { class: 'petal-log-lines' },
      ...card.lines.map((line) =>
        h(
          'div',
          { class: 'petal-log-line', 'data-stream': line.stream },
          h('span', { class: 'petal-log-time' }, clock(line.time)),
          h('span', { class: 'petal-log-task' }, line.task),
          h('span', { class: 'petal-log-text' }, line.text),
        ),
      ),
    ),
  );
}
