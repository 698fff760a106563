// Public surface of Petal's wire protocol: frames (header, JSON metadata, raw tensor payloads) and their codecs.
export { ProtocolError } from './errors.ts';
export { bytesPerElement, isDType } from './dtypes.ts';
export type { DType, TensorData, TypedArrayOf } from './dtypes.ts';
export { DEFAULT_LIMITS, FrameKind, HEADER_BYTES, MAX_RANK, PAYLOAD_ALIGN, PROTOCOL_VERSION } from './frame.ts';
export type { Frame, FrameLimits, TensorPayload } from './frame.ts';
export { decodeFrame, encodeFrame, encodeFrameToBuffer, readFrameHeader } from './frame-codec.ts';
export type { EncodedFrame, FrameHeader } from './frame-codec.ts';
export { MessageType } from './message-types.ts';
