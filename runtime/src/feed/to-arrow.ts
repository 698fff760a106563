// The one conversion of user data to Arrow: an Arrow Table passes through, a nodejs-polars DataFrame and an Arquero
// table go through their own Arrow IPC writers (columnar copies, no per-row work), plain records through Arrow's
// JSON builder.
import { Table, tableFromIPC, tableFromJSON } from 'apache-arrow';
import { FeedCodes, feedError } from './errors.ts';

/** What `stream()` accepts: an Arrow Table, a nodejs-polars DataFrame, an Arquero table, or plain records. */
export type StreamInput = Table | PolarsLike | ArqueroLike | readonly Record<string, unknown>[];

/** The part of a nodejs-polars DataFrame Petal uses. */
export interface PolarsLike {
  writeIPC(options?: { compression?: string }): Buffer;
}

/** The part of an Arquero table Petal uses. */
export interface ArqueroLike {
  toArrowIPC(options?: { format?: 'file' | 'stream' }): Uint8Array;
}

/** Converts `data` to an Arrow Table, once. Throws PETAL_FEED_INPUT for anything else. */
export function toArrowTable(data: StreamInput, topic: string): Table {
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
      fix: 'pass an Apache Arrow Table, a nodejs-polars DataFrame, an Arquero table or an array of plain records',
    },
  );
}
