// Mutual challenge-response on a fresh socket, before any frame:
//
//   server → client  "PETAL1CH" serverNonce(32)
//   client → server  "PETAL1AN" clientNonce(32) HMAC-SHA256(token, "petal/1 client" serverNonce clientNonce)
//   server → client  "PETAL1OK" HMAC-SHA256(token, "petal/1 server" serverNonce clientNonce)   (or "PETAL1NO" zeros)
//
// The client proves the token against a nonce it cannot predict; the server then proves it against the client's
// nonce, so a client never talks to an impostor. MACs are compared in constant time. Messages have fixed sizes,
// so nothing a stranger sends before authenticating is parsed beyond 72 bytes.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { TransportError, closedError } from './errors.ts';

const NONCE = 32;
const MAC = 32;
const CHALLENGE = Buffer.from('PETAL1CH');
const ANSWER = Buffer.from('PETAL1AN');
const ACCEPT = Buffer.from('PETAL1OK');
const REFUSE = Buffer.from('PETAL1NO');
const MAGIC = 8;

/** Why a handshake failed, as reported to diagnostics: a stable word, not prose. */
export type RefusalReason = 'bad-token' | 'bad-hello' | 'timeout' | 'closed';

/** A failed handshake: `reason` says which way, for the server's refusal report. */
export class HandshakeError extends TransportError {
  readonly reason: RefusalReason;
  constructor(
    reason: RefusalReason,
    message: string,
    code: `PETAL_${string}` = 'PETAL_TRANSPORT_AUTH',
    cause?: unknown,
  ) {
    super(code, message, {
      cause,
      retryable: reason === 'timeout' || reason === 'closed',
      fix: reason === 'bad-token' ? 'both sides must use the same cluster token' : undefined,
    });
    this.reason = reason;
  }
}

function mac(key: Buffer, label: string, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(label).update(serverNonce).update(clientNonce).digest();
}

/** Runs the server's side; resolves with bytes that arrived after the answer (the first frames), socket paused. */
export async function serverHandshake(socket: Socket, key: Buffer, timeoutMs: number): Promise<Buffer> {
  return withDeadline(socket, timeoutMs, async (read) => {
    const serverNonce = randomBytes(NONCE);
    socket.write(Buffer.concat([CHALLENGE, serverNonce]));
    const { head, rest } = await read(MAGIC + NONCE + MAC);
    const clientNonce = head.subarray(MAGIC, MAGIC + NONCE);
    const expected = mac(key, 'petal/1 client', serverNonce, clientNonce);
    const magicOk = head.subarray(0, MAGIC).equals(ANSWER);
    if (!magicOk || !timingSafeEqual(head.subarray(MAGIC + NONCE), expected)) {
      socket.end(Buffer.concat([REFUSE, Buffer.alloc(MAC)]));
      throw magicOk
        ? new HandshakeError('bad-token', 'client did not prove the cluster token')
        : new HandshakeError('bad-hello', 'client did not answer the challenge');
    }
    socket.write(Buffer.concat([ACCEPT, mac(key, 'petal/1 server', serverNonce, clientNonce)]));
    return rest;
  });
}

/** Runs the client's side; resolves with bytes the server sent after accepting (the first frames), socket paused. */
export async function clientHandshake(socket: Socket, key: Buffer, timeoutMs: number): Promise<Buffer> {
  return withDeadline(socket, timeoutMs, async (read) => {
    const challenge = await read(MAGIC + NONCE);
    if (!challenge.head.subarray(0, MAGIC).equals(CHALLENGE) || challenge.rest.length > 0) {
      throw new HandshakeError(
        'bad-hello',
        'the server is not a Petal endpoint (no challenge)',
        'PETAL_TRANSPORT_HANDSHAKE',
      );
    }
    const serverNonce = challenge.head.subarray(MAGIC);
    const clientNonce = randomBytes(NONCE);
    socket.write(Buffer.concat([ANSWER, clientNonce, mac(key, 'petal/1 client', serverNonce, clientNonce)]));
    const { head, rest } = await read(MAGIC + MAC);
    if (head.subarray(0, MAGIC).equals(REFUSE)) {
      throw new HandshakeError('bad-token', 'the server refused the cluster token');
    }
    const expected = mac(key, 'petal/1 server', serverNonce, clientNonce);
    if (!head.subarray(0, MAGIC).equals(ACCEPT) || !timingSafeEqual(head.subarray(MAGIC), expected)) {
      throw new HandshakeError('bad-token', 'the server did not prove the cluster token');
    }
    return rest;
  });
}

type Read = (n: number) => Promise<{ head: Buffer; rest: Buffer }>;

// Gives `run` a reader of exact byte counts, and destroys the socket if the whole exchange outlasts the deadline
// or fails; every listener and the timer are gone when this settles.
async function withDeadline(socket: Socket, timeoutMs: number, run: (read: Read) => Promise<Buffer>): Promise<Buffer> {
  let buffered: Buffer = Buffer.alloc(0);
  let wanted = 0;
  let waiter: { resolve: (v: { head: Buffer; rest: Buffer }) => void; reject: (e: Error) => void } | undefined;
  let failure: HandshakeError | undefined;

  const settle = (): void => {
    if (!waiter || buffered.length < wanted) return;
    const w = waiter;
    waiter = undefined;
    socket.pause();
    const head = buffered.subarray(0, wanted);
    const rest = buffered.subarray(wanted);
    buffered = Buffer.alloc(0);
    w.resolve({ head, rest });
  };
  const fail = (err: HandshakeError): void => {
    failure ??= err;
    waiter?.reject(failure);
    waiter = undefined;
  };
  const onData = (chunk: Buffer): void => {
    // More than the step expects is only legitimate after the last step; cap what a stranger can make us hold.
    if (buffered.length + chunk.length > 4096 && !waiter)
      return fail(new HandshakeError('bad-hello', 'peer sent data out of turn'));
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    settle();
  };
  const onClose = (): void =>
    fail(new HandshakeError('closed', 'peer closed during the handshake', 'PETAL_TRANSPORT_CLOSED'));
  const onError = (err: Error): void =>
    fail(
      new HandshakeError('closed', `socket error during the handshake: ${err.message}`, 'PETAL_TRANSPORT_CLOSED', err),
    );
  const timer = setTimeout(
    () =>
      fail(new HandshakeError('timeout', `no handshake within ${timeoutMs} ms`, 'PETAL_TRANSPORT_HANDSHAKE_TIMEOUT')),
    timeoutMs,
  );
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', onError);

  const read: Read = (n) => {
    if (failure) return Promise.reject(failure);
    wanted = n;
    const p = new Promise<{ head: Buffer; rest: Buffer }>((resolve, reject) => (waiter = { resolve, reject }));
    socket.resume();
    settle();
    return p;
  };
  try {
    return await run(read);
  } catch (err) {
    // A refusal was queued with end(): let it reach the peer, then drop the socket either way.
    if (socket.writableEnded && !socket.writableFinished) socket.once('finish', () => socket.destroy());
    else socket.destroy();
    throw err instanceof TransportError ? err : closedError('handshake failed', err);
  } finally {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.off('error', onError);
  }
}
