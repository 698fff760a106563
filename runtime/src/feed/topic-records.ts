// The three kinds of record in a Petal topic, told apart by the `petal-kind` header:
//   meta — first record of every partition: schema fingerprint, vocabularies, partition count, feature spec.
//   data — one Arrow IPC stream (schema + one record batch).
//   end  — last record of every partition: the rows and batches the producer sent to it.
// Metadata lives in each partition rather than a side topic, so it is written and read with the data it
// describes (no second topic to create, compact or lose), and any one partition is self-describing: a worker
// assigned partitions 5 and 6 reads everything it needs from them alone.
import { createHash } from 'node:crypto';
import type { Schema } from 'apache-arrow';
import type { FeatureSpec } from './feature-spec.ts';
import type { Vocabularies } from './vocabulary.ts';

export const KIND_HEADER = 'petal-kind';
export type RecordKind = 'meta' | 'data' | 'end';

/** What every partition's first record says about the topic. */
export interface TopicMeta {
  format: 1;
  /** sha256 over the column names and Arrow types, after label encoding. */
  fingerprint: string;
  columns: { name: string; type: string }[];
  /** The Arrow schema as an empty IPC stream, base64. */
  arrowSchema: string;
  partitions: number;
  /** Rows in the topic; -1 when streamed in chunks (the end markers count them). */
  rows: number;
  vocabularies: Vocabularies;
  features?: FeatureSpec;
  /** The target size of a data message (stream's `messageBytes`); absent in topics written before it was kept. */
  messageBytes?: number;
}

/** What every partition's last record says. */
export interface EndMarker {
  partition: number;
  rows: number;
  batches: number;
}

/** The fingerprint of a schema: column names and types, in order. */
export function schemaColumns(schema: Schema): { name: string; type: string }[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type) }));
}

export function fingerprint(columns: { name: string; type: string }[]): string {
  return createHash('sha256').update(JSON.stringify(columns)).digest('hex').slice(0, 16);
}

export function kindHeaders(kind: RecordKind): Map<Buffer, Buffer> {
  return new Map([[Buffer.from(KIND_HEADER), Buffer.from(kind)]]);
}

/** The kind of a fetched record, or undefined for a record Petal did not write. */
export function recordKind(headers: [Buffer | null, Buffer | null][]): RecordKind | undefined {
  for (const [key, value] of headers) {
    if (key?.toString() === KIND_HEADER) {
      const kind = value?.toString();
      if (kind === 'meta' || kind === 'data' || kind === 'end') return kind;
    }
  }
  return undefined;
}

export function encodeJson(value: TopicMeta | EndMarker): Buffer {
  return Buffer.from(JSON.stringify(value));
}
