// listen(): a TCP server whose every connection must pass the token handshake before any frame is read.
// Refused peers are closed and reported (diagnostics channel `petal:transport:refused` and `onRefused`).
import net from 'node:net';
import { isPetalError } from '../errors.ts';
import { Connection } from './connection.ts';
import { debug, refusedChannel } from './diagnostics.ts';
import type { Refusal } from './diagnostics.ts';
import { TransportError } from './errors.ts';
import { HandshakeError, serverHandshake } from './handshake.ts';
import { checkOptions, fn, int, str } from './options.ts';
import { HANDSHAKE_TIMEOUT_MS, commonSchema, connectionSettings } from './settings.ts';
import type { CommonOptions } from './settings.ts';
import { tokenKey } from './token.ts';

/** Options of listen(). */
export interface ListenOptions extends CommonOptions {
  /** Interface to bind (default 127.0.0.1: the local pool never listens beyond loopback). */
  host?: string;
  /** Port (default 0: any free port; read it from `server.port`). */
  port?: number;
  /** Called with each authenticated connection. */
  onConnection?: (connection: Connection) => void;
  /** Called for each refused or dropped peer (also published on `petal:transport:refused`). */
  onRefused?: (refusal: Refusal) => void;
  /** Most simultaneous sockets, handshaking ones included (default 1024). */
  maxConnections?: number;
}

/** A listening Petal endpoint. */
export interface PetalServer {
  readonly host: string;
  readonly port: number;
  /** Authenticated connections currently open. */
  readonly connections: ReadonlySet<Connection>;
  /** Stops accepting, closes every connection gracefully, resolves when all is closed. Idempotent. */
  close(): Promise<void>;
  /** Stops accepting and drops every connection now. Idempotent. */
  destroy(err?: Error): void;
}

const schema = {
  ...commonSchema,
  host: str,
  port: int(0, 65535),
  onConnection: fn,
  onRefused: fn,
  maxConnections: int(1, 1_000_000),
};

/** Starts a server; resolves once it listens. Throws PETAL_TRANSPORT_OPTIONS or PETAL_TRANSPORT_LISTEN. */
export async function listen(options: ListenOptions): Promise<PetalServer> {
  checkOptions('listen options', options, schema, ['token']);
  const key = tokenKey(options.token, 'listen options');
  const settings = connectionSettings(options);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const connections = new Set<Connection>();
  const handshaking = new Set<net.Socket>();
  const report = (refusal: Refusal): void => {
    if (refusedChannel.hasSubscribers) refusedChannel.publish(refusal);
    options.onRefused?.(refusal);
  };

  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    handshaking.add(socket);
    const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
    serverHandshake(socket, key, handshakeTimeoutMs).then(
      (leftover) => {
        handshaking.delete(socket);
        if (closing) return void socket.destroy();
        const connection = new Connection(socket, settings, leftover);
        connections.add(connection);
        void connection.closed.then((err) => {
          connections.delete(connection);
          // A peer that broke the protocol was reported by the connection itself (channel); tell onRefused too.
          if (isPetalError(err) && err.code.startsWith('PETAL_PROTOCOL_')) {
            options.onRefused?.({ ...peer, reason: 'protocol', code: err.code, message: err.message });
          }
        });
        debug('accepted %s:%s', peer.remoteAddress, peer.remotePort);
        options.onConnection?.(connection);
      },
      (err: unknown) => {
        handshaking.delete(socket);
        const e = err as TransportError;
        report({
          ...peer,
          reason: err instanceof HandshakeError ? err.reason : 'closed',
          code: e.code,
          message: e.message,
        });
      },
    );
  });
  server.maxConnections = options.maxConnections ?? 1024;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new TransportError('PETAL_TRANSPORT_LISTEN', `cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, {
          cause: err,
          fix: 'pick another port (0 lets the system choose) or stop what holds this one',
        }),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  server.on('error', (err) => debug('server error: %s', err.message));
  const address = server.address() as net.AddressInfo;

  let closing = false;
  let closePromise: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    closing = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of handshaking) socket.destroy();
    return closed;
  };
  return {
    host: address.address,
    port: address.port,
    connections,
    close(): Promise<void> {
      closePromise ??= (async () => {
        const closed = stop();
        await Promise.all([...connections].map((c) => c.close()));
        await closed;
      })();
      return closePromise;
    },
    destroy(err?: Error): void {
      if (!closing) void stop();
      for (const c of connections) c.destroy(err);
    },
  };
}
