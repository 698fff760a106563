// What the transport reports instead of printing. `bin/` (or a test) subscribes; nothing is published to nobody.
import diagnostics_channel from 'node:diagnostics_channel';
import { debuglog } from 'node:util';

/** How a connection travels: TCP, or a Unix domain socket (same machine only). */
export type Transport = 'tcp' | 'unix';

/** A connection the server dropped before or instead of serving it. */
export interface Refusal {
  /** The peer's address and port (both undefined on a Unix socket, whose peers have none). */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** Which listener the peer came through. */
  transport: Transport;
  /** `bad-token`, `bad-hello`, `timeout` or `closed` during the handshake; `protocol` for a malformed frame after it. */
  reason: 'bad-token' | 'bad-hello' | 'timeout' | 'closed' | 'protocol';
  code: string;
  message: string;
}

/** Published for every refused connection (wrong or missing token, handshake deadline, malformed frames). */
export const refusedChannel = diagnostics_channel.channel('petal:transport:refused');
/** Published when a handler for a fire-and-forget message throws (a request's error goes back to its sender). */
export const handlerErrorChannel = diagnostics_channel.channel('petal:transport:handler-error');

/** `NODE_DEBUG=petal_transport` traces connection events. */
export const debug = debuglog('petal_transport');
