// The `%%stream` summary: overall progress, throughput, and how evenly the rows spread over the partitions.
import type { StreamCard } from '@petal/kernel/outputs';
import { bar, h, header } from '../dom.ts';
import { bytes, count, duration, percent } from '../format.ts';

function progress(card: StreamCard): HTMLElement {
  // The total is unknown (-1) until the end for generated input: show an indeterminate bar, not a wrong fraction.
  const known = card.totalRows >= 0;
  const fraction = known ? (card.totalRows === 0 ? 1 : card.rows / card.totalRows) : card.state === 'done' ? 1 : 0;
  const text = known
    ? `${count(card.rows)} / ${count(card.totalRows)} rows (${percent(fraction)})`
    : `${count(card.rows)} rows`;
  return h(
    'div',
    { class: 'petal-stream-progress', 'data-indeterminate': !known && card.state === 'streaming' },
    bar(fraction, text, 'petal-bar-main'),
    h('div', { class: 'petal-progress-text' }, text),
  );
}

function partitions(card: StreamCard): HTMLElement {
  const most = Math.max(1, ...card.partitions.map((p) => p.rows));
  return h(
    'div',
    { class: 'petal-partitions' },
    ...card.partitions.map((p, i) =>
      h(
        'div',
        { class: 'petal-partition' },
        h('span', { class: 'petal-partition-name' }, `p${i}`),
        bar(p.rows / most, `partition ${i}: ${count(p.rows)} rows, ${bytes(p.bytes)}, ${count(p.batches)} batches`),
        h('span', { class: 'petal-num' }, `${count(p.rows)} rows · ${count(p.batches)} batches`),
      ),
    ),
  );
}

/** Renders a `StreamCard`. */
export function renderStreamCard(card: StreamCard): HTMLElement {
  const seconds = card.elapsedMs / 1000;
  const facts: [string, string][] = [
    ['sent', bytes(card.bytes)],
    ['elapsed', duration(card.elapsedMs)],
  ];
  if (seconds > 0) facts.push(['rate', `${count(card.rows / seconds)} rows/s · ${bytes(card.bytes / seconds)}/s`]);
  return h(
    'div',
    { class: 'petal-stream' },
    header(`Stream → ${card.topic}`, card.state, facts),
    progress(card),
    partitions(card),
    card.schema !== undefined &&
      h(
        'div',
        { class: 'petal-schema' },
        ...card.schema.map((f) => h('span', { class: 'petal-field' }, `${f.name}: ${f.type}`)),
      ),
    card.skipped !== undefined &&
      card.skipped.rows > 0 &&
      h(
        'div',
        { class: 'petal-skipped' },
        `${count(card.skipped.rows)} rows skipped`,
        h('ul', {}, ...card.skipped.reasons.map((r) => h('li', {}, r))),
      ),
  );
}
