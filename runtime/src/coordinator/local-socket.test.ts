// On the local pool a worker reaches its PS by the PS's Unix socket, not loopback TCP: the PS registers the socket
// and its machine, the worker's connection arrives over it (the PS's log says which way each peer came), and the
// socket file and its private directory are gone once the cluster stops, once the PS is told to stop by SIGTERM
// (what its tied watcher sends when the cluster's owner dies), and even after a SIGKILL (the coordinator's job then).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stream } from '../feed/index.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { waitUntil } from '../net/loopback.ts';
import type { LogLine } from '../pool/index.ts';
import { processAlive } from '../pool/process-alive.ts';
import { machineId } from '../transport/index.ts';
import { blobs, blobsJob, features } from '../worker/testing/blobs.ts';
import { startCluster } from './cluster.ts';

const broker = useTestBroker('petal-local-socket');
const dir = mkdtempSync(path.join(tmpdir(), 'petal-local-socket-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('PS traffic over a Unix socket on the local pool', { timeout: 120_000 }, () => {
  let train = '';
  before(async () => {
    const opts = { connection: broker().connection, features, messageBytes: 1920 };
    train = (await stream(blobs(640, 1), { ...opts, topic: 'train', partitions: 1 })).topic;
  });

  test('the worker talks to its PS over the socket; stop removes the socket file and its directory', async () => {
    const lines: LogLine[] = [];
    const cluster = await startCluster({
      ps: 1,
      workers: 1,
      deadlineMs: 60_000,
      listener: { onLog: (l) => lines.push(l) },
    });
    const ps = cluster.status().tasks.find((t) => t.id === 'ps:0')!;
    const socketPath = ps.socketPath ?? '';
    try {
      assert.ok(socketPath, 'the PS registered a socket path');
      assert.equal(ps.machine, machineId(), 'and the machine it runs on (this one)');
      assert.ok(statSync(socketPath).isSocket());
      assert.equal(statSync(socketPath).mode & 0o777, 0o600, 'the socket is owner-only');
      assert.equal(statSync(path.dirname(socketPath)).mode & 0o777, 0o700, 'in a private directory');

      const result = await cluster.train(blobsJob(train), broker().connection, { outDir: path.join(dir, 'run') });
      assert.equal(result.globalStep, 20);
      const peers = lines.filter((l) => l.task === 'ps:0' && /accepted a connection/.test(l.text)).map((l) => l.text);
      assert.deepEqual(peers, ['ps:0 accepted a connection over unix'], 'the one worker came over the socket');
    } finally {
      await cluster.stop();
    }
    assert.equal(existsSync(socketPath), false, 'the socket file is gone');
    assert.equal(existsSync(path.dirname(socketPath)), false, 'its directory is gone');
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const who = signal === 'SIGTERM' ? "the PS itself (its owner's death)" : 'the coordinator, for the PS';
    test(`a PS ended by ${signal}: ${who} removes its socket directory`, async () => {
      const cluster = await startCluster({ ps: 1, workers: 1, deadlineMs: 60_000 });
      try {
        const ps = cluster.status().tasks.find((t) => t.id === 'ps:0')!;
        const socketDir = path.dirname(ps.socketPath!);
        assert.ok(existsSync(socketDir));
        process.kill(ps.pid, signal);
        assert.ok(await waitUntil(() => !processAlive(ps.pid), 20_000), 'the PS exited');
        assert.ok(await waitUntil(() => !existsSync(socketDir), 20_000), 'its socket directory is gone');
      } finally {
        await cluster.stop();
      }
    });
  }
});
