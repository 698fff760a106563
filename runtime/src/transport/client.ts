// connect(): opens a TCP connection (or a Unix socket on this machine), proves the cluster token and checks the
// server's proof, then frames.
import net from 'node:net';
import { Connection } from './connection.ts';
import { TransportError } from './errors.ts';
import { clientHandshake } from './handshake.ts';
import { checkOptions, int, str } from './options.ts';
import { HANDSHAKE_TIMEOUT_MS, commonSchema, connectionSettings } from './settings.ts';
import type { CommonOptions } from './settings.ts';
import { tokenKey } from './token.ts';
import { socketPathCheck } from './unix-socket.ts';

/** Options of connect(). */
export interface ConnectOptions extends CommonOptions {
  /** Server host (default 127.0.0.1). */
  host?: string;
  /** Server port; required unless `path` is given. */
  port?: number;
  /** The server's Unix socket (PetalServer.socketPath), instead of host and port: a server on this machine. */
  path?: string;
  /** Deadline for the connect (default 5000 ms). */
  connectTimeoutMs?: number;
}

const schema = {
  ...commonSchema,
  host: str,
  port: int(1, 65535),
  path: socketPathCheck,
  connectTimeoutMs: int(1, 2 ** 31 - 1),
};

/** Bytes one read may take: a worker receives a model's values every step. */
const READ_BUFFER_BYTES = 1024 * 1024;

/**
 * Connects and authenticates. Rejects with PETAL_TRANSPORT_CONNECT (retryable) when nothing answers,
 * PETAL_TRANSPORT_AUTH when the token is refused, PETAL_TRANSPORT_HANDSHAKE_TIMEOUT when the server stays silent.
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  const { path } = options;
  checkOptions('connect options', options, schema, path === undefined ? ['token', 'port'] : ['token']);
  if (path !== undefined && (options.port !== undefined || options.host !== undefined)) {
    throw new TransportError('PETAL_TRANSPORT_OPTIONS', 'connect options take a path or a host and port, not both', {
      fix: 'pass path to reach a server on this machine by its Unix socket, else host and port',
    });
  }
  const key = tokenKey(options.token, 'connect options');
  const where = path ?? `${options.host ?? '127.0.0.1'}:${options.port}`;
  const timeoutMs = options.connectTimeoutMs ?? 5_000;
  // Reads land in one buffer of this connection (the frame reader copies them out at once) instead of a fresh 64 KiB
  // Buffer per read: receiving 16.8 MB a step that way allocates enough to force a full GC about every step.
  // The handshake keeps what it reads, so until it is over each read is handed on as a copy.
  let shared = false;
  const socket: net.Socket = net.connect({
    ...(path === undefined ? { host: options.host ?? '127.0.0.1', port: options.port! } : { path }),
    noDelay: true,
    onread: {
      buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
      callback: (n: number, buf: Uint8Array) =>
        socket.emit('data', shared ? buf.subarray(0, n) : Buffer.from(buf.subarray(0, n))),
    },
  });
  socket.pause();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', fail);
    };
    const onConnect = (): void => {
      done();
      resolve();
    };
    function fail(err: Error): void {
      done();
      socket.destroy();
      reject(
        new TransportError('PETAL_TRANSPORT_CONNECT', `cannot connect to ${where}: ${err.message}`, {
          cause: err,
          retryable: true,
          fix: 'check that the task at this address is running (petal cluster status)',
        }),
      );
    }
    socket.once('connect', onConnect);
    socket.once('error', fail);
  });
  const leftover = await clientHandshake(socket, key, options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
  shared = true; // from here on only the connection's frame reader listens, and it copies each read at once
  return new Connection(socket, connectionSettings(options), leftover, path === undefined ? 'tcp' : 'unix');
}
