// `petal kafka up|status|down` through the real CLI process, against a real detached broker.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { processAlive } from '../pool/process-alive.ts';
import { findFreePort, portFree } from '../net/loopback.ts';
import {
  brokerConnection,
  kafkaStatePaths,
  readBrokerRecord,
  startBroker,
  stopBrokerProcess,
  waitForMetadata,
} from '../kafka/index.ts';

const petal = fileURLToPath(new URL('../../bin/petal.mjs', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(stateDir: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [petal, 'kafka', ...args],
      { env: { ...process.env, PETAL_STATE_DIR: stateDir }, timeout: 150_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function tempStateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'petal-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A pid that surely names no process: one that has just exited. */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  assert.ok(pid !== undefined && !processAlive(pid));
  return pid;
}

test('petal kafka up → status → down → status, with a stale record cleaned first', { timeout: 240_000 }, async (t) => {
  const stateDir = tempStateDir(t);
  const paths = kafkaStatePaths(stateDir);
  t.after(async () => {
    // Whatever failed above, leave no broker behind.
    const left = readBrokerRecord(paths.recordFile);
    if (left && processAlive(left.pid))
      await stopBrokerProcess(left, 5_000).catch(() => process.kill(left.pid, 'SIGKILL'));
  });

  mkdirSync(paths.dataDir, { recursive: true });
  const stale = {
    pid: deadPid(),
    port: 1,
    controllerPort: 2,
    bootstrap: '127.0.0.1:1',
    dataDir: paths.dataDir,
    logFile: paths.logFile,
    startedAt: new Date(0).toISOString(),
  };
  writeFileSync(paths.recordFile, JSON.stringify(stale));
  const before = await cli(stateDir, 'status');
  assert.equal(before.code, 3, before.stderr);
  assert.match(before.stdout, /kafka: down/);
  assert.match(before.stdout, /stale/);

  const port = await findFreePort();
  const up = await cli(stateDir, 'up', '--port', String(port), '--heap-mb', '512');
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, new RegExp(`Kafka is up at 127\\.0\\.0\\.1:${port} \\(pid \\d+\\)`));
  assert.match(up.stderr, new RegExp(`removed the record of broker pid ${stale.pid}`));
  const record = readBrokerRecord(paths.recordFile);
  assert.ok(record, 'up wrote no record');
  assert.equal(record.port, port);
  assert.equal(record.dataDir, paths.dataDir);
  assert.ok(processAlive(record.pid), 'the broker did not outlive `petal kafka up`');
  assert.ok(readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0').includes('-Xmx512m'));
  // The record and the stored credentials are all another process needs to use the broker.
  await waitForMetadata(brokerConnection(record.dataDir, record.bootstrap), { timeoutMs: 30_000 });

  const again = await cli(stateDir, 'up');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`already running at ${record.bootstrap} \\(pid ${record.pid}\\)`));

  const status = await cli(stateDir, 'status');
  assert.equal(status.code, 0, status.stderr);
  for (const part of ['kafka: up', record.bootstrap, String(record.pid), paths.dataDir, paths.logFile])
    assert.ok(status.stdout.includes(part), `status lacks ${part}`);
  const json = await cli(stateDir, 'status', '--json');
  assert.equal(json.code, 0);
  assert.deepEqual(JSON.parse(json.stdout), { state: 'up', ...record, recorded: true });

  const down = await cli(stateDir, 'down');
  assert.equal(down.code, 0, down.stderr);
  assert.match(
    down.stdout,
    new RegExp(`Stopped the Kafka broker \\(pid ${record.pid}\\); ${record.bootstrap} is free`),
  );
  assert.equal(processAlive(record.pid), false);
  assert.equal(await portFree(port), true);
  assert.equal(await portFree(record.controllerPort), true);
  assert.equal(existsSync(paths.recordFile), false);

  const after = await cli(stateDir, 'status');
  assert.equal(after.code, 3);
  assert.match(after.stdout, /kafka: down/);
  const downAgain = await cli(stateDir, 'down');
  assert.equal(downAgain.code, 0);
  assert.match(downAgain.stdout, /No Kafka broker is running/);
});

test('petal kafka status and down see a broker that no `up` recorded', { timeout: 240_000 }, async (t) => {
  const stateDir = tempStateDir(t);
  const paths = kafkaStatePaths(stateDir);
  // As `npm start` runs it: attached to its owner (here, this test), on the shared state dir, with no record.
  const broker = await startBroker({ dataDir: paths.dataDir, logFile: paths.logFile });
  t.after(() => broker.stop());

  const status = await cli(stateDir, 'status', '--json');
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(JSON.parse(status.stdout), {
    state: 'up',
    pid: broker.pid,
    port: broker.port,
    controllerPort: broker.controllerPort,
    bootstrap: broker.bootstrap,
    dataDir: paths.dataDir,
    logFile: paths.logFile,
    recorded: false,
  });
  const up = await cli(stateDir, 'up');
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, new RegExp(`already running at ${broker.bootstrap} \\(pid ${broker.pid}\\)`));
  assert.match(up.stdout, /not started by `petal kafka up`/);

  const down = await cli(stateDir, 'down');
  assert.equal(down.code, 0, down.stderr);
  assert.equal(processAlive(broker.pid), false);
  assert.equal(await portFree(broker.port), true);
  assert.equal((await cli(stateDir, 'status')).code, 3);
});

test('petal kafka rejects bad flags and subcommands, naming the valid ones', async (t) => {
  const stateDir = tempStateDir(t);
  const badFlag = await cli(stateDir, 'up', '--prot', '9092');
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /Unknown option '--prot'/);
  assert.match(badFlag.stderr, /valid flags: --port N .*--heap-mb N/);

  const badValue = await cli(stateDir, 'up', '--port', 'abc');
  assert.equal(badValue.code, 1);
  assert.match(badValue.stderr, /--port must be an integer from 0 to 65535, not "abc"/);
  assert.match(badValue.stderr, /fix: /);

  const downFlag = await cli(stateDir, 'down', '--json');
  assert.equal(downFlag.code, 2);
  assert.match(downFlag.stderr, /valid flags: none/);

  const badSub = await cli(stateDir, 'restart');
  assert.equal(badSub.code, 2);
  assert.match(badSub.stderr, /unknown subcommand "restart"/);
  assert.match(badSub.stderr, /petal kafka status \[--json\]/);
  assert.equal(existsSync(kafkaStatePaths(stateDir).recordFile), false);
});
