// connect(): opens a TCP connection, proves the cluster token and checks the server's proof, then frames.
import net from 'node:net';
import { Connection } from './connection.ts';
import { TransportError } from './errors.ts';
import { clientHandshake } from './handshake.ts';
import { checkOptions, int, str } from './options.ts';
import { HANDSHAKE_TIMEOUT_MS, commonSchema, connectionSettings } from './settings.ts';
import type { CommonOptions } from './settings.ts';
import { tokenKey } from './token.ts';

/** Options of connect(). */
export interface ConnectOptions extends CommonOptions {
  /** Server host (default 127.0.0.1). */
  host?: string;
  port: number;
  /** Deadline for the TCP connect (default 5000 ms). */
  connectTimeoutMs?: number;
}

const schema = { ...commonSchema, host: str, port: int(1, 65535), connectTimeoutMs: int(1, 2 ** 31 - 1) };

/**
 * Connects and authenticates. Rejects with PETAL_TRANSPORT_CONNECT (retryable) when nothing answers,
 * PETAL_TRANSPORT_AUTH when the token is refused, PETAL_TRANSPORT_HANDSHAKE_TIMEOUT when the server stays silent.
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  checkOptions('connect options', options, schema, ['token', 'port']);
  const key = tokenKey(options.token, 'connect options');
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.connectTimeoutMs ?? 5_000;
  const socket = net.connect({ host, port: options.port, noDelay: true });
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
        new TransportError('PETAL_TRANSPORT_CONNECT', `cannot connect to ${host}:${options.port}: ${err.message}`, {
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
  return new Connection(socket, connectionSettings(options), leftover);
}
