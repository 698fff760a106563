// `petal train JOB.json` through the real CLI process, against a real broker found through its record (as `petal
// kafka up` leaves it): a worker SIGKILLed mid-job is one stderr line naming it, its signal and the step the job
// rolls back to, and the job still finishes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stream } from '../feed/index.ts';
import { kafkaStatePaths, recordOf, writeBrokerRecord } from '../kafka/broker-record.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { processAlive } from '../pool/process-alive.ts';
import { blobs, blobsJob, features } from '../worker/testing/blobs.ts';

const petal = fileURLToPath(new URL('../../bin/petal.mjs', import.meta.url));
const broker = useTestBroker('petal-train-cli');
const dir = mkdtempSync(join(tmpdir(), 'petal-train-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test(
  'petal train: a worker killed mid-job is named with its signal and rollback step; the job finishes',
  { timeout: 180_000 },
  async (t) => {
    const connection = broker().connection;
    const opts = { connection, features, messageBytes: 1920 };
    const train = (await stream(blobs(3200, 1), { ...opts, topic: 'train', partitions: 4 })).topic;
    const stateDir = join(dir, 'state');
    writeBrokerRecord(kafkaStatePaths(stateDir).recordFile, recordOf(broker()));
    const jobFile = join(dir, 'job.json');
    const job = blobsJob(train, {
      epochs: 4,
      workers: 2,
      checkpoint: { dir: join(dir, 'checkpoints'), everySteps: 10 },
    });
    writeFileSync(jobFile, JSON.stringify(job));
    const child = spawn(process.execPath, [petal, 'train', jobFile, '--max-restarts', '2', '--out', join(dir, 'run')], {
      env: { ...process.env, PETAL_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pids = new Set<number>();
    t.after(() => {
      for (const pid of [child.pid!, ...pids]) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    let victim: number | undefined;
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const m of chunk.matchAll(/\] (?:worker|ps):\d+ (?:joined|serving on \S+) \(pid (\d+)\)/g))
        pids.add(Number(m[1]));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const joined = /\[worker:1\] worker:1 joined \(pid (\d+)\)/.exec(stderr);
      if (victim === undefined && joined && /^step \d+/m.test(stdout)) {
        victim = Number(joined[1]);
        process.kill(victim, 'SIGKILL');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, `petal train exited ${code}\n${stderr.slice(-3000)}`);
    assert.ok(victim, `worker:1 was killed once steps streamed\n${stdout}`);
    assert.match(
      stderr,
      /petal train: worker:1 was killed \(SIGKILL\); replacing it and rolling back to step \d+ \(/,
      stderr.slice(-3000),
    );
    assert.match(stdout, /done: 200 steps \(1 worker\(s\) replaced on the way\); model at /);
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} is gone`);
  },
);
