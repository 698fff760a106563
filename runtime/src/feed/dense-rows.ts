// Rows of numeric features held in one typed array, row-major, `width` values per row: the shuffle pool of xs (or
// ys) for everything but images. Messages are copied in column by column; batches are copied out row by row in the
// shuffled order. Only typed-array loops run per row — no objects, no tensors — so a million rows cost milliseconds.
import type { Table } from 'apache-arrow';
import { columnData, scalarValues, vectorValues } from './arrow-columns.ts';
import type { Numbers, Place } from './arrow-columns.ts';
import type { ResolvedFeature } from './feature-spec.ts';

/** How features sit side by side in a row: feature `i` fills values [offsets[i], offsets[i] + width). */
export interface DenseLayout {
  features: ResolvedFeature[];
  offsets: number[];
  width: number;
  /** int32 only for a lone label feature (class indices); float32 otherwise. */
  dtype: 'float32' | 'int32';
  /** The shape of one row in the batch tensor: [] for a lone label, else [width]. */
  rowShape: number[];
}

function featureWidth(f: ResolvedFeature): number {
  if (f.kind === 'vector') return f.size;
  if (f.kind === 'onehot') return f.depth;
  return 1;
}

/** Lays out numeric, vector, label and one-hot features along axis 1, in spec order. */
export function denseLayout(features: ResolvedFeature[]): DenseLayout {
  const offsets: number[] = [];
  let width = 0;
  for (const f of features) {
    offsets.push(width);
    width += featureWidth(f);
  }
  const lonelyLabel = features.length === 1 && features[0]!.kind === 'label';
  return {
    features,
    offsets,
    width,
    dtype: lonelyLabel ? 'int32' : 'float32',
    rowShape: lonelyLabel ? [] : [width],
  };
}

type Store = Float32Array | Int32Array;

/** A growable, reusable store of rows; `take` copies rows out, `keep` compacts the rows not taken. */
export class DenseRows {
  readonly layout: DenseLayout;
  rows = 0;
  private data: Store;
  // The other half of a double buffer: `keep` gathers into it and swaps, so no allocation per emit.
  private spare: Store;

  constructor(layout: DenseLayout, capacity: number) {
    this.layout = layout;
    this.data = this.alloc(capacity);
    this.spare = this.alloc(0);
  }

  get bytes(): number {
    return this.rows * this.layout.width * 4;
  }

  /** Appends the rows of `table` (all, or only `keep`'s row indices). */
  append(table: Table, place: Place, keep?: Int32Array): void {
    const { width, features, offsets } = this.layout;
    const n = keep ? keep.length : table.numRows;
    this.reserve(this.rows + n);
    const out = this.data;
    const base = this.rows * width;
    features.forEach((f, k) => {
      const data = columnData(table, f, place);
      const at = base + offsets[k]!;
      if (f.kind === 'vector') copyVectors(out, at, width, vectorValues(data, f, place), f.size, n, keep);
      else if (f.kind === 'onehot') writeOneHot(out, at, width, scalarValues(data), f.depth, n, keep);
      else copyScalars(out, at, width, scalarValues(data), n, keep);
    });
    this.rows += n;
  }

  /** A new array holding rows `order[start..start+n)` (or rows start..start+n when `order` is absent). */
  take(order: Int32Array | undefined, start: number, n: number): Store {
    const out = this.alloc(n);
    gather(out, this.data, this.layout.width, order, start, n);
    return out;
  }

  /** Keeps only rows `order[start..start+n)` (or start..start+n), moved to the front. */
  keep(order: Int32Array | undefined, start: number, n: number): void {
    const { width } = this.layout;
    if (!order) {
      this.data.copyWithin(0, start * width, (start + n) * width);
    } else {
      if (this.spare.length < this.data.length) this.spare = this.alloc(this.data.length / Math.max(1, width));
      gather(this.spare, this.data, width, order, start, n);
      [this.data, this.spare] = [this.spare, this.data];
    }
    this.rows = n;
  }

  private alloc(rows: number): Store {
    const length = rows * this.layout.width;
    return this.layout.dtype === 'int32' ? new Int32Array(length) : new Float32Array(length);
  }

  private reserve(rows: number): void {
    if (rows * this.layout.width <= this.data.length) return;
    const grown = this.alloc(Math.max(rows, 2 * (this.data.length / Math.max(1, this.layout.width))));
    grown.set(this.data.subarray(0, this.rows * this.layout.width));
    this.data = grown;
  }
}

// The loops below run once per value: kept free of per-iteration branches so V8 compiles them to tight code.
function gather(out: Store, from: Store, width: number, order: Int32Array | undefined, start: number, n: number) {
  if (!order) {
    out.set(from.subarray(start * width, (start + n) * width));
  } else if (width === 1) {
    for (let k = 0; k < n; k++) out[k] = from[order[start + k]!]!;
  } else {
    for (let k = 0, d = 0; k < n; k++) {
      const s = order[start + k]! * width;
      for (let j = 0; j < width; j++, d++) out[d] = from[s + j]!;
    }
  }
}

function copyScalars(out: Store, at: number, width: number, src: Numbers, n: number, keep?: Int32Array) {
  if (keep) {
    for (let i = 0, d = at; i < n; i++, d += width) out[d] = src[keep[i]!]!;
  } else if (width === 1 && src.constructor === out.constructor) {
    out.set(src as Store, at);
  } else {
    for (let i = 0, d = at; i < n; i++, d += width) out[d] = src[i]!;
  }
}

function copyVectors(out: Store, at: number, width: number, src: Numbers, size: number, n: number, keep?: Int32Array) {
  for (let i = 0; i < n; i++) {
    const s = (keep ? keep[i]! : i) * size;
    const d = at + i * width;
    for (let j = 0; j < size; j++) out[d + j] = src[s + j]!;
  }
}

function writeOneHot(out: Store, at: number, width: number, src: Numbers, depth: number, n: number, keep?: Int32Array) {
  for (let i = 0; i < n; i++) {
    const d = at + i * width;
    out.fill(0, d, d + depth);
    const label = src[keep ? keep[i]! : i]!;
    // Out-of-range classes give an all-zero row, as tf.oneHot does.
    if (label >= 0 && label < depth) out[d + label] = 1;
  }
}
