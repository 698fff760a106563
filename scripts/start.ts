// `npm start [-- --port N --no-browser]`: Petal's working session. Starts the embedded Kafka broker (or reuses the
// one `petal kafka up` left running), then JupyterLab from the project venv on notebooks/, in the foreground.
// Ctrl-C (or SIGTERM, or JupyterLab exiting) stops JupyterLab with its kernels, then the broker if we started it:
// nothing is left running. Run by scripts/bootstrap.mjs on Node ≥ 22.22 after setup.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  LOOPBACK,
  brokerConnection,
  findFreePort,
  portFree,
  isPetalError,
  kafkaStatePaths,
  readBrokerRecord,
  recordAlive,
  startBroker,
  type Broker,
  type BrokerRecord,
  type KafkaSasl,
} from '@petal/runtime';
import { jupyterEnv, stateDir, venvBin } from '@petal/runtime/locations';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const notebooksDir = join(root, 'notebooks');
const HOST = LOOPBACK;
/** How long JupyterLab gets to stop its kernels after SIGTERM before we kill what is left. */
const LAB_STOP_GRACE_MS = 30_000;
const LAB_READY_TIMEOUT_MS = 120_000;

/** A failure the user can act on: its message says what and the fix; usage errors exit 2, others 1. */
class StartError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

function say(line: string): void {
  process.stderr.write(`petal start: ${line}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Options

const FLAGS = {
  port: { type: 'string', short: 'p' },
  'no-browser': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const USAGE = `usage: npm start [-- [--port N] [--no-browser]]

  --port N, -p N   serve JupyterLab on ${HOST}:N (default: a free port)
  --no-browser     do not open a browser (the default when there is no display)
  --help, -h       show this text
`;

interface StartOptions {
  port: number | undefined;
  openBrowser: boolean;
  help: boolean;
}

/** Reads argv; a wrong flag throws a StartError that lists the valid ones. */
function parseOptions(argv: string[]): StartOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    // Node's message names the bad flag; the usage lists the valid ones.
    throw new StartError(`${(err as Error).message.split('\n')[0]}\n\n${USAGE}`, 2);
  }
  return {
    port: values.port === undefined ? undefined : parsePort(values.port),
    openBrowser: !values['no-browser'] && hasDisplay(),
    help: values.help,
  };
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StartError(
      `--port must be an integer from 1 to 65535, not "${text}"\n  fix: pass a free port, or leave --port out to pick one`,
      2,
    );
  }
  return port;
}

/** A browser can only open where there is a screen to show it on. */
function hasDisplay(): boolean {
  return process.platform === 'darwin' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

// ---------------------------------------------------------------------------------------------------------------
// Ports and processes

/** Refuses a taken --port before anything starts, rather than after the broker is up. */
async function ensurePortFree(port: number): Promise<void> {
  if (!(await portFree(port))) {
    throw new StartError(
      `--port ${port}: ${HOST}:${port} is already in use\n  fix: pass another --port, or leave it out to pick a free one`,
    );
  }
}

/**
 * Live processes whose environment carries `marker` (NAME=VALUE). JupyterLab hands its environment to every
 * kernel and a kernel to what it spawns, so this finds them all, even those orphaned by a crash: kernels run in
 * sessions of their own (jupyter_client's start_new_session), so process groups miss them and parent links break.
 */
function markedProcesses(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) found.push(Number(entry));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return found;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka

/** The broker the kernels talk to, and whether this session owns it (and so must stop it). */
interface KafkaSession {
  bootstrap: string;
  /** Read by kernels through PETAL_KAFKA_CREDENTIALS; ours, so it goes when the session ends. */
  credentialsFile: string;
  owned: Broker | undefined;
}

/**
 * The broker's SASL login for the kernels, in the broker's own credentials format ({ mechanism, username,
 * password }). Kernels get the file's path: environment variables and command lines show up in `ps` output,
 * crash reports and notebooks that print process.env.
 */
function writeCredentials(sasl: KafkaSasl): string {
  const dir = join(stateDir(), 'lab');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `kafka-credentials-${process.pid}.json`);
  rmSync(file, { force: true }); // a stale file from a reused pid may have looser permissions
  writeFileSync(file, `${JSON.stringify(sasl, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** The broker `petal kafka up` left running, when its record names a live one. */
function detachedBroker(): BrokerRecord | undefined {
  const record = readBrokerRecord(kafkaStatePaths().recordFile);
  return record && recordAlive(record) ? record : undefined;
}

async function connectKafka(): Promise<KafkaSession> {
  const record = detachedBroker();
  if (record) {
    say(`reusing the Kafka broker at ${record.bootstrap} (pid ${record.pid}) that \`petal kafka up\` started`);
    const { sasl } = brokerConnection(record.dataDir, record.bootstrap);
    return { bootstrap: record.bootstrap, credentialsFile: writeCredentials(sasl), owned: undefined };
  }
  const { dataDir, logFile } = kafkaStatePaths();
  say(`starting the Kafka broker (a few seconds; log: ${logFile})`);
  const broker = await startBroker({ dataDir, logFile, detached: false });
  return { bootstrap: broker.bootstrap, credentialsFile: writeCredentials(broker.sasl), owned: broker };
}

/** Ends our part in the broker: its credentials file, and the broker itself when we started it. */
async function stopKafka(kafka: KafkaSession): Promise<boolean> {
  rmSync(kafka.credentialsFile, { force: true });
  if (!kafka.owned) return true;
  say('stopping the Kafka broker');
  try {
    await kafka.owned.stop();
    return true;
  } catch (err) {
    say(`the Kafka broker (pid ${kafka.owned.pid}) did not stop cleanly: ${(err as Error).message}`);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JupyterLab

/**
 * Runs `jupyter lab` through the venv's Python so it first asks Linux to send it SIGTERM when we die: a
 * SIGKILLed `npm start` then still takes JupyterLab and its kernels down. The parent pid check closes the race
 * where we died before prctl ran. PR_SET_PDEATHSIG survives exec.
 */
const WITH_PARENT_DEATH_SIGNAL = [
  'import ctypes, os, signal, sys',
  'ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))',
  'os.getppid() == int(sys.argv[1]) or sys.exit(1)',
  'os.execv(sys.argv[2], sys.argv[2:])',
].join('\n');

function labArgs(port: number, openBrowser: boolean): string[] {
  const args = [
    'lab',
    `--ServerApp.ip=${HOST}`,
    `--ServerApp.port=${port}`,
    '--ServerApp.port_retries=0',
    `--ServerApp.root_dir=${notebooksDir}`,
    `--ServerApp.open_browser=${openBrowser ? 'True' : 'False'}`,
  ];
  // Jupyter refuses root unless told; containers and CI often run as root, people's machines rarely do.
  if (process.getuid?.() === 0) args.push('--allow-root');
  return args;
}

interface Lab {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnLab(port: number, openBrowser: boolean, env: NodeJS.ProcessEnv): Lab {
  const jupyter = venvBin('jupyter');
  if (!existsSync(jupyter))
    throw new StartError(`${jupyter} is missing\n  fix: run \`npm run setup\` (it builds the venv with JupyterLab)`);
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop JupyterLab in order (kernels first).
  // stdin is not a terminal, so JupyterLab does not stop to ask "Shutdown this Jupyter server (y/[n])?".
  const child = spawn(
    venvBin('python'),
    ['-c', WITH_PARENT_DEATH_SIGNAL, String(process.pid), jupyter, ...labArgs(port, openBrowser)],
    {
      cwd: notebooksDir,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) =>
      reject(new StartError(`could not run ${jupyter}: ${err.message}\n  fix: run \`npm run setup\``)),
    );
  });
  return { child, exited };
}

/** Resolves once the server answers an authenticated request; rejects if JupyterLab exits first. */
async function waitForLab(lab: Lab, baseUrl: string, token: string): Promise<void> {
  const controller = new AbortController();
  const died = lab.exited.then(() => {
    throw new StartError('JupyterLab exited before it was ready; its log is above');
  });
  try {
    await Promise.race([died, pollStatus(baseUrl, token, controller.signal)]);
  } finally {
    controller.abort();
    died.catch(() => {}); // settled by then or irrelevant
  }
}

async function pollStatus(baseUrl: string, token: string, cancel: AbortSignal): Promise<void> {
  const deadline = Date.now() + LAB_READY_TIMEOUT_MS;
  while (!cancel.aborted) {
    try {
      const signal = AbortSignal.any([cancel, AbortSignal.timeout(2000)]);
      const res = await fetch(`${baseUrl}api/status`, { headers: { authorization: `token ${token}` }, signal });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new StartError(
        `JupyterLab did not answer on ${baseUrl} within ${LAB_READY_TIMEOUT_MS / 1000} s; its log is above`,
      );
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The session

/** Stop requests from signals: the first stops JupyterLab gently, a second (or the grace period) forcibly. */
class Stopper {
  requested = false;
  forced = false;
  private lab: Lab | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly marker: string;

  /** `marker` (NAME=VALUE) is in the environment of JupyterLab and everything it starts. */
  constructor(marker: string) {
    this.marker = marker;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => this.request(signal));
  }

  /** JupyterLab to stop when asked; a request that came before it started applies now. */
  attach(lab: Lab): void {
    this.lab = lab;
    if (this.requested) this.stopLab();
  }

  private request(signal: NodeJS.Signals): void {
    if (this.requested) {
      if (!this.lab) {
        // Still starting the broker, which takes no cancel; an attached broker dies with us anyway.
        say(`${signal} again: exiting now`);
        process.exit(1);
      }
      say(`${signal} again: killing JupyterLab and its kernels now`);
      this.kill();
      return;
    }
    this.requested = true;
    say(`${signal}: stopping JupyterLab and its kernels, then our broker (${signal} again to force)`);
    if (this.lab) this.stopLab();
  }

  private stopLab(): void {
    const lab = this.lab;
    if (!lab || !running(lab.child)) return;
    // SIGTERM is JupyterLab's orderly stop: it shuts its kernels down, then exits.
    lab.child.kill('SIGTERM');
    this.timer = setTimeout(() => {
      say(`JupyterLab did not stop within ${LAB_STOP_GRACE_MS / 1000} s; killing it and its kernels`);
      this.kill();
    }, LAB_STOP_GRACE_MS);
    void lab.exited.finally(() => clearTimeout(this.timer)).catch(() => {});
  }

  /** Kills JupyterLab and everything it started, whatever state they are in. */
  kill(): void {
    this.forced = true;
    killAll([...(this.lab?.child.pid ? [this.lab.child.pid] : []), ...markedProcesses(this.marker)]);
  }

  /** After JupyterLab exits: kills what it left running (a crash orphans its kernels). */
  reap(): void {
    const left = markedProcesses(this.marker);
    if (left.length === 0) return;
    say(`killing ${left.length} process(es) JupyterLab left running: ${left.join(', ')}`);
    this.forced = true;
    killAll(left);
  }
}

function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function printReady(url: string, kafka: KafkaSession): void {
  const owner = kafka.owned ? 'started for this session, stops with it' : 'from `petal kafka up`, left running';
  const stops = kafka.owned ? 'JupyterLab, its kernels and the broker' : 'JupyterLab and its kernels';
  process.stdout.write(
    `\nPetal is ready.\n` +
      `  JupyterLab  ${url}\n` +
      `  Kafka       ${kafka.bootstrap}  (${owner})\n` +
      `Open the JupyterLab address above in a browser; Ctrl-C stops ${stops}.\n\n`,
  );
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const session = randomBytes(8).toString('hex');
  const stopper = new Stopper(`PETAL_SESSION=${session}`);
  if (options.port !== undefined) await ensurePortFree(options.port);
  // A port free now; JupyterLab binds it moments later (port_retries=0 makes a race fail loudly).
  const port = options.port ?? (await findFreePort());
  const kafka = await connectKafka();
  let code = 1;
  try {
    code = await runLab(port, options, kafka, stopper, session);
  } finally {
    if (!(await stopKafka(kafka)) && code === 0) code = 1;
  }
  return code;
}

async function runLab(
  port: number,
  options: StartOptions,
  kafka: KafkaSession,
  stopper: Stopper,
  session: string,
): Promise<number> {
  if (stopper.requested) return 0;
  // A user's own JUPYTER_TOKEN is honoured; an empty one would switch authentication off, so it is replaced.
  const token = process.env.JUPYTER_TOKEN || randomBytes(24).toString('hex');
  // jupyterEnv: the "petal" kernel is this checkout's, whichever checkout last wrote the shared venv's kernelspec.
  const env: NodeJS.ProcessEnv = {
    ...jupyterEnv(),
    JUPYTER_TOKEN: token,
    PETAL_SESSION: session,
    PETAL_KAFKA_BOOTSTRAP: kafka.bootstrap,
    PETAL_KAFKA_CREDENTIALS: kafka.credentialsFile,
  };
  const baseUrl = `http://${HOST}:${port}/`;
  const lab = spawnLab(port, options.openBrowser, env);
  stopper.attach(lab);
  try {
    await waitForLab(lab, baseUrl, token);
    if (!stopper.requested) printReady(`${baseUrl}lab?token=${token}`, kafka);
    const { code, signal } = await lab.exited;
    stopper.reap();
    if (stopper.forced) return 1;
    if (stopper.requested) return code === 0 ? 0 : (code ?? 1);
    say(`JupyterLab exited (${signal ?? `code ${code}`})`);
    return code ?? 1;
  } catch (err) {
    if (running(lab.child)) stopper.kill();
    await lab.exited.catch(() => {});
    stopper.reap();
    throw err;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof StartError || isPetalError(err)) say((err as Error).message);
  else say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = err instanceof StartError ? err.exitCode : 1;
}
// Done, whatever is still pending: a client socket or timer left by a library must not keep a finished session up.
process.exit();
