// The shuffle pool, kept in JavaScript memory rather than as tensors: numeric rows in typed arrays, images as their
// encoded bytes. A batch is copied out in a seeded random order and becomes one tensor per output, built directly
// from its typed array — no concat, gather or split ops, which cost far more in tfjs-node than the copies.
import type { Table } from 'apache-arrow';
import type { Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../tf/tf.ts';
import type { Place } from './arrow-columns.ts';
import { DenseRows, denseLayout } from './dense-rows.ts';
import type { ResolvedFeature, ResolvedSpec } from './feature-spec.ts';
import { decodeImages, imageRows } from './image-rows.ts';
import type { ImageRow, SkippedImage } from './image-rows.ts';

/** Pooled image rows (file bytes), shuffled and decoded per batch. */
class ImageRowList {
  readonly feature: ResolvedFeature;
  list: ImageRow[] = [];
  bytes = 0;

  constructor(feature: ResolvedFeature) {
    this.feature = feature;
  }

  get rows(): number {
    return this.list.length;
  }

  add(rows: ImageRow[]): void {
    for (const r of rows) {
      this.list.push(r);
      this.bytes += r.file.byteLength;
    }
  }

  take(order: Int32Array | undefined, start: number, n: number): ImageRow[] {
    const out: ImageRow[] = new Array<ImageRow>(n);
    for (let k = 0; k < n; k++) out[k] = this.list[order ? order[start + k]! : start + k]!;
    return out;
  }

  keep(order: Int32Array | undefined, start: number, n: number): void {
    this.list = this.take(order, start, n);
    this.bytes = this.list.reduce((b, r) => b + r.file.byteLength, 0);
  }
}

type Rows = DenseRows | ImageRowList;

function rowsFor(features: ResolvedFeature[], capacity: number): Rows {
  return features[0]!.kind === 'image'
    ? new ImageRowList(features[0]!)
    : new DenseRows(denseLayout(features), capacity);
}

/** Tensors of one batch; `rows` may be fewer than asked when the skip policy dropped undecodable images. */
// A type, not an interface: tf.tidy returns only index-signature-compatible objects.
export type BatchTensors = {
  xs: Tensor;
  ys: Tensor | undefined;
  rows: number;
};

/** Rows of xs and ys side by side, appended per message and taken per batch. */
export class RowPool {
  private readonly xs: Rows;
  private readonly ys: Rows | undefined;
  private readonly topic: string;
  private readonly skip: boolean;

  constructor(spec: ResolvedSpec, topic: string, skip: boolean, capacity: number) {
    this.xs = rowsFor(spec.xs, capacity);
    this.ys = spec.ys ? rowsFor([spec.ys], capacity) : undefined;
    this.topic = topic;
    this.skip = skip;
  }

  get rows(): number {
    return this.xs.rows;
  }

  /** Bytes held: what bounds the pool besides its row count (images are large and vary). */
  get bytes(): number {
    return this.xs.bytes + (this.ys?.bytes ?? 0);
  }

  /** Adds a message's rows; returns how many rows the skip policy left out (images failing the marker check). */
  append(table: Table, place: Place): number {
    const bad = new Set<number>();
    const images = [this.xs, this.ys].map((r) =>
      r instanceof ImageRowList ? imageRows(table, r.feature, place, this.skip, bad) : undefined,
    );
    let keep: Int32Array | undefined;
    if (bad.size > 0) {
      keep = new Int32Array(table.numRows - bad.size);
      for (let i = 0, k = 0; i < table.numRows; i++) if (!bad.has(i)) keep[k++] = i;
    }
    [this.xs, this.ys].forEach((r, i) => {
      if (r instanceof DenseRows) r.append(table, place, keep);
      // With both outputs images, a row bad in one must leave the other too.
      else if (r) r.add(bad.size > 0 ? images[i]!.filter((x) => !bad.has(x.row)) : images[i]!);
    });
    return bad.size;
  }

  /** Tensors for rows `order[start..start+n)` (or start..start+n in pool order). */
  batch(
    tf: Tf,
    order: Int32Array | undefined,
    start: number,
    n: number,
    skipped: (r: SkippedImage) => void,
  ): BatchTensors {
    const dropped = new Set<ImageRow>();
    const onSkip = (r: SkippedImage) => {
      dropped.add(r);
      skipped(r);
    };
    return tf.tidy((): BatchTensors => {
      // Images first: a row whose image fails to decode leaves the batch, and the other output drops it too.
      const imagesInYs = this.ys instanceof ImageRowList && !(this.xs instanceof ImageRowList);
      const [first, second] = imagesInYs ? [this.ys!, this.xs] : [this.xs, this.ys];
      const a = this.tensor(tf, first, order, start, n, onSkip);
      let b: Tensor | undefined;
      if (second && dropped.size > 0) {
        const kept = keptOrder(first as ImageRowList, order, start, n, dropped);
        b = this.tensor(tf, second, kept, 0, kept.length, onSkip);
      } else if (second) {
        b = this.tensor(tf, second, order, start, n, onSkip);
      }
      return imagesInYs ? { xs: b!, ys: a, rows: a.shape[0]! } : { xs: a, ys: b, rows: a.shape[0]! };
    });
  }

  /** Keeps rows `order[start..start+n)` for the next emit; the rest were delivered. */
  keep(order: Int32Array | undefined, start: number, n: number): void {
    this.xs.keep(order, start, n);
    this.ys?.keep(order, start, n);
  }

  /** Empties the pool (a new epoch after an early stop, or the end). */
  clear(): void {
    this.keep(undefined, 0, 0);
  }

  private tensor(
    tf: Tf,
    rows: Rows,
    order: Int32Array | undefined,
    start: number,
    n: number,
    skipped: (r: SkippedImage) => void,
  ): Tensor {
    if (rows instanceof ImageRowList)
      return decodeImages(tf, rows.take(order, start, n), rows.feature, this.topic, this.skip, skipped);
    const { dtype, rowShape } = rows.layout;
    // A fresh array per batch: tfjs-node keeps a reference to it until the tensor's first use.
    return tf.tensor(rows.take(order, start, n), [n, ...rowShape], dtype);
  }
}

/** The pool indices of rows `order[start..start+n)` whose image decoded. */
function keptOrder(
  images: ImageRowList,
  order: Int32Array | undefined,
  start: number,
  n: number,
  dropped: Set<ImageRow>,
): Int32Array {
  const kept: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = order ? order[start + k]! : start + k;
    if (!dropped.has(images.list[i]!)) kept.push(i);
  }
  return Int32Array.from(kept);
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, random: () => number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = (random() * (i + 1)) | 0;
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}
