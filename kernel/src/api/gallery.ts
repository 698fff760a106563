// `gallery` of the "petal" module: shows a GalleryCard (images as data URLs, labels, predictions, probabilities,
// a confusion matrix) below the running cell.
import { PetalError } from '@petal/runtime';
import { shown, withText } from '../display.ts';
import { cardValue } from '../outputs/card-bundle.ts';
import type { GalleryCard } from '../outputs/types.ts';
import type { OutputSink } from './create-api.ts';
import { checkOptions } from './check-options.ts';
import type { GalleryOptions } from './types.ts';

/** Images a gallery card carries at most (each a data URL: the notebook must stay a reasonable size). */
export const MAX_GALLERY_ITEMS = 500;

const IMAGE_URL = /^data:image\/(png|jpeg|gif|webp);base64,/;

/** The gallery() of one kernel; `nextId` names each display. */
export function createGallery(output: OutputSink, nextId: () => string): (card: GalleryOptions) => GalleryCard {
  return (card) => {
    checkOptions('PETAL_GALLERY', 'gallery()', card, ['title', 'classes', 'items', 'confusion'], ['classes', 'items']);
    if (!Array.isArray(card.classes) || !card.classes.every((c) => typeof c === 'string'))
      throw new PetalError('PETAL_GALLERY', 'gallery() classes must be an array of class names', {
        fix: 'classes: ["daisy", "rose", …], in the order of the probabilities',
      });
    const bad = Array.isArray(card.items) ? card.items.findIndex((i) => !IMAGE_URL.test(String(i?.src))) : 0;
    if (bad >= 0)
      throw new PetalError('PETAL_GALLERY', `gallery() items[${bad}].src must be a data:image/…;base64 URL`, {
        fix: 'src: `data:image/jpeg;base64,${Buffer.from(jpegBytes).toString("base64")}`',
      });
    const items = card.items.slice(0, MAX_GALLERY_ITEMS);
    const full: GalleryCard = { ...card, version: 1, items };
    output.display(cardValue('gallery', full), nextId(), false);
    const cut = items.length < card.items.length ? ` (the first ${items.length} of ${card.items.length})` : '';
    return shown(withText(full, `gallery: ${items.length} images${cut}`));
  };
}
