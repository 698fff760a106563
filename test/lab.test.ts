// End to end, with real processes: `npm start` (scripts/start.ts) serving JupyterLab with the Petal kernel and the
// embedded Kafka broker, driven over HTTP, the kernel websocket and headless Chromium, then stopped with Ctrl-C.
// Needs what `npm run setup` builds (the venv with JupyterLab, the kernelspec, the Kafka jars) and /usr/bin/chromium.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findFreePort, portFree } from '@petal/runtime';
import { cleanups, launchChromium, type Defer } from './lab-fixtures.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOT = '/tmp/petal-lab.png';
const DISPLAY_NAME = 'TypeScript (Petal)';

function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the fields after its last ')' are fixed.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(ppid), state: state ?? '?' };
  } catch {
    return undefined;
  }
}

/** Running (not zombie) processes below `pid`. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const stat = /^\d+$/.test(entry) ? procStat(Number(entry)) : undefined;
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found.filter(running);
}

function running(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '(gone)';
  }
}

/** `scripts/start.ts` as a child, its output kept for waiting on and for failure messages. */
class StartProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout = '';
  stderr = '';
  /** Every process seen below it, so cleanup can kill what a failed run left behind. */
  readonly seen = new Set<number>();

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    // A process group of its own, as a shell gives a foreground job, so Ctrl-C can be sent the way a terminal does.
    this.child = spawn(process.execPath, [join(root, 'scripts', 'start.ts'), ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Running processes it started, directly or not. */
  tree(): number[] {
    const pids = descendants(this.pid);
    for (const pid of pids) this.seen.add(pid);
    return pids;
  }

  log(): string {
    const tail = (text: string): string => text.split('\n').slice(-40).join('\n');
    return `--- start.ts stdout ---\n${tail(this.stdout)}\n--- start.ts stderr (tail) ---\n${tail(this.stderr)}`;
  }

  /** Waits until stdout matches, failing early (with the log) if the process exits. */
  async waitFor(pattern: RegExp, deadlineMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const match = pattern.exec(this.stdout);
      if (match) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        assert.fail(
          `start.ts exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}\n${this.log()}`,
        );
      }
      if (Date.now() > deadline)
        assert.fail(`start.ts printed no ${pattern} within ${deadlineMs / 1000} s\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** What a terminal does on Ctrl-C: SIGINT to every process of the foreground group. */
  interrupt(): void {
    process.kill(-this.pid, 'SIGINT');
  }

  /** Leaves nothing running, whatever state the test stopped in. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.tree();
      this.child.kill('SIGKILL');
      await this.exited;
    }
    for (const pid of this.seen) {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  }
}

interface Output {
  msgType: string;
  text: string;
}

/**
 * Runs `code` in a kernel over the server's websocket (the JSON protocol JupyterLab itself speaks) and returns
 * the reply and the text outputs. Values may arrive as execute_result, display_data or stream: stock tslab
 * prints the last expression on stdout, Petal's handler answers with execute_result.
 */
async function execute(
  channelsUrl: string,
  code: string,
  deadlineMs: number,
): Promise<{ status: string; outputs: Output[] }> {
  const msgId = randomUUID();
  const session = randomUUID();
  const ws = new WebSocket(`${channelsUrl}&session_id=${session}`);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no execute_reply and idle status within ${deadlineMs / 1000} s for ${JSON.stringify(code)}`),
          ),
        deadlineMs,
      );
      timer.unref(); // a failed run must not keep the test process alive until the deadline
      const outputs: Output[] = [];
      let status: string | undefined;
      let idle = false;
      const finish = (): void => {
        if (status === undefined || !idle) return;
        clearTimeout(timer);
        resolve({ status, outputs });
      };
      const where = channelsUrl.replace(/token=\w+/, 'token=…');
      ws.addEventListener('error', () => reject(new Error(`websocket error on ${where}`)));
      ws.addEventListener('close', (event) =>
        reject(new Error(`websocket ${where} closed (${event.code}) before the reply`)),
      );
      ws.addEventListener('open', () => {
        const header = {
          msg_id: msgId,
          msg_type: 'execute_request',
          session,
          username: 'test',
          version: '5.3',
          date: new Date().toISOString(),
        };
        const content = {
          code,
          silent: false,
          store_history: true,
          user_expressions: {},
          allow_stdin: false,
          stop_on_error: true,
        };
        ws.send(JSON.stringify({ header, parent_header: {}, metadata: {}, content, channel: 'shell', buffers: [] }));
      });
      ws.addEventListener('message', (event) => {
        // Messages that carry binary buffers arrive as binary frames; none of ours do.
        if (typeof event.data !== 'string') return;
        const msg = JSON.parse(event.data) as {
          channel: string;
          header: { msg_type: string };
          parent_header: { msg_id?: string };
          content: {
            status?: string;
            execution_state?: string;
            text?: string;
            data?: Record<string, unknown>;
            ename?: string;
            evalue?: string;
          };
        };
        if (msg.parent_header.msg_id !== msgId) return;
        const type = msg.header.msg_type;
        if (type === 'execute_reply') status = msg.content.status;
        else if (type === 'status') idle = msg.content.execution_state === 'idle';
        else if (type === 'stream') outputs.push({ msgType: type, text: msg.content.text ?? '' });
        else if (type === 'execute_result' || type === 'display_data')
          outputs.push({ msgType: type, text: String(msg.content.data?.['text/plain'] ?? '') });
        else if (type === 'error') outputs.push({ msgType: type, text: `${msg.content.ename}: ${msg.content.evalue}` });
        finish();
      });
    });
  } finally {
    ws.close();
  }
}

const outputText = (outputs: Output[]): string =>
  outputs
    .map((o) => o.text)
    .join('')
    .trim();

/** A session of `npm start` in a throwaway state dir, ready: what it printed, and the port it serves on. */
interface Session {
  start: StartProcess;
  port: number;
  labUrl: string;
  token: string;
  bootstrap: string;
}

function tempDir(defer: Defer): string {
  const tmp = mkdtempSync(join(tmpdir(), 'petal-lab-'));
  defer(() => rmSync(tmp, { recursive: true, force: true }));
  return tmp;
}

/**
 * A Jupyter data dir in `tmp` whose "petal" kernelspec names another checkout, as the shared venv's does after a
 * second clone ran setup; on the user's JUPYTER_PATH it is searched before the venv.
 */
function otherCheckoutSpecs(tmp: string): string {
  const dataDir = join(tmp, 'other-checkout-jupyter');
  const dir = join(dataDir, 'kernels', 'petal');
  mkdirSync(dir, { recursive: true });
  const argv = ['/other/checkout/node', '/other/checkout/kernel/src/main.ts', '--connection-file', '{connection_file}'];
  writeFileSync(join(dir, 'kernel.json'), JSON.stringify({ argv, display_name: DISPLAY_NAME, language: 'typescript' }));
  return dataDir;
}

/** Starts scripts/start.ts with PETAL_STATE_DIR in `tmp` and waits until it prints its addresses. */
async function startSession(defer: Defer, tmp: string): Promise<Session> {
  const port = await findFreePort();
  const start = new StartProcess(['--no-browser', '--port', String(port)], {
    ...process.env,
    PETAL_STATE_DIR: join(tmp, 'state'),
    JUPYTER_PATH: otherCheckoutSpecs(tmp),
    // A throwaway Jupyter config and runtime: the user's settings and saved workspace stay out of it (and untouched).
    JUPYTER_CONFIG_DIR: join(tmp, 'jupyter-config'),
    JUPYTER_RUNTIME_DIR: join(tmp, 'jupyter-runtime'),
    JUPYTER_TOKEN: '',
  });
  defer(() => start.kill());
  const [, labUrl = '', token = ''] = await start.waitFor(
    /JupyterLab\s+(http:\/\/127\.0\.0\.1:\d+\/lab\?token=(\w+))/,
    180_000,
  );
  const [, bootstrap = ''] = await start.waitFor(/Kafka\s+(127\.0\.0\.1:\d+)/, 1000);
  return { start, port, labUrl, token, bootstrap };
}

/**
 * Stops start.ts, with Ctrl-C as a terminal sends it (SIGINT to the whole foreground group, the broker's
 * supervisor included) or with `kill PID` (SIGTERM to start.ts alone); returns the exit status and the processes
 * it had started that still run.
 */
async function stop(
  start: StartProcess,
  how: 'ctrl-c' | 'SIGTERM',
): Promise<{ exit: { code: number | null; signal: NodeJS.Signals | null }; left: string[] }> {
  const before = start.tree();
  if (how === 'ctrl-c') start.interrupt();
  else start.child.kill('SIGTERM');
  const deadline = setTimeout(() => start.child.kill('SIGKILL'), 90_000);
  const exit = await start.exited;
  clearTimeout(deadline);
  const left = before.filter(running).map((pid) => `${pid} ${commandLine(pid).replace(/\s+/g, ' ').slice(0, 160)}`);
  return { exit, left };
}

test('npm start serves JupyterLab with the Petal kernel and Kafka, and Ctrl-C stops it all', async (t) => {
  const defer = cleanups(t);
  const tmp = tempDir(defer);
  const { start, port, labUrl, token, bootstrap } = await startSession(defer, tmp);
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `token ${token}` };
  assert.ok(labUrl.startsWith(`${base}/lab?token=`), `the printed URL ${labUrl} is not on --port ${port}`);
  assert.ok(token.length >= 32, 'token auth is on, with a token too long to guess');
  assert.equal((await fetch(`${base}/api/kernelspecs`)).status, 403, 'the API refuses requests without the token');

  await t.test(`lists the "${DISPLAY_NAME}" kernelspec of this checkout, running on Node ≥ 22.22`, async () => {
    const res = await fetch(`${base}/api/kernelspecs`, { headers: auth });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      kernelspecs: Record<string, { spec: { display_name: string; argv: string[] } }>;
    };
    const specs = Object.values(body.kernelspecs);
    const petal = specs.find((k) => k.spec.display_name === DISPLAY_NAME);
    assert.ok(petal, `no "${DISPLAY_NAME}" among ${specs.map((k) => k.spec.display_name).join(', ')}`);
    // The shared venv's kernelspec may name another checkout; start.ts must serve this one's.
    assert.equal(petal.spec.argv[1], join(root, 'kernel', 'src', 'main.ts'), "the kernel is this checkout's");
    const node = petal.spec.argv[0] ?? '';
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
    assert.ok(
      major > 22 || (major === 22 && minor >= 22),
      `the kernel runs on ${node} ${version || '(does not run)'}; Petal needs ≥ 22.22`,
    );
  });

  await t.test(
    'runs TypeScript in a Petal kernel started through the server, with the broker in its environment',
    async () => {
      const res = await fetch(`${base}/api/kernels`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'petal' }),
      });
      assert.equal(res.status, 201, await res.clone().text());
      const { id } = (await res.json()) as { id: string };
      const ws = `ws://127.0.0.1:${port}/api/kernels/${id}/channels?token=${token}`;

      const sum = await execute(ws, 'const x: number = 1 + 1; x', 60_000);
      assert.equal(sum.status, 'ok', JSON.stringify(sum.outputs));
      assert.equal(outputText(sum.outputs), '2', JSON.stringify(sum.outputs));

      const env = await execute(
        ws,
        "[process.env.PETAL_KAFKA_BOOTSTRAP, process.env.PETAL_KAFKA_CREDENTIALS].join(' ')",
        30_000,
      );
      assert.equal(env.status, 'ok', JSON.stringify(env.outputs));
      const [seenBootstrap, credentials = ''] = outputText(env.outputs).replace(/^'|'$/g, '').split(' ');
      assert.equal(seenBootstrap, bootstrap, 'the kernel gets the broker start.ts printed');
      assert.ok(existsSync(credentials), `PETAL_KAFKA_CREDENTIALS names a file (${credentials})`);
      assert.equal(statSync(credentials).mode & 0o077, 0, `${credentials} is readable by its owner only`);
      const sasl = JSON.parse(readFileSync(credentials, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(
        Object.keys(sasl).sort(),
        ['mechanism', 'password', 'username'],
        'the credentials file has the broker credentials format',
      );
    },
  );

  await t.test(`shows a "${DISPLAY_NAME}" card in the JupyterLab launcher`, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(labUrl);
      const card = page.locator('.jp-LauncherCard').filter({ hasText: DISPLAY_NAME });
      await card.first().waitFor({ state: 'visible', timeout: 90_000 });
      await page.screenshot({ path: SCREENSHOT });
      assert.ok((await card.count()) >= 1);
    } finally {
      await browser.close();
    }
  });

  await t.test('Ctrl-C stops JupyterLab, its kernels and the broker, and exits 0', async () => {
    const tree = start.tree().map((pid) => commandLine(pid));
    assert.ok(
      tree.some((cmd) => cmd.includes('kernel/src/main.ts')),
      `a kernel runs under start.ts:\n${tree.join('\n')}`,
    );
    assert.ok(
      tree.some((cmd) => cmd.includes('jupyter')),
      `JupyterLab runs under start.ts:\n${tree.join('\n')}`,
    );
    assert.ok(
      tree.some((cmd) => cmd.includes('kafka.Kafka')),
      `the broker runs under start.ts:\n${tree.join('\n')}`,
    );

    const { exit, left } = await stop(start, 'ctrl-c');
    assert.deepEqual(exit, { code: 0, signal: null }, start.log());
    assert.deepEqual(left, [], `processes start.ts started are still running\n${start.log()}`);
    assert.ok(await portFree(port), `JupyterLab's port ${port} is free`);
    const kafkaPort = Number(bootstrap.split(':')[1]);
    assert.ok(await portFree(kafkaPort), `the broker's port ${kafkaPort} is free`);
    assert.deepEqual(readdirSync(join(tmp, 'state', 'lab')), [], 'the session credentials file is gone');
  });
});

test('npm start reuses the broker `petal kafka up` left running, and SIGTERM leaves it running', async (t) => {
  const defer = cleanups(t);
  const tmp = tempDir(defer);
  const env = { ...process.env, PETAL_STATE_DIR: join(tmp, 'state') };
  const petal = (...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'runtime', 'src', 'bin', 'petal.ts'), ...args], { env, encoding: 'utf8' });
  defer(() => petal('kafka', 'down'));
  const up = petal('kafka', 'up');
  assert.equal(up.status, 0, `petal kafka up failed:\n${up.stdout}\n${up.stderr}`);
  const record = JSON.parse(readFileSync(join(tmp, 'state', 'kafka', 'broker.json'), 'utf8')) as {
    bootstrap: string;
    pid: number;
  };

  const { start, bootstrap } = await startSession(defer, tmp);
  assert.equal(bootstrap, record.bootstrap, 'start.ts serves the running broker instead of starting one');
  assert.match(start.stdout, /petal kafka up/, 'it says whose broker it is');
  assert.ok(!start.tree().some((pid) => commandLine(pid).includes('kafka.Kafka')), 'no second broker under start.ts');

  const { exit, left } = await stop(start, 'SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, start.log());
  assert.deepEqual(left, [], `processes start.ts started are still running\n${start.log()}`);
  assert.ok(running(record.pid), 'the broker from `petal kafka up` still runs');
  assert.equal(petal('kafka', 'status').status, 0, 'and `petal kafka status` still reports it up');
});
