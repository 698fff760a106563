import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { connect } from './client.ts';
import { listen } from './server.ts';
import { createClusterToken } from './token.ts';

const token = createClusterToken();

test('close() and destroy() are idempotent; work after them is refused; pending requests reject', async () => {
  let hold!: () => void;
  const server = await listen({ token, handler: () => new Promise<undefined>((r) => (hold = () => r(undefined))) });
  const client = await connect({ port: server.port, token });
  const pending = client.request({ type: 9 });
  await new Promise((r) => setTimeout(r, 50));
  client.destroy();
  client.destroy();
  await assert.rejects(pending, (err: unknown) => isPetalError(err, 'PETAL_TRANSPORT_CLOSED'));
  await assert.rejects(client.request({ type: 1 }), (err: unknown) => isPetalError(err, 'PETAL_TRANSPORT_CLOSED'));
  await assert.rejects(client.send({ type: 1 }), (err: unknown) => isPetalError(err, 'PETAL_TRANSPORT_CLOSED'));
  assert.equal(await client.closed, undefined);
  await client.close(); // after destroy: resolves, does nothing
  hold();

  const second = await connect({ port: server.port, token });
  const first = second.close();
  assert.equal(second.close(), first, 'close() returns the same promise');
  await first;
  second.destroy();
  const closing = server.close();
  assert.equal(server.close(), closing);
  await closing;
  server.destroy();
  assert.equal(server.connections.size, 0);
});

test('close() lets an answered request finish first', async () => {
  const server = await listen({
    token,
    handler: async () => (await new Promise((r) => setTimeout(r, 100)), { type: 5, meta: 'late' }),
  });
  const client = await connect({ port: server.port, token });
  const reply = client.request({ type: 5 });
  await new Promise((r) => setTimeout(r, 10));
  await Promise.all([client.close(), server.close()]);
  assert.equal((await reply).meta, 'late');
});

test('after close the process exits on its own, with no handles left', async () => {
  const fixture = fileURLToPath(new URL('./exit-fixture.ts', import.meta.url));
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
    execFile(process.execPath, [fixture], { timeout: 15_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`fixture failed: ${err.message}\n${stderr}`)) : resolve({ stdout }),
    ),
  );
  assert.deepEqual(JSON.parse(stdout.trim()), []);
});
