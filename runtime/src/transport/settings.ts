// Options shared by listen() and connect(), their schema and defaults.
import { DEFAULT_LIMITS } from '../protocol/index.ts';
import type { ConnectionSettings, Handler } from './connection.ts';
import type { ArenaSource } from './frame-reader.ts';
import { any, fn, int } from './options.ts';

/** Options every connection takes, on either side. */
export interface CommonOptions {
  /** Cluster token (≥ 16 bytes) both sides must hold. */
  token: string | Uint8Array;
  /** Answers requests and receives messages from the peer. */
  handler?: Handler;
  /** Generation stamped on outgoing frames by default (0). */
  generation?: number;
  /** Largest frame accepted (default 512 MiB). */
  maxFrameBytes?: number;
  /** Largest JSON metadata accepted (default 4 MiB). */
  maxMetaBytes?: number;
  /** Deadline for the token handshake (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Default per-request timeout (default 30000 ms). */
  requestTimeoutMs?: number;
  /** Requests in flight before request() waits (default 256). */
  maxOutstandingRequests?: number;
  /** Handlers running before the connection stops reading (default 64). */
  maxConcurrentHandlers?: number;
  /** How long close() waits for work in flight and the peer (default 5000 ms). */
  closeTimeoutMs?: number;
  /** Where received frames land (default: memory each connection allocates); see ArenaSource. */
  arenas?: ArenaSource;
}

const MAX_MS = 2 ** 31 - 1;

export const commonSchema = {
  token: any,
  handler: fn,
  generation: int(0, 0xffff_ffff),
  maxFrameBytes: int(1024, 2 ** 31 - 1),
  maxMetaBytes: int(64, 2 ** 30),
  handshakeTimeoutMs: int(1, MAX_MS),
  requestTimeoutMs: int(1, MAX_MS),
  maxOutstandingRequests: int(1, 1_000_000),
  maxConcurrentHandlers: int(1, 1_000_000),
  closeTimeoutMs: int(0, MAX_MS),
  arenas: (v: unknown) =>
    typeof (v as ArenaSource | null)?.take === 'function' ? undefined : 'must be an object with a take(bytes) method',
};

/** The connection settings an options object asks for, defaults filled in. */
export function connectionSettings(o: CommonOptions): ConnectionSettings {
  return {
    handler: o.handler,
    generation: o.generation ?? 0,
    limits: {
      maxFrameBytes: o.maxFrameBytes ?? DEFAULT_LIMITS.maxFrameBytes,
      maxMetaBytes: o.maxMetaBytes ?? DEFAULT_LIMITS.maxMetaBytes,
      maxTensors: DEFAULT_LIMITS.maxTensors,
    },
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    maxOutstandingRequests: o.maxOutstandingRequests ?? 256,
    maxConcurrentHandlers: o.maxConcurrentHandlers ?? 64,
    closeTimeoutMs: o.closeTimeoutMs ?? 5_000,
    arenas: o.arenas,
  };
}

/** Default handshake deadline. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
