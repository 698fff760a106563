// The embedded Kafka broker: one KRaft node (broker and controller in one JVM) on the loopback, with SASL on
// every listener. `startBroker` resolves only once the broker answers an authenticated metadata call.
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { debuglog } from 'node:util';
import { PetalError, isPetalError } from '../errors.ts';
import { javaBinary, kafkaLibsDir } from '../env/locations.ts';
import {
  brokerLayout,
  configuredPorts,
  loadOrCreateCredentials,
  log4jProperties,
  newClusterId,
  prepareDataDir,
  readCredentials,
  serverProperties,
  storeFormatted,
  writePrivateFile,
} from './broker-config.ts';
import type { BrokerLayout } from './broker-config.ts';
import { jvmsMatching, logTail, processMatches, spawnAttached, spawnDetached, terminate } from './broker-process.ts';
import { LOOPBACK, findFreePort, portAccepts, portFree, waitUntil } from '../net/loopback.ts';
import { waitForMetadata } from './client.ts';
import type { KafkaConnection, KafkaSasl } from './client.ts';

const debug = debuglog('petal-kafka');

/** Options of `startBroker`. */
export interface BrokerOptions {
  /** Client listener port; 0 or absent picks a free one. */
  port?: number;
  /** Controller listener port; 0 or absent picks a free one. */
  controllerPort?: number;
  /** The broker's folder: its config, credentials and Kafka's storage (`store/`). Kept across restarts. */
  dataDir: string;
  /** stdout and stderr of the JVM, appended to. */
  logFile: string;
  /** JVM heap, MiB (default 1024). */
  heapMb?: number;
  /** How long formatting plus start may take before Petal gives up, ms (default 60000). */
  readyTimeoutMs?: number;
  /** false (default): the broker dies with this process, however it dies. true: it outlives this process. */
  detached?: boolean;
}

/** A running broker. */
export interface Broker {
  /** `127.0.0.1:PORT`, the client listener. */
  bootstrap: string;
  port: number;
  controllerPort: number;
  /** The JVM's pid. */
  pid: number;
  dataDir: string;
  logFile: string;
  detached: boolean;
  /** What clients pass to `createAdmin` / `createProducer` / `createConsumer`. */
  connection: KafkaConnection;
  sasl: KafkaSasl;
  /** SIGTERM, SIGKILL after 30 s; resolves once the JVM is gone and its ports are free. Idempotent. */
  stop(): Promise<void>;
}

interface Resolved {
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
  heapMb: number;
  readyTimeoutMs: number;
  detached: boolean;
}

const STOP_GRACE_MS = 30_000;
const PORT_RELEASE_MS = 10_000;

/**
 * Starts a broker and resolves once it is ready (TCP accepts and an authenticated metadata call lists it).
 * Storage is formatted on first use only, so a restart on the same `dataDir` keeps its topics.
 * Throws PetalError PETAL_KAFKA_OPTIONS, PETAL_KAFKA_SETUP, PETAL_KAFKA_DATA_DIR_IN_USE, PETAL_KAFKA_PORT_IN_USE,
 * PETAL_KAFKA_FORMAT or PETAL_KAFKA_START (with the tail of the log).
 */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const resolved = validateBrokerOptions(options);
  const java = javaBinary();
  const libs = kafkaLibsDir();
  if (!existsSync(libs)) {
    throw new PetalError('PETAL_KAFKA_SETUP', `the Kafka jars are not installed (no ${libs})`, {
      fix: 'run `npm run setup`',
    });
  }
  const layout = brokerLayout(resolved.dataDir);
  // Checked before anything is written: a second start would rewrite the running broker's config, then die on
  // Kafka's lock with a less helpful message.
  const holders = jvmsMatching(layout.serverProperties);
  if (holders.length > 0) {
    throw new PetalError(
      'PETAL_KAFKA_DATA_DIR_IN_USE',
      `a Kafka broker (pid ${holders.join(', ')}) already runs on ${layout.dataDir}`,
      {
        fix: 'use that broker (`petal kafka status`), stop it (`petal kafka down`, or stop() its owner), or give this one another dataDir',
        detail: { pids: holders, dataDir: layout.dataDir },
      },
    );
  }
  prepareDataDir(layout);
  mkdirSync(dirname(resolved.logFile), { recursive: true });
  const sasl = loadOrCreateCredentials(layout.credentialsFile);
  const deadline = Date.now() + resolved.readyTimeoutMs;
  // A port picked free can be taken by someone else before the JVM binds it; only then is trying again right.
  const auto = resolved.port === 0 || resolved.controllerPort === 0;
  for (let attempt = 1; ; attempt++) {
    const ports = await choosePorts(resolved);
    try {
      return await startOnce(resolved, ports, { java, libs, layout, sasl, deadline });
    } catch (err) {
      if (!auto || attempt >= 3 || !isPetalError(err, 'PETAL_KAFKA_PORT_IN_USE') || Date.now() >= deadline) throw err;
      debug('port race on %o, retrying', ports);
    }
  }
}

const optionKeys = ['port', 'controllerPort', 'dataDir', 'logFile', 'heapMb', 'readyTimeoutMs', 'detached'] as const;

function optionError(message: string): PetalError {
  return new PetalError('PETAL_KAFKA_OPTIONS', message, { fix: `valid options: ${optionKeys.join(', ')}` });
}

function integerOption(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw optionError(
      `kafka broker option ${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function pathOption(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '')
    throw optionError(`kafka broker option ${name} must be a non-empty path; got ${JSON.stringify(value)}`);
  return resolve(value);
}

// Checked once, at the boundary: types, ranges, and no unknown keys.
function validateBrokerOptions(options: unknown): Resolved {
  if (typeof options !== 'object' || options === null) throw optionError('kafka broker options must be an object');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(optionKeys as readonly string[]).includes(key)) throw optionError(`kafka broker option "${key}" is unknown`);
  }
  if (o.detached !== undefined && typeof o.detached !== 'boolean')
    throw optionError(`kafka broker option detached must be a boolean; got ${JSON.stringify(o.detached)}`);
  const resolved: Resolved = {
    port: integerOption(o.port, 'port', 0, 65535, 0),
    controllerPort: integerOption(o.controllerPort, 'controllerPort', 0, 65535, 0),
    dataDir: pathOption(o.dataDir, 'dataDir'),
    logFile: pathOption(o.logFile, 'logFile'),
    heapMb: integerOption(o.heapMb, 'heapMb', 128, 1 << 20, 1024),
    readyTimeoutMs: integerOption(o.readyTimeoutMs, 'readyTimeoutMs', 1, 24 * 3600_000, 60_000),
    detached: o.detached === true,
  };
  if (resolved.port !== 0 && resolved.port === resolved.controllerPort) {
    throw optionError(`kafka broker options port and controllerPort must differ; both are ${resolved.port}`);
  }
  return resolved;
}

async function choosePorts(resolved: Resolved): Promise<{ port: number; controllerPort: number }> {
  const port = resolved.port || (await findFreePort());
  let controllerPort = resolved.controllerPort;
  while (controllerPort === 0 || controllerPort === port) controllerPort = await findFreePort();
  for (const [name, p] of [
    ['port', port],
    ['controllerPort', controllerPort],
  ] as const) {
    if (!(await portFree(p))) throw portInUse(p, name);
  }
  return { port, controllerPort };
}

function portInUse(port: number, name: string, tail: string[] = []): PetalError {
  return new PetalError(
    'PETAL_KAFKA_PORT_IN_USE',
    `cannot start Kafka: ${LOOPBACK}:${port} (${name}) is already in use${formatTail(tail)}`,
    {
      fix: `stop what listens there (\`ss -ltnp 'sport = :${port}'\`, \`petal kafka status\`) or choose another ${name} (0 picks a free one)`,
      detail: { port, option: name },
    },
  );
}

interface Context {
  java: string;
  libs: string;
  layout: BrokerLayout;
  sasl: KafkaSasl;
  deadline: number;
}

async function startOnce(
  resolved: Resolved,
  ports: { port: number; controllerPort: number },
  ctx: Context,
): Promise<Broker> {
  const { layout, sasl } = ctx;
  writePrivateFile(
    layout.serverProperties,
    serverProperties({ ...ports, host: LOOPBACK, storeDir: layout.storeDir, sasl }),
  );
  writeFileSync(layout.log4jProperties, log4jProperties());
  await formatStore(ctx);
  const logFd = openSync(resolved.logFile, 'a', 0o600);
  const startedMs = Date.now();
  let spawned: { child: ChildProcess; pid: number };
  try {
    writeSync(
      logFd,
      `\n--- petal: starting Kafka on ${LOOPBACK}:${ports.port} (controller ${ports.controllerPort}) at ${new Date().toISOString()} ---\n`,
    );
    const args = jvmArgs(resolved.heapMb, ctx);
    spawned = resolved.detached
      ? await spawnDetached(ctx.java, args, logFd)
      : await spawnAttached(ctx.java, args, logFd, Math.ceil(STOP_GRACE_MS / 1000));
  } finally {
    closeSync(logFd);
  }
  const { child, pid } = spawned;
  debug('spawned broker pid %d on port %d', pid, ports.port);
  const connection: KafkaConnection = { bootstrap: `${LOOPBACK}:${ports.port}`, sasl };
  await awaitReady(child, pid, connection, ports, resolved, ctx.deadline);
  debug('broker pid %d ready after %d ms', pid, Date.now() - startedMs);
  let stopping: Promise<void> | undefined;
  return {
    bootstrap: connection.bootstrap,
    ...ports,
    pid,
    dataDir: layout.dataDir,
    logFile: resolved.logFile,
    detached: resolved.detached,
    connection,
    sasl,
    stop: () => (stopping ??= stopSpawned(child, pid, ports)),
  };
}

function jvmArgs(heapMb: number, ctx: Context): string[] {
  return [
    `-Xmx${heapMb}m`,
    `-Xms${Math.min(heapMb, 256)}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    // A broker out of memory is useless; exiting lets the owner see it instead of a JVM that hangs.
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${ctx.layout.log4jProperties}`,
    '-cp',
    join(ctx.libs, '*'),
    'kafka.Kafka',
    ctx.layout.serverProperties,
  ];
}

async function formatStore(ctx: Context): Promise<void> {
  if (storeFormatted(ctx.layout)) return debug('store %s already formatted', ctx.layout.storeDir);
  const args = [
    `-Dlog4j2.configurationFile=${ctx.layout.log4jProperties}`,
    '-cp',
    join(ctx.libs, '*'),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    newClusterId(),
    '-c',
    ctx.layout.serverProperties,
    '-g',
  ];
  const timeout = Math.max(1000, ctx.deadline - Date.now());
  await new Promise<void>((resolvePromise, reject) => {
    execFile(ctx.java, args, { timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolvePromise();
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-20);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new PetalError(
          'PETAL_KAFKA_FORMAT',
          `formatting Kafka storage in ${ctx.layout.storeDir} failed${missing ? `: ${ctx.java} not found` : ''}${formatTail(tail, 'its output')}`,
          {
            cause: err,
            fix: missing
              ? 'install Java ≥ 17 (run `npm run setup`) or set PETAL_JAVA'
              : `remove ${ctx.layout.storeDir} if it holds nothing you need, then start again`,
          },
        ),
      );
    });
  });
}

/** Waits for TCP, then an authenticated metadata call; on exit or deadline kills the JVM and throws. */
async function awaitReady(
  child: ChildProcess,
  pid: number,
  connection: KafkaConnection,
  ports: { port: number; controllerPort: number },
  resolved: Resolved,
  deadline: number,
): Promise<void> {
  const exited = new AbortController();
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void => exited.abort({ code, signal });
  if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
  else child.once('exit', onExit);
  try {
    const listening = await waitUntil(() => portAccepts(ports.port), deadline - Date.now(), 100, exited.signal);
    if (listening) {
      await waitForMetadata(connection, { timeoutMs: Math.max(1, deadline - Date.now()), signal: exited.signal });
      return;
    }
  } catch (err) {
    if (!exited.signal.aborted && !isPetalError(err, 'PETAL_KAFKA_UNREACHABLE')) throw err;
  } finally {
    child.off('exit', onExit);
  }
  await terminate(pid, 5_000).catch(() => {});
  throw startFailure(
    pid,
    exited.signal.aborted ? (exited.signal.reason as { code: number | null; signal: string | null }) : undefined,
    ports,
    resolved,
  );
}

function startFailure(
  pid: number,
  exit: { code: number | null; signal: string | null } | undefined,
  ports: { port: number; controllerPort: number },
  resolved: Resolved,
): PetalError {
  const tail = logTail(resolved.logFile, 20);
  if (tail.some((line) => /Address already in use|BindException/.test(line))) {
    const which = tail.some((line) => line.includes(`:${ports.controllerPort}`))
      ? (['controllerPort', ports.controllerPort] as const)
      : (['port', ports.port] as const);
    return portInUse(which[1], which[0], tail);
  }
  const cause = exit
    ? `exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}) before it was ready`
    : `was not ready within ${resolved.readyTimeoutMs} ms`;
  return new PetalError(
    'PETAL_KAFKA_START',
    `Kafka broker on ${LOOPBACK}:${ports.port} (controller ${ports.controllerPort}) ${cause}${formatTail(tail, `the last lines of ${resolved.logFile}`)}`,
    {
      retryable: !exit,
      fix: exit
        ? `read the log above (full log: ${resolved.logFile}); "Failed to acquire lock" means another broker uses ${resolved.dataDir} (\`petal kafka status\`)`
        : `the machine may be slow or overloaded: raise readyTimeoutMs, or read ${resolved.logFile}`,
      detail: { pid, port: ports.port, controllerPort: ports.controllerPort, logFile: resolved.logFile, exit },
    },
  );
}

function formatTail(lines: string[], what = 'the log'): string {
  if (lines.length === 0) return what === 'the log' ? '' : `; ${what} is empty`;
  return `\n${what}:\n${lines.map((line) => `    | ${line}`).join('\n')}`;
}

async function stopSpawned(
  child: ChildProcess,
  pid: number,
  ports: { port: number; controllerPort: number },
): Promise<void> {
  await terminate(pid, STOP_GRACE_MS);
  // The attached wrapper exits right after the JVM; closing its pipe also ends its watcher.
  child.stdin?.destroy();
  await waitUntil(() => child.exitCode !== null || child.signalCode !== null, 5_000);
  await waitPortsFree(ports);
}

async function waitPortsFree(ports: { port: number; controllerPort?: number }): Promise<void> {
  const all = [ports.port, ports.controllerPort ?? 0].filter((p) => p > 0);
  const free = await waitUntil(async () => (await Promise.all(all.map(portFree))).every(Boolean), PORT_RELEASE_MS, 200);
  if (!free) {
    throw new PetalError(
      'PETAL_KAFKA_STOP',
      `the Kafka broker stopped but ${all.map((p) => `${LOOPBACK}:${p}`).join(' / ')} is still in use`,
      {
        fix: `find the holder with \`ss -ltnp 'sport = :${ports.port}'\``,
        detail: { ports: all },
      },
    );
  }
}

/**
 * The broker JVMs running on `dataDir` with the ports their config names, recorded or not: `npm start`'s
 * attached broker, or one whose `petal kafka up` was killed before it could write the record.
 */
export function brokersOnDataDir(dataDir: string): { pid: number; port: number; controllerPort: number }[] {
  const layout = brokerLayout(resolve(dataDir));
  const ports = configuredPorts(layout) ?? { port: 0, controllerPort: 0 };
  return jvmsMatching(layout.serverProperties).map((pid) => ({ pid, ...ports }));
}

/** The JVM of the broker with this data dir is `pid` and still runs (a reused pid does not count). */
export function brokerProcessAlive(pid: number, dataDir: string): boolean {
  return processMatches(pid, brokerLayout(resolve(dataDir)).serverProperties);
}

/**
 * Stops a broker known only by its record (started by another process, e.g. `petal kafka up`): SIGTERM,
 * SIGKILL after `graceMs`, then waits for its ports to be free. Nothing to do when it is already gone.
 */
export async function stopBrokerProcess(
  record: { pid: number; port: number; controllerPort?: number; dataDir: string },
  graceMs = STOP_GRACE_MS,
): Promise<void> {
  if (brokerProcessAlive(record.pid, record.dataDir)) await terminate(record.pid, graceMs);
  await waitPortsFree(record);
}

/** The connection for the broker with this data dir and bootstrap, reading its stored credentials. */
export function brokerConnection(dataDir: string, bootstrap: string): KafkaConnection {
  const sasl = readCredentialsOrThrow(brokerLayout(resolve(dataDir)).credentialsFile);
  return { bootstrap, sasl };
}

function readCredentialsOrThrow(file: string): KafkaSasl {
  const sasl = readCredentials(file);
  if (!sasl)
    throw new PetalError('PETAL_KAFKA_CREDENTIALS', `no Kafka credentials in ${file}`, {
      fix: 'start the broker (`petal kafka up`) so it writes them',
    });
  return sasl;
}
