import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { MessageType } from '../protocol/index.ts';
import { connect } from './client.ts';
import { refusedChannel } from './diagnostics.ts';
import type { Refusal } from './diagnostics.ts';
import { listen } from './server.ts';
import type { PetalServer } from './server.ts';
import { createClusterToken } from './token.ts';

const token = createClusterToken();
let server: PetalServer;
const refused: Refusal[] = [];
const published: Refusal[] = [];
const onPublish = (r: unknown): void => void published.push(r as Refusal);

before(async () => {
  refusedChannel.subscribe(onPublish);
  server = await listen({
    token,
    handshakeTimeoutMs: 200,
    onRefused: (r) => refused.push(r),
    handler: () => undefined,
  });
});
after(async () => {
  refusedChannel.unsubscribe(onPublish);
  await server.close();
});

// The refusal reported after the first `n` (take `n` before the action that should cause it).
async function refusalAfter(n: number): Promise<Refusal> {
  for (let i = 0; i < 200 && refused.length === n; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(refused.length > n, 'a refusal was reported');
  return refused[refused.length - 1]!;
}

test('a wrong token is refused on both sides and reported', async () => {
  const n = refused.length;
  await assert.rejects(connect({ port: server.port, token: createClusterToken() }), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_TRANSPORT_AUTH'), String(err));
    assert.match(err.message, /refused the cluster token/);
    return true;
  });
  const r = await refusalAfter(n);
  assert.equal(r.reason, 'bad-token');
  assert.equal(r.remoteAddress, '127.0.0.1');
  assert.ok(
    published.some((p) => p.reason === 'bad-token'),
    'also published on petal:transport:refused',
  );
  assert.equal(server.connections.size, 0);
});

test('a peer that never answers the challenge is refused after the deadline and reported', async () => {
  const n = refused.length;
  const socket = net.connect({ port: server.port, host: '127.0.0.1' });
  const closed = new Promise<number>((resolve) => {
    const t0 = Date.now();
    socket.on('close', () => resolve(Date.now() - t0));
  });
  socket.on('error', () => {});
  socket.resume(); // read (and discard) the challenge, so the server's close is seen
  const ms = await closed;
  assert.ok(ms >= 150, `closed after the deadline (${ms} ms)`);
  const r = await refusalAfter(n);
  assert.equal(r.reason, 'timeout');
  assert.equal(r.code, 'PETAL_TRANSPORT_HANDSHAKE_TIMEOUT');
});

test('a peer that answers with garbage is refused', async () => {
  const n = refused.length;
  const socket = net.connect({ port: server.port, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.once('data', () => socket.write(Buffer.alloc(72, 0x41)));
  await new Promise((resolve) => socket.on('close', resolve));
  assert.equal((await refusalAfter(n)).reason, 'bad-hello');
});

test('a client refuses a server that cannot prove the token', async () => {
  const impostor = await listen({ token: createClusterToken() });
  await assert.rejects(connect({ port: impostor.port, token }), (err: unknown) =>
    isPetalError(err, 'PETAL_TRANSPORT_AUTH'),
  );
  await impostor.close();
  // A server that says nothing at all: the client's own deadline.
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as net.AddressInfo).port;
  await assert.rejects(connect({ port, token, handshakeTimeoutMs: 100 }), (err: unknown) =>
    isPetalError(err, 'PETAL_TRANSPORT_HANDSHAKE_TIMEOUT'),
  );
  await new Promise((resolve) => silent.close(resolve));
});

test('the right token still gets in', async () => {
  const c = await connect({ port: server.port, token });
  assert.equal((await c.request({ type: MessageType.ping })).type, MessageType.ping);
  await c.close();
});
