// `npm run bench -- kernel [--cells N] [--updates N]`: the Petal kernel's cell round trip and comm throughput.
// A Node client speaks the wire protocol over ZeroMQ to a real kernel process (as JupyterLab's server does):
//   - round trip of the cell `1+1`: execute_request sent → execute_reply and the idle status received (p50, p95);
//   - the same on stock tslab 1.0.22 in the same run: ratio = tslab p50 ÷ Petal p50 (> 1: Petal is faster);
//   - the first cell importing "petal" (loading its declarations into the cells' TypeScript program), the round
//     trip of `1+1` after it (what a notebook's cells cost), and the first cell naming `tf` (tfjs-node's types);
//   - metric updates delivered to a comm client: a cell opens a comm and sends N small metric messages as fast as
//     it can; the client counts the comm_msgs it receives (delivered/s and how many arrived).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Zmq from 'zeromq';
import { Wire } from '@petal/kernel/wire';
import type { ConnectionInfo, Message } from '@petal/kernel/wire';
import { intArg, printBench, round } from './bench-util.ts';
import { findFreePort } from '@petal/runtime';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'kernel', 'package.json'));
const zmq = require('zeromq') as typeof Zmq;
const args = process.argv.slice(2);
const CELLS = intArg(args, '--cells', 200);
const UPDATES = intArg(args, '--updates', 20_000);
const WARMUP = 20;

async function connectionFile(dir: string): Promise<{ file: string; info: ConnectionInfo }> {
  const [shell_port, iopub_port, stdin_port, control_port, hb_port] = await Promise.all(
    Array.from({ length: 5 }, () => findFreePort()),
  );
  const info: ConnectionInfo = {
    transport: 'tcp',
    ip: '127.0.0.1',
    shell_port: shell_port!,
    iopub_port: iopub_port!,
    stdin_port: stdin_port!,
    control_port: control_port!,
    hb_port: hb_port!,
    key: randomUUID(),
    signature_scheme: 'hmac-sha256',
  };
  const file = join(dir, `kernel-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(info));
  return { file, info };
}

/** A minimal Jupyter client: a shell DEALER and an iopub SUB, messages matched to requests by parent msg_id. */
class Client {
  readonly wire: Wire;
  readonly shell = new zmq.Dealer();
  // Like the kernel's iopub send queue: a burst of metric updates must not overflow the default 1000 messages.
  readonly iopub = new zmq.Subscriber({ receiveHighWaterMark: 100_000 });
  readonly #waiters = new Set<(msg: Message) => boolean>();

  /**
   * Whether a request also waits for its idle status on iopub. Not for stock tslab: it sends iopub messages without
   * awaiting zeromq's previous send, so some are lost (EBUSY) and a wait for them can hang; it is timed to its reply.
   */
  readonly #waitIdle: boolean;

  constructor(info: ConnectionInfo, waitIdle: boolean) {
    this.#waitIdle = waitIdle;
    this.wire = new Wire(info.key, info.signature_scheme);
    this.shell.connect(`tcp://127.0.0.1:${info.shell_port}`);
    this.iopub.connect(`tcp://127.0.0.1:${info.iopub_port}`);
    this.iopub.subscribe();
    void this.#read(this.shell);
    void this.#read(this.iopub);
  }

  async #read(socket: Zmq.Dealer | Zmq.Subscriber): Promise<void> {
    try {
      for await (const frames of socket) {
        const msg = this.wire.decode(frames);
        for (const waiter of this.#waiters) if (waiter(msg)) this.#waiters.delete(waiter);
      }
    } catch {
      // closed
    }
  }

  /** Resolves once `accept` returned true for a message (it sees every message until then). */
  until(accept: (msg: Message) => boolean, timeoutMs = 120_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      this.#waiters.add((msg) => {
        if (!accept(msg)) return false;
        clearTimeout(timer);
        resolve();
        return true;
      });
    });
  }

  /** Sends a request; resolves with its msg_id once its reply and its idle status have both arrived. */
  async request(type: string, content: Record<string, unknown>, timeoutMs = 120_000): Promise<string> {
    const frames = this.wire.message(type, content);
    const msgId = (JSON.parse(frames[2]!.toString()) as { msg_id: string }).msg_id;
    let replied = false;
    let idle = false;
    const done = this.until((msg) => {
      if ((msg.parent_header as { msg_id?: string }).msg_id !== msgId) return false;
      if (msg.header.msg_type.endsWith('_reply')) replied = true;
      if (msg.header.msg_type === 'status' && msg.content.execution_state === 'idle') idle = true;
      return replied && (idle || !this.#waitIdle);
    }, timeoutMs);
    await this.shell.send(frames);
    await done;
    return msgId;
  }

  execute(code: string): Promise<string> {
    return this.request('execute_request', { code, silent: false, store_history: true, allow_stdin: false });
  }

  close(): void {
    this.shell.close();
    this.iopub.close();
  }
}

interface Running {
  child: ChildProcess;
  client: Client;
}

async function startKernel(kind: 'petal' | 'tslab', dir: string): Promise<Running> {
  const { file, info } = await connectionFile(dir);
  const argv =
    kind === 'petal'
      ? [join(root, 'kernel', 'src', 'main.ts'), '--connection-file', file]
      : [
          '-e',
          `require(${JSON.stringify(require.resolve('tslab/dist/main.js'))}).startKernel({ configPath: ${JSON.stringify(file)}, enableFindLocal: false })`,
        ];
  const child = spawn(process.execPath, argv, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const client = new Client(info, kind === 'petal');
  // Ready when a kernel_info request gets both its reply and its idle status: iopub drops what it publishes before
  // the subscription is through, so the first requests may see only the reply (jupyter_client retries the same way).
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await client.request('kernel_info_request', {}, 1000);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
  return { child, client };
}

async function stopKernel({ child, client }: Running): Promise<void> {
  client.close();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function roundTrips(kernel: Running, cells = CELLS): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await kernel.client.execute('1+1');
  const times: number[] = [];
  for (let i = 0; i < cells; i++) {
    const start = performance.now();
    await kernel.client.execute('1+1');
    times.push(performance.now() - start);
  }
  return times;
}

/** How long one cell takes, in ms. */
async function cellMs(kernel: Running, code: string): Promise<number> {
  const start = performance.now();
  await kernel.client.execute(code);
  return performance.now() - start;
}

async function commRate(kernel: Running): Promise<{ rate: number; delivered: number; ms: number }> {
  let delivered = 0;
  let first = 0;
  let last = 0;
  const ended = kernel.client.until((msg) => {
    if (msg.header.msg_type !== 'comm_msg') return false;
    const data = msg.content.data as { step?: number; done?: boolean };
    if (delivered === 0) first = performance.now();
    delivered += data.done ? 0 : 1;
    last = performance.now();
    return data.done === true;
  }, 60_000);
  ended.catch(() => {}); // raced below; a lost end marker must not crash the run later
  const start = performance.now();
  const cell = kernel.client.execute(
    `const metrics = comms.open("petal.metrics", {});
for (let step = 0; step < ${UPDATES}; step++) metrics.send({ step, loss: 1 / (step + 1), accuracy: step / ${UPDATES} });
metrics.send({ done: true });`,
  );
  // If updates were dropped on the way (a full queue), the end marker may be too: then count what came.
  await cell;
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 5000))]);
  const ms = last - start;
  void first;
  return { rate: (delivered / ms) * 1000, delivered, ms };
}

const dir = mkdtempSync(join(tmpdir(), 'petal-bench-kernel-'));
try {
  process.stdout.write(`kernel bench: ${CELLS} cells of \`1+1\` after ${WARMUP} warm-up, ${UPDATES} comm updates\n`);
  const petal = await startKernel('petal', dir);
  let petalTimes: number[];
  let comm: { rate: number; delivered: number; ms: number };
  let importMs: number;
  let afterImport: number[];
  let tfTypesMs: number;
  try {
    petalTimes = await roundTrips(petal);
    // The first cell importing "petal": its declarations load into the cells' TypeScript program then.
    importMs = await cellMs(petal, 'import { comms } from "petal";');
    // A notebook's cells run with "petal" imported: their round trip then, on a quarter of the cells.
    afterImport = await roundTrips(petal, Math.ceil(CELLS / 4));
    comm = await commRate(petal);
    // The first cell mentioning `tf`: tfjs-node's declarations load then (not for cells that never use TensorFlow).
    // (a type only: the cell must not load libtensorflow itself, which `tf`'s getter does)
    tfTypesMs = await cellMs(petal, 'type Tf = typeof import("petal")["tf"];');
  } finally {
    await stopKernel(petal);
  }
  const tslab = await startKernel('tslab', dir);
  let tslabTimes: number[];
  try {
    tslabTimes = await roundTrips(tslab);
  } finally {
    await stopKernel(tslab);
  }
  const p50 = percentile(petalTimes, 50);
  const p95 = percentile(petalTimes, 95);
  const tslabP50 = percentile(tslabTimes, 50);
  process.stdout.write(
    `  petal  1+1 round trip  p50 ${p50.toFixed(2)} ms  p95 ${p95.toFixed(2)} ms  (goal p50 ≤ 30 ms)\n` +
      `  petal  first \`import { comms } from "petal"\` ${importMs.toFixed(0)} ms; then 1+1 p50 ${percentile(afterImport, 50).toFixed(2)} ms; first cell naming \`tf\` ${tfTypesMs.toFixed(0)} ms\n` +
      `  tslab  1+1 round trip  p50 ${tslabP50.toFixed(2)} ms  p95 ${percentile(tslabTimes, 95).toFixed(2)} ms  (stock tslab 1.0.22, same run)\n` +
      `  comm   ${comm.delivered}/${UPDATES} metric updates delivered in ${comm.ms.toFixed(0)} ms: ${comm.rate.toFixed(0)} updates/s\n` +
      `  ratio (tslab p50 ÷ Petal p50) = ${(tslabP50 / p50).toFixed(2)}\n`,
  );
  printBench({
    name: 'kernel',
    ratio: round(tslabP50 / p50),
    p50_ms: round(p50),
    p95_ms: round(p95),
    tslab_p50_ms: round(tslabP50),
    import_ms: Math.round(importMs),
    p50_after_import_ms: round(percentile(afterImport, 50)),
    tf_types_ms: Math.round(tfTypesMs),
    comm_updates_per_s: Math.round(comm.rate),
    comm_delivered: comm.delivered,
    comm_sent: UPDATES,
    cells: CELLS,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
