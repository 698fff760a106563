// Worker failover with real processes and a real broker: 1 PS + 2 sync workers, checkpoints every 20 steps. SIGKILL
// of a worker mid-epoch (by the pid the registry holds) → the cluster goes restarting → running, a replacement for
// the same index joins, the whole job rolls back to the newest checkpoint and finishes; replaying each worker's
// partitions up to the checkpoint's cursor and from it shows every id trained on exactly once per epoch in the
// surviving timeline. A kill before the first checkpoint rolls back to the initial state. maxRestarts 0 fails the
// job naming the worker with its log tail, a PS kill naming the PS. Aborting train() ends the job and leaves the
// cluster to the next one. After stop() no task process is left.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import { isPetalError } from '../errors.ts';
import { stream } from '../feed/index.ts';
import { workerResumes } from '../job/index.ts';
import type { FeedCursor, SavedFeedPositions } from '../job/index.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { processAlive } from '../pool/process-alive.ts';
import { latestCheckpoint } from '../ps/index.ts';
import type { StepMetrics } from '../worker/index.ts';
import { replayIds } from '../worker/testing/replay-ids.ts';
import { blobs, features, topology } from '../worker/testing/blobs.ts';
import { startCluster } from './cluster.ts';
import type { Cluster, TaskRestart } from './cluster.ts';
import type { ClusterState } from './states.ts';

const broker = useTestBroker('petal-failover');
const dir = mkdtempSync(path.join(tmpdir(), 'petal-failover-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const N = 3200; // 4 partitions of 800 rows, messages of 160 rows
const BATCH = 32;
const EPOCHS = 2; // 50 sync steps an epoch (2 workers × 32 rows a step)
const SEED = 3;
const ASSIGNMENTS = [
  [0, 2],
  [1, 3],
];

/** The blobs with an id column (not a feature: the test's replay reads it). */
function rows(n: number) {
  const b = blobs(n, 1);
  return tableFromArrays({
    id: Int32Array.from({ length: n }, (_, i) => i),
    x0: b.getChild('x0')!.toArray() as Float32Array,
    x1: b.getChild('x1')!.toArray() as Float32Array,
    label: b.getChild('label')!.toArray() as Int32Array,
  });
}

let train = '';
/** The feed every worker of the job reads, for replays. */
const replayFeed = () => ({
  connection: broker().connection,
  topic: train,
  batchSize: BATCH,
  seed: SEED,
  epochs: EPOCHS,
});
let validation = '';
let model: Record<string, unknown> = {};

function job(checkpoints: string, everySteps: number): Record<string, unknown> {
  return {
    model: { topology: model },
    compile: {
      optimizer: { name: 'adam', learningRate: 0.02 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    feeds: { train: { topic: train, features, shuffleBuffer: 0 }, validation: { topic: validation, features } },
    batchSize: BATCH,
    epochs: EPOCHS,
    mode: 'sync',
    ps: 1,
    workers: 2,
    seed: SEED,
    checkpoint: { dir: checkpoints, everySteps, keep: 10 },
  };
}

/** A job on `cluster` whose `victim` gets `signal` (by its registered pid) once a step ≥ `killAt` streams in. */
async function trainKilling(
  cluster: Cluster,
  spec: Record<string, unknown>,
  victim: string,
  killAt: number,
  signal: NodeJS.Signals = 'SIGKILL',
) {
  const steps: { m: StepMetrics; attempt: number }[] = [];
  let attempt = 1;
  let killed: number | undefined;
  const unsubscribe = cluster.subscribe({ onState: (s) => s === 'restarting' && attempt++ });
  const heard: { task: string; toStep: number }[] = [];
  const result = await cluster
    .train(spec, broker().connection, {
      outDir: path.join(dir, `run-${Date.now()}`),
      onRollback: (r) => heard.push(r),
      onStep: (m) => {
        steps.push({ m, attempt });
        if (killed === undefined && m.step >= killAt) {
          killed = cluster.status().tasks.find((t) => t.id === victim)!.pid;
          process.kill(killed, signal);
        }
      },
    })
    .finally(unsubscribe);
  return { result, steps, killed: killed!, heard };
}

/** Rows and ids per worker of the steps given, against a replay of its partitions; adds every id seen to `seen`. */
async function account(
  steps: StepMetrics[],
  seen: Map<number, number>,
  from?: Record<string, FeedCursor | undefined>,
  until?: Record<string, FeedCursor | undefined>,
) {
  for (const [index, partitions] of ASSIGNMENTS.entries()) {
    const worker = `worker-${index}`;
    const batches = steps.filter((m) => m.worker === worker).length;
    const replay = await replayIds(replayFeed(), partitions!, batches, from?.[worker]);
    assert.equal(replay.batches, batches, `${worker}: every batch trained is in its partitions`);
    if (until) assert.deepEqual(replay.last, until[worker], `${worker}: its batches end at the checkpoint's cursor`);
    for (const id of replay.ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
}

/**
 * The surviving timeline of a job rolled back once to `toStep`: the first attempt's steps before it, then the second
 * attempt's from it. Its rows are every epoch's, and each id is trained on once per epoch.
 */
async function assertSurvivingTimeline(
  run: Awaited<ReturnType<typeof trainKilling>>,
  checkpoints: string,
  toStep: number,
): Promise<void> {
  const kept = run.steps.filter((s) => s.attempt === 1 && s.m.step < toStep).map((s) => s.m);
  const redone = run.steps.filter((s) => s.attempt === 2).map((s) => s.m);
  assert.equal(Math.min(...redone.map((m) => m.step)), toStep, 'the second attempt starts at the checkpoint');
  assert.equal(run.result.globalStep, EPOCHS * (N / 2 / BATCH), 'as many sync steps as without the failure');
  const rows = [...kept, ...redone].reduce((n, m) => n + m.rows, 0);
  assert.equal(rows, EPOCHS * N, 'rows trained in the surviving timeline');
  const seen = new Map<number, number>();
  if (toStep === 0) await account(redone, seen);
  else {
    const saved = (await latestCheckpoint(checkpoints, 0, toStep))!.feedPositions as SavedFeedPositions;
    const ids = ['worker-0', 'worker-1'];
    const resumed = Object.fromEntries(workerResumes(toStep, saved, ids).map((r, i) => [ids[i], r.cursor]));
    await account(kept, seen, undefined, saved.workers);
    await account(redone, seen, resumed);
  }
  assertEveryIdOncePerEpoch(seen);
  const acc = run.result.final!.validation!.metrics['accuracy']!;
  assert.ok(acc >= 0.9, `validation accuracy ${acc}`);
}

function assertEveryIdOncePerEpoch(seen: Map<number, number>): void {
  assert.equal(seen.size, N, 'every id trained on');
  const off = [...seen].filter(([, c]) => c !== EPOCHS);
  assert.deepEqual(off.slice(0, 5), [], `every id trained on ${EPOCHS} times (${off.length} are not)`);
}

describe('worker failover with real processes', { timeout: 400_000 }, () => {
  before(async () => {
    const connection = broker().connection;
    const opts = { connection, features, messageBytes: 160 * 16 };
    const t = await stream(rows(N), { ...opts, topic: 'train', partitions: 4 });
    assert.deepEqual(t.partitionRows, [800, 800, 800, 800]);
    validation = (await stream(blobs(600, 2), { ...opts, topic: 'validation', partitions: 2 })).topic;
    train = t.topic;
    model = topology(); // loads TensorFlow here, not while a cluster waits on this process's heartbeat watchdog
  });

  test('SIGKILL of a worker mid-epoch, then of the chief before the first checkpoint: both jobs finish, every id once per epoch', async (t) => {
    const states: ClusterState[] = [];
    const restarts: TaskRestart[] = [];
    const cluster = await startCluster({
      ps: 1,
      workers: 2,
      deadlineMs: 60_000,
      stateDir: dir,
      listener: { onState: (s) => states.push(s), onRestart: (r) => restarts.push(r) },
    });
    const pids = new Set(cluster.status().tasks.map((x) => x.pid));
    try {
      // 1. Mid-epoch 1 (steps 50–99), after checkpoints at 20, 40, 60.
      const checkpoints = path.join(dir, 'checkpoints-a');
      const generation = cluster.generation;
      const a = await trainKilling(cluster, job(checkpoints, 20), 'worker:1', 65);
      assert.equal(a.result.rollbacks.length, 1, 'one rollback');
      assert.deepEqual(a.heard, a.result.rollbacks, 'onRollback heard each rollback as it happened');
      const { task, toStep } = a.result.rollbacks[0]!;
      assert.equal(task, 'worker:1');
      assert.ok(toStep >= 60 && toStep < 100 && toStep % 20 === 0, `rolled back to checkpoint ${toStep}`);
      assert.ok(cluster.generation > generation, 'the generation moved on');
      assert.equal(restarts.length, 1);
      assert.equal(restarts[0]!.task, 'worker:1');
      assert.equal(restarts[0]!.pid, a.killed);
      assert.equal(restarts[0]!.exit.signal, 'SIGKILL');
      assert.equal(restarts[0]!.restarts, 1);
      assert.ok(
        restarts[0]!.logTail.some((l) => /worker:1 joined/.test(l)),
        `the log tail: ${restarts[0]!.logTail.join(' / ')}`,
      );
      const status = cluster.status();
      assert.equal(status.restarts, 1);
      const replaced = status.tasks.find((x) => x.id === 'worker:1')!;
      assert.equal(replaced.state, 'up');
      assert.equal(replaced.restarts, 1);
      assert.notEqual(replaced.pid, a.killed, 'a new process for worker:1');
      for (const w of status.tasks.filter((x) => x.role === 'worker'))
        assert.deepEqual(w.devices, ['/cpu:0'], `${w.id} reports what TensorFlow computes on once it loaded it`);
      assert.equal(processAlive(a.killed), false);
      for (const x of status.tasks) pids.add(x.pid);

      await assertSurvivingTimeline(a, checkpoints, toStep);
      t.diagnostic(`killed worker:1 at step ≥ 65; rolled back to ${toStep}`);

      // 2. The chief, before the first checkpoint (step 40): back to the initial values, epoch 0.
      const b = await trainKilling(cluster, job(path.join(dir, 'checkpoints-b'), 40), 'worker:0', 5);
      assert.deepEqual(b.result.rollbacks, [{ task: 'worker:0', toStep: 0 }]);
      assert.equal(restarts.length, 2);
      assert.equal(restarts[1]!.exit.signal, 'SIGKILL');
      await assertSurvivingTimeline(b, path.join(dir, 'checkpoints-b'), 0);
      assert.equal(cluster.status().restarts, 2);
      for (const x of cluster.status().tasks) pids.add(x.pid);
    } finally {
      await cluster.stop();
    }
    const attempt = ['restarting', 'running', 'checkpointing', 'running'];
    assert.deepEqual(states, ['running', ...attempt, ...attempt, 'stopping', 'stopped']);
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} is gone`);
  });

  test('maxRestarts 0: a killed worker fails the job naming it with its log tail; no process is left', async () => {
    const cluster = await startCluster({ ps: 1, workers: 2, deadlineMs: 60_000, stateDir: dir, maxRestarts: 0 });
    const pids = cluster.status().tasks.map((x) => x.pid);
    try {
      await assert.rejects(trainKilling(cluster, job(path.join(dir, 'checkpoints-c'), 20), 'worker:1', 5), (err) => {
        assert.ok(isPetalError(err, 'PETAL_CLUSTER_TASK_FAILED'), String(err));
        assert.match(err.message, /worker:1 failed: its process \(pid \d+\) exited on SIGKILL/);
        assert.match(err.message, /worker:1 joined/, 'its log tail');
        assert.match(err.message, /maxRestarts/, 'the fix names the option');
        return true;
      });
      const ended = await cluster.ended;
      assert.equal(ended.state, 'failed');
      assert.equal(ended.restarts, 0);
    } finally {
      await cluster.stop();
    }
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} is gone`);
  });

  test('a worker falling silent (SIGSTOP) is replaced after the heartbeat timeout; the job finishes', async () => {
    const restarts: TaskRestart[] = [];
    const cluster = await startCluster({
      ps: 1,
      workers: 2,
      deadlineMs: 60_000,
      stateDir: dir,
      heartbeatTimeoutMs: 5000,
      listener: { onRestart: (r) => restarts.push(r) },
    });
    const pids = cluster.status().tasks.map((x) => x.pid);
    try {
      const checkpoints = path.join(dir, 'checkpoints-e');
      const run = await trainKilling(cluster, job(checkpoints, 20), 'worker:1', 30, 'SIGSTOP');
      assert.equal(run.result.rollbacks.length, 1);
      assert.match(restarts[0]!.reason, /^no heartbeat for \d+ ms \(timeout 5000 ms\)/);
      assert.equal(restarts[0]!.exit.signal, 'SIGKILL', 'the silent process was stopped for good');
      await assertSurvivingTimeline(run, checkpoints, run.result.rollbacks[0]!.toStep);
      pids.push(...cluster.status().tasks.map((x) => x.pid));
    } finally {
      await cluster.stop();
    }
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} is gone`);
  });

  test('aborting train() mid-epoch rejects with PETAL_TRAIN_ABORTED after every run ended; the cluster trains the next job', async () => {
    const cluster = await startCluster({ ps: 1, workers: 2, deadlineMs: 60_000, stateDir: dir });
    const pids = cluster.status().tasks.map((x) => x.pid);
    try {
      const controller = new AbortController();
      let abortedAt = 0;
      await assert.rejects(
        cluster.train(job(path.join(dir, 'checkpoints-f'), 20), broker().connection, {
          outDir: path.join(dir, 'run-aborted'),
          signal: controller.signal,
          onStep: (m) => {
            if (abortedAt === 0 && m.step >= 10) {
              abortedAt = m.step;
              controller.abort(new Error('enough'));
            }
          },
        }),
        (err) => {
          assert.ok(isPetalError(err, 'PETAL_TRAIN_ABORTED'), String(err));
          assert.match(err.message, /signal aborted/);
          assert.match(err.fix ?? '', /cluster is still up/);
          assert.equal((err.cause as Error).message, 'enough');
          return true;
        },
      );
      assert.equal(cluster.state, 'running', 'the cluster stays up');
      assert.equal(cluster.status().restarts, 0, 'no task was lost or replaced');
      const steps: number[] = [];
      const result = await cluster.train(job(path.join(dir, 'checkpoints-g'), 1000), broker().connection, {
        outDir: path.join(dir, 'run-after-abort'),
        onStep: (m) => steps.push(m.step),
      });
      assert.equal(result.globalStep, EPOCHS * (N / 2 / BATCH), 'the next job runs in full');
      assert.equal(Math.min(...steps), 0, 'from its own start');
      assert.deepEqual(result.rollbacks, []);
      await assert.rejects(
        cluster.train(job(path.join(dir, 'checkpoints-h'), 20), broker().connection, {
          signal: AbortSignal.abort(),
        }),
        (err) => isPetalError(err, 'PETAL_TRAIN_ABORTED'),
        'an aborted signal stops the job before it starts',
      );
      assert.deepEqual(
        cluster.status().tasks.map((x) => x.pid),
        pids,
        'the same task processes all along',
      );
    } finally {
      await cluster.stop();
    }
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} is gone`);
  });

  test('a PS killed mid-job fails it naming the PS with its log tail (no PS failover); no process is left', async () => {
    const cluster = await startCluster({ ps: 1, workers: 2, deadlineMs: 60_000, stateDir: dir });
    const pids = cluster.status().tasks.map((x) => x.pid);
    try {
      await assert.rejects(trainKilling(cluster, job(path.join(dir, 'checkpoints-d'), 20), 'ps:0', 5), (err) => {
        assert.ok(isPetalError(err, 'PETAL_CLUSTER_TASK_FAILED'), String(err));
        assert.match(err.message, /ps:0 failed: its process \(pid \d+\) exited on SIGKILL/);
        assert.match(err.message, /ps:0 serving on/, 'its log tail');
        assert.match(err.message, /PS failover is not supported/);
        return true;
      });
      assert.equal((await cluster.ended).restarts, 0, 'a PS is not restarted');
    } finally {
      await cluster.stop();
    }
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} is gone`);
  });
});
