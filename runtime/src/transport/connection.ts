// One authenticated connection, the same on both ends: requests with ids and timeouts, fire-and-forget messages,
// and a handler for what the peer sends. Writes honour backpressure (one frame at a time past a full socket buffer),
// outstanding requests and concurrent handlers are bounded, and close()/destroy() are idempotent.
import type { Socket } from 'node:net';
import { isPetalError } from '../errors.ts';
import { FrameKind, encodeFrame } from '../protocol/index.ts';
import type { Frame, FrameLimits, TensorPayload } from '../protocol/index.ts';
import { handlerErrorChannel, debug, refusedChannel } from './diagnostics.ts';
import type { Refusal, Transport } from './diagnostics.ts';
import { TransportError, closedError } from './errors.ts';
import { FrameReader } from './frame-reader.ts';
import type { ArenaSource } from './frame-reader.ts';
import type { ReceivedFrame } from './frame-reader.ts';

/** What a caller sends: a message type, JSON metadata, tensors, and optionally a generation other than the default. */
export interface OutgoingMessage {
  type: number;
  meta?: unknown;
  tensors?: TensorPayload[];
  generation?: number;
  /**
   * A handler's reply only: called once the response's bytes are with the kernel, or once it is clear they never
   * will be (connection gone, write failed), after which the reply's tensor data may be reused.
   */
  sent?: () => void;
}

/**
 * A received request, message or response. Its tensors view the connection's receive buffer: a handler may use them
 * until it settles; a request's caller calls `release()` when done (or never, and the buffer is not reused).
 */
export type IncomingMessage = ReceivedFrame;

/** Answers requests (the return value is the response) and receives fire-and-forget messages (return ignored). */
export type Handler = (
  message: IncomingMessage,
  connection: Connection,
) => OutgoingMessage | undefined | void | Promise<OutgoingMessage | undefined | void>;

/** Settings shared by listen() and connect(); validated there. */
export interface ConnectionSettings {
  handler: Handler | undefined;
  generation: number;
  limits: FrameLimits;
  requestTimeoutMs: number;
  maxOutstandingRequests: number;
  maxConcurrentHandlers: number;
  closeTimeoutMs: number;
  arenas: ArenaSource | undefined;
}

interface Pending {
  resolve: (m: IncomingMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** An authenticated, framed connection to a peer. Made by listen() and connect(). */
export class Connection {
  /** Generation stamped on outgoing frames that do not name one; the coordinator bumps it on restarts. */
  generation: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** `unix` when the peer is on this machine's Unix socket (no address or port then), else `tcp`. */
  readonly transport: Transport;
  /** Settles when the connection is gone: `undefined` after close()/destroy(), the error when it failed. */
  readonly closed: Promise<Error | undefined>;

  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #reader: FrameReader;
  readonly #pending = new Map<number, Pending>();
  readonly #slotWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  #handling = 0;
  #lastId = 0;
  #writeTail: Promise<void> = Promise.resolve();
  #closing = false;
  #destroyed: Error | undefined;
  #closePromise: Promise<void> | undefined;
  #markClosed!: (err: Error | undefined) => void;

  /** Internal: wraps a socket that has passed the handshake (paused), with bytes already read after it. */
  constructor(socket: Socket, settings: ConnectionSettings, leftover: Uint8Array, transport: Transport) {
    this.#socket = socket;
    this.#settings = settings;
    this.generation = settings.generation;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.transport = transport;
    this.#reader = new FrameReader(settings.limits, settings.arenas);
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
    socket.on('data', this.#onData);
    socket.on('error', (err) => this.destroy(closedError(err.message, err)));
    socket.on('close', () => this.destroy(this.#closing ? undefined : closedError('by the peer')));
    if (leftover.length > 0) this.#onData(leftover);
    if (!this.#destroyed) socket.resume();
  }

  /** Bytes queued in the socket, not yet taken by the kernel (stays bounded: writers wait for 'drain'). */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  /** Requests sent and not yet answered. */
  get outstandingRequests(): number {
    return this.#pending.size;
  }

  /**
   * Sends a request and resolves with the response (rejects with the peer's error, PETAL_TRANSPORT_TIMEOUT or
   * PETAL_TRANSPORT_CLOSED). Waits while maxOutstandingRequests are in flight. Tensor data must stay unchanged
   * until the response arrives.
   */
  async request(message: OutgoingMessage, options: { timeoutMs?: number } = {}): Promise<IncomingMessage> {
    this.#assertOpen();
    while (this.#pending.size >= this.#settings.maxOutstandingRequests) {
      await new Promise<void>((resolve, reject) => this.#slotWaiters.push({ resolve, reject }));
      this.#assertOpen();
    }
    const requestId = this.#nextRequestId();
    const timeoutMs = options.timeoutMs ?? this.#settings.requestTimeoutMs;
    const reply = new Promise<IncomingMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(requestId)?.reject(
          new TransportError(
            'PETAL_TRANSPORT_TIMEOUT',
            `no response to message type ${message.type} in ${timeoutMs} ms`,
            {
              retryable: true,
              detail: { type: message.type, requestId, timeoutMs },
            },
          ),
        );
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
    });
    this.#write(this.#frame(FrameKind.request, requestId, message)).catch((err: unknown) =>
      this.#settle(requestId)?.reject(err as Error),
    );
    return reply;
  }

  /**
   * Sends a fire-and-forget message. Resolves once the bytes are handed to the kernel, after which the tensor data
   * may be reused; waits for 'drain' when the socket buffer is full.
   */
  async send(message: OutgoingMessage): Promise<void> {
    this.#assertOpen();
    await this.#write(this.#frame(FrameKind.message, 0, message));
  }

  /** Stops new work, lets requests and handlers in flight finish (up to closeTimeoutMs), then closes. Idempotent. */
  close(): Promise<void> {
    this.#closePromise ??= this.#closeGracefully();
    return this.#closePromise;
  }

  /** Closes at once: pending requests reject with `err` (or PETAL_TRANSPORT_CLOSED), timers and socket go. Idempotent. */
  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#closing = true;
    this.#destroyed = err ?? closedError('closed locally');
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(this.#destroyed);
    for (const w of this.#slotWaiters.splice(0)) w.reject(this.#destroyed);
    for (const w of this.#idleWaiters.splice(0)) w();
    this.#socket.destroy();
    this.#reader.dispose();
    debug('connection %s:%s closed: %s', this.remoteAddress, this.remotePort, err?.message ?? 'normally');
    this.#markClosed(err);
  }

  async #closeGracefully(): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<void>((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#checkIdle();
    });
    await Promise.race([
      idle,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#settings.closeTimeoutMs))),
    ]);
    await this.#writeTail;
    if (!this.#destroyed) {
      this.#socket.end();
      await Promise.race([
        this.closed,
        new Promise<void>((resolve) => {
          clearTimeout(timer);
          timer = setTimeout(resolve, this.#settings.closeTimeoutMs);
        }),
      ]);
    }
    clearTimeout(timer);
    this.destroy();
  }

  #onData = (chunk: Uint8Array): void => {
    let frames: ReceivedFrame[];
    try {
      frames = this.#reader.push(chunk);
    } catch (err) {
      const e = err as Error & { code?: string };
      if (refusedChannel.hasSubscribers) {
        const refusal: Refusal = {
          remoteAddress: this.remoteAddress,
          remotePort: this.remotePort,
          transport: this.transport,
          reason: 'protocol',
          code: e.code ?? 'PETAL_PROTOCOL_MALFORMED',
          message: e.message,
        };
        refusedChannel.publish(refusal);
      }
      this.destroy(e);
      return;
    }
    for (const frame of frames) this.#dispatch(frame);
  };

  #dispatch(frame: ReceivedFrame): void {
    if (frame.kind === FrameKind.response || frame.kind === FrameKind.error) {
      const pending = this.#settle(frame.requestId);
      if (!pending) {
        debug('dropped a response to request %d (timed out or unknown)', frame.requestId);
        frame.release();
      } else if (frame.kind === FrameKind.response) {
        pending.resolve(frame);
      } else {
        frame.release();
        pending.reject(remoteError(frame.meta));
      }
      return;
    }
    if (this.#closing) {
      frame.release();
      return;
    }
    this.#handling++;
    if (this.#handling >= this.#settings.maxConcurrentHandlers) this.#socket.pause();
    void this.#handle(frame).finally(() => {
      frame.release();
      this.#handling--;
      if (this.#handling < this.#settings.maxConcurrentHandlers && !this.#destroyed) this.#socket.resume();
      this.#checkIdle();
    });
  }

  async #handle(frame: ReceivedFrame): Promise<void> {
    const handler = this.#settings.handler;
    try {
      if (!handler)
        throw new TransportError('PETAL_TRANSPORT_NO_HANDLER', 'this endpoint takes no requests or messages');
      const reply = await handler(frame, this);
      try {
        if (frame.kind === FrameKind.request && !this.#destroyed) {
          await this.#write(this.#frame(FrameKind.response, frame.requestId, reply ?? { type: frame.type }));
        }
      } finally {
        reply?.sent?.();
      }
    } catch (err) {
      if (frame.kind === FrameKind.request && !this.#destroyed) {
        const e = err as Error & { retryable?: unknown };
        const meta = {
          code: isPetalError(err) ? err.code : 'PETAL_TRANSPORT_REMOTE',
          message: e?.message ?? String(err),
          retryable: e?.retryable === true,
        };
        await this.#write(this.#frame(FrameKind.error, frame.requestId, { type: frame.type, meta })).catch(() => {});
      } else if (handlerErrorChannel.hasSubscribers) {
        handlerErrorChannel.publish({
          type: frame.type,
          error: err,
          remoteAddress: this.remoteAddress,
          remotePort: this.remotePort,
        });
      }
    }
  }

  #frame(kind: FrameKind, requestId: number, message: OutgoingMessage): Frame {
    return {
      kind,
      type: message.type,
      requestId,
      generation: message.generation ?? this.generation,
      meta: message.meta,
      tensors: message.tensors ?? [],
    };
  }

  // Frames go out one at a time: each waits for the previous one to be queued and for 'drain' when the socket
  // buffer is full, so at most one frame sits beyond the high-water mark. Resolves when the kernel has the bytes.
  async #write(frame: Frame): Promise<void> {
    const { chunks } = encodeFrame(frame, this.#settings.limits);
    const previous = this.#writeTail;
    let queued!: () => void;
    this.#writeTail = new Promise((resolve) => (queued = resolve));
    let written: Promise<void>;
    try {
      await previous;
      while (this.#socket.writableNeedDrain && !this.#destroyed) await this.#drain();
      if (this.#destroyed) throw this.#destroyed;
      const socket = this.#socket;
      written = new Promise<void>((resolve, reject) => {
        socket.cork();
        const last = chunks.length - 1;
        for (let i = 0; i < last; i++) socket.write(chunks[i]!);
        socket.write(chunks[last]!, (err) => (err ? reject(closedError('while writing', err)) : resolve()));
        socket.uncork();
      });
    } finally {
      queued();
    }
    await written;
  }

  #drain(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  #settle(requestId: number): Pending | undefined {
    const pending = this.#pending.get(requestId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.#pending.delete(requestId);
    this.#slotWaiters.shift()?.resolve();
    this.#checkIdle();
    return pending;
  }

  #checkIdle(): void {
    if (this.#pending.size === 0 && this.#handling === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  #nextRequestId(): number {
    do this.#lastId = (this.#lastId % 0xffff_ffff) + 1;
    while (this.#pending.has(this.#lastId));
    return this.#lastId;
  }

  #assertOpen(): void {
    if (this.#destroyed) throw this.#destroyed;
    if (this.#closing) throw closedError('close() was called');
  }
}

// A request's error response becomes a PetalError with the peer's code when it is a Petal code.
function remoteError(meta: unknown): TransportError {
  const m = (typeof meta === 'object' && meta !== null ? meta : {}) as {
    code?: unknown;
    message?: unknown;
    retryable?: unknown;
  };
  const code = typeof m.code === 'string' && /^PETAL_[A-Z0-9_]{1,64}$/.test(m.code) ? m.code : 'PETAL_TRANSPORT_REMOTE';
  const message = typeof m.message === 'string' ? m.message.slice(0, 4000) : 'the peer failed the request';
  return new TransportError(code as `PETAL_${string}`, `peer: ${message}`, {
    retryable: m.retryable === true,
    detail: { remote: true },
  });
}
