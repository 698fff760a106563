// A card as a MIME bundle: the card under its MIME type (the labextension renders it), with text/plain and text/html
// fallbacks so VS Code, nbconvert and GitHub show something useful.
import { DISPLAY } from '../display.ts';
import { clusterHtml, clusterText } from './cluster-view.ts';
import { galleryHtml, galleryText } from './gallery-view.ts';
import { logsHtml, logsText } from './logs-view.ts';
import { streamHtml, streamText } from './stream-view.ts';
import { trainHtml, trainText } from './train-view.ts';
import { PETAL_MIME } from './types.ts';
import type { PetalCards, PetalOutputKind } from './types.ts';

type Views = { [K in PetalOutputKind]: { text(card: PetalCards[K]): string; html(card: PetalCards[K]): string } };

const VIEWS: Views = {
  cluster: { text: clusterText, html: clusterHtml },
  stream: { text: streamText, html: streamHtml },
  train: { text: trainText, html: trainHtml },
  gallery: { text: galleryText, html: galleryHtml },
  logs: { text: logsText, html: logsHtml },
};

/** The MIME bundle of a card. */
export function cardBundle<K extends PetalOutputKind>(kind: K, card: PetalCards[K]): Record<string, unknown> {
  const view = VIEWS[kind] as Views[K];
  return { [PETAL_MIME[kind]]: card, 'text/plain': view.text(card), 'text/html': view.html(card) };
}

/** The card itself, displaying as its bundle when it is a cell's value (the display method is not enumerable). */
export function cardValue<K extends PetalOutputKind>(kind: K, card: PetalCards[K]): PetalCards[K] {
  return Object.defineProperty({ ...card }, DISPLAY, { enumerable: false, value: () => cardBundle(kind, card) });
}
