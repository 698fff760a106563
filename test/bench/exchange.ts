// `npm run bench -- exchange [--rounds R] [--warmup W]`
//
// A worker's exchange with a parameter server: push 16.8 MB of float32 gradients (a 4.2 M-parameter model), then
// pull 16.8 MB of parameters, through Petal's transport (token handshake, frames, request/response) between this
// process and a child playing the PS; against the same bytes both ways over a raw, length-prefixed net.Socket
// between the same two processes, in the same run. Both sides reuse their receive buffers. Each is measured over
// the Unix socket a PS on the worker's machine is reached by (what a local cluster uses) and over loopback TCP
// (a PS elsewhere). Rounds of the four are interleaved (order rotating), so a burst of load from something else
// hits all; `ratio` = Petal ÷ raw over the Unix socket on the best round (load only ever slows a run down), the
// median ratio is reported too, and the same pair over TCP (`ratioTcp`).
//
// Also measured: copying the 16.8 MB out of a TensorFlow tensor (dataSync / data), which the PS path will pay.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MessageType, connect, createClusterToken, listen, makeSocketDir } from '@petal/runtime';
import type { Connection } from '@petal/runtime';
import { loadTf } from '@petal/runtime/tf';
import { collectGarbage, intArg, median, num, printBench, round } from './bench-util.ts';

const FLOATS = 4_200_000;
const BYTES = FLOATS * 4;
const args = process.argv.slice(2);

// ---------------------------------------------------------------------------------------------------------------
// The child: a Petal endpoint answering push/pull like a PS, and a raw socket server doing the same with bare bytes,
// each on a TCP port and a Unix socket (in a private directory, as a PS task makes it).

/** Where the child listens. */
interface Endpoints {
  petal: number;
  petalPath: string;
  raw: number;
  rawPath: string;
}

async function serve(): Promise<void> {
  const params = new Float32Array(FLOATS).fill(0.5);
  const socketDir = makeSocketDir('bench');
  process.once('exit', () => rmSync(socketDir, { recursive: true, force: true }));
  const petal = await listen({
    token: process.env.PETAL_BENCH_TOKEN!,
    socketPath: join(socketDir, 'petal.sock'),
    handler: (msg) => {
      if (msg.type === MessageType.pushGradients) {
        const g = msg.tensors[0]!.data as Float32Array; // a view into the receive buffer; a PS would apply it here
        return { type: msg.type, meta: { ok: true, first: g[0] } };
      }
      return { type: msg.type, tensors: [{ dtype: 'float32', shape: [FLOATS], data: params }] };
    },
  });
  // Raw protocol: [u32 n][n bytes] is a push, answered by one byte; [u32 0] is a pull, answered by [u32 n][n bytes].
  const rawPeer = (socket: net.Socket): void => {
    const inbox = Buffer.allocUnsafeSlow(BYTES);
    const paramBytes = Buffer.from(params.buffer);
    const head = Buffer.alloc(4);
    let headLen = 0;
    let want = -1; // bytes of the push still expected; -1 while reading a length
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      let at = 0;
      while (at < chunk.length) {
        if (want < 0) {
          const take = Math.min(4 - headLen, chunk.length - at);
          chunk.copy(head, headLen, at, at + take);
          headLen += take;
          at += take;
          if (headLen < 4) return;
          headLen = 0;
          want = head.readUInt32LE(0);
          got = 0;
          if (want === 0) {
            const len = Buffer.alloc(4);
            len.writeUInt32LE(BYTES);
            socket.cork();
            socket.write(len);
            socket.write(paramBytes);
            socket.uncork();
            want = -1;
          }
          continue;
        }
        const take = Math.min(want - got, chunk.length - at);
        inbox.set(chunk.subarray(at, at + take), got);
        got += take;
        at += take;
        if (got === want) {
          socket.write(Buffer.from([1]));
          want = -1;
        }
      }
    });
    socket.on('error', () => {});
  };
  const raw = net.createServer({ noDelay: true }, rawPeer);
  const rawUnix = net.createServer(rawPeer);
  const rawPath = join(socketDir, 'raw.sock');
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => rawUnix.listen(rawPath, resolve));
  const endpoints: Endpoints = {
    petal: petal.port,
    petalPath: petal.socketPath!,
    raw: (raw.address() as net.AddressInfo).port,
    rawPath,
  };
  process.stdout.write(`${JSON.stringify(endpoints)}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    raw.close();
    rawUnix.close();
    void petal.close();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: the worker side.

/** The raw reference client: push = length + bytes, then wait for one byte; pull = zero length, then read it back. */
class RawClient {
  readonly #socket: net.Socket;
  readonly #inbox = Buffer.allocUnsafeSlow(BYTES);
  #onChunk: (chunk: Buffer) => void = () => {};

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onChunk(chunk));
  }

  end(): void {
    this.#socket.end();
  }

  push(data: Float32Array): Promise<void> {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(data.byteLength);
    const done = new Promise<void>((resolve) => (this.#onChunk = () => resolve()));
    this.#socket.cork();
    this.#socket.write(len);
    this.#socket.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.#socket.uncork();
    return done;
  }

  pull(): Promise<Float32Array> {
    let got = -4;
    const head = Buffer.alloc(4);
    let want = 0;
    const done = new Promise<Float32Array>((resolve) => {
      this.#onChunk = (chunk) => {
        let at = 0;
        if (got < 0) {
          const take = Math.min(-got, chunk.length);
          chunk.copy(head, 4 + got, 0, take);
          got += take;
          at = take;
          if (got < 0) return;
          want = head.readUInt32LE(0);
        }
        this.#inbox.set(chunk.subarray(at), got);
        got += chunk.length - at;
        if (got >= want) resolve(new Float32Array(this.#inbox.buffer, 0, want / 4));
      };
    });
    this.#socket.write(Buffer.alloc(4));
    return done;
  }
}

async function petalRound(conn: Connection, gradients: Float32Array): Promise<number> {
  const t0 = performance.now();
  const ack = await conn.request({
    type: MessageType.pushGradients,
    meta: { step: 1 },
    tensors: [{ dtype: 'float32', shape: [FLOATS], data: gradients }],
  });
  ack.release();
  const params = await conn.request({ type: MessageType.pullParams });
  const p = params.tensors[0]!.data as Float32Array;
  if (p.length !== FLOATS || p[FLOATS - 1] !== 0.5) throw new Error('pulled parameters are wrong');
  params.release();
  return performance.now() - t0;
}

async function rawRound(client: RawClient, gradients: Float32Array): Promise<number> {
  const t0 = performance.now();
  await client.push(gradients);
  const p = await client.pull();
  if (p.length !== FLOATS || p[FLOATS - 1] !== 0.5) throw new Error('raw pull is wrong');
  return performance.now() - t0;
}

async function tfCopyCost(rounds: number): Promise<{ dataSyncMs: number[]; dataMs: number[] } | { error: string }> {
  let tf;
  try {
    tf = loadTf();
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  }
  // tfjs caches a tensor's values after the first read, so every timed read is of a fresh tensor.
  const base = tf.randomNormal([FLOATS]);
  const dataSyncMs: number[] = [];
  const dataMs: number[] = [];
  for (let i = 0; i <= rounds; i++) {
    const a = tf.add(base, i);
    const b = tf.add(base, i + 1);
    collectGarbage();
    let t0 = performance.now();
    a.dataSync();
    if (i > 0) dataSyncMs.push(performance.now() - t0);
    collectGarbage();
    t0 = performance.now();
    await b.data();
    if (i > 0) dataMs.push(performance.now() - t0);
    a.dispose();
    b.dispose();
  }
  base.dispose();
  return { dataSyncMs, dataMs };
}

async function main(): Promise<void> {
  const ROUNDS = intArg(args, '--rounds', 15);
  const WARMUP = intArg(args, '--warmup', 3);
  const token = createClusterToken();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    env: { ...process.env, PETAL_BENCH_TOKEN: token },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const at = await new Promise<Endpoints>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line) as Endpoints));
    child.once('exit', (code) => reject(new Error(`the PS child exited (${code})`)));
  });
  const rawClient = async (where: { port: number; host: string } | { path: string }): Promise<RawClient> => {
    const socket = net.connect({ ...where, noDelay: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    return new RawClient(socket);
  };
  const conns = {
    petal: await connect({ path: at.petalPath, token }),
    petalTcp: await connect({ port: at.petal, token }),
  };
  const raws = {
    raw: await rawClient({ path: at.rawPath }),
    rawTcp: await rawClient({ port: at.raw, host: '127.0.0.1' }),
  };

  const gradients = new Float32Array(FLOATS);
  for (let i = 0; i < FLOATS; i++) gradients[i] = (i % 1000) * 1e-4;
  const ways = ['petal', 'raw', 'petalTcp', 'rawTcp'] as const;
  const ms: Record<(typeof ways)[number], number[]> = { petal: [], raw: [], petalTcp: [], rawTcp: [] };
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    collectGarbage();
    for (let k = 0; k < ways.length; k++) {
      const way = ways[(r + k) % ways.length]!;
      const t =
        way === 'petal' || way === 'petalTcp'
          ? await petalRound(conns[way], gradients)
          : await rawRound(raws[way], gradients);
      if (r >= WARMUP) ms[way].push(t);
    }
  }
  await Promise.all([conns.petal.close(), conns.petalTcp.close()]);
  raws.raw.end();
  raws.rawTcp.end();
  child.stdin.end();
  const { petal: petalMs, raw: rawMs, petalTcp: petalTcpMs, rawTcp: rawTcpMs } = ms;

  const mbps = (ms: number): number => (2 * BYTES) / 1e6 / (ms / 1e3);
  const summary = (name: string, xs: number[]): void => {
    const best = Math.min(...xs);
    const med = median(xs);
    process.stdout.write(
      `${name.padEnd(28)} best ${num(best, 7, 1)} ms ${num(mbps(best), 6)} MB/s   median ${num(med, 7, 1)} ms ${num(mbps(med), 6)} MB/s\n`,
    );
  };
  process.stdout.write(
    `exchange: push ${BYTES / 1e6} MB + pull ${BYTES / 1e6} MB per round, ${ROUNDS} rounds (+${WARMUP} warm-up)\n`,
  );
  summary('petal transport, unix socket', petalMs);
  summary('raw net.Socket, unix socket', rawMs);
  summary('petal transport, tcp', petalTcpMs);
  summary('raw net.Socket, tcp', rawTcpMs);

  const tfCost = await tfCopyCost(10);
  let tfDataSyncMs: number | null = null;
  let tfDataMs: number | null = null;
  if ('error' in tfCost) {
    process.stdout.write(`tensor copy-out: not measured (${tfCost.error})\n`);
  } else {
    tfDataSyncMs = Math.min(...tfCost.dataSyncMs);
    tfDataMs = Math.min(...tfCost.dataMs);
    process.stdout.write(
      `tensor.dataSync() 16.8 MB    best ${num(tfDataSyncMs, 7, 2)} ms   median ${num(median(tfCost.dataSyncMs), 7, 2)} ms\n` +
        `await tensor.data() 16.8 MB  best ${num(tfDataMs, 7, 2)} ms   median ${num(median(tfCost.dataMs), 7, 2)} ms\n`,
    );
  }
  const ratio = Math.min(...petalMs) / Math.min(...rawMs);
  printBench({
    name: 'exchange',
    ratio: round(ratio),
    ratioMedian: round(median(petalMs) / median(rawMs)),
    goal: 1.5,
    bytesEachWay: BYTES,
    rounds: ROUNDS,
    petalBestMs: round(Math.min(...petalMs), 2),
    petalMedianMs: round(median(petalMs), 2),
    rawBestMs: round(Math.min(...rawMs), 2),
    rawMedianMs: round(median(rawMs), 2),
    petalBestMBps: round(mbps(Math.min(...petalMs)), 0),
    rawBestMBps: round(mbps(Math.min(...rawMs)), 0),
    transport: 'unix',
    // The same pair over loopback TCP (a PS on another machine goes that way), and what the socket saves Petal.
    ratioTcp: round(Math.min(...petalTcpMs) / Math.min(...rawTcpMs)),
    ratioTcpMedian: round(median(petalTcpMs) / median(rawTcpMs)),
    petalTcpBestMs: round(Math.min(...petalTcpMs), 2),
    petalTcpMedianMs: round(median(petalTcpMs), 2),
    rawTcpBestMs: round(Math.min(...rawTcpMs), 2),
    rawTcpMedianMs: round(median(rawTcpMs), 2),
    unixOverTcpMedian: round(median(petalMs) / median(petalTcpMs)),
    tfDataSyncMs: tfDataSyncMs === null ? null : round(tfDataSyncMs, 2),
    tfDataMs: tfDataMs === null ? null : round(tfDataMs, 2),
  });
}

if (args.includes('--serve')) await serve();
else await main();
