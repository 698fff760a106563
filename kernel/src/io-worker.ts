// The kernel's second thread: it owns the heartbeat, control and stdin sockets, so they answer while the main
// thread runs a cell that never yields (`while (true) {}`). An interrupt_request becomes SIGINT to this process,
// exactly the signal `interrupt_mode: signal` sends, so both ways take the same path; prompt() blocks the main thread
// on a SharedArrayBuffer that this thread fills with the input_reply.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type * as Zmq from 'zeromq';
import { Wire, WireError } from './wire.ts';
import type { ConnectionInfo, Header, Message } from './wire.ts';
import { INPUT_CANCELLED, INPUT_VALUE, writeInput } from './stdin-buffer.ts';
import type { FromMain, ToMain } from './io-messages.ts';

const zmq = createRequire(import.meta.url)('zeromq') as typeof Zmq;
const { connection, kernelInfo } = workerData as { connection: ConnectionInfo; kernelInfo: Record<string, unknown> };
const port = parentPort!;
const wire = new Wire(connection.key, connection.signature_scheme);
const address = (p: number): string => `${connection.transport}://${connection.ip}:${p}`;
const post = (message: ToMain): void => port.postMessage(message);

const hb = new zmq.Reply();
const control = new zmq.Router();
const stdin = new zmq.Router();
let controlTail: Promise<unknown> = Promise.resolve();
let stdinTail: Promise<unknown> = Promise.resolve();
/** The prompt() the main thread waits on, if any. */
let pending: { buffer: SharedArrayBuffer; parent: Header } | undefined;

function sendControl(frames: Buffer[]): void {
  controlTail = controlTail.then(() => control.send(frames)).catch(() => {});
}

function interruptMain(): void {
  if (pending) {
    writeInput(pending.buffer, INPUT_CANCELLED, '');
    pending = undefined;
  }
  process.kill(process.pid, 'SIGINT');
}

async function serveHeartbeat(): Promise<void> {
  for await (const frames of hb) await hb.send(frames);
}

async function serveControl(): Promise<void> {
  for await (const frames of control) {
    let msg: Message;
    try {
      msg = wire.decode(frames);
    } catch (err) {
      if (err instanceof WireError) continue; // an unsigned or forged message gets no answer
      throw err;
    }
    const reply = (type: string, content: Record<string, unknown>): void =>
      sendControl(wire.message(type, content, msg.header, { idents: msg.idents }));
    switch (msg.header.msg_type) {
      case 'interrupt_request':
        interruptMain();
        reply('interrupt_reply', { status: 'ok' });
        break;
      case 'kernel_info_request':
        reply('kernel_info_reply', kernelInfo);
        break;
      case 'shutdown_request':
        interruptMain(); // a cell that never yields would otherwise keep the main thread from shutting down
        post({ kind: 'control', frames });
        break;
      default:
        post({ kind: 'control', frames });
    }
  }
}

async function serveStdin(): Promise<void> {
  for await (const frames of stdin) {
    let msg: Message;
    try {
      msg = wire.decode(frames);
    } catch (err) {
      if (err instanceof WireError) continue;
      throw err;
    }
    if (msg.header.msg_type !== 'input_reply' || !pending) continue;
    const value = (msg.content as { value?: unknown }).value;
    writeInput(pending.buffer, INPUT_VALUE, typeof value === 'string' ? value : '');
    pending = undefined;
  }
}

port.on('message', (message: FromMain) => {
  if (message.kind === 'send') sendControl(message.frames.map((f) => Buffer.from(f)));
  else if (message.kind === 'input') {
    pending = { buffer: message.buffer, parent: message.parent };
    const frames = wire.message(
      'input_request',
      { prompt: message.prompt, password: message.password },
      message.parent,
      {
        idents: message.idents.map((f) => Buffer.from(f)),
      },
    );
    stdinTail = stdinTail.then(() => stdin.send(frames)).catch(() => {});
  } else if (message.kind === 'close') {
    for (const socket of [hb, control, stdin]) socket.close();
    port.close();
  }
});

try {
  await Promise.all([
    hb.bind(address(connection.hb_port)),
    control.bind(address(connection.control_port)),
    stdin.bind(address(connection.stdin_port)),
  ]);
  post({ kind: 'ready' });
  await Promise.all([serveHeartbeat(), serveControl(), serveStdin()]).catch((err: unknown) => {
    // Closing the sockets on shutdown ends the loops with an error; anything else is worth reporting.
    if (!hb.closed || !control.closed || !stdin.closed) post({ kind: 'failed', message: String(err) });
  });
} catch (err) {
  post({ kind: 'failed', message: `cannot bind the kernel's sockets: ${(err as Error).message}` });
}
