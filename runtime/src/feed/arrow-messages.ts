// Slices an Arrow Table into Kafka-sized Arrow IPC messages. Sizes come from the column buffers (one pass over the
// chunks, never over rows), so a message lands near the target whatever the row width.
import { tableToIPC } from 'apache-arrow';
import type { Data, Table } from 'apache-arrow';

/** One Arrow IPC stream (schema + one record batch) holding rows [start, start + rows) of the input. */
export interface ArrowMessage {
  index: number;
  start: number;
  rows: number;
  bytes: Uint8Array;
}

/** Default target size of one message: big enough to amortise per-message costs, small enough to pipeline. */
export const TARGET_MESSAGE_BYTES = 2 * 1024 * 1024;

function dataBytes(data: Data): number {
  let bytes =
    (data.values?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.nullBitmap?.byteLength ?? 0);
  for (const child of data.children) bytes += dataBytes(child);
  return bytes;
}

/** The bytes of a table's column buffers. */
export function tableBytes(table: Table): number {
  let bytes = 0;
  for (const batch of table.batches) bytes += dataBytes(batch.data);
  return bytes;
}

/** Rows per message so that one message is about `targetBytes`. */
export function rowsPerMessage(table: Table, targetBytes: number): number {
  if (table.numRows === 0) return 1;
  const perRow = Math.max(1, tableBytes(table) / table.numRows);
  return Math.max(1, Math.min(table.numRows, Math.floor(targetBytes / perRow)));
}

/** Lazily encodes `table` as consecutive messages of `rows` rows each (the last may be shorter). */
export function* arrowMessages(table: Table, rows: number): Generator<ArrowMessage> {
  let index = 0;
  for (let start = 0; start < table.numRows; start += rows, index++) {
    const slice = table.slice(start, Math.min(table.numRows, start + rows));
    yield { index, start, rows: slice.numRows, bytes: tableToIPC(slice, 'stream') };
  }
}
