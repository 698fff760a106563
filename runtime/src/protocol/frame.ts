// One Petal frame on the wire (all integers little-endian):
//
//   offset  size  field
//   0       4     frameBytes   whole frame, this header included
//   4       1     version      1
//   5       1     kind         1 message (fire-and-forget), 2 request, 3 response, 4 error response
//   6       2     type         message type (see message-types.ts)
//   8       4     requestId    0 for a message, ≥ 1 otherwise (a response echoes its request's id)
//   12      4     generation   cluster generation the sender acts in; receivers drop stale work
//   16      4     metaBytes    length of the JSON metadata
//   20      4     tensorCount  number of tensor payloads (must match the metadata's tensor table)
//   24      …     metadata     UTF-8 JSON {"m": user metadata, "t": [{"dtype","shape","bytes"}, …]}
//   …       …     payloads     each tensor's raw bytes, each starting 8-byte aligned (zero padding between)
//
// Alignment to 8 lets the receiver view every payload as a Float32Array/Float64Array without copying.
import type { DType, TensorData } from './dtypes.ts';

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 24;
/** Payloads start at multiples of this within a frame. */
export const PAYLOAD_ALIGN = 8;

/** What a frame is for. */
export const FrameKind = { message: 1, request: 2, response: 3, error: 4 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** One tensor in a frame: element type, shape, and its data (a typed array matching the dtype). */
export interface TensorPayload {
  dtype: DType;
  shape: readonly number[];
  data: TensorData;
}

/** A frame's content, as sent or as decoded. */
export interface Frame {
  kind: FrameKind;
  type: number;
  requestId: number;
  generation: number;
  meta: unknown;
  tensors: TensorPayload[];
}

/** Bounds a decoder enforces. Defaults suit parameter shards of a few hundred MB. */
export interface FrameLimits {
  /** Largest whole frame accepted (default 512 MiB). */
  maxFrameBytes: number;
  /** Largest JSON metadata accepted (default 4 MiB). */
  maxMetaBytes: number;
  /** Most tensors in one frame (default 65536). */
  maxTensors: number;
}

export const DEFAULT_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxFrameBytes: 512 * 1024 * 1024,
  maxMetaBytes: 4 * 1024 * 1024,
  maxTensors: 65536,
});

/** Most dimensions a tensor may have on the wire. */
export const MAX_RANK = 16;

/** Rounds `n` up to the payload alignment. */
export function align(n: number): number {
  return Math.ceil(n / PAYLOAD_ALIGN) * PAYLOAD_ALIGN;
}
