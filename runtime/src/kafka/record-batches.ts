// Kafka's record batch format (magic 2), parsed in place: record values and header fields are views into the bytes
// a fetch returned, never copies. Only what a bulk reader needs: offsets, values, headers and each batch's size.
// Values are moved to 8-aligned addresses in place (a short memmove), so typed arrays can view what they hold.

/** One record of a fetched partition. */
export interface FetchedRecord {
  offset: bigint;
  value: Buffer | null;
  headers: [Buffer | null, Buffer | null][];
  /** Bytes of the record batch the record came in (what a fetch limit is measured against). */
  batchBytes: number;
}

// A batch's first offset (int64) and length (int32) precede the `length` bytes it counts.
const BATCH_HEAD_BYTES = 12;
// baseOffset, length, leader epoch, magic, crc, attributes, last offset delta, two timestamps, producer id and
// epoch, base sequence, record count.
const BATCH_HEADER_BYTES = 61;
const COMPRESSION_MASK = 0x07;
// Transaction markers, never data (attribute bit 5).
const CONTROL_BATCH = 0x20;

/** A record batch this reader cannot take apart (a compressed or pre-0.11 batch). */
export class UnreadableBatchError extends Error {}

/** A cursor over a Buffer for Kafka's zigzag varints. */
class Cursor {
  readonly bytes: Buffer;
  at: number;
  constructor(bytes: Buffer, at: number) {
    this.bytes = bytes;
    this.at = at;
  }

  varint(): number {
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = this.bytes[this.at++]!;
      value |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80 && shift < 35);
    return (value >>> 1) ^ -(value & 1);
  }

  /** Skips a varlong (timestamps: never needed here). */
  skipVarlong(): void {
    while (this.bytes[this.at++]! & 0x80);
  }

  /** A length-prefixed field (length -1: null) as a view. */
  field(): Buffer | null {
    const length = this.varint();
    if (length < 0) return null;
    const view = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return view;
  }

  /**
   * A value field moved back to the 8-aligned address at or before it, over its own record's framing (read
   * already; the headers after it stay put). Arrow views an 8-aligned IPC body in place and copies any other.
   */
  alignedField(): Buffer | null {
    const value = this.field();
    const shift = value ? value.byteOffset % 8 : 0;
    if (!value || shift === 0) return value;
    const start = value.byteOffset - this.bytes.byteOffset - shift;
    this.bytes.copyWithin(start, start + shift, start + shift + value.length);
    return this.bytes.subarray(start, start + value.length);
  }
}

/**
 * The records at or after `from` in a fetch's `records` bytes. A batch cut short at the end (the broker fills a
 * response up to its limit) is left out: the next fetch asks from the offset after the last whole record.
 */
export function parseRecordBatches(bytes: Buffer, from: bigint): FetchedRecord[] {
  const records: FetchedRecord[] = [];
  let at = 0;
  while (at + BATCH_HEADER_BYTES <= bytes.length) {
    const length = bytes.readInt32BE(at + 8);
    const batchBytes = BATCH_HEAD_BYTES + length;
    if (at + batchBytes > bytes.length) break;
    const magic = bytes.readInt8(at + 16);
    if (magic !== 2) throw new UnreadableBatchError(`a record batch of format ${magic} (only 2 is read)`);
    const attributes = bytes.readInt16BE(at + 21);
    if (attributes & COMPRESSION_MASK) {
      throw new UnreadableBatchError(`a compressed record batch (codec ${attributes & COMPRESSION_MASK})`);
    }
    if (!(attributes & CONTROL_BATCH)) {
      const base = bytes.readBigInt64BE(at);
      const count = bytes.readInt32BE(at + 57);
      const cursor = new Cursor(bytes, at + BATCH_HEADER_BYTES);
      for (let i = 0; i < count; i++) {
        cursor.varint(); // record length
        cursor.at++; // attributes
        cursor.skipVarlong(); // timestamp delta
        const offset = base + BigInt(cursor.varint());
        cursor.field(); // key
        const value = cursor.alignedField();
        const headers: [Buffer | null, Buffer | null][] = [];
        for (let h = cursor.varint(); h > 0; h--) headers.push([cursor.field(), cursor.field()]);
        // A batch can start before the requested offset: those records were read already.
        if (offset >= from) records.push({ offset, value, headers, batchBytes });
      }
    }
    at += batchBytes;
  }
  return records;
}
