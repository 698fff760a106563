import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from './client.ts';
import { listen } from './server.ts';
import { createClusterToken } from './token.ts';

const FRAME_FLOATS = 1_000_000; // 4 MB per message
const MESSAGES = 40; // 160 MB offered to a reader that takes none until released

test('a slow reader makes the writer wait instead of buffering without bound', { timeout: 30_000 }, async () => {
  const token = createClusterToken();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let received = 0;
  const server = await listen({
    token,
    maxConcurrentHandlers: 1,
    handler: async () => {
      await gate;
      received++;
    },
  });
  const client = await connect({ port: server.port, token });
  const data = new Float32Array(FRAME_FLOATS);
  let sent = 0;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, client.writableLength)), 1);
  const sends = Array.from({ length: MESSAGES }, () =>
    client.send({ type: 300, tensors: [{ dtype: 'float32', shape: [FRAME_FLOATS], data }] }).then(() => sent++),
  );
  await new Promise((r) => setTimeout(r, 300));
  const sentWhileBlocked = sent;
  peak = Math.max(peak, client.writableLength);
  open();
  await Promise.all(sends);
  clearInterval(sampler);
  for (let i = 0; i < 100 && received < MESSAGES; i++) await new Promise((r) => setTimeout(r, 20));

  assert.ok(
    sentWhileBlocked < MESSAGES / 2,
    `writes waited for the reader (${sentWhileBlocked} of ${MESSAGES} went out)`,
  );
  const frameBytes = data.byteLength + 64;
  assert.ok(
    peak <= 2 * frameBytes,
    `socket buffer peaked at ${peak} bytes, at most ~one frame beyond the high-water mark`,
  );
  assert.equal(received, MESSAGES);
  await client.close();
  await server.close();
});
