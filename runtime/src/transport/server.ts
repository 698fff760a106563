// listen(): a TCP server, and optionally a Unix domain socket beside it for peers on the same machine, whose every
// connection must pass the token handshake before any frame is read; both listeners make the same Connection.
// Refused peers are closed and reported (diagnostics channel `petal:transport:refused` and `onRefused`).
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import { isPetalError } from '../errors.ts';
import { Connection } from './connection.ts';
import { debug, refusedChannel } from './diagnostics.ts';
import type { Refusal, Transport } from './diagnostics.ts';
import { TransportError } from './errors.ts';
import { HandshakeError, serverHandshake } from './handshake.ts';
import { checkOptions, fn, int, str } from './options.ts';
import { HANDSHAKE_TIMEOUT_MS, commonSchema, connectionSettings } from './settings.ts';
import type { CommonOptions } from './settings.ts';
import { tokenKey } from './token.ts';
import { clearStaleSocket, socketPathCheck } from './unix-socket.ts';

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
  /** Most simultaneous sockets per listener, handshaking ones included (default 1024). */
  maxConnections?: number;
  /**
   * Also listen on this Unix socket (≤ 107 bytes; best in a directory only this user may enter). A stale socket
   * file is replaced; the file is made owner-only and removed on close/destroy.
   */
  socketPath?: string;
}

/** A listening Petal endpoint. */
export interface PetalServer {
  readonly host: string;
  readonly port: number;
  /** The Unix socket it also listens on (undefined when not asked to). */
  readonly socketPath: string | undefined;
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
  socketPath: socketPathCheck,
};

/** Starts a server; resolves once it listens. Throws PETAL_TRANSPORT_OPTIONS or PETAL_TRANSPORT_LISTEN. */
export async function listen(options: ListenOptions): Promise<PetalServer> {
  checkOptions('listen options', options, schema, ['token']);
  const key = tokenKey(options.token, 'listen options');
  const settings = connectionSettings(options);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const connections = new Set<Connection>();
  const handshaking = new Set<net.Socket>();
  let closing = false;
  let closePromise: Promise<void> | undefined;
  const report = (refusal: Refusal): void => {
    if (refusedChannel.hasSubscribers) refusedChannel.publish(refusal);
    options.onRefused?.(refusal);
  };

  const accept = (socket: net.Socket, transport: Transport): void => {
    handshaking.add(socket);
    const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, transport };
    serverHandshake(socket, key, handshakeTimeoutMs).then(
      (leftover) => {
        handshaking.delete(socket);
        if (closing) return void socket.destroy();
        const connection = new Connection(socket, settings, leftover, transport);
        connections.add(connection);
        void connection.closed.then((err) => {
          connections.delete(connection);
          // A peer that broke the protocol was reported by the connection itself (channel); tell onRefused too.
          if (isPetalError(err) && err.code.startsWith('PETAL_PROTOCOL_')) {
            options.onRefused?.({ ...peer, reason: 'protocol', code: err.code, message: err.message });
          }
        });
        debug('accepted %s:%s over %s', peer.remoteAddress, peer.remotePort, transport);
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
  };
  const listener = (transport: Transport): net.Server => {
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => accept(socket, transport));
    server.maxConnections = options.maxConnections ?? 1024;
    return server;
  };

  const host = options.host ?? '127.0.0.1';
  const tcp = listener('tcp');
  await bind(tcp, `${host}:${options.port ?? 0}`, (done) => tcp.listen(options.port ?? 0, host, done), {
    fix: 'pick another port (0 lets the system choose) or stop what holds this one',
  });
  const socketPath = options.socketPath;
  const unix = socketPath === undefined ? undefined : listener('unix');
  if (unix && socketPath !== undefined) {
    try {
      await clearStaleSocket(socketPath);
      await bind(unix, socketPath, (done) => unix.listen(socketPath, done), {
        fix: 'pass a socketPath in a directory that exists and this user may write (a fresh mkdtemp directory)',
      });
      // Peers must be this user: the token is checked anyway, but strangers need not reach the handshake.
      await chmod(socketPath, 0o600);
    } catch (err) {
      unix.close();
      await new Promise((resolve) => tcp.close(resolve));
      throw err;
    }
  }
  const address = tcp.address() as net.AddressInfo;

  // Closing a Unix listener also unlinks its socket file (libuv does, on every close).
  const stop = (): Promise<void> => {
    closing = true;
    const closed = Promise.all(
      [tcp, unix].map((server) => server && new Promise<void>((resolve) => server.close(() => resolve()))),
    ).then(() => undefined);
    for (const socket of handshaking) socket.destroy();
    return closed;
  };
  return {
    host: address.address,
    port: address.port,
    socketPath,
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

/** Listens (through `start`) and resolves once listening; rejects with PETAL_TRANSPORT_LISTEN naming `where`. */
async function bind(
  server: net.Server,
  where: string,
  start: (done: () => void) => void,
  { fix }: { fix: string },
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new TransportError('PETAL_TRANSPORT_LISTEN', `cannot listen on ${where}: ${err.message}`, { cause: err, fix }),
      ),
    );
    start(() => resolve());
  });
  server.on('error', (err) => debug('server error on %s: %s', where, err.message));
}
