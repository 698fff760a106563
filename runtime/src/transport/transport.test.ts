import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { MessageType } from '../protocol/index.ts';
import type { TensorPayload } from '../protocol/index.ts';
import { connect } from './client.ts';
import type { Connection, IncomingMessage } from './connection.ts';
import { listen } from './server.ts';
import type { PetalServer } from './server.ts';
import { createClusterToken } from './token.ts';

const token = createClusterToken();
const ECHO = 50;
const FAIL = 51;
const SLOW = 52;
const NOTE = 53;
const GRADIENT_FLOATS = 4_200_000; // 16.8 MB, a 4.2 M-parameter model's gradients

let server: PetalServer;
let client: Connection;
const notes: IncomingMessage[] = [];
let onNote = (): void => {};

before(async () => {
  server = await listen({
    token,
    handler: async (msg) => {
      if (msg.type === ECHO)
        return { type: ECHO, meta: { echo: msg.meta, generation: msg.generation }, tensors: msg.tensors };
      if (msg.type === FAIL)
        throw Object.assign(new Error('shard 3 is not mine'), { code: 'PETAL_PS_WRONG_SHARD', retryable: true });
      if (msg.type === SLOW) await new Promise((r) => setTimeout(r, 300));
      if (msg.type === NOTE) {
        notes.push({ ...msg, tensors: [] });
        onNote();
      }
      return undefined;
    },
  });
  client = await connect({ port: server.port, token });
});

after(async () => {
  await client.close();
  await server.close();
});

function bytesOf(t: TensorPayload): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

test('the server binds loopback by default', () => {
  assert.equal(server.host, '127.0.0.1');
});

test('metadata and several tensors (float32, int32, uint8, 16.8 MB) round-trip bit-exact', async () => {
  const big = new Float32Array(GRADIENT_FLOATS);
  for (let i = 0; i < big.length; i++) big[i] = Math.sin(i) * 1e-3;
  big[0] = Number.NaN;
  big[1] = -0;
  const tensors: TensorPayload[] = [
    { dtype: 'float32', shape: [2100, 2000], data: big },
    { dtype: 'int32', shape: [2, 3], data: new Int32Array([-(2 ** 31), -1, 0, 1, 7, 2 ** 31 - 1]) },
    { dtype: 'uint8', shape: [7], data: new Uint8Array([0, 1, 127, 128, 200, 254, 255]) },
    { dtype: 'float32', shape: [3], data: new Float32Array([1.25, -3.5, 1e-30]) },
  ];
  const reply = await client.request({
    type: ECHO,
    meta: { step: 9, names: ['w', 'idx', 'mask', 'b'] },
    tensors,
    generation: 4,
  });
  assert.deepEqual(reply.meta, { echo: { step: 9, names: ['w', 'idx', 'mask', 'b'] }, generation: 4 });
  assert.equal(reply.generation, 0, 'the reply carries the server connection generation');
  assert.equal(reply.tensors.length, tensors.length);
  for (let i = 0; i < tensors.length; i++) {
    const got = reply.tensors[i]!;
    assert.equal(got.dtype, tensors[i]!.dtype);
    assert.deepEqual(got.shape, tensors[i]!.shape);
    assert.ok(bytesOf(got).equals(bytesOf(tensors[i]!)), `tensor ${i} is bit-exact`);
  }
  assert.ok(reply.tensors[0]!.data instanceof Float32Array);
  reply.release();
  reply.release(); // idempotent
});

test('a handler error comes back with its code and retry flag', async () => {
  await assert.rejects(client.request({ type: FAIL }), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_PS_WRONG_SHARD'));
    assert.equal(err.retryable, true);
    assert.match(err.message, /shard 3 is not mine/);
    return true;
  });
});

test('a request times out with PETAL_TRANSPORT_TIMEOUT and the late response is dropped', async () => {
  await assert.rejects(client.request({ type: SLOW }, { timeoutMs: 50 }), (err: unknown) =>
    isPetalError(err, 'PETAL_TRANSPORT_TIMEOUT'),
  );
  await new Promise((r) => setTimeout(r, 350));
  const pong = await client.request({ type: MessageType.ping });
  assert.equal(pong.type, MessageType.ping);
});

test('fire-and-forget messages arrive in order with their generation', async () => {
  const arrived = new Promise<void>((resolve) => (onNote = () => void (notes.length === 3 && resolve())));
  client.generation = 12;
  for (let i = 0; i < 3; i++) await client.send({ type: NOTE, meta: { i } });
  await arrived;
  client.generation = 0;
  assert.deepEqual(
    notes.map((n) => [n.meta, n.generation]),
    [
      [{ i: 0 }, 12],
      [{ i: 1 }, 12],
      [{ i: 2 }, 12],
    ],
  );
});

test('many concurrent requests are bounded and all answered', async () => {
  const small = await connect({ port: server.port, token, maxOutstandingRequests: 4 });
  let peak = 0;
  const replies = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const p = small.request({ type: ECHO, meta: i });
      peak = Math.max(peak, small.outstandingRequests);
      return p;
    }),
  );
  assert.ok(peak <= 4, `at most 4 outstanding (saw ${peak})`);
  assert.deepEqual(
    replies.map((r) => (r.meta as { echo: number }).echo),
    Array.from({ length: 40 }, (_, i) => i),
  );
  await small.close();
});

test('bad options are refused with the path and a hint', async () => {
  await assert.rejects(connect({ port: server.port, token: 'short' }), (err: unknown) =>
    isPetalError(err, 'PETAL_TRANSPORT_OPTIONS'),
  );
  await assert.rejects(
    listen({ token, prot: 1 } as unknown as Parameters<typeof listen>[0]),
    /listen options\.prot is not an option/,
  );
  await assert.rejects(connect({ port: 0, token }), /connect options\.port must be an integer/);
});

test('connecting where nothing listens is a retryable PETAL_TRANSPORT_CONNECT', async () => {
  const gone = await listen({ token });
  const port = gone.port;
  await gone.close();
  await assert.rejects(
    connect({ port, token }),
    (err: unknown) => isPetalError(err, 'PETAL_TRANSPORT_CONNECT') && err.retryable,
  );
});

test("a reply's sent() runs once its bytes are written, and when its connection is gone before that", async () => {
  const events: string[] = [];
  const big = new Float32Array(GRADIENT_FLOATS).fill(0.25);
  let hold = (): void => {};
  const held = new Promise<void>((resolve) => (hold = resolve));
  const s = await listen({
    token,
    handler: async (msg) => {
      if (msg.type === SLOW) await held;
      const kind = msg.type === SLOW ? 'late' : 'reply';
      return {
        type: msg.type,
        tensors: [{ dtype: 'float32', shape: [big.length], data: big }],
        sent: () => events.push(kind),
      };
    },
  });
  const c = await connect({ port: s.port, token });
  const reply = await c.request({ type: ECHO });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['reply'], 'sent() ran once, the response having been written');
  assert.equal((reply.tensors[0]!.data as Float32Array)[GRADIENT_FLOATS - 1], 0.25);
  reply.release();

  const lost = c.request({ type: SLOW });
  await new Promise((r) => setTimeout(r, 50));
  c.destroy();
  await assert.rejects(lost, (err: unknown) => isPetalError(err, 'PETAL_TRANSPORT_CLOSED'));
  hold();
  await s.close();
  assert.deepEqual(events, ['reply', 'late'], 'a reply that cannot be sent still releases its data');
});
