// Rows of numeric features for the shuffle pool of xs (or ys) — everything but images. Each feature keeps a block of
// its own in the message's layout: one value per row for numbers, labels and one-hot classes, `size` values per row
// for vectors. A message's rows go in with one typed-array `set` per feature (a memcpy for float32), and a batch is
// gathered out feature by feature in the shuffled order of row indexes, straight into the batch's row-major values
// (one-hot rows expanded there). The pool holds only ~10 batches, so its blocks stay in cache for the random reads.
// A batch is gathered into a scratch array that stays in cache, then copied out whole into an array of its own:
// tfjs-node keeps that memory until TensorFlow lets go of the tensor, so it is never reused. (Gathering straight into
// the fresh array ran slower, its every line a cache miss; carving batches from shared 4 MiB slabs slower still, as
// a slab lived until its last batch died. Feed passes over a 36 MB table, medians: 105 ms, 110, and ~130.)
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
  private scratch = new Float32Array(0);
  private readonly hasOneHot: boolean;

  constructor(layout: DenseLayout, capacity: number) {
    this.layout = layout;
    this.capacity = Math.max(1, capacity);
    this.sizes = layout.features.map(keptWidth);
    this.hasOneHot = layout.features.some((f) => f.kind === 'onehot');
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
    if (this.scratch.length < n * width) this.scratch = new Float32Array(n * width);
    const out = this.scratch.subarray(0, n * width);
    if (this.hasOneHot) out.fill(0); // one-hot rows write only their hot class
    features.forEach((f, k) => {
      const block = this.blocks[k]!;
      const at = offsets[k]!;
      if (f.kind === 'onehot') oneHotInto(out, at, width, block, f.depth, order, start, n);
      else if (f.kind === 'vector') vectorInto(out, at, width, block, f.size, order, start, n);
      else scalarInto(out, at, width, block, order, start, n);
    });
    return out.slice();
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

// The loops below run once per value: one typed-array type each and no branch inside, so V8 compiles them tight.
// `out` is a batch's row-major values, `width` per row; a feature fills values [at, at + its width) of each row.

function scalarInto(
  out: Float32Array,
  at: number,
  width: number,
  from: Float32Array,
  order: Int32Array | undefined,
  start: number,
  n: number,
) {
  if (order) for (let k = 0, d = at; k < n; k++, d += width) out[d] = from[order[start + k]!]!;
  else if (width === 1)
    out.set(from.subarray(start, start + n)); // a lone feature in order: one memcpy
  else for (let k = 0, d = at; k < n; k++, d += width) out[d] = from[start + k]!;
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
  for (let k = 0, d = at; k < n; k++, d += width) {
    const s = (order ? order[start + k]! : start + k) * size;
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
  // `out` is zeroed by the caller: only the hot class is written.
  for (let k = 0, d = at; k < n; k++, d += width) {
    const label = from[order ? order[start + k]! : start + k]!;
    // Out-of-range classes give an all-zero row, as tf.oneHot does.
    if (label >= 0 && label < depth) out[d + label] = 1;
  }
}

function gatherInt(out: Int32Array, from: Float32Array, order: Int32Array | undefined, start: number, n: number) {
  if (order) for (let k = 0; k < n; k++) out[k] = from[order[start + k]!]!;
  else for (let k = 0; k < n; k++) out[k] = from[start + k]!;
}

/** Copies the rows `keep` names (`size` values each) to the end of a block. */
function copyKept(out: Float32Array, at: number, src: Numbers, size: number, keep: Int32Array) {
  for (let i = 0, d = at; i < keep.length; i++, d += size) {
    const s = keep[i]! * size;
    for (let j = 0; j < size; j++) out[d + j] = src[s + j]!;
  }
}
