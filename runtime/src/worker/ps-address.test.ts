// A worker uses a PS's Unix socket only when the PS registered it from this very machine; anything else is TCP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { machineId } from '../transport/index.ts';
import { psAddress } from './ps-client.ts';

const tcp = { host: '127.0.0.1', port: 4100 };
const socketPath = '/tmp/petal-ps-abc123/ps.sock';

test('a PS on this machine is reached by its socket', () => {
  assert.deepEqual(psAddress({ ...tcp, socketPath, machine: machineId()! }), { path: socketPath });
});

test('a PS on another machine, one of unknown machine, or one without a socket is reached by TCP', () => {
  assert.deepEqual(psAddress({ ...tcp, socketPath, machine: `other-host/${machineId()}` }), tcp);
  assert.deepEqual(psAddress({ ...tcp, socketPath }), tcp);
  assert.deepEqual(psAddress({ ...tcp, machine: machineId()! }), tcp);
});
