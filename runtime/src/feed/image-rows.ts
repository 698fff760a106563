// Image rows in the shuffle pool are the encoded file bytes (views into the fetched message), not decoded pixels:
// a 10 KB JPEG becomes 110 KB of float32 at 96×96×3, so the pool shuffles the small form and a batch decodes only
// its own rows, into one preallocated Float32Array.
import type { Table } from 'apache-arrow';
import type { Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../tf/tf.ts';
import { binaryValue, columnData } from './arrow-columns.ts';
import type { Place } from './arrow-columns.ts';
import { FeedCodes, feedError } from './errors.ts';
import type { ResolvedFeature } from './feature-spec.ts';
import { createAugmenter } from './augment.ts';
import type { Augmenter } from './augment.ts';

/** One pooled image and where it came from (for errors and the skip report). */
export interface ImageRow {
  file: Uint8Array;
  partition: number;
  offset: bigint;
  row: number;
}

/** A decode failure under the skip policy. */
export type SkippedImage = ImageRow;

const JPEG_SOI = [0xff, 0xd8];
/** How far from the end an EOI marker may sit: some writers pad or append a little after it. */
const EOI_WINDOW = 1024;

/**
 * False for bytes that claim to be a JPEG (SOI marker) but have no EOI marker near the end: truncated or garbage.
 * Checked before decoding so such a file never reaches libjpeg, which prints "Input file read error" to stderr.
 */
export function isWholeJpegOrOther(file: Uint8Array): boolean {
  if (file[0] !== JPEG_SOI[0] || file[1] !== JPEG_SOI[1]) return true; // not a JPEG: the decoder judges it
  for (let i = file.length - 2; i >= Math.max(2, file.length - EOI_WINDOW); i--) {
    if (file[i] === 0xff && file[i + 1] === 0xd9) return true;
  }
  return false;
}

function imageError(feature: ResolvedFeature, place: Place, row: number, cause?: unknown) {
  return feedError(
    FeedCodes.image,
    'an image failed to decode',
    { ...place, column: feature.column, row },
    {
      cause,
      fix: "re-encode or drop the file, or feed with onDecodeError: 'skip' to count and skip such rows",
    },
  );
}

/**
 * The image rows of one message. Files that fail the marker check throw (policy fail) or are left out and listed
 * in `bad` (skip), so the other features can leave out the same rows.
 */
export function imageRows(
  table: Table,
  feature: ResolvedFeature,
  place: Place,
  skip: boolean,
  bad: Set<number>,
): ImageRow[] {
  const data = columnData(table, feature, place);
  const rows: ImageRow[] = [];
  for (let i = 0; i < data.length; i++) {
    const file = binaryValue(data, i);
    if (!isWholeJpegOrOther(file)) {
      if (!skip) throw imageError(feature, place, i, new Error('the JPEG data has no end-of-image marker'));
      bad.add(i);
      continue;
    }
    rows.push({ file, partition: place.partition, offset: place.offset, row: i });
  }
  return rows;
}

/**
 * Decodes `rows` into one [n, height, width, channels] float32 tensor, augmented when the feature asks for it and
 * scaled to the feature's range. A file the decoder rejects throws (policy fail) or is left out of the batch and
 * reported through `skipped`.
 */
export function decodeImages(
  tf: Tf,
  rows: ImageRow[],
  feature: ResolvedFeature,
  topic: string,
  skip: boolean,
  skipped: (row: SkippedImage) => void,
): Tensor {
  const { height, width, channels } = feature;
  const pixels = height * width * channels;
  // Not zeroed: every value up to n × pixels is written below, and only those go into the tensor.
  const out = new Float32Array(Buffer.allocUnsafeSlow(rows.length * pixels * 4).buffer, 0, rows.length * pixels);
  let n = 0;
  for (const r of rows) {
    let resized: Tensor;
    try {
      resized = tf.tidy(() => {
        const image = tf.node.decodeImage(r.file, channels, 'int32', false) as import('@tensorflow/tfjs-node').Tensor3D;
        return tf.image.resizeBilinear(image, [height, width]);
      });
    } catch (cause) {
      if (!skip) throw imageError(feature, { topic, partition: r.partition, offset: r.offset }, r.row, cause);
      skipped(r);
      continue;
    }
    // Read outside tf.tidy: a typed array returned from tidy is walked element by element.
    const values = resized.dataSync() as Float32Array;
    resized.dispose();
    out.set(values, n * pixels);
    n++;
  }
  // Augmented and scaled once per batch: one op over the whole batch beats an op (or a JS loop) per image.
  const augment = feature.augment ? augmenterOf(tf, feature) : undefined;
  const [low, high] = feature.scale;
  return tf.tidy(() => {
    const batch = tf.tensor4d(n === rows.length ? out : out.subarray(0, n * pixels), [n, height, width, channels]);
    if (augment && n > 0) return augment(batch, feature.scale);
    return low === 0 && high === 1 ? batch.div(255) : batch.mul((high - low) / 255).add(low);
  });
}

// One augmenter per resolved feature, i.e. per feed: its seeded random stream runs on across that feed's batches.
const augmenters = new WeakMap<ResolvedFeature, Augmenter>();

function augmenterOf(tf: Tf, feature: ResolvedFeature): Augmenter {
  let augment = augmenters.get(feature);
  if (!augment) {
    augment = createAugmenter(tf, feature.augment ?? {});
    augmenters.set(feature, augment);
  }
  return augment;
}
