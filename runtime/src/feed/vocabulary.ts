// String label columns become Int32 index columns once, at stream time, with the vocabulary stored in the topic's
// metadata: every worker reads the same mapping, and the feed turns labels into tensors from an Int32Array view.
import { Int32, Table, Type, makeData, makeVector } from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import { FeedCodes, feedError } from './errors.ts';

/** Column name → its labels, index i meaning `labels[i]`. */
export type Vocabularies = Record<string, string[]>;

function isStringColumn(vector: Vector): boolean {
  const type = vector.type;
  return (
    type.typeId === Type.Utf8 ||
    type.typeId === Type.LargeUtf8 ||
    // nodejs-polars writes its strings as Utf8View.
    type.typeId === Type.Utf8View ||
    (type.typeId === Type.Dictionary &&
      [Type.Utf8, Type.LargeUtf8].includes((type as { dictionary: { typeId: Type } }).dictionary.typeId))
  );
}

/**
 * Replaces every string column of `table` with Int32 indices into its vocabulary: `given[column]` when the caller
 * fixed one (a label outside it is an error naming the row), else the sorted distinct labels. Nulls stay null.
 */
export function encodeStringColumns(
  table: Table,
  given: Vocabularies,
  topic: string,
): { table: Table; vocabularies: Vocabularies } {
  const vocabularies: Vocabularies = {};
  const columns: Record<string, Vector> = {};
  let changed = false;
  for (const field of table.schema.fields) {
    const vector = table.getChild(field.name)!;
    if (!isStringColumn(vector)) {
      columns[field.name] = vector;
      continue;
    }
    changed = true;
    const labels = vector.toArray() as (string | null)[];
    const fixed = given[field.name];
    const vocabulary = fixed ?? [...new Set(labels.filter((l): l is string => l !== null))].sort();
    const index = new Map(vocabulary.map((label, i) => [label, i]));
    const indices = new Int32Array(labels.length);
    let nullBitmap: Uint8Array | undefined;
    for (let row = 0; row < labels.length; row++) {
      const label = labels[row];
      if (label === null || label === undefined) {
        nullBitmap ??= new Uint8Array(Math.ceil(labels.length / 8)).fill(0xff);
        nullBitmap[row >> 3]! &= ~(1 << (row & 7));
        continue;
      }
      const i = index.get(label);
      if (i === undefined) {
        throw feedError(
          FeedCodes.unknownLabel,
          `label ${JSON.stringify(label)} is not in the vocabulary`,
          { topic, column: field.name, row },
          {
            fix: `add it to stream.vocabularies.${field.name} (now ${JSON.stringify(vocabulary.slice(0, 10))}${vocabulary.length > 10 ? '…' : ''}) or drop the row`,
          },
        );
      }
      indices[row] = i;
    }
    vocabularies[field.name] = vocabulary;
    const nullCount = nullBitmap ? labels.length - countSet(nullBitmap, labels.length) : 0;
    columns[field.name] = makeVector(
      makeData({
        type: new Int32(),
        length: labels.length,
        data: indices,
        nullCount,
        ...(nullBitmap ? { nullBitmap } : {}),
      }),
    );
  }
  return { table: changed ? new Table(columns) : table, vocabularies };
}

function countSet(bitmap: Uint8Array, length: number): number {
  let count = 0;
  for (let i = 0; i < length; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) count++;
  return count;
}
