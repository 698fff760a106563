// Rows of numeric features for the shuffle pool of xs (or ys) — everything but images — in one Float32Array,
// row-major, `width` values per row: a message's columns are copied in column by column (a typed-array `set` when a
// row is one value), and a batch is gathered out row by row in the shuffled order of row indexes, each row one
// contiguous read (row-major beats a store per column here: a column store costs a random read per value, not
// per row). Batches are fresh views carved from a shared slab, so no allocation per batch.
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

/** A batch's values: float32, or int32 for a lone label. */
export type Store = Float32Array | Int32Array;

/** Values per slab that batches are carved from (4 MiB): one allocation per many batches. */
const SLAB_VALUES = 1 << 20;

/** A growable store of rows; `take` gathers rows into a batch, `keepTail` drops the delivered ones. */
export class DenseRows {
  readonly layout: DenseLayout;
  rows = 0;
  // Labels too are kept as float32 (class indices are exact there): one array type keeps every loop monomorphic.
  private data: Float32Array;
  private slab: Store;
  private slabUsed = 0;

  constructor(layout: DenseLayout, capacity: number) {
    this.layout = layout;
    this.data = new Float32Array(Math.max(1, capacity) * layout.width);
    this.slab = this.allocSlab(0);
  }

  get bytes(): number {
    return this.rows * this.layout.width * 4;
  }

  /** Appends rows `from` to `to` of `table`, or only `keep`'s row indices when given. */
  append(table: Table, place: Place, from: number, to: number, keep?: Int32Array): void {
    const { width, features, offsets } = this.layout;
    const n = keep ? keep.length : to - from;
    this.reserve(this.rows + n);
    const out = this.data;
    const base = this.rows * width;
    features.forEach((f, k) => {
      const data = columnData(table, f, place);
      const at = base + offsets[k]!;
      if (f.kind === 'vector') {
        const values = vectorValues(data, f, place);
        copyVectors(out, at, width, keep ? values : values.subarray(from * f.size), f.size, n, keep);
        return;
      }
      const values = keep ? scalarValues(data) : scalarValues(data).subarray(from, to);
      if (f.kind === 'onehot') writeOneHot(out, at, width, values, f.depth, n, keep);
      // TypedArray#set converts any number type natively, and is a memcpy for float32.
      else if (width === 1 && !keep) out.set(values, at);
      else copyScalars(out, at, width, values, n, keep);
    });
    this.rows += n;
  }

  /**
   * A batch of rows `order[start..start+n)` (or start..start+n without `order`) in a view never handed out before:
   * tfjs-node keeps a reference to it until the tensor's first use.
   */
  take(order: Int32Array | undefined, start: number, n: number): Store {
    const { width } = this.layout;
    const out = this.carve(n * width);
    if (out instanceof Int32Array) gatherInt(out, this.data, order, start, n);
    else if (!order) out.set(this.data.subarray(start * width, (start + n) * width));
    else if (width === 1) gatherOne(out, this.data, order, start, n);
    else gatherRows(out, this.data, width, order, start, n);
    return out;
  }

  /** Keeps only rows start..rows (moved to the front): the rows not delivered yet. */
  keepTail(start: number): void {
    const { width } = this.layout;
    this.data.copyWithin(0, start * width, this.rows * width);
    this.rows -= start;
  }

  private reserve(rows: number): void {
    const { width } = this.layout;
    if (rows * width <= this.data.length) return;
    const grown = new Float32Array(Math.max(rows, (2 * this.data.length) / Math.max(1, width)) * width);
    grown.set(this.data.subarray(0, this.rows * width));
    this.data = grown;
  }

  private allocSlab(values: number): Store {
    const length = Math.max(values, SLAB_VALUES);
    // Not zeroed (`take` writes every value of a view before handing it out): zeroing cost a pass over each slab.
    const memory = Buffer.allocUnsafeSlow(length * 4).buffer;
    return this.layout.dtype === 'int32' ? new Int32Array(memory, 0, length) : new Float32Array(memory, 0, length);
  }

  /** A view of `values` never handed out before (its contents are garbage until `take` fills it). */
  private carve(values: number): Store {
    if (this.slabUsed + values > this.slab.length) {
      this.slab = this.allocSlab(values);
      this.slabUsed = 0;
    }
    const view = this.slab.subarray(this.slabUsed, this.slabUsed + values);
    this.slabUsed += values;
    return view;
  }
}

// The loops below run once per value: one typed-array type each and no branch inside, so V8 compiles them tight.
function gatherRows(out: Float32Array, from: Float32Array, width: number, order: Int32Array, start: number, n: number) {
  for (let k = 0, d = 0; k < n; k++) {
    const s = order[start + k]! * width;
    for (let j = 0; j < width; j++, d++) out[d] = from[s + j]!;
  }
}

function gatherOne(out: Float32Array, from: Float32Array, order: Int32Array, start: number, n: number) {
  for (let k = 0; k < n; k++) out[k] = from[order[start + k]!]!;
}

function gatherInt(out: Int32Array, from: Float32Array, order: Int32Array | undefined, start: number, n: number) {
  if (order) for (let k = 0; k < n; k++) out[k] = from[order[start + k]!]!;
  else for (let k = 0; k < n; k++) out[k] = from[start + k]!;
}

function copyScalars(out: Float32Array, at: number, width: number, src: Numbers, n: number, keep?: Int32Array) {
  if (keep) for (let i = 0, d = at; i < n; i++, d += width) out[d] = src[keep[i]!]!;
  else for (let i = 0, d = at; i < n; i++, d += width) out[d] = src[i]!;
}

function copyVectors(
  out: Float32Array,
  at: number,
  width: number,
  src: Numbers,
  size: number,
  n: number,
  keep?: Int32Array,
) {
  for (let i = 0; i < n; i++) {
    const s = (keep ? keep[i]! : i) * size;
    const d = at + i * width;
    for (let j = 0; j < size; j++) out[d + j] = src[s + j]!;
  }
}

function writeOneHot(
  out: Float32Array,
  at: number,
  width: number,
  src: Numbers,
  depth: number,
  n: number,
  keep?: Int32Array,
) {
  for (let i = 0; i < n; i++) {
    const d = at + i * width;
    out.fill(0, d, d + depth);
    const label = src[keep ? keep[i]! : i]!;
    // Out-of-range classes give an all-zero row, as tf.oneHot does.
    if (label >= 0 && label < depth) out[d + label] = 1;
  }
}
