// Rows of numeric features for the shuffle pool of xs (or ys) — everything but images. Each feature keeps a block of
// its own in the message's layout: one value per row for numbers, labels and one-hot classes, `size` values per row
// for vectors. A message's rows go in with one typed-array `set` per feature (a memcpy for float32), and a batch is
// gathered out in the shuffled order of row indexes, straight into the batch's row-major values (one-hot rows
// expanded there). The pool holds only ~10 batches, so its blocks stay in cache for the random reads.
// A batch's values are an array of its own: tfjs-node keeps that memory until TensorFlow lets go of the tensor, so it
// is never reused. Scalar features side by side are gathered four at a time, in one pass over the batch's rows that
// reads each row index once and touches each line of the fresh array once per four features, not once per feature:
// 1 M rows of 8 float32 features took ~15 ms so, ~24 one feature at a time (~19 into a cached scratch array copied
// out after; carving batches from shared 4 MiB slabs was slower still, a slab living until its last batch died).
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

/** Values per row a feature keeps in the pool: a vector's size, else one (a one-hot class is kept as its index). */
const keptWidth = (f: ResolvedFeature): number => (f.kind === 'vector' ? f.size : 1);

/** A growable store of rows; `take` gathers rows into a batch, `keepTail` drops the delivered ones. */
export class DenseRows {
  readonly layout: DenseLayout;
  rows = 0;
  // Labels too are kept as float32 (class indices are exact there): one array type keeps every loop monomorphic.
  private blocks: Float32Array[];
  /** Values per row of each block (keptWidth of its feature). */
  private readonly sizes: number[];
  private capacity: number;

  constructor(layout: DenseLayout, capacity: number) {
    this.layout = layout;
    this.capacity = Math.max(1, capacity);
    this.sizes = layout.features.map(keptWidth);
    this.blocks = this.sizes.map((size) => new Float32Array(this.capacity * size));
  }

  get bytes(): number {
    return this.rows * this.layout.width * 4;
  }

  /** Appends rows `from` to `to` of `table`, or only `keep`'s row indices when given. */
  append(table: Table, place: Place, from: number, to: number, keep?: Int32Array): void {
    const n = keep ? keep.length : to - from;
    this.reserve(this.rows + n);
    this.layout.features.forEach((f, k) => {
      const data = columnData(table, f, place);
      const size = this.sizes[k]!;
      const values = f.kind === 'vector' ? vectorValues(data, f, place) : scalarValues(data);
      const block = this.blocks[k]!;
      // TypedArray#set converts any number type natively, and is a memcpy for float32.
      if (!keep) block.set(values.subarray(from * size, to * size), this.rows * size);
      else copyKept(block, this.rows * size, values, size, keep);
    });
    this.rows += n;
  }

  /** A batch of rows `order[start..start+n)` (or start..start+n without `order`) in an array of its own. */
  take(order: Int32Array | undefined, start: number, n: number): Store {
    const { width, features, offsets, dtype } = this.layout;
    if (dtype === 'int32') {
      const out = new Int32Array(n);
      gatherInt(out, this.blocks[0]!, order, start, n);
      return out;
    }
    // Zeroed: one-hot rows write only their hot class.
    const out = new Float32Array(n * width);
    for (let k = 0; k < features.length;) {
      const f = features[k]!;
      const at = offsets[k]!;
      // Scalar features side by side go up to four per pass; a vector or one-hot feature goes alone.
      let group = 1;
      if (f.kind === 'onehot') oneHotInto(out, at, width, this.blocks[k]!, f.depth, order, start, n);
      else if (f.kind === 'vector') vectorInto(out, at, width, this.blocks[k]!, f.size, order, start, n);
      else {
        while (group < 4 && isScalar(features[k + group])) group++;
        scalarsInto(out, at, width, this.blocks.slice(k, k + group), order, start, n);
      }
      k += group;
    }
    return out;
  }

  /** Keeps only rows start..rows (moved to the front): the rows not delivered yet. */
  keepTail(start: number): void {
    this.sizes.forEach((size, k) => this.blocks[k]!.copyWithin(0, start * size, this.rows * size));
    this.rows -= start;
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    this.capacity = Math.max(rows, 2 * this.capacity);
    this.blocks = this.blocks.map((block, k) => {
      const grown = new Float32Array(this.capacity * this.sizes[k]!);
      grown.set(block.subarray(0, this.rows * this.sizes[k]!));
      return grown;
    });
  }
}

// The loops below run once per value: one typed-array type each and no branch inside (a check of `order` per row
// made the four-feature gather slower than one feature at a time), so V8 compiles them tight. `out` is a batch's
// row-major values, `width` per row; a feature fills values [at, at + its width) of each row.

let identity = new Int32Array(0);

/** The pool rows to take, by position: `order`, or pool order (a shared identity array, grown as needed). */
function rowIndexes(order: Int32Array | undefined, end: number): Int32Array {
  if (order) return order;
  if (identity.length < end) identity = Int32Array.from({ length: Math.max(end, 2 * identity.length) }, (_, i) => i);
  return identity;
}

/** A feature of one value per row, kept as it is delivered (not a vector or one-hot class). */
const isScalar = (f: ResolvedFeature | undefined): boolean =>
  f !== undefined && f.kind !== 'vector' && f.kind !== 'onehot';

/** One to four scalar features side by side (values `at` on of each row): four take one pass over the rows. */
function scalarsInto(
  out: Float32Array,
  at: number,
  width: number,
  from: Float32Array[],
  order: Int32Array | undefined,
  start: number,
  n: number,
) {
  // A lone feature in pool order: one memcpy.
  if (!order && width === 1) {
    out.set(from[0]!.subarray(start, start + n));
    return;
  }
  const rows = rowIndexes(order, start + n);
  if (from.length === 4) scalar4Into(out, at, width, from, rows, start, n);
  else from.forEach((a, i) => scalarInto(out, at + i, width, a, rows, start, n));
}

function scalarInto(
  out: Float32Array,
  at: number,
  width: number,
  a: Float32Array,
  rows: Int32Array,
  start: number,
  n: number,
) {
  for (let k = 0, d = at; k < n; k++, d += width) out[d] = a[rows[start + k]!]!;
}

function scalar4Into(
  out: Float32Array,
  at: number,
  width: number,
  from: Float32Array[],
  rows: Int32Array,
  start: number,
  n: number,
) {
  const [a, b, c, e] = from as [Float32Array, Float32Array, Float32Array, Float32Array];
  for (let k = 0, d = at; k < n; k++, d += width) {
    const r = rows[start + k]!;
    out[d] = a[r]!;
    out[d + 1] = b[r]!;
    out[d + 2] = c[r]!;
    out[d + 3] = e[r]!;
  }
}

function vectorInto(
  out: Float32Array,
  at: number,
  width: number,
  from: Float32Array,
  size: number,
  order: Int32Array | undefined,
  start: number,
  n: number,
) {
  const rows = rowIndexes(order, start + n);
  for (let k = 0, d = at; k < n; k++, d += width) {
    const s = rows[start + k]! * size;
    for (let j = 0; j < size; j++) out[d + j] = from[s + j]!;
  }
}

function oneHotInto(
  out: Float32Array,
  at: number,
  width: number,
  from: Float32Array,
  depth: number,
  order: Int32Array | undefined,
  start: number,
  n: number,
) {
  // `out` is zeroed: only the hot class is written.
  const rows = rowIndexes(order, start + n);
  for (let k = 0, d = at; k < n; k++, d += width) {
    const label = from[rows[start + k]!]!;
    // Out-of-range classes give an all-zero row, as tf.oneHot does.
    if (label >= 0 && label < depth) out[d + label] = 1;
  }
}

function gatherInt(out: Int32Array, from: Float32Array, order: Int32Array | undefined, start: number, n: number) {
  const rows = rowIndexes(order, start + n);
  for (let k = 0; k < n; k++) out[k] = from[rows[start + k]!]!;
}

/** Copies the rows `keep` names (`size` values each) to the end of a block. */
function copyKept(out: Float32Array, at: number, src: Numbers, size: number, keep: Int32Array) {
  for (let i = 0, d = at; i < keep.length; i++, d += size) {
    const s = keep[i]! * size;
    for (let j = 0; j < size; j++) out[d + j] = src[s + j]!;
  }
}
