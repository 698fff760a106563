// The embedded broker, for real: a JVM per scenario, real clients, real signals. No timings are asserted;
// deadlines only bound how long a test waits for something that must happen.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
// The one import of the client library outside client.ts: to prove the broker refuses a client that skips SASL,
// which Petal's own factories cannot build.
import { Admin } from '@platformatic/kafka';
import { isPetalError } from '../errors.ts';
import { brokerLayout } from './broker-config.ts';
import { processAlive } from '../pool/process-alive.ts';
import { portAccepts, portFree, waitUntil } from '../net/loopback.ts';
import { createAdmin, createConsumer, createProducer, startBroker } from './index.ts';
import type { Broker, KafkaConnection } from './index.ts';

const BROKER_TEST = { timeout: 180_000 };

/** The message of an error with those of everything it wraps, for matching a cause buried in a client error. */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const nested = (err as { errors?: unknown[] }).errors ?? [];
  return [err.message, ...nested.map(errorText), ...(err.cause === undefined ? [] : [errorText(err.cause)])].join(
    ' / ',
  );
}

function tempDir(t: TestContext | { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'petal-kafka-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function brokerFiles(dir: string): { dataDir: string; logFile: string } {
  return { dataDir: join(dir, 'kafka'), logFile: join(dir, 'kafka', 'broker.log') };
}

/** Kills a broker's JVM outright if a test left it running, so a failing test never leaks one. */
function killIfAlive(pid: number | undefined): void {
  if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
}

async function produceOne(connection: KafkaConnection, topic: string, value: Buffer): Promise<void> {
  const admin = createAdmin(connection);
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  } finally {
    await admin.close();
  }
  const producer = createProducer(connection);
  try {
    await producer.send({ messages: [{ topic, value }], acks: -1 });
  } finally {
    await producer.close();
  }
}

async function consumeOne(connection: KafkaConnection, topic: string): Promise<Buffer> {
  const consumer = createConsumer(connection, {
    groupId: `petal-test-${randomBytes(4).toString('hex')}`,
    maxBytes: 128 << 20,
  });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', maxWaitTime: 500 });
    try {
      for await (const message of stream) return message.value;
      throw new Error('the stream ended without a message');
    } finally {
      await stream.close();
    }
  } finally {
    await consumer.close(true);
  }
}

test('unknown and invalid options are rejected before anything starts', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(startBroker({ ...brokerFiles(dir), portt: 9092 } as never), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_KAFKA_OPTIONS'));
    assert.match(err.message, /"portt" is unknown/);
    assert.match(err.message, /valid options: port, controllerPort/);
    return true;
  });
  await assert.rejects(startBroker({ ...brokerFiles(dir), heapMb: 1.5 }), /heapMb must be an integer/);
  await assert.rejects(startBroker({ ...brokerFiles(dir), port: 70000 }), /port must be an integer from 0 to 65535/);
  await assert.rejects(startBroker({ dataDir: '', logFile: 'x' }), /dataDir must be a non-empty path/);
});

describe('a started broker', BROKER_TEST, () => {
  let broker: Broker;
  let files: { dataDir: string; logFile: string };
  const topic = 'petal-roundtrip';
  // Above Kafka's 1 MiB default message limit: proves the raised limits on both sides.
  const payload = randomBytes(3 * 1024 * 1024);
  const cleanups: (() => void)[] = [];

  before(async () => {
    files = brokerFiles(tempDir({ after: (fn: () => void) => cleanups.push(fn) }));
    broker = await startBroker(files);
  });
  after(async () => {
    try {
      await broker?.stop();
    } finally {
      killIfAlive(broker?.pid);
      for (const fn of cleanups) fn();
    }
  });

  test('round-trips a multi-MiB message byte for byte', async () => {
    assert.equal(broker.bootstrap, `127.0.0.1:${broker.port}`);
    await produceOne(broker.connection, topic, payload);
    const received = await consumeOne(broker.connection, topic);
    assert.ok(payload.equals(received), 'the consumed bytes differ from the produced ones');
  });

  test('keeps its password in an owner-only file beside its state', () => {
    const { credentialsFile, serverProperties } = brokerLayout(broker.dataDir);
    assert.equal(statSync(credentialsFile).mode & 0o777, 0o600);
    assert.equal(statSync(serverProperties).mode & 0o777, 0o600);
    assert.equal(broker.sasl.mechanism, 'PLAIN');
    assert.ok(broker.sasl.password.length >= 32);
  });

  test('refuses a client without SASL', async () => {
    const admin = new Admin({ clientId: 'intruder', bootstrapBrokers: [broker.bootstrap], retries: 0, timeout: 5000 });
    try {
      // The broker hangs up on a request that skips the SASL handshake.
      await assert.rejects(admin.metadata({ topics: [] }), (err: unknown) => {
        assert.match(errorText(err), /Connection closed|failed/);
        return true;
      });
    } finally {
      await admin.close();
    }
  });

  test('refuses a wrong password, on the client and the controller listener', async () => {
    for (const port of [broker.port, broker.controllerPort]) {
      const admin = createAdmin(
        { bootstrap: `127.0.0.1:${port}`, sasl: { ...broker.sasl, password: 'wrong' } },
        { retries: 0, timeout: 5000 },
      );
      try {
        await assert.rejects(admin.metadata({ topics: [] }), (err: unknown) => {
          assert.match(errorText(err), /SASL authentication failed/, `port ${port}`);
          return true;
        });
      } finally {
        await admin.close();
      }
    }
  });

  test('a second broker on the same data dir is refused, naming the first', async () => {
    await assert.rejects(startBroker(files), (err: unknown) => {
      assert.ok(isPetalError(err, 'PETAL_KAFKA_DATA_DIR_IN_USE'));
      assert.match(err.message, new RegExp(`pid ${broker.pid}\\b`));
      return true;
    });
    // The refusal must leave the running broker's files alone.
    await produceOne(broker.connection, 'petal-still-there', Buffer.from('ok'));
  });

  test('stop() frees its ports, twice over, and a restart on the same data dir keeps the message', async () => {
    const { pid, port, controllerPort } = broker;
    await Promise.all([broker.stop(), broker.stop()]);
    await broker.stop();
    assert.equal(processAlive(pid), false);
    assert.equal(await portAccepts(port), false);
    assert.equal(await portFree(port), true);
    assert.equal(await portFree(controllerPort), true);

    broker = await startBroker(files);
    const received = await consumeOne(broker.connection, topic);
    assert.ok(payload.equals(received), 'the restarted broker lost or changed the message');
  });
});

test('a port in use gives an error naming it, and starts nothing', BROKER_TEST, async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  await assert.rejects(startBroker({ ...brokerFiles(tempDir(t)), port }), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_KAFKA_PORT_IN_USE'));
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(port\\) is already in use`));
    assert.ok(err.fix);
    return true;
  });
});

test('a broker that dies while starting is reported with the tail of its log', BROKER_TEST, async (t) => {
  const files = brokerFiles(tempDir(t));
  // A store that looks formatted but holds garbage: the JVM starts, then exits on it.
  const { storeDir } = brokerLayout(files.dataDir);
  rmSync(storeDir, { recursive: true, force: true });
  mkdirSync(storeDir, { recursive: true });
  writeFileSync(join(storeDir, 'meta.properties'), 'not a kafka meta file\n');
  await assert.rejects(startBroker(files), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_KAFKA_START'));
    assert.match(err.message, /exited \(code \d+\) before it was ready/);
    assert.match(err.message, /petal: starting Kafka on 127\.0\.0\.1:/, 'the message should quote the log');
    assert.match(err.message, /fix: /);
    return true;
  });
});

test('a broker not ready by the deadline is killed and reported', BROKER_TEST, async (t) => {
  const files = brokerFiles(tempDir(t));
  // The first start formats the store; the second has nothing to do but launch a JVM, which cannot bind in 1 ms.
  const first = await startBroker(files);
  t.after(() => killIfAlive(first.pid));
  await first.stop();
  await assert.rejects(startBroker({ ...files, readyTimeoutMs: 1 }), (err: unknown) => {
    assert.ok(isPetalError(err, 'PETAL_KAFKA_START'));
    assert.match(err.message, /was not ready within 1 ms/);
    const pid = err.detail.pid as number;
    t.after(() => killIfAlive(pid));
    assert.equal(processAlive(pid), false, 'the JVM outlived the failed start');
    return true;
  });
});

test('an attached broker dies with its owner, even on SIGKILL', BROKER_TEST, async (t) => {
  const files = brokerFiles(tempDir(t));
  const brokerModule = new URL('./broker.ts', import.meta.url).href;
  const script = [
    `const { startBroker } = await import(${JSON.stringify(brokerModule)});`,
    `const b = await startBroker(${JSON.stringify(files)});`,
    'process.stdout.write(JSON.stringify({ pid: b.pid, port: b.port, controllerPort: b.controllerPort }) + "\\n");',
    'setInterval(() => {}, 1 << 30);',
  ].join('\n');
  const owner = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let started: { pid: number; port: number; controllerPort: number } | undefined;
  t.after(() => {
    owner.kill('SIGKILL');
    killIfAlive(started?.pid);
  });
  started = await new Promise((resolve, reject) => {
    let text = '';
    owner.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(JSON.parse(text.slice(0, text.indexOf('\n'))) as typeof started);
    });
    owner.once('exit', (code) => reject(new Error(`the owner exited (${code}) before its broker was ready`)));
  });
  assert.ok(started && processAlive(started.pid));
  assert.equal(await portAccepts(started.port), true);

  owner.kill('SIGKILL');
  const { pid, port, controllerPort } = started;
  const gone = await waitUntil(
    async () => !processAlive(pid) && (await portFree(port)) && (await portFree(controllerPort)),
    60_000,
    200,
  );
  assert.ok(gone, `broker pid ${pid} or its ports outlived its SIGKILLed owner`);
});
