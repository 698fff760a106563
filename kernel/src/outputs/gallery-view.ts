// How a GalleryCard reads without the labextension: labels as text, an <img> grid and the confusion matrix in HTML.
import { escapeHtml } from '../display.ts';
import type { GalleryCard, GalleryItem } from './types.ts';

function caption(item: GalleryItem, classes: string[]): string {
  const p = item.probabilities;
  const top = p && p.length > 0 ? p.indexOf(Math.max(...p)) : -1;
  return [
    item.label === undefined ? '' : `label ${item.label}`,
    item.predicted === undefined ? '' : `predicted ${item.predicted}`,
    top >= 0 ? `${classes[top] ?? top} ${(100 * p![top]!).toFixed(0)}%` : '',
    item.caption ?? '',
  ]
    .filter(Boolean)
    .join(', ');
}

function confusionRows(card: GalleryCard): string[][] {
  return (card.confusion ?? []).map((row, i) => [card.classes[i] ?? String(i), ...row.map(String)]);
}

/** text/plain: one line per image, then the confusion matrix. */
export function galleryText(card: GalleryCard): string {
  const matrix = confusionRows(card).map((r) => `  ${r.map((c) => c.padStart(8)).join('')}`);
  return [
    `${card.title ?? 'gallery'}: ${card.items.length} images, classes ${card.classes.join(', ')}`,
    ...card.items.map((item, i) => `  ${i}: ${caption(item, card.classes)}`),
    ...(matrix.length > 0 ? ['  confusion (rows actual, columns predicted):', ...matrix] : []),
  ].join('\n');
}

/** text/html: a grid of images with captions, then the confusion matrix. */
export function galleryHtml(card: GalleryCard): string {
  const src = (s: string): string => (/^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]*$/.test(s) ? s : '');
  const items = card.items
    .map(
      (item) =>
        `<figure style="display:inline-block;margin:4px;text-align:center"><img src="${src(item.src)}" style="max-width:128px;max-height:128px"><figcaption style="font-size:smaller">${escapeHtml(caption(item, card.classes))}</figcaption></figure>`,
    )
    .join('');
  const rows = confusionRows(card);
  const matrix =
    rows.length > 0
      ? `<table><tr><th>actual \\ predicted</th>${card.classes.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>${rows
          .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${escapeHtml(c)}</th>` : `<td>${c}</td>`)).join('')}</tr>`)
          .join('')}</table>`
      : '';
  const title = card.title ? `<div><b>${escapeHtml(card.title)}</b></div>` : '';
  return `${title}<div>${items}</div>${matrix}`;
}
