// Images with their predictions, mistakes first (what a person looks for), and the confusion matrix.
import type { GalleryCard, GalleryItem } from '@petal/kernel/outputs';
import { bar, h, header } from '../dom.ts';
import { count, percent } from '../format.ts';

/** Probability bars shown per image: the top classes are what a reader compares. */
const TOP_CLASSES = 3;

/** Only images the kernel encoded: anything else (a remote URL, script) is not loaded from card data. */
const IMAGE_SRC = /^data:image\/(jpeg|png|gif|webp);base64,[A-Za-z0-9+/=]*$/;

const isMistake = (item: GalleryItem): boolean =>
  item.label !== undefined && item.predicted !== undefined && item.label !== item.predicted;

/** The items, mistakes first, otherwise in the kernel's order. */
export function mistakesFirst(items: readonly GalleryItem[]): GalleryItem[] {
  return [...items.filter(isMistake), ...items.filter((item) => !isMistake(item))];
}

function probabilities(item: GalleryItem, classes: string[]): HTMLElement | undefined {
  if (item.probabilities === undefined) return undefined;
  const ranked = item.probabilities
    .map((p, i) => ({ p, name: classes[i] ?? `class ${i}` }))
    .sort((a, b) => b.p - a.p)
    .slice(0, TOP_CLASSES);
  return h(
    'div',
    { class: 'petal-probs' },
    ...ranked.map(({ p, name }) =>
      h(
        'div',
        { class: 'petal-prob', 'data-label': name === item.label },
        h('span', { class: 'petal-prob-name' }, name),
        bar(p, `${name}: ${percent(p)}`),
        h('span', { class: 'petal-num' }, percent(p)),
      ),
    ),
  );
}

function figure(item: GalleryItem, classes: string[]): HTMLElement {
  const mistake = isMistake(item);
  const verdict =
    item.predicted === undefined
      ? item.label
      : item.label === undefined
        ? item.predicted
        : mistake
          ? `${item.label} → ${item.predicted}`
          : item.label;
  return h(
    'figure',
    { class: 'petal-image', 'data-mistake': mistake },
    IMAGE_SRC.test(item.src)
      ? h('img', { src: item.src, alt: verdict ?? item.caption ?? 'image', loading: 'lazy' })
      : h('div', { class: 'petal-image-missing' }, 'image not shown: not a data: URL'),
    h(
      'figcaption',
      {},
      verdict !== undefined && h('div', { class: 'petal-verdict' }, verdict),
      item.caption !== undefined && h('div', { class: 'petal-caption' }, item.caption),
      probabilities(item, classes),
    ),
  );
}

function confusion(matrix: number[][], classes: string[]): HTMLElement {
  const most = Math.max(1, ...matrix.flat());
  const total = matrix.flat().reduce((a, b) => a + b, 0);
  const right = matrix.reduce((sum, row, i) => sum + (row[i] ?? 0), 0);
  return h(
    'div',
    { class: 'petal-confusion' },
    h(
      'div',
      { class: 'petal-note' },
      `confusion matrix: rows actual, columns predicted; accuracy ${percent(total ? right / total : 0)}`,
    ),
    h(
      'table',
      { class: 'petal-table petal-confusion-table' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), ...classes.map((c) => h('th', {}, c)))),
      h(
        'tbody',
        {},
        ...matrix.map((row, i) =>
          h(
            'tr',
            {},
            h('th', {}, classes[i] ?? `class ${i}`),
            ...row.map((n, j) =>
              h(
                'td',
                {
                  class: 'petal-num petal-confusion-cell',
                  'data-diagonal': i === j,
                  // Heat as a CSS variable the stylesheet mixes with the theme's colours.
                  style: `--petal-heat:${((n / most) * 100).toFixed(0)}%`,
                },
                count(n),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Renders a `GalleryCard`. */
export function renderGalleryCard(card: GalleryCard): HTMLElement {
  const mistakes = card.items.filter(isMistake).length;
  const labelled = card.items.filter((i) => i.label !== undefined && i.predicted !== undefined).length;
  const facts: [string, string][] = [['images', count(card.items.length)]];
  if (labelled > 0) facts.push(['mistakes', `${count(mistakes)} of ${count(labelled)}`]);
  return h(
    'div',
    { class: 'petal-gallery' },
    header(card.title ?? 'Gallery', undefined, facts),
    h('div', { class: 'petal-images' }, ...mistakesFirst(card.items).map((item) => figure(item, card.classes))),
    card.confusion !== undefined && confusion(card.confusion, card.classes),
  );
}
