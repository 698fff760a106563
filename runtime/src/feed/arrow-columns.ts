// Typed-array views over the columns of one Arrow message: what the row pool copies rows from. Numbers stay views
// over the Arrow buffers where the type allows (float32, int32); other types are converted once per message.
import { Type } from 'apache-arrow';
import type { Data, Table } from 'apache-arrow';
import { FeedCodes, feedError } from './errors.ts';
import type { ResolvedFeature } from './feature-spec.ts';

/** Where a message came from, for errors. */
export interface Place {
  topic: string;
  partition: number;
  offset: bigint;
}

/** Numbers of a column as a typed array (a view when the type is already float32, float64 or int32). */
export type Numbers = Float32Array | Float64Array | Int32Array;

// Arrow JS slices a Data's buffers with it (values, offsets, views): indices into them start at 0, never at
// `data.offset`.
function numbers(data: Data, start: number, length: number): Numbers {
  const view: unknown = (data.values as Float32Array).subarray(start, start + length);
  if (view instanceof Float32Array || view instanceof Float64Array || view instanceof Int32Array) return view;
  if (view instanceof BigInt64Array || view instanceof BigUint64Array)
    return Float64Array.from(view as ArrayLike<bigint>, Number);
  return Float64Array.from(view as ArrayLike<number>);
}

/** The column a feature reads, checked for presence and nulls. */
export function columnData(table: Table, feature: ResolvedFeature, place: Place): Data {
  const data = table.getChild(feature.column)?.data[0];
  if (!data) {
    throw feedError(
      FeedCodes.missingColumn,
      'a message lacks a column the feature spec needs',
      { ...place, column: feature.column },
      { fix: 'feed a topic written with that column' },
    );
  }
  if (data.nullCount > 0) {
    const row = firstNullRow(data);
    throw feedError(
      FeedCodes.nulls,
      `${data.nullCount} null value(s) in a column the feature spec needs`,
      { ...place, column: feature.column, row },
      { fix: 'fill or drop the nulls before stream(); pass features to stream() to catch them there' },
    );
  }
  return data;
}

/** A scalar column's values, one per row. */
export function scalarValues(data: Data): Numbers {
  return numbers(data, 0, data.length);
}

/**
 * A vector column's values, `feature.size` per row, row-major: FixedSizeList, List or LargeList of numbers. A list
 * of another length is an error naming the row.
 */
export function vectorValues(data: Data, feature: ResolvedFeature, place: Place): Numbers {
  const child = data.children[0]!;
  if (!data.valueOffsets) return numbers(child, 0, data.length * feature.size);
  // Int32Array for List, BigInt64Array for LargeList.
  const offsets = data.valueOffsets as unknown as ArrayLike<number | bigint>;
  for (let i = 0; i < data.length; i++) {
    const size = Number(offsets[i + 1]!) - Number(offsets[i]!);
    if (size !== feature.size) {
      throw feedError(
        FeedCodes.ragged,
        `a list of ${size} elements, not ${feature.size}`,
        { ...place, column: feature.column, row: i },
        { fix: 'vector columns need one length per row' },
      );
    }
  }
  return numbers(child, Number(offsets[0]!), data.length * feature.size);
}

/** The file bytes of row `i` of a Binary, LargeBinary or BinaryView column (a view, no copy). */
export function binaryValue(data: Data, row: number): Uint8Array {
  if (data.type.typeId === Type.BinaryView) {
    // 16-byte views: length, then up to 12 inline bytes, or a 4-byte prefix, buffer index and offset.
    const views = data.values as Uint8Array;
    const words = new DataView(views.buffer, views.byteOffset + row * 16, 16);
    const length = words.getInt32(0, true);
    if (length <= 12) return views.subarray(row * 16 + 4, row * 16 + 4 + length);
    const buffer = data.variadicBuffers[words.getInt32(8, true)]!;
    const offset = words.getInt32(12, true);
    return buffer.subarray(offset, offset + length);
  }
  const offsets = data.valueOffsets as ArrayLike<number | bigint>;
  return (data.values as Uint8Array).subarray(Number(offsets[row]), Number(offsets[row + 1]));
}

/** The first row of `data` holding a null (call only when `data.nullCount > 0`). */
export function firstNullRow(data: Data): number {
  let row = 0;
  while (data.getValid(row)) row++;
  return row;
}
