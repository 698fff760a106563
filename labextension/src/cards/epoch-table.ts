// One row per finished epoch: training and validation results, throughput, and where the step time went.
import type { EpochPoint } from '@petal/kernel/outputs';
import { h } from '../dom.ts';
import { count, duration, metric, percent } from '../format.ts';

/** The parts of a step, in the order the split bar draws them. */
const PARTS = ['compute', 'exchange', 'wait', 'input'] as const;

function split(e: EpochPoint): HTMLElement {
  const ms = { compute: e.computeMs, exchange: e.exchangeMs, wait: e.waitMs, input: e.inputMs };
  const total = PARTS.reduce((sum, part) => sum + Math.max(0, ms[part]), 0);
  const title = PARTS.map((part) => `${part} ${duration(ms[part])} (${percent(total ? ms[part] / total : 0)})`).join(
    ', ',
  );
  return h(
    'div',
    { class: 'petal-split', title },
    ...PARTS.map((part) =>
      h('span', {
        class: `petal-split-part petal-split-${part}`,
        'data-part': part,
        style: `flex-grow:${total ? Math.max(0, ms[part]) / total : 0}`,
      }),
    ),
  );
}

/** Renders the epoch table of a training card. */
export function renderEpochTable(epochs: EpochPoint[]): HTMLElement {
  const names = [...new Set(epochs.flatMap((e) => Object.keys(e.metrics)))];
  const validation = epochs.some((e) => e.validation !== undefined);
  const columns = [
    'epoch',
    'loss',
    ...names,
    ...(validation ? ['val loss', ...names.map((n) => `val ${n}`)] : []),
    'examples/s',
    'compute · exchange · wait · input',
  ];
  const cell = (v: number | undefined): HTMLTableCellElement =>
    h('td', { class: 'petal-num' }, v === undefined ? '–' : metric(v));
  return h(
    'table',
    { class: 'petal-table petal-epochs' },
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', {}, c)))),
    h(
      'tbody',
      {},
      ...epochs.map((e) =>
        h(
          'tr',
          { class: 'petal-epoch' },
          h('td', { class: 'petal-num' }, e.epoch),
          cell(e.loss),
          ...names.map((n) => cell(e.metrics[n])),
          ...(validation ? [cell(e.validation?.loss), ...names.map((n) => cell(e.validation?.metrics[n]))] : []),
          h('td', { class: 'petal-num' }, count(e.examplesPerSec)),
          h('td', {}, split(e)),
        ),
      ),
    ),
  );
}
