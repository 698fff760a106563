// The shuffle pool, kept in JavaScript memory rather than as tensors: numeric rows in typed arrays, images as their
// encoded bytes. A batch is copied out in a seeded random order and becomes one tensor per output, built directly
// from its typed array — no concat, gather or split ops, which cost far more in tfjs-node than the copies.
// The pool also knows where each row came from (message and row), so a feed position can name the rows read but
// not yet delivered, and a resumed feed puts exactly those back.
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

  keepTail(start: number): void {
    this.list = this.list.slice(start);
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

/** Rows of a message still pooled: rows `from` to the message's end (less any its checks left out). */
export interface PendingMessage {
  partition: number;
  /** The message's offset (decimal string, as in FeedPosition). */
  offset: string;
  from: number;
}

/** A message with rows in the pool: from pool row `start` on, holding its rows `rows` (or `first`, `first + 1`, …). */
interface Source {
  partition: number;
  offset: bigint;
  start: number;
  first: number;
  rows: Int32Array | undefined;
}

/** Rows of xs and ys side by side, appended per message and taken per batch. */
export class RowPool {
  private readonly xs: Rows;
  private readonly ys: Rows | undefined;
  private readonly topic: string;
  private readonly skip: boolean;
  private sources: Source[] = [];

  constructor(spec: ResolvedSpec, topic: string, skip: boolean, capacity: number) {
    this.xs = rowsFor(spec.xs, capacity);
    this.ys = spec.ys ? rowsFor([spec.ys], capacity) : undefined;
    this.topic = topic;
    this.skip = skip;
  }

  get rows(): number {
    return this.xs.rows;
  }

  /** Whether pooled rows view the bytes of their messages (images) rather than copies of their values. */
  get viewsMessages(): boolean {
    return this.xs instanceof ImageRowList || this.ys instanceof ImageRowList;
  }

  /** Bytes held: what bounds the pool besides its row count (images are large and vary). */
  get bytes(): number {
    return this.xs.bytes + (this.ys?.bytes ?? 0);
  }

  /**
   * Adds a message's rows `from` to `to` (the pool takes a message in slices; a resume puts back only the rows a
   * position names); returns how many of them the skip policy left out (images failing the marker check).
   */
  append(table: Table, place: Place, from = 0, to = table.numRows): number {
    const found = new Set<number>();
    const images = [this.xs, this.ys].map((r) =>
      r instanceof ImageRowList ? imageRows(table, r.feature, place, this.skip, found) : undefined,
    );
    const bad = new Set([...found].filter((i) => i >= from && i < to));
    let keep: Int32Array | undefined;
    if (bad.size > 0) {
      keep = new Int32Array(to - from - bad.size);
      for (let i = from, k = 0; i < to; i++) if (!bad.has(i)) keep[k++] = i;
    }
    const start = this.rows;
    [this.xs, this.ys].forEach((r, i) => {
      if (r instanceof DenseRows) r.append(table, place, from, to, keep);
      // With both outputs images, a row bad in one must leave the other too.
      else if (r) r.add(images[i]!.filter((x) => x.row >= from && x.row < to && !bad.has(x.row)));
    });
    if (this.rows > start) {
      this.sources.push({ partition: place.partition, offset: place.offset, start, first: from, rows: keep });
    }
    return bad.size;
  }

  /** The messages of pooled rows start..rows, in pool order: what a position lists as read but not delivered. */
  pending(start: number): PendingMessage[] {
    const out: PendingMessage[] = [];
    this.sources.forEach((s, i) => {
      const end = this.sources[i + 1]?.start ?? this.rows;
      if (end <= start) return;
      const offset = String(s.offset);
      const previous = out.at(-1);
      // Slices of one message lie side by side: its first pending row covers the rest of it.
      if (previous?.partition === s.partition && previous.offset === offset) return;
      const skipped = Math.max(0, start - s.start);
      out.push({ partition: s.partition, offset, from: s.rows ? s.rows[skipped]! : s.first + skipped });
    });
    return out;
  }

  /** Tensors for rows `order[start..start+n)` (or start..start+n in pool order). */
  batch(
    tf: Tf,
    order: Int32Array | undefined,
    start: number,
    n: number,
    skipped: (r: SkippedImage) => void,
  ): BatchTensors {
    // Numbers only: each output is one tensor made straight from its values, nothing in between to tidy.
    if (this.xs instanceof DenseRows && !(this.ys instanceof ImageRowList)) {
      const xs = this.tensor(tf, this.xs, order, start, n, skipped);
      return { xs, ys: this.ys && this.tensor(tf, this.ys, order, start, n, skipped), rows: n };
    }
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

  /** Keeps pool rows start..rows (moved to the front) for the next emit; the rows before were delivered. */
  keepTail(start: number): void {
    const rows = this.rows;
    this.xs.keepTail(start);
    this.ys?.keepTail(start);
    this.sources = this.sources
      .filter((s, i) => (this.sources[i + 1]?.start ?? rows) > start)
      .map((s) => {
        const skipped = Math.max(0, start - s.start);
        const kept = { ...s, start: Math.max(0, s.start - start) };
        if (s.rows) kept.rows = s.rows.subarray(skipped);
        else kept.first = s.first + skipped;
        return kept;
      });
  }

  /** Empties the pool (a new epoch after an early stop, or the end). */
  clear(): void {
    this.keepTail(this.rows);
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
    // An array of its own: tfjs-node keeps viewing it until TensorFlow lets go of the tensor.
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
