// Encodes frames as a list of chunks (tensor payloads are views, never copied) and decodes them strictly: every
// field is bounded and cross-checked, anything malformed throws a ProtocolError with a PETAL_PROTOCOL_* code.
import { assertLittleEndianHost, bytesPerElement, dataMatches, isDType, viewOf } from './dtypes.ts';
import { ProtocolError } from './errors.ts';
import { DEFAULT_LIMITS, FrameKind, HEADER_BYTES, MAX_RANK, PROTOCOL_VERSION, align } from './frame.ts';
import type { Frame, FrameLimits, TensorPayload } from './frame.ts';

/** A frame ready to write: chunks in order (header+metadata first, then payload views and padding). */
export interface EncodedFrame {
  chunks: Uint8Array[];
  byteLength: number;
}

/** The header fields, readable as soon as the first HEADER_BYTES of a frame have arrived. */
export interface FrameHeader {
  frameBytes: number;
  kind: FrameKind;
  type: number;
  requestId: number;
  generation: number;
  metaBytes: number;
  tensorCount: number;
}

interface WireTensor {
  dtype: string;
  shape: number[];
  bytes: number;
}

const ZEROS = new Uint8Array(8);
const MAX_U32 = 0xffff_ffff;

/** Encodes one frame. Throws PETAL_PROTOCOL_INVALID when the frame itself is wrong (a bug in the caller). */
export function encodeFrame(frame: Frame, limits: FrameLimits = DEFAULT_LIMITS): EncodedFrame {
  assertLittleEndianHost();
  checkHeaderFields(frame);
  const table: WireTensor[] = frame.tensors.map((t, i) => describe(t, i));
  let json: string;
  try {
    json = JSON.stringify(frame.meta === undefined ? { t: table } : { m: frame.meta, t: table });
  } catch (cause) {
    throw invalid(`metadata is not JSON-serialisable: ${(cause as Error).message}`);
  }
  const metaBytes = Buffer.byteLength(json);
  if (metaBytes > limits.maxMetaBytes) throw invalid(`metadata is ${metaBytes} bytes, over ${limits.maxMetaBytes}`);
  if (frame.tensors.length > limits.maxTensors)
    throw invalid(`${frame.tensors.length} tensors, over ${limits.maxTensors}`);

  const head = Buffer.alloc(align(HEADER_BYTES + metaBytes));
  head.write(json, HEADER_BYTES, 'utf8');
  const chunks: Uint8Array[] = [head];
  let total = head.length;
  for (const t of frame.tensors) {
    const bytes = t.data.byteLength;
    if (bytes > 0) chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, bytes));
    const pad = align(bytes) - bytes;
    if (pad > 0) chunks.push(ZEROS.subarray(0, pad));
    total += bytes + pad;
  }
  if (total > limits.maxFrameBytes) throw invalid(`frame is ${total} bytes, over ${limits.maxFrameBytes}`);
  head.writeUInt32LE(total, 0);
  head.writeUInt8(PROTOCOL_VERSION, 4);
  head.writeUInt8(frame.kind, 5);
  head.writeUInt16LE(frame.type, 6);
  head.writeUInt32LE(frame.requestId, 8);
  head.writeUInt32LE(frame.generation, 12);
  head.writeUInt32LE(metaBytes, 16);
  head.writeUInt32LE(frame.tensors.length, 20);
  return { chunks, byteLength: total };
}

/** Encodes one frame into a single contiguous buffer (tests, tools; the transport writes the chunks). */
export function encodeFrameToBuffer(frame: Frame, limits: FrameLimits = DEFAULT_LIMITS): Buffer {
  const { chunks, byteLength } = encodeFrame(frame, limits);
  return Buffer.concat(chunks, byteLength);
}

/**
 * Reads and checks the header at `offset` (at least HEADER_BYTES must be there). A reader calls this before the
 * rest of the frame arrives, so an oversize or nonsense frame is refused without buffering it.
 */
export function readFrameHeader(bytes: Uint8Array, offset: number, limits: FrameLimits = DEFAULT_LIMITS): FrameHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_BYTES);
  const frameBytes = view.getUint32(0, true);
  const version = view.getUint8(4);
  const kind = view.getUint8(5);
  const type = view.getUint16(6, true);
  const requestId = view.getUint32(8, true);
  const generation = view.getUint32(12, true);
  const metaBytes = view.getUint32(16, true);
  const tensorCount = view.getUint32(20, true);
  if (version !== PROTOCOL_VERSION) throw malformed('PETAL_PROTOCOL_VERSION', `unknown protocol version ${version}`);
  if (frameBytes > limits.maxFrameBytes) {
    throw malformed('PETAL_PROTOCOL_FRAME_TOO_LARGE', `frame of ${frameBytes} bytes, over ${limits.maxFrameBytes}`, {
      frameBytes,
      maxFrameBytes: limits.maxFrameBytes,
    });
  }
  if (frameBytes < align(HEADER_BYTES + metaBytes))
    throw malformed('PETAL_PROTOCOL_MALFORMED', 'frame shorter than its header and metadata');
  if (frameBytes % 8 !== 0)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `frame length ${frameBytes} is not a multiple of 8`);
  if (kind < FrameKind.message || kind > FrameKind.error)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `unknown frame kind ${kind}`);
  if ((kind === FrameKind.message) !== (requestId === 0)) {
    throw malformed('PETAL_PROTOCOL_MALFORMED', `frame kind ${kind} with request id ${requestId}`);
  }
  if (metaBytes > limits.maxMetaBytes)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `metadata of ${metaBytes} bytes, over ${limits.maxMetaBytes}`);
  if (tensorCount > limits.maxTensors)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `${tensorCount} tensors, over ${limits.maxTensors}`);
  return { frameBytes, kind: kind as FrameKind, type, requestId, generation, metaBytes, tensorCount };
}

/**
 * Decodes exactly one frame from `bytes` (which must hold the whole frame and nothing more). Tensor data are views
 * into `bytes` (no copy; payloads are 8-byte aligned when `bytes` is), so they are valid as long as `bytes` is.
 */
export function decodeFrame(bytes: Uint8Array, limits: FrameLimits = DEFAULT_LIMITS): Frame {
  assertLittleEndianHost();
  if (bytes.byteLength < HEADER_BYTES)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `${bytes.byteLength} bytes is shorter than a header`);
  const h = readFrameHeader(bytes, 0, limits);
  if (h.frameBytes !== bytes.byteLength) {
    throw malformed('PETAL_PROTOCOL_MALFORMED', `header says ${h.frameBytes} bytes, got ${bytes.byteLength}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + HEADER_BYTES, h.metaBytes).toString('utf8'));
  } catch {
    throw malformed('PETAL_PROTOCOL_MALFORMED', 'metadata is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw malformed('PETAL_PROTOCOL_MALFORMED', 'metadata is not a JSON object');
  }
  const envelope = parsed as { m?: unknown; t?: unknown };
  const table = envelope.t;
  if (!Array.isArray(table) || table.length !== h.tensorCount) {
    throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor table does not list ${h.tensorCount} tensors`);
  }
  const tensors: TensorPayload[] = [];
  let offset = align(HEADER_BYTES + h.metaBytes);
  for (let i = 0; i < table.length; i++) {
    const { dtype, shape, bytes: n } = checkWireTensor(table[i], i);
    if (n > h.frameBytes - offset)
      throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor ${i} runs past the end of the frame`);
    tensors.push({ dtype, shape, data: viewOf(dtype, bytes, offset, n) });
    offset += align(n);
  }
  if (offset !== h.frameBytes) {
    throw malformed('PETAL_PROTOCOL_MALFORMED', `tensors end at ${offset}, frame is ${h.frameBytes} bytes`);
  }
  return { kind: h.kind, type: h.type, requestId: h.requestId, generation: h.generation, meta: envelope.m, tensors };
}

function checkWireTensor(raw: unknown, i: number): { dtype: TensorPayload['dtype']; shape: number[]; bytes: number } {
  if (typeof raw !== 'object' || raw === null)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor ${i} is not described by an object`);
  const { dtype, shape, bytes } = raw as Partial<WireTensor>;
  if (!isDType(dtype))
    throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor ${i} has unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || shape.length > MAX_RANK)
    throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor ${i} has a bad shape`);
  let elements = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0)
      throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor ${i} has a bad dimension`);
    elements *= d as number;
    if (elements > Number.MAX_SAFE_INTEGER)
      throw malformed('PETAL_PROTOCOL_MALFORMED', `tensor ${i} is impossibly large`);
  }
  if (bytes !== elements * bytesPerElement(dtype)) {
    throw malformed(
      'PETAL_PROTOCOL_MALFORMED',
      `tensor ${i}: ${String(bytes)} bytes do not fit ${dtype}[${shape.join(',')}]`,
    );
  }
  return { dtype, shape: shape as number[], bytes };
}

function describe(t: TensorPayload, i: number): WireTensor {
  if (!isDType(t.dtype)) throw invalid(`tensor ${i} has unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!ArrayBuffer.isView(t.data) || !dataMatches(t.dtype, t.data)) {
    throw invalid(`tensor ${i}: data must be the typed array for ${t.dtype}`);
  }
  if (!Array.isArray(t.shape) || t.shape.length > MAX_RANK) throw invalid(`tensor ${i} has a bad shape`);
  let elements = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalid(`tensor ${i} has a bad dimension ${d}`);
    elements *= d;
  }
  if (elements !== t.data.length)
    throw invalid(`tensor ${i}: shape [${t.shape.join(',')}] needs ${elements} elements, data has ${t.data.length}`);
  return { dtype: t.dtype, shape: [...t.shape], bytes: t.data.byteLength };
}

function checkHeaderFields(frame: Frame): void {
  if (frame.kind < FrameKind.message || frame.kind > FrameKind.error) throw invalid(`unknown frame kind ${frame.kind}`);
  if (!Number.isInteger(frame.type) || frame.type < 0 || frame.type > 0xffff)
    throw invalid(`type ${frame.type} is not a u16`);
  if (!Number.isInteger(frame.generation) || frame.generation < 0 || frame.generation > MAX_U32) {
    throw invalid(`generation ${frame.generation} is not a u32`);
  }
  if (!Number.isInteger(frame.requestId) || frame.requestId < 0 || frame.requestId > MAX_U32) {
    throw invalid(`request id ${frame.requestId} is not a u32`);
  }
  if ((frame.kind === FrameKind.message) !== (frame.requestId === 0)) {
    throw invalid(`a ${frame.kind === FrameKind.message ? 'message has' : 'request or response needs'} a request id`);
  }
}

function invalid(message: string): ProtocolError {
  return new ProtocolError('PETAL_PROTOCOL_INVALID', message);
}

function malformed(
  code: `PETAL_PROTOCOL_${string}`,
  message: string,
  detail: Record<string, unknown> = {},
): ProtocolError {
  return new ProtocolError(code, message, detail);
}
