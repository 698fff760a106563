// The training card: progress facts, the curves and the epoch table.
import type { TrainCard } from '@petal/kernel/outputs';
import { h, header } from '../dom.ts';
import { count, duration } from '../format.ts';
import { renderEpochTable } from './epoch-table.ts';
import { renderTrainChart } from './train-chart.ts';

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
  return h(
    'div',
    { class: 'petal-train' },
    header(`Training ${card.job}`, card.state, facts),
    renderTrainChart(card),
    card.epochPoints.length > 0 && renderEpochTable(card.epochPoints),
    card.modelPath !== undefined && h('div', { class: 'petal-note' }, 'model saved to ', h('code', {}, card.modelPath)),
  );
}
