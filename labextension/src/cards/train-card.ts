// The training card: progress facts, the curves, the epoch table and the rollbacks a lost worker caused.
import type { TrainCard, TrainRollback } from '@petal/kernel/outputs';
import { h, header } from '../dom.ts';
import { clock, count, duration } from '../format.ts';
import { renderEpochTable } from './epoch-table.ts';
import { renderTrainChart, rollbackText } from './train-chart.ts';

function renderRollbacks(rollbacks: TrainRollback[]): HTMLElement {
  return h(
    'div',
    { class: 'petal-rollbacks' },
    h('div', { class: 'petal-note' }, rollbacks.length === 1 ? '1 rollback' : `${rollbacks.length} rollbacks`),
    h(
      'ul',
      {},
      ...rollbacks.map((r) =>
        h(
          'li',
          { class: 'petal-rollback-item', 'data-task': r.task },
          h('span', { class: 'petal-log-time' }, clock(r.time)),
          ' ',
          rollbackText(r),
        ),
      ),
    ),
  );
}

/** Renders a `TrainCard`. */
export function renderTrainCard(card: TrainCard): HTMLElement {
  const last = card.steps.at(-1);
  const epoch = card.epochPoints.at(-1)?.epoch ?? last?.epoch ?? 0;
  const facts: [string, string][] = [
    ['mode', card.mode],
    ['workers', String(card.workers)],
    ['epoch', `${epoch} / ${card.epochs}`],
    ['step', count(card.step)],
    ['elapsed', duration(card.elapsedMs)],
  ];
  if (last !== undefined) facts.push(['examples/s', count(last.examplesPerSec)]);
  const rollbacks = card.rollbacks ?? [];
  if (rollbacks.length > 0) facts.push(['rollbacks', String(rollbacks.length)]);
  return h(
    'div',
    { class: 'petal-train' },
    header(`Training ${card.job}`, card.state, facts),
    renderTrainChart(card),
    card.epochPoints.length > 0 && renderEpochTable(card.epochPoints),
    rollbacks.length > 0 && renderRollbacks(rollbacks),
    card.modelPath !== undefined && h('div', { class: 'petal-note' }, 'model saved to ', h('code', {}, card.modelPath)),
  );
}
