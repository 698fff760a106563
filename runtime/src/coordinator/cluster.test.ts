// Real processes, real broker: 1 PS + 2 worker processes learn the 3-blob task; a task crashing on start fails the
// start naming it; SIGKILL of the owner leaves nothing behind; task logs reach subscribers tagged by task. The
// PS checkpoint every 40 steps with the workers' feed cursors; a second job resumes mid-epoch from one of them; the
// chief writes TensorBoard events.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs-node';
import { isPetalError } from '../errors.ts';
import { stream } from '../feed/index.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { portFree, waitUntil } from '../net/loopback.ts';
import type { SavedFeedPositions } from '../job/index.ts';
import { commonSteps, latestCheckpoint } from '../ps/index.ts';
import type { LogLine } from '../pool/index.ts';
import { loadTf } from '../tf/tf.ts';
import { startCluster } from './cluster.ts';
import type { ClusterState } from './states.ts';
import { blobs, features, topology } from '../worker/testing/blobs.ts';
import { processAlive } from '../pool/process-alive.ts';

const tf = loadTf();
const broker = useTestBroker('petal-coordinator');
const dir = mkdtempSync(path.join(tmpdir(), 'petal-coordinator-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('coordinator with real task processes', { timeout: 120_000 }, () => {
  let train = '';
  let validation = '';
  before(async () => {
    const connection = broker().connection;
    const opts = { connection, features, messageBytes: 1920 };
    train = (await stream(blobs(3200, 1), { ...opts, topic: 'train', partitions: 4 })).topic;
    validation = (await stream(blobs(600, 2), { ...opts, topic: 'validation', partitions: 2 })).topic;
  });

  test('1 PS + 2 workers train to ≥ 0.9 validation accuracy; logs tagged; stop frees everything', async (t) => {
    const states: ClusterState[] = [];
    const lines: LogLine[] = [];
    const cluster = await startCluster({
      ps: 1,
      workers: 2,
      deadlineMs: 60_000,
      stateDir: dir,
      listener: { onState: (s) => states.push(s), onLog: (l) => lines.push(l) },
    });
    try {
      assert.equal(cluster.state, 'running');
      const status = cluster.status();
      assert.deepEqual(status.tasks.map((x) => x.id).sort(), ['ps:0', 'worker:0', 'worker:1']);
      const ps = status.tasks.find((x) => x.role === 'ps')!;
      assert.ok(ps.port && ps.port > 0, 'the PS registered its port');
      let steps = 0;
      const epochs: number[] = [];
      const checkpoints = path.join(dir, 'checkpoints');
      const job = {
        model: { topology: topology() },
        compile: {
          optimizer: { name: 'adam', learningRate: 0.02 },
          loss: 'categoricalCrossentropy',
          metrics: ['accuracy'],
        },
        feeds: { train: { topic: train }, validation: { topic: validation } },
        batchSize: 32,
        epochs: 2,
        mode: 'sync',
        ps: 1,
        workers: 2,
        seed: 3,
        checkpoint: { dir: checkpoints, everySteps: 40, keep: 10 },
      };
      const result = await cluster.train(job, broker().connection, {
        outDir: path.join(dir, 'run'),
        onStep: () => steps++,
        onEpoch: (m) => epochs.push(m.epoch),
      });
      const acc = result.final!.validation!.metrics['accuracy']!;
      assert.ok(acc >= 0.9, `validation accuracy ${acc}`);
      assert.equal(steps, 200, 'every step of both workers streamed');
      assert.deepEqual(epochs.sort(), [0, 0, 1, 1]);
      assert.deepEqual(result.assignments, [
        [0, 2],
        [1, 3],
      ]);
      const model = await tf.loadLayersModel(`file://${result.modelPath}`);
      const xs = tf.tensor2d([
        [0, 3],
        [-2.6, -1.5],
        [2.6, -1.5],
      ]);
      const predicted = tf.tidy(() => (model.predict(xs) as Tensor).argMax(-1).dataSync());
      assert.deepEqual([...predicted], [0, 1, 2]);
      xs.dispose();
      model.dispose();
      t.diagnostic(`validation accuracy ${acc.toFixed(4)}`);

      assert.deepEqual(await commonSteps(checkpoints, 1), [40, 80, 100], 'periodic checkpoints, then the final one');
      const saved = (await latestCheckpoint(checkpoints, 0, 80))!.feedPositions as SavedFeedPositions;
      assert.equal(saved.epoch, 1, 'step 80 is in the second epoch (50 steps each)');
      assert.deepEqual(Object.keys(saved.workers).sort(), ['worker-0', 'worker-1']);
      const resumed: number[] = [];
      let rows = 0;
      const again = await cluster.train(
        { ...job, resume: { dir: checkpoints, step: 80 }, checkpoint: undefined },
        broker().connection,
        {
          outDir: path.join(dir, 'resumed'),
          onStep: (m) => {
            resumed.push(m.step);
            rows += m.rows;
          },
        },
      );
      assert.equal(Math.min(...resumed), 80, 'the global step carries on from the checkpoint');
      assert.equal(again.globalStep, 100);
      assert.equal(rows, 2 * 3200 - 80 * 2 * 32, 'the rest of the second epoch, no row twice');
      const events = path.join(dir, 'run', 'tensorboard');
      const raw = Buffer.concat(readdirSync(events).map((f) => readFileSync(path.join(events, f))));
      for (const tag of ['train/loss', 'train/accuracy', 'epoch/loss', 'validation/accuracy'])
        assert.ok(raw.includes(tag), `TensorBoard tag ${tag}`);
      assert.ok(
        lines.some((l) => l.task === 'ps:0' && /serving on/.test(l.text)),
        'ps:0 logs reached us',
      );
      assert.ok(
        lines.some((l) => l.task === 'worker:1' && /joined/.test(l.text)),
        'worker:1 logs reached us',
      );
    } finally {
      await cluster.stop();
      await cluster.stop();
    }
    assert.equal(cluster.state, 'stopped');
    assert.deepEqual(states, [
      'running',
      'checkpointing',
      'running',
      'checkpointing',
      'running',
      'stopping',
      'stopped',
    ]);
    const { tasks, coordinator } = cluster.status();
    for (const task of tasks) assert.equal(processAlive(task.pid), false, `${task.id} is gone`);
    for (const port of [coordinator.port, ...tasks.flatMap((x) => (x.port ? [x.port] : []))])
      assert.ok(await portFree(port), `port ${port} is free`);
  });

  test('a task crashing on start fails the start naming it with its log tail; nothing is left', async () => {
    const crash = fileURLToPath(new URL('./fixtures/crash-task.ts', import.meta.url));
    await assert.rejects(
      startCluster({ ps: 1, workers: 2, deadlineMs: 60_000, entries: { worker: crash } }),
      (err: unknown) => {
        assert.ok(isPetalError(err, 'PETAL_CLUSTER_START'), String(err));
        assert.match(err.message, /worker:\d \(pid \d+ on 127\.0\.0\.1\) exited with code 4/);
        assert.match(err.message, /boom: no such device gpu:7/);
        assert.match(err.message, /every task launched was stopped/);
        return true;
      },
    );
    await assert.rejects(startCluster({ ps: 0, workers: 2 }), /startCluster options\.ps must be an integer in \[1/);
  });

  test('SIGKILL of the owner: every task exits and every port is free', async () => {
    const owner = fileURLToPath(new URL('./fixtures/owner.ts', import.meta.url));
    const child = spawn(process.execPath, [owner], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.once('exit', (code) => reject(new Error(`owner exited ${code}: ${err}`)));
    });
    const { pids, ports } = JSON.parse(line) as { pids: number[]; ports: number[] };
    assert.equal(pids.length, 3);
    assert.ok(pids.every(processAlive));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const clean = await waitUntil(async () => {
      if (pids.some(processAlive)) return false;
      for (const port of ports) if (!(await portFree(port))) return false;
      return true;
    }, 20_000);
    assert.ok(clean, `left: ${JSON.stringify(pids.filter(processAlive))}`);
  });
});
