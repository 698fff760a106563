// Public surface of Petal's transport: authenticated, framed TCP (or same-machine Unix socket) connections carrying
// protocol frames.
export { listen } from './server.ts';
export type { ListenOptions, PetalServer } from './server.ts';
export { connect } from './client.ts';
export type { ConnectOptions } from './client.ts';
export { Connection } from './connection.ts';
export type { Handler, IncomingMessage, OutgoingMessage } from './connection.ts';
export type { CommonOptions } from './settings.ts';
export type { ArenaSource, LentArena } from './frame-reader.ts';
export { TransportError } from './errors.ts';
export { createClusterToken, MIN_TOKEN_BYTES } from './token.ts';
export { refusedChannel, handlerErrorChannel } from './diagnostics.ts';
export type { Refusal, Transport } from './diagnostics.ts';
export { machineId, makeSocketDir, removeSocketDir } from './unix-socket.ts';
