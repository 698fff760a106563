// The tensor element types a frame can carry, with the typed array each decodes to. Payloads are little-endian.
import { ProtocolError } from './errors.ts';

/** Element types on the wire. `bool` travels as one byte per element (0 or 1), as TensorFlow.js stores it. */
export type DType = 'float32' | 'int32' | 'uint8' | 'bool' | 'float64';

/** The typed array that holds each dtype. */
export interface TypedArrayOf {
  float32: Float32Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
  float64: Float64Array;
}

/** Any typed array a tensor payload may use. */
export type TensorData = TypedArrayOf[DType];

type ArrayCtor = {
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
};

const CTORS: Record<DType, ArrayCtor> = {
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  float64: Float64Array,
};

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

/** True when `value` names a dtype the protocol carries. */
export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(CTORS, value);
}

/** True when `data` is the typed array `dtype` travels in (Buffer counts as Uint8Array). */
export function dataMatches(dtype: DType, data: TensorData): boolean {
  return data instanceof CTORS[dtype];
}

// Typed arrays use the host's byte order; the wire is little-endian. Every platform Node and TensorFlow ship on
// is little-endian, so instead of byte-swapping we refuse loudly on the rare big-endian host.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Throws on a big-endian host, where views over little-endian payloads would read wrong values. */
export function assertLittleEndianHost(): void {
  if (!hostIsLittleEndian) {
    throw new ProtocolError(
      'PETAL_PROTOCOL_ENDIAN',
      'Petal frames carry little-endian tensors; this host is big-endian',
    );
  }
}

/**
 * A typed-array view of `byteLength` bytes at `byteOffset` of `bytes`: no copy when the address is aligned to the
 * element size, otherwise one copy into fresh (aligned) memory.
 */
export function viewOf(dtype: DType, bytes: Uint8Array, byteOffset: number, byteLength: number): TensorData {
  const ctor = CTORS[dtype];
  const at = bytes.byteOffset + byteOffset;
  const length = byteLength / ctor.BYTES_PER_ELEMENT;
  if (at % ctor.BYTES_PER_ELEMENT === 0) return new ctor(bytes.buffer, at, length);
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(byteOffset, byteOffset + byteLength));
  return new ctor(copy.buffer, 0, length);
}
