// How a TrainCard reads without the labextension: a status line, an SVG sparkline of the loss and a table of epochs.
import { escapeHtml } from '../display.ts';
import type { EpochPoint, TrainCard, TrainRollback } from './types.ts';

function figures(p: { loss: number; metrics: Record<string, number> }): string {
  return [`loss ${p.loss.toFixed(4)}`, ...Object.entries(p.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`)].join(', ');
}

function headline(card: TrainCard): string {
  const last = card.steps.at(-1);
  const rate = last ? `, ${Math.round(last.examplesPerSec)} examples/s` : '';
  return `${card.job}: ${card.state}, step ${card.step}, epoch ${card.epochPoints.length}/${card.epochs}, ${card.workers} workers (${card.mode})${rate}`;
}

function epochLine(e: EpochPoint): string {
  const validation = e.validation ? `; validation ${figures(e.validation)}` : '';
  const total = e.computeMs + e.exchangeMs + e.waitMs + e.inputMs || 1;
  const split = (['computeMs', 'exchangeMs', 'waitMs', 'inputMs'] as const)
    .map((k) => `${k.replace('Ms', '')} ${Math.round((100 * e[k]) / total)}%`)
    .join(' ');
  return `  epoch ${e.epoch}: ${figures(e)}${validation}; ${Math.round(e.examplesPerSec)} examples/s; ${split}`;
}

function rollbackLine(r: TrainRollback): string {
  return `  ${r.task} ${r.cause}: replaced, rolled back to step ${r.toStep}`;
}

/** text/plain: the status line, one line per epoch and one per rollback. */
export function trainText(card: TrainCard): string {
  return [
    headline(card),
    ...card.epochPoints.map(epochLine),
    ...(card.rollbacks ?? []).map(rollbackLine),
    ...(card.modelPath ? [`  model: ${card.modelPath}`] : []),
    ...(card.error ? [`  error: ${card.error.message}`] : []),
  ].join('\n');
}

/** An inline SVG polyline of the step losses. */
function sparkline(card: TrainCard): string {
  const losses = card.steps.map((s) => s.loss).filter(Number.isFinite);
  if (losses.length < 2) return '';
  const [w, h] = [300, 60];
  const lo = Math.min(...losses);
  const span = Math.max(...losses) - lo || 1;
  const points = losses
    .map((l, i) => `${((i / (losses.length - 1)) * w).toFixed(1)},${(h - ((l - lo) / span) * h).toFixed(1)}`)
    .join(' ');
  return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="loss per step"><polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points}"/></svg>`;
}

/** text/html: the status line, the loss sparkline and a table of epochs. */
export function trainHtml(card: TrainCard): string {
  const rows = card.epochPoints
    .map(
      (e) =>
        `<tr><td>${e.epoch}</td><td>${escapeHtml(figures(e))}</td><td>${escapeHtml(e.validation ? figures(e.validation) : '')}</td><td>${Math.round(e.examplesPerSec)}</td></tr>`,
    )
    .join('');
  const table = rows
    ? `<table><tr><th>epoch</th><th>train</th><th>validation</th><th>examples/s</th></tr>${rows}</table>`
    : '';
  const rollbacks = (card.rollbacks ?? []).map((r) => `<p>${escapeHtml(rollbackLine(r).trim())}</p>`).join('');
  const model = card.modelPath ? `<p>model: <code>${escapeHtml(card.modelPath)}</code></p>` : '';
  const error = card.error ? `<p style="color:#b00">${escapeHtml(card.error.message)}</p>` : '';
  return `<div>${escapeHtml(headline(card))}</div>${sparkline(card)}${table}${rollbacks}${model}${error}`;
}
