// One Arrow record batch → tensors, column buffer by column buffer: numeric and vector columns are typed-array views
// over the Arrow data, labels are the Int32 indices written at stream time. Only images are decoded per row.
import type { Data, Table } from 'apache-arrow';
import type { Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../tf/tf.ts';
import { FeedCodes, feedError } from './errors.ts';
import type { ResolvedFeature, ResolvedSpec } from './feature-spec.ts';

/** Tensors for the rows of one message; `rows` may be fewer than the message's when the skip policy dropped some. */
export interface Chunk {
  xs: Tensor;
  ys: Tensor | undefined;
  rows: number;
  skipped: number;
}

export interface Place {
  topic: string;
  partition: number;
  offset: bigint;
}

function floats(data: Data): Float32Array {
  const values = data.values as ArrayLike<number> | BigInt64Array;
  const length = data.length * (data.stride || 1);
  const view: unknown = (values as Float32Array).subarray(
    data.offset * (data.stride || 1),
    data.offset * (data.stride || 1) + length,
  );
  if (view instanceof Float32Array) return view;
  if (view instanceof BigInt64Array || view instanceof BigUint64Array)
    return Float32Array.from(view as ArrayLike<bigint>, Number);
  return new Float32Array(view as ArrayLike<number>);
}

function ints(data: Data): Int32Array {
  const values: unknown = (data.values as Int32Array).subarray(data.offset, data.offset + data.length);
  if (values instanceof Int32Array) return values;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array)
    return Int32Array.from(values as ArrayLike<bigint>, Number);
  return Int32Array.from(values as ArrayLike<number>);
}

function columnData(table: Table, feature: ResolvedFeature, place: Place): Data {
  const data = table.getChild(feature.column)?.data[0];
  if (!data) {
    throw feedError(
      FeedCodes.missingColumn,
      'a message lacks a column the feature spec needs',
      { ...place, column: feature.column },
      {
        fix: 'feed a topic written with that column',
      },
    );
  }
  if (data.nullCount > 0) {
    let row = 0;
    while (data.getValid(row)) row++;
    throw feedError(
      FeedCodes.nulls,
      `${data.nullCount} null value(s) in a column the feature spec needs`,
      { ...place, column: feature.column, row },
      {
        fix: 'fill or drop the nulls before stream(); pass features to stream() to catch them there',
      },
    );
  }
  return data;
}

function vectorValues(data: Data, feature: ResolvedFeature, place: Place): Float32Array {
  const child = data.children[0]!;
  if (data.valueOffsets) {
    const offsets = data.valueOffsets as Int32Array;
    for (let i = 0; i < data.length; i++) {
      if (offsets[data.offset + i + 1]! - offsets[data.offset + i]! !== feature.size) {
        throw feedError(
          FeedCodes.ragged,
          `a list of ${offsets[data.offset + i + 1]! - offsets[data.offset + i]!} elements, not ${feature.size}`,
          { ...place, column: feature.column, row: i },
          {
            fix: 'vector columns need one length per row',
          },
        );
      }
    }
    const start = offsets[data.offset]!;
    return floats(child).subarray(start, start + data.length * feature.size);
  }
  return floats(child).subarray(data.offset * feature.size, (data.offset + data.length) * feature.size);
}

/** Decodes the images of a Binary column; corrupt ones throw (policy fail) or are reported in `bad` (skip). */
function images(tf: Tf, data: Data, feature: ResolvedFeature, place: Place, skip: boolean, bad: Set<number>): Tensor {
  const offsets = data.valueOffsets as Int32Array;
  const bytes = data.values as Uint8Array;
  const decoded: Tensor[] = [];
  for (let i = 0; i < data.length; i++) {
    const file = bytes.subarray(offsets[data.offset + i]!, offsets[data.offset + i + 1]!);
    try {
      decoded.push(
        tf.tidy(() => {
          const image = tf.node.decodeImage(
            file,
            feature.channels,
            'int32',
            false,
          ) as import('@tensorflow/tfjs-node').Tensor3D;
          return tf.image.resizeBilinear(image, [feature.height, feature.width]).div(255);
        }),
      );
    } catch (cause) {
      if (!skip) {
        throw feedError(
          FeedCodes.image,
          'an image failed to decode',
          { ...place, column: feature.column, row: i },
          {
            cause,
            fix: "re-encode or drop the file, or feed with onDecodeError: 'skip' to count and skip such rows",
          },
        );
      }
      bad.add(i);
    }
  }
  if (decoded.length === 0) return tf.zeros([0, feature.height, feature.width, feature.channels]);
  return tf.stack(decoded);
}

function featureTensor(
  tf: Tf,
  table: Table,
  feature: ResolvedFeature,
  place: Place,
  skip: boolean,
  bad: Set<number>,
): Tensor {
  const data = columnData(table, feature, place);
  const n = data.length;
  switch (feature.kind) {
    case 'numeric':
      return tf.tensor2d(floats(data), [n, 1], 'float32');
    case 'vector':
      return tf.tensor2d(vectorValues(data, feature, place), [n, feature.size], 'float32');
    case 'image':
      return images(tf, data, feature, place, skip, bad);
    case 'label':
      return tf.tensor1d(ints(data), 'int32');
    case 'onehot':
      return tf.oneHot(tf.tensor1d(ints(data), 'int32'), feature.depth).toFloat();
  }
}

/** Turns one message into tensors per `spec`; with `skip`, rows whose image fails to decode are dropped and counted. */
export function toTensors(tf: Tf, table: Table, spec: ResolvedSpec, place: Place, skip: boolean): Chunk {
  return tf.tidy(() => {
    const bad = new Set<number>();
    const xsParts = spec.xs.map((f) => featureTensor(tf, table, f, place, skip, bad));
    let xs = xsParts.length === 1 ? xsParts[0]! : tf.concat(xsParts, 1);
    let ys = spec.ys ? featureTensor(tf, table, spec.ys, place, skip, bad) : undefined;
    if (bad.size > 0) {
      const keep = tf.tensor1d(
        Array.from({ length: table.numRows }, (_, i) => i).filter((i) => !bad.has(i)),
        'int32',
      );
      // Image features already lack the bad rows; every other tensor is gathered down to the kept rows.
      if (spec.xs[0]!.kind !== 'image') xs = tf.gather(xs, keep);
      if (ys && spec.ys!.kind !== 'image') ys = tf.gather(ys, keep);
    }
    return { xs, ys, rows: table.numRows - bad.size, skipped: bad.size };
  });
}
