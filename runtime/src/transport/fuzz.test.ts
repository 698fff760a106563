// Thousands of random and mutated frames (loopback only, bounded count and time) at a server: it must stay up,
// refuse and report exactly the peers whose bytes break the protocol, and still serve a valid client afterwards.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { DEFAULT_LIMITS, FrameKind, MessageType, encodeFrameToBuffer } from '../protocol/index.ts';
import { connect } from './client.ts';
import type { Refusal } from './diagnostics.ts';
import { FrameReader } from './frame-reader.ts';
import { listen } from './server.ts';
import { createClusterToken } from './token.ts';

const PRE_AUTH_PEERS = 500;
const POST_AUTH_PEERS = 2000;
const CONCURRENCY = 64;

let seed = 7;
const rand = (n: number): number => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rand(256)));

const valid = [
  encodeFrameToBuffer({
    kind: FrameKind.request,
    type: MessageType.ping,
    requestId: 1,
    generation: 2,
    meta: { a: [1, 2] },
    tensors: [],
  }),
  encodeFrameToBuffer({
    kind: FrameKind.message,
    type: 300,
    requestId: 0,
    generation: 1,
    meta: { step: 1 },
    tensors: [
      { dtype: 'float32', shape: [4], data: new Float32Array([1, 2, 3, 4]) },
      { dtype: 'int32', shape: [1], data: new Int32Array([5]) },
    ],
  }),
];

function fuzzFrame(i: number): Buffer {
  if (i % 3 === 0) return randomBytes(1 + rand(200));
  const b = Buffer.from(valid[i % 2]!);
  for (let k = 0, n = 1 + rand(3); k < n; k++) b[rand(b.length)] = rand(256);
  return i % 5 === 0 ? b.subarray(0, rand(b.length)) : b;
}

// What the server's reader makes of these bytes: refuse them, or not (answer, or wait for more).
function breaksProtocol(bytes: Buffer): boolean {
  try {
    for (const f of new FrameReader(DEFAULT_LIMITS).push(bytes)) f.release();
    return false;
  } catch {
    return true;
  }
}

// A raw client speaking the handshake from its spec, then sending `payload` and ending; resolves with its port.
function authenticatedPeer(port: number, token: string, payload: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = Buffer.alloc(0);
    let stage = 0;
    const clientNonce = randomBytes(32);
    let localPort = 0;
    s.on('connect', () => (localPort = s.localPort!));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (stage === 0 && got.length >= 40) {
        const mac = createHmac('sha256', token)
          .update('petal/1 client')
          .update(got.subarray(8, 40))
          .update(clientNonce)
          .digest();
        s.write(Buffer.concat([Buffer.from('PETAL1AN'), clientNonce, mac]));
        got = got.subarray(40);
        stage = 1;
      }
      if (stage === 1 && got.length >= 40) {
        assert.equal(got.subarray(0, 8).toString(), 'PETAL1OK');
        stage = 2;
        s.end(payload);
      }
    });
    s.on('error', () => {});
    s.on('close', () => (stage === 2 ? resolve(localPort) : reject(new Error(`handshake failed at stage ${stage}`))));
    s.setTimeout(5000, () => s.destroy());
  });
}

function strangerPeer(port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => s.write(payload));
    s.resume();
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.setTimeout(5000, () => s.destroy());
  });
}

async function pool(count: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await run(next++);
    }),
  );
}

test(
  'random and mutated frames never crash the server; each bad peer is refused and reported',
  { timeout: 60_000 },
  async () => {
    const token = createClusterToken();
    const refused: Refusal[] = [];
    let handled = 0;
    const server = await listen({
      token,
      handshakeTimeoutMs: 300,
      onRefused: (r) => refused.push(r),
      handler: () => void handled++,
    });
    try {
      await fuzz();
    } finally {
      server.destroy();
    }
    async function fuzz(): Promise<void> {
      await pool(PRE_AUTH_PEERS, (i) =>
        strangerPeer(
          server.port,
          i % 2 ? randomBytes(rand(100)) : Buffer.concat([Buffer.from('PETAL1AN'), randomBytes(rand(90))]),
        ),
      );
      assert.equal(refused.length, PRE_AUTH_PEERS, 'every stranger was refused');
      assert.ok(refused.every((r) => ['bad-hello', 'bad-token', 'timeout', 'closed'].includes(r.reason)));

      refused.length = 0;
      const bad = new Set<number>();
      let expectedBad = 0;
      await pool(POST_AUTH_PEERS, async (i) => {
        const payload = fuzzFrame(i);
        const port = await authenticatedPeer(server.port, token, payload);
        if (breaksProtocol(payload)) {
          expectedBad++;
          bad.add(port);
        }
      });
      await new Promise((r) => setTimeout(r, 100));
      const refusedPorts = new Set(refused.filter((r) => r.reason === 'protocol').map((r) => r.remotePort));
      assert.ok(expectedBad > POST_AUTH_PEERS / 2, `most fuzz frames are bad (${expectedBad})`);
      for (const port of bad) assert.ok(refusedPorts.has(port), `peer on port ${port} was refused and reported`);
      assert.equal(refusedPorts.size, bad.size, 'only bad peers were refused');
      assert.ok(handled > 0, 'intact frames were handled');
      assert.equal(server.connections.size, 0);

      const c = await connect({ port: server.port, token });
      assert.equal((await c.request({ type: MessageType.ping })).type, MessageType.ping);
      await c.close();
      await server.close();
    }
  },
);
