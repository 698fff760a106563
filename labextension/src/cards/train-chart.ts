// Training curves as plain SVG: one small chart for the loss and one per metric, each on its own scale (a loss of
// 2.3 and an accuracy of 0.9 share no useful axis). Validation results are dots at the step their epoch ended; each
// rollback (a lost worker sent the job back to a checkpoint) is a vertical marker at the step it went back to.
import type { TrainCard, TrainRollback } from '@petal/kernel/outputs';
import { h, s } from '../dom.ts';
import { metric } from '../format.ts';

const WIDTH = 360;
const HEIGHT = 150;
const PAD = { left: 46, right: 10, top: 18, bottom: 20 };

type Point = readonly [x: number, y: number];

/** Maps data to the plot area; a flat or single-point series gets a range around its value. */
function scale(values: number[], from: number, to: number): (v: number) => number {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return () => (from + to) / 2;
  if (hi === lo) {
    const pad = Math.abs(hi) * 0.05 || 1;
    lo -= pad;
    hi += pad;
  }
  return (v) => from + ((v - lo) / (hi - lo)) * (to - from);
}

/** What a rollback marker's tooltip and the card's list say about it. */
export function rollbackText(rollback: TrainRollback): string {
  return `${rollback.task} ${rollback.cause}: rolled back to step ${rollback.toStep}`;
}

/** A vertical marker across the plot with its tooltip; a wide invisible stroke makes the thin line easy to hover. */
function rollbackMarker(rollback: TrainRollback, x: number): SVGGElement {
  const ends = { x1: x, x2: x, y1: PAD.top, y2: HEIGHT - PAD.bottom };
  return s(
    'g',
    { class: 'petal-rollback', 'data-step': rollback.toStep, 'data-task': rollback.task },
    s('title', {}, rollbackText(rollback)),
    s('line', { class: 'petal-rollback-line', ...ends }),
    s('line', { class: 'petal-rollback-hit', ...ends }),
  );
}

function chart(title: string, line: Point[], dots: Point[], rollbacks: TrainRollback[]): SVGSVGElement {
  const finite = (p: Point): boolean => Number.isFinite(p[0]) && Number.isFinite(p[1]);
  const pts = line.filter(finite);
  const marks = dots.filter(finite);
  const all = [...pts, ...marks];
  const x = scale([...all.map((p) => p[0]), ...rollbacks.map((r) => r.toStep)], PAD.left, WIDTH - PAD.right);
  const y = scale(
    all.map((p) => p[1]),
    HEIGHT - PAD.bottom,
    PAD.top,
  );
  const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join(' ');
  const ys = all.map((p) => p[1]);
  const xs = all.map((p) => p[0]);
  const last = pts.at(-1);
  return s(
    'svg',
    {
      class: 'petal-chart',
      'data-series': title,
      'data-points': pts.length,
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: 'img',
      'aria-label': `${title} by step`,
    },
    s('title', {}, `${title}${last ? `: ${metric(last[1])} at step ${last[0]}` : ''}`),
    s('rect', {
      class: 'petal-chart-frame',
      x: PAD.left,
      y: PAD.top,
      width: WIDTH - PAD.left - PAD.right,
      height: HEIGHT - PAD.top - PAD.bottom,
    }),
    all.length > 0 &&
      s(
        'text',
        { class: 'petal-chart-axis', x: PAD.left - 4, y: PAD.top + 8, 'text-anchor': 'end' },
        metric(Math.max(...ys)),
      ),
    all.length > 0 &&
      s(
        'text',
        { class: 'petal-chart-axis', x: PAD.left - 4, y: HEIGHT - PAD.bottom, 'text-anchor': 'end' },
        metric(Math.min(...ys)),
      ),
    all.length > 0 && s('text', { class: 'petal-chart-axis', x: PAD.left, y: HEIGHT - 4 }, `step ${Math.min(...xs)}`),
    all.length > 0 &&
      s(
        'text',
        { class: 'petal-chart-axis', x: WIDTH - PAD.right, y: HEIGHT - 4, 'text-anchor': 'end' },
        `step ${Math.max(...xs)}`,
      ),
    s('text', { class: 'petal-chart-title', x: PAD.left, y: PAD.top - 6 }, title),
    pts.length > 0 && s('path', { class: 'petal-line', d }),
    ...marks.map((p) => s('circle', { class: 'petal-validation', cx: x(p[0]), cy: y(p[1]), r: 3 })),
    ...rollbacks.map((r) => rollbackMarker(r, x(r.toStep))),
  );
}

/** Renders the loss chart and one chart per metric of a `TrainCard`. */
export function renderTrainChart(card: TrainCard): HTMLElement {
  // The step at which each epoch ended, so validation (measured per epoch) lands where it belongs on the x axis.
  const epochEnd = new Map<number, number>();
  for (const p of card.steps) epochEnd.set(p.epoch, Math.max(epochEnd.get(p.epoch) ?? p.step, p.step));
  const validated = card.epochPoints.filter((e) => e.validation !== undefined && epochEnd.has(e.epoch));
  const at = (epoch: number): number => epochEnd.get(epoch) ?? 0;
  const names = [...new Set(card.steps.flatMap((p) => Object.keys(p.metrics)))];
  const rollbacks = (card.rollbacks ?? []).filter((r) => Number.isFinite(r.toStep));
  return h(
    'div',
    { class: 'petal-charts' },
    chart(
      'loss',
      card.steps.map((p) => [p.step, p.loss]),
      validated.map((e) => [at(e.epoch), e.validation?.loss ?? NaN]),
      rollbacks,
    ),
    ...names.map((name) =>
      chart(
        name,
        card.steps.filter((p) => name in p.metrics).map((p) => [p.step, p.metrics[name] ?? NaN]),
        validated.map((e) => [at(e.epoch), e.validation?.metrics[name] ?? NaN]),
        rollbacks,
      ),
    ),
  );
}
