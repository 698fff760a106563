// The Unix socket beside a server's TCP port: the same handshake and frames as TCP, an owner-only file that is gone
// after close or destroy, a stale file from a killed server replaced, and a live server's or a stranger's file kept.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { MessageType } from '../protocol/index.ts';
import { waitUntil } from '../net/loopback.ts';
import { connect } from './client.ts';
import type { Refusal } from './diagnostics.ts';
import { listen } from './server.ts';
import { createClusterToken } from './token.ts';
import { MAX_SOCKET_PATH_BYTES, machineId, makeSocketDir, removeSocketDir } from './unix-socket.ts';

const token = createClusterToken();
const ECHO = 50;
const GRADIENT_FLOATS = 4_200_000; // 16.8 MB, a 4.2 M-parameter model's gradients
const dir = mkdtempSync(path.join(tmpdir(), 'petal-uds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { handler: () => undefined };

test('frames round-trip over the socket file; the server serves TCP beside it; both give a Connection', async () => {
  const socketPath = path.join(dir, 'echo.sock');
  const server = await listen({
    token,
    socketPath,
    handler: (msg) => (msg.type === ECHO ? { type: ECHO, meta: { echo: msg.meta }, tensors: msg.tensors } : undefined),
  });
  try {
    assert.equal(server.socketPath, socketPath);
    const stat = statSync(socketPath);
    assert.ok(stat.isSocket());
    assert.equal(stat.mode & 0o777, 0o600, 'only its owner may connect');

    const client = await connect({ path: socketPath, token });
    assert.equal(client.transport, 'unix');
    const big = new Float32Array(GRADIENT_FLOATS);
    for (let i = 0; i < big.length; i++) big[i] = Math.sin(i);
    const reply = await client.request({
      type: ECHO,
      meta: { step: 3 },
      tensors: [{ dtype: 'float32', shape: [big.length], data: big }],
    });
    assert.deepEqual(reply.meta, { echo: { step: 3 } });
    const got = reply.tensors[0]!.data as Float32Array;
    assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(big.buffer)), 'bit-exact');
    reply.release();

    const overTcp = await connect({ port: server.port, token });
    assert.equal(overTcp.transport, 'tcp');
    assert.equal((await overTcp.request({ type: MessageType.ping })).type, MessageType.ping);
    assert.deepEqual([...server.connections].map((c) => c.transport).sort(), ['tcp', 'unix']);
    await Promise.all([client.close(), overTcp.close()]);
  } finally {
    await server.close();
  }
  assert.equal(existsSync(socketPath), false, 'close() removed the socket file');
});

test('a wrong token over the socket is refused and reported as over TCP', async () => {
  const socketPath = path.join(dir, 'auth.sock');
  const refused: Refusal[] = [];
  const server = await listen({ token, socketPath, onRefused: (r) => refused.push(r), ...quiet });
  try {
    for (const where of [{ path: socketPath }, { port: server.port }]) {
      await assert.rejects(connect({ ...where, token: createClusterToken() }), (err: unknown) => {
        assert.ok(isPetalError(err, 'PETAL_TRANSPORT_AUTH'), String(err));
        assert.match(err.message, /refused the cluster token/);
        return true;
      });
    }
    await waitUntil(() => refused.length >= 2, 2_000, 10);
    assert.deepEqual(refused.map((r) => [r.transport, r.reason, r.code]).sort(), [
      ['tcp', 'bad-token', 'PETAL_TRANSPORT_AUTH'],
      ['unix', 'bad-token', 'PETAL_TRANSPORT_AUTH'],
    ]);
    assert.equal(server.connections.size, 0);
  } finally {
    server.destroy();
    await server.close();
  }
  assert.equal(existsSync(socketPath), false, 'destroy() removed the socket file');
});

test("a killed server's stale socket is replaced; a live server's or a non-socket file is kept", async () => {
  const socketPath = path.join(dir, 'stale.sock');
  // A server killed by SIGKILL never removes its file.
  const dieListening = `process.kill(process.pid, 'SIGKILL')`;
  const killed = spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => ${dieListening})`,
  ]);
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(statSync(socketPath).isSocket(), 'the killed server left its socket file');
  const server = await listen({ token, socketPath, ...quiet });
  try {
    const c = await connect({ path: socketPath, token });
    await c.close();
    await assert.rejects(listen({ token, socketPath, ...quiet }), (err: unknown) => {
      assert.ok(isPetalError(err, 'PETAL_TRANSPORT_LISTEN'), String(err));
      assert.match(err.message, /stale\.sock: another server listens there/);
      return true;
    });
    const still = await connect({ path: socketPath, token }); // the live server's file was left in place
    await still.close();
  } finally {
    await server.close();
  }
  const notASocket = path.join(dir, 'notes.txt');
  writeFileSync(notASocket, 'mine');
  await assert.rejects(
    listen({ token, socketPath: notASocket, ...quiet }),
    /notes\.txt: it exists and is not a socket/,
  );
  assert.equal(readFileSync(notASocket, 'utf8'), 'mine');
});

test('connecting to a socket nobody serves is a retryable PETAL_TRANSPORT_CONNECT naming the path', async () => {
  const nowhere = path.join(dir, 'nobody.sock');
  await assert.rejects(connect({ path: nowhere, token }), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_TRANSPORT_CONNECT'), String(err));
    assert.ok(err.retryable);
    assert.ok(err.message.includes(`cannot connect to ${nowhere}`), err.message);
    return true;
  });
});

test('bad socket options are refused with the path and a hint', async () => {
  const long = path.join(dir, 'x'.repeat(MAX_SOCKET_PATH_BYTES));
  await assert.rejects(
    listen({ token, socketPath: long }),
    new RegExp(`listen options\\.socketPath must be a path of 1 to ${MAX_SOCKET_PATH_BYTES} bytes`),
  );
  await assert.rejects(connect({ token, path: path.join(dir, 'a.sock'), port: 80 }), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_TRANSPORT_OPTIONS'));
    assert.match(err.message, /a path or a host and port, not both/);
    return true;
  });
  await assert.rejects(connect({ token }), /connect options\.port is required/);
});

test('machineId() names this machine the same way every time', () => {
  const id = machineId();
  assert.ok(id?.includes('/'), `host/boot id/mount namespace, got ${id}`);
  assert.equal(machineId(), id);
});

test("removeSocketDir() removes only a socket directory makeSocketDir() made, and only on the owner's machine", () => {
  const made = makeSocketDir('test');
  assert.equal(statSync(made).mode & 0o777, 0o700);
  const socketPath = path.join(made, 'ps.sock');
  removeSocketDir(socketPath, `another-host/${machineId()}`);
  assert.ok(existsSync(made), 'not from another machine');
  removeSocketDir(path.join(dir, 'x.sock'), machineId());
  assert.ok(existsSync(dir), 'not a directory makeSocketDir() did not make');
  writeFileSync(path.join(made, 'notes.txt'), 'mine');
  removeSocketDir(socketPath, machineId());
  assert.ok(existsSync(made), 'not one holding anything but sockets');
  rmSync(path.join(made, 'notes.txt'));
  removeSocketDir(socketPath, machineId());
  assert.equal(existsSync(made), false);
});
