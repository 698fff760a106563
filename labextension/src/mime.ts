// Petal's MIME types, from the kernel's output contract (`@petal/kernel/outputs`).
import { PETAL_MIME, type PetalOutputKind } from '@petal/kernel/outputs';

/** The prefix every Petal MIME type starts with. */
export const PETAL_MIME_PREFIX = 'application/vnd.petal.';

/** The MIME type of one Petal output kind, e.g. `petalMimeType('cluster')`. */
export function petalMimeType(kind: PetalOutputKind): string {
  return PETAL_MIME[kind];
}

/** Every Petal MIME type the renderers handle. */
export const PETAL_MIME_TYPES: readonly string[] = Object.values(PETAL_MIME);

/** The output kind of a Petal MIME type, or undefined for any other type. */
export function kindOfMime(mimeType: string): PetalOutputKind | undefined {
  return (Object.keys(PETAL_MIME) as PetalOutputKind[]).find((kind) => PETAL_MIME[kind] === mimeType);
}
