// One entry from a MIME bundle's card to its DOM: checks the contract version, draws the kind's card, and adds the
// error banner every kind shares.
import type { CardBase, PetalCards, PetalOutputKind } from '@petal/kernel/outputs';
import { renderClusterCard } from './cards/cluster-card.ts';
import { renderGalleryCard } from './cards/gallery-card.ts';
import { renderLogsCard } from './cards/logs-card.ts';
import { renderStreamCard } from './cards/stream-card.ts';
import { renderTrainCard } from './cards/train-card.ts';
import { h } from './dom.ts';

const RENDERERS: { [K in PetalOutputKind]: (card: PetalCards[K]) => HTMLElement } = {
  cluster: renderClusterCard,
  stream: renderStreamCard,
  train: renderTrainCard,
  gallery: renderGalleryCard,
  logs: renderLogsCard,
};

/** The card in `data` when it is one this version of the extension can draw. */
export function asCard<K extends PetalOutputKind>(_kind: K, data: unknown): PetalCards[K] | undefined {
  const ok = data !== null && typeof data === 'object' && (data as { version?: unknown }).version === 1;
  return ok ? (data as PetalCards[K]) : undefined;
}

function errorBanner(error: NonNullable<CardBase['error']>): HTMLElement {
  return h(
    'div',
    { class: 'petal-error', role: 'alert' },
    error.code !== undefined && h('code', {}, error.code),
    ' ',
    error.message,
    error.fix !== undefined && h('div', { class: 'petal-fix' }, 'fix: ', error.fix),
  );
}

/**
 * The DOM of one card, or a note saying why it cannot be drawn (a card from a newer kernel), so an output never
 * renders as nothing.
 */
export function renderCard<K extends PetalOutputKind>(kind: K, data: unknown): HTMLElement {
  const card = asCard(kind, data);
  if (card === undefined) {
    const version = (data as { version?: unknown } | null)?.version;
    return h(
      'div',
      { class: 'petal-card petal-unsupported' },
      `This Petal ${kind} output (version ${String(version)}) needs a newer @petal/labextension; `,
      'fix: update Petal and reload JupyterLab.',
    );
  }
  const render = RENDERERS[kind] as (card: PetalCards[K]) => HTMLElement;
  return h(
    'div',
    { class: 'petal-card', 'data-kind': kind },
    card.error !== undefined && errorBanner(card.error),
    render(card),
  );
}
