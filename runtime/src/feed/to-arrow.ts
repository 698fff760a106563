// The one conversion of user data to Arrow: an Arrow Table passes through, a nodejs-polars DataFrame and an Arquero
// table go through their own Arrow IPC writers (columnar copies, no per-row work), plain records through Arrow's
// JSON builder. BinaryView columns (nodejs-polars writes its binary columns so) become Binary: Arrow JS writes a
// sliced BinaryView wrong, and stream() slices every table into messages.
import { Binary, LargeBinary, Table, Type, makeData, makeVector, tableFromIPC, tableFromJSON } from 'apache-arrow';
import type { Data, Vector } from 'apache-arrow';
import { binaryValue } from './arrow-columns.ts';
import { FeedCodes, feedError } from './errors.ts';

/** One table of data: an Arrow Table, a nodejs-polars DataFrame, an Arquero table, or plain records. */
export type TableInput = Table | PolarsLike | ArqueroLike | readonly Record<string, unknown>[];

/**
 * What `stream()` accepts: one table, or chunks of them (sync or async iterable) for data larger than memory —
 * each chunk is converted, checked and sent before the next is pulled.
 */
export type StreamInput = TableInput | Iterable<TableInput> | AsyncIterable<TableInput>;

/** The part of a nodejs-polars DataFrame Petal uses. */
export interface PolarsLike {
  writeIPC(options?: { compression?: string }): Buffer;
}

/** The part of an Arquero table Petal uses. */
export interface ArqueroLike {
  toArrowIPC(options?: { format?: 'file' | 'stream' }): Uint8Array;
}

/** The chunks of a chunked input, or undefined when `data` is one table. */
export function chunksOf(data: StreamInput): AsyncIterable<TableInput> | Iterable<TableInput> | undefined {
  // Tables, DataFrames and arrays are iterable too (over rows): they are one table, never chunks.
  if (data instanceof Table || Array.isArray(data)) return undefined;
  if (typeof (data as PolarsLike).writeIPC === 'function' || typeof (data as ArqueroLike).toArrowIPC === 'function')
    return undefined;
  if (typeof (data as AsyncIterable<TableInput>)[Symbol.asyncIterator] === 'function')
    return data as AsyncIterable<TableInput>;
  if (typeof (data as Iterable<TableInput>)[Symbol.iterator] === 'function') return data as Iterable<TableInput>;
  return undefined;
}

/** Converts `data` to an Arrow Table, once. Throws PETAL_FEED_INPUT for anything else. */
export function toArrowTable(data: TableInput, topic: string): Table {
  return withoutBinaryViews(anyToArrow(data, topic));
}

function anyToArrow(data: TableInput, topic: string): Table {
  if (data instanceof Table) return data;
  if (Array.isArray(data)) {
    if (data.length === 0) return new Table();
    return tableFromJSON(data as Record<string, unknown>[]);
  }
  if (typeof (data as PolarsLike).writeIPC === 'function') {
    return tableFromIPC((data as PolarsLike).writeIPC({ compression: 'uncompressed' }));
  }
  if (typeof (data as ArqueroLike).toArrowIPC === 'function') {
    return tableFromIPC((data as ArqueroLike).toArrowIPC({ format: 'stream' }));
  }
  const name = (data as object)?.constructor?.name ?? typeof data;
  throw feedError(
    FeedCodes.input,
    `stream() cannot read a ${name}`,
    { topic },
    {
      fix: 'pass an Apache Arrow Table, a nodejs-polars DataFrame, an Arquero table, an array of plain records, or an (async) iterable of those as chunks',
    },
  );
}

/** `table` with each BinaryView column copied into a Binary one (LargeBinary past 2 GiB in one chunk). */
function withoutBinaryViews(table: Table): Table {
  if (!table.schema.fields.some((f) => f.type.typeId === Type.BinaryView)) return table;
  const columns: Record<string, Vector> = {};
  for (const field of table.schema.fields) {
    const vector = table.getChild(field.name)!;
    columns[field.name] = field.type.typeId === Type.BinaryView ? makeVector(vector.data.map(toBinary)) : vector;
  }
  return new Table(columns);
}

function toBinary(data: Data): Data {
  const values = Array.from({ length: data.length }, (_, i) => binaryValue(data, i));
  const bytes = values.reduce((n, v) => n + v.byteLength, 0);
  const out = new Uint8Array(bytes);
  const ends: number[] = [0];
  for (const v of values) {
    out.set(v, ends.at(-1)!);
    ends.push(ends.at(-1)! + v.byteLength);
  }
  const nulls = data.nullCount > 0 && data.nullBitmap ? { nullCount: data.nullCount, nullBitmap: data.nullBitmap } : {};
  const length = data.length;
  if (bytes <= 0x7fffffff) {
    return makeData({ type: new Binary(), length, valueOffsets: Int32Array.from(ends), data: out, ...nulls });
  }
  const valueOffsets = BigInt64Array.from(ends, BigInt);
  return makeData({ type: new LargeBinary(), length, valueOffsets, data: out, ...nulls });
}
