// Petal's Jupyter kernel: binds the sockets, answers every request of the messaging protocol (5.3) and publishes
// outputs, on tslab's converter and executor (evaluator.ts). Shell requests run one at a time, in order; control,
// stdin and heartbeat live on the io worker (io-worker.ts), so they answer while a cell computes.
import { createRequire } from 'node:module';
import type * as Zmq from 'zeromq';
import { PetalError } from '@petal/runtime';
import { createPetalApi } from './api/create-api.ts';
import type { OutputSink } from './api/create-api.ts';
import { Interrupts } from './api/interrupts.ts';
import { petalDeclaration, tfDeclaration } from './api/declaration.ts';
import type { PetalModule } from './api/types.ts';
import { CommManager } from './comms.ts';
import { isShown, mimeBundle } from './display.ts';
import { errorContent } from './error-content.ts';
import { Evaluator } from './evaluator.ts';
import { kernelInfo, startIoWorker } from './kernel-info.ts';
import type { IoWorker } from './kernel-info.ts';
import { History } from './history.ts';
import type { HistoryRequest } from './history.ts';
import type { FromMain } from './io-messages.ts';
import { builtinMagics } from './magics/index.ts';
import type { MagicRegistry } from './magics/registry.ts';
import { Resources } from './resources.ts';
import { INPUT_CANCELLED, createInputBuffer, waitForInput } from './stdin-buffer.ts';
import { Wire, WireError } from './wire.ts';
import type { ConnectionInfo, Header, Message } from './wire.ts';
import { Interrupted } from './error-content.ts';
import { PETAL_LIVE_TARGET } from './outputs/types.ts';

const zmq = createRequire(import.meta.url)('zeromq') as typeof Zmq;

/** Flushes a cell's stdout/stderr at most this often (and before any other output). */
const STREAM_FLUSH_BYTES = 64 * 1024;
const IOPUB_HIGH_WATER_MARK = 100_000;
const ABORT_WINDOW_MS = 200;
/**
 * After an interrupt stopped a cell's jobs, how long the cell may take to end with their error before it is ended
 * as interrupted (one that awaits more than the job). Long enough for the rejection to reach the cell's await.
 */
const AFTER_JOBS_MS = 250;
/** How long stopping a cell's jobs may take before the cell is ended as interrupted anyway (a second interrupt: at once). */
const JOBS_STOP_MS = 30_000;

export interface KernelOptions {
  connection: ConnectionInfo;
  /** The notebook folder (default: the working directory). */
  dir?: string;
  /** The io worker, when started early (main.ts does, so the heartbeat answers at once); default: started here. */
  worker?: IoWorker;
  /** Called once the kernel has stopped everything and closed its sockets. */
  onExit?: (code: number) => void;
}

export class Kernel {
  readonly #connection: ConnectionInfo;
  readonly #wire: Wire;
  readonly #shell = new zmq.Router();
  readonly #iopub = new zmq.Publisher({ sendHighWaterMark: IOPUB_HIGH_WATER_MARK });
  readonly #io: IoWorker;
  readonly #resources = new Resources();
  readonly #history = new History();
  readonly #magics: MagicRegistry = builtinMagics();
  readonly #interrupts = new Interrupts();
  readonly #comms: CommManager;
  readonly #api: PetalModule;
  readonly #evaluator: Evaluator;
  readonly #onExit: (code: number) => void;

  #iopubTail: Promise<unknown> = Promise.resolve();
  #shellTail: Promise<unknown> = Promise.resolve();
  #queue: Message[] = [];
  #draining = false;
  #count = 0;
  /** The request whose outputs are being published (the running cell, or the last one). */
  #parent: Message | undefined;
  #allowStdin = false;
  #executing = false;
  /** Counts executions, so a late interrupt never ends the cell after the one it was meant for. */
  #executions = 0;
  /** An interrupt is waiting for the jobs it stopped to wind down. */
  #stoppingJobs = false;
  #streams = { stdout: '', stderr: '' };
  #flushScheduled = false;
  #stopping: Promise<void> | undefined;
  #abortingUntil = 0;
  #failedAt = 0;

  constructor(options: KernelOptions) {
    this.#connection = options.connection;
    this.#wire = new Wire(options.connection.key, options.connection.signature_scheme);
    this.#onExit = options.onExit ?? ((code) => process.exit(code));
    const dir = options.dir ?? process.cwd();
    // First, so the heartbeat answers while this thread warms up TypeScript (a second or two).
    this.#io = options.worker ?? startIoWorker(options.connection);
    this.#comms = new CommManager((type, content, buffers) => this.#publish(type, content, buffers));
    const output: OutputSink = {
      display: (value, id, update) => {
        const { data, metadata } = mimeBundle(value);
        this.#publish(update ? 'update_display_data' : 'display_data', {
          data,
          metadata,
          transient: { display_id: id },
        });
      },
      clear: (wait) => this.#publish('clear_output', { wait }),
      write: (name, text) => this.#write(name, text),
      executing: () => this.#executing,
    };
    this.#api = createPetalApi({
      resources: this.#resources,
      magics: this.#magics,
      comms: this.#comms,
      output,
      dir,
      interrupts: this.#interrupts,
    });
    this.#evaluator = new Evaluator({
      dir,
      api: this.#api,
      magics: this.#magics,
      declaration: petalDeclaration(Object.keys(this.#api)),
      tfDeclaration: tfDeclaration(),
    });
    this.#installGlobals();
  }

  /** Binds every socket; resolves when the kernel answers. */
  async start(): Promise<void> {
    const { transport, ip } = this.#connection;
    this.#io.onControl((frames) => this.#onControl(frames));
    await Promise.all([
      this.#shell.bind(`${transport}://${ip}:${this.#connection.shell_port}`),
      this.#iopub.bind(`${transport}://${ip}:${this.#connection.iopub_port}`),
      this.#io.ready,
    ]);
    this.#publish('status', { execution_state: 'starting' }, [], {});
    void this.#readShell();
  }

  /** An error no cell caught (a rejected promise nobody awaited): shown under the current cell, the kernel lives on. */
  reportUncaught(err: unknown): void {
    this.#publish('error', { ...errorContent(err) });
  }

  /**
   * SIGINT: ends a cell that awaits (one that computes is ended by breakOnSigint). Training jobs the cells started
   * are stopped first: the cell then ends with the job's PETAL_TRAIN_ABORTED once every task has left the job, so
   * the cluster is free for the next cell; a cell still waiting on something else is ended as interrupted after.
   */
  interrupt(): void {
    const stopping = this.#stoppingJobs ? undefined : this.#interrupts.interrupt(new Interrupted());
    if (!stopping) {
      this.#evaluator.interrupt();
      return;
    }
    this.#stoppingJobs = true;
    const execution = this.#executions;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, JOBS_STOP_MS)));
    void Promise.race([stopping, late]).then(() => {
      clearTimeout(timer);
      this.#stoppingJobs = false;
      setTimeout(() => {
        if (this.#executing && this.#executions === execution) this.#evaluator.interrupt();
      }, AFTER_JOBS_MS);
    });
  }

  /** Stops everything the kernel started, closes the sockets, then calls onExit. Idempotent. */
  shutdown(code = 0): Promise<void> {
    return (this.#stopping ??= (async () => {
      const failures = await this.#resources.stopAll();
      this.#flushStreams();
      await Promise.allSettled([this.#iopubTail, this.#shellTail]);
      this.#evaluator.close();
      this.#io.worker.postMessage({ kind: 'close' } satisfies FromMain);
      await new Promise((resolve) => setTimeout(resolve, 50)); // lets the worker send the last control reply
      await this.#io.worker.terminate();
      this.#shell.close();
      this.#iopub.close();
      this.#onExit(failures.length > 0 ? 1 : code);
    })());
  }

  // -----------------------------------------------------------------------------------------------------------
  // Sending

  #send(channel: 'shell' | 'control', frames: Buffer[]): void {
    if (channel === 'control') {
      this.#io.worker.postMessage({ kind: 'send', frames } satisfies FromMain);
      return;
    }
    this.#shellTail = this.#shellTail.then(() => this.#shell.send(frames)).catch(() => {});
  }

  #reply(request: Message, channel: 'shell' | 'control', type: string, content: Record<string, unknown>): void {
    this.#send(channel, this.#wire.message(type, content, request.header, { idents: request.idents }));
  }

  /** Publishes on iopub, after any pending stream text, with the current request as parent. */
  #publish(
    type: string,
    content: Record<string, unknown>,
    buffers: readonly Uint8Array[] = [],
    parent: Header | Record<string, never> = this.#parent?.header ?? {},
  ): void {
    if (type !== 'stream') this.#flushStreams();
    const topic = Buffer.from(`kernel.${this.#wire.session}.${type}`);
    const frames = this.#wire.message(type, content, parent, { idents: [topic], buffers });
    this.#iopubTail = this.#iopubTail.then(() => this.#iopub.send(frames)).catch(() => {});
  }

  #write(name: 'stdout' | 'stderr', text: string): void {
    this.#streams[name] += text;
    if (this.#streams[name].length >= STREAM_FLUSH_BYTES) this.#flushStreams();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushStreams());
    }
  }

  #flushStreams(): void {
    this.#flushScheduled = false;
    for (const name of ['stdout', 'stderr'] as const) {
      const text = this.#streams[name];
      if (text === '') continue;
      this.#streams[name] = '';
      this.#publish('stream', { name, text });
    }
  }

  // -----------------------------------------------------------------------------------------------------------
  // Receiving

  async #readShell(): Promise<void> {
    try {
      for await (const frames of this.#shell) {
        let msg: Message;
        try {
          msg = this.#wire.decode(frames);
        } catch (err) {
          if (err instanceof WireError) continue; // unsigned, forged or replayed: no answer at all
          throw err;
        }
        if (this.#sentBeforeFailure(msg)) this.#abort(msg);
        else if (this.#executing && this.#isLiveComm(msg)) void this.#handle(msg, 'shell', true);
        else {
          this.#queue.push(msg);
          void this.#drain();
        }
      }
    } catch (err) {
      if (!this.#shell.closed) throw err;
    }
  }

  /**
   * A frontend following a live output opens its comm while the cell that shows it still runs: such comm messages
   * are handled at once, not queued behind that cell (which would make "live" mean "after the end").
   */
  #isLiveComm(msg: Message): boolean {
    const type = msg.header.msg_type;
    if (type === 'comm_open') return msg.content.target_name === PETAL_LIVE_TARGET;
    if (type !== 'comm_msg' && type !== 'comm_close') return false;
    return String(msg.content.comm_id) in this.#comms.info(PETAL_LIVE_TARGET);
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let msg = this.#queue.shift(); msg; msg = this.#queue.shift()) await this.#handle(msg, 'shell');
    } finally {
      this.#draining = false;
    }
  }

  #onControl(frames: Uint8Array[]): void {
    let msg: Message;
    try {
      msg = this.#wire.decode(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)));
    } catch {
      return;
    }
    void this.#handle(msg, 'control');
  }

  /** `quiet`: no busy/idle (a live comm message while a cell runs: the kernel stays busy with that cell). */
  async #handle(msg: Message, channel: 'shell' | 'control', quiet = false): Promise<void> {
    const type = msg.header.msg_type;
    const previous = this.#parent;
    this.#parent = msg;
    if (!quiet) this.#publish('status', { execution_state: 'busy' }, [], msg.header);
    try {
      switch (type) {
        case 'kernel_info_request':
          this.#reply(msg, channel, 'kernel_info_reply', kernelInfo());
          break;
        case 'execute_request':
          await this.#execute(msg, channel);
          break;
        case 'complete_request':
          this.#complete(msg, channel);
          break;
        case 'inspect_request':
          this.#inspect(msg, channel);
          break;
        case 'is_complete_request':
          this.#reply(msg, channel, 'is_complete_reply', this.#evaluator.isComplete(String(msg.content.code ?? '')));
          break;
        case 'history_request':
          this.#reply(msg, channel, 'history_reply', {
            status: 'ok',
            history: this.#history.query(msg.content as HistoryRequest),
          });
          break;
        case 'comm_info_request': {
          const target = msg.content.target_name;
          this.#reply(msg, channel, 'comm_info_reply', {
            status: 'ok',
            comms: this.#comms.info(typeof target === 'string' ? target : undefined),
          });
          break;
        }
        case 'comm_open':
          this.#runComm(() => this.#comms.handleOpen(msg.content, msg.buffers));
          break;
        case 'comm_msg':
          this.#runComm(() => this.#comms.handleMsg(msg.content, msg.buffers));
          break;
        case 'comm_close':
          this.#runComm(() => this.#comms.handleClose(msg.content, msg.buffers));
          break;
        case 'shutdown_request':
          await this.#shutdownRequest(msg, channel);
          return;
        case 'interrupt_request': // on shell (control's is answered by the io worker)
          process.kill(process.pid, 'SIGINT');
          this.#reply(msg, channel, 'interrupt_reply', { status: 'ok' });
          break;
        default:
          // Unknown requests get no reply, as in ipykernel; a *_request still gets an error reply so no one waits.
          if (type.endsWith('_request')) {
            this.#reply(msg, channel, type.replace(/_request$/, '_reply'), {
              status: 'error',
              ename: 'PETAL_KERNEL_UNSUPPORTED',
              evalue: `the Petal kernel does not handle ${type}`,
              traceback: [],
            });
          }
      }
    } finally {
      // A shutdown published its idle before closing the sockets.
      if (type !== 'shutdown_request' && !quiet) this.#publish('status', { execution_state: 'idle' }, [], msg.header);
      if (type !== 'execute_request') this.#parent = previous ?? msg;
    }
  }

  /** Comm handlers are user code: their errors show as an error output, the kernel goes on. */
  #runComm(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#publish('error', { ...errorContent(err) });
    }
  }

  async #execute(msg: Message, channel: 'shell' | 'control'): Promise<void> {
    const content = msg.content as {
      code?: string;
      silent?: boolean;
      store_history?: boolean;
      allow_stdin?: boolean;
      stop_on_error?: boolean;
    };
    const code = String(content.code ?? '');
    const silent = content.silent === true;
    const storeHistory = !silent && content.store_history !== false;
    if (!silent) this.#count += 1;
    const count = this.#count;
    if (!silent) this.#publish('execute_input', { code, execution_count: count });
    if (storeHistory) this.#history.add(count, code);
    this.#allowStdin = content.allow_stdin === true;
    this.#executing = true;
    this.#executions += 1;
    const outcome = await this.#evaluator.execute(code).finally(() => (this.#executing = false));
    this.#allowStdin = false;
    if (outcome.ok) {
      if (outcome.hasValue && !silent && !isShown(outcome.value)) {
        let bundle;
        try {
          bundle = mimeBundle(outcome.value);
        } catch (err) {
          bundle = undefined;
          this.#publish('error', { ...errorContent(err) });
        }
        if (bundle) {
          this.#publish('execute_result', { execution_count: count, ...bundle });
          if (storeHistory) this.#history.setOutput(count, String(bundle.data['text/plain'] ?? ''));
        }
      }
      this.#reply(msg, channel, 'execute_reply', {
        status: 'ok',
        execution_count: count,
        user_expressions: {},
        payload: [],
      });
      return;
    }
    const error = errorContent(outcome.error);
    this.#publish('error', { ...error });
    this.#reply(msg, channel, 'execute_reply', { status: 'error', execution_count: count, ...error });
    if (content.stop_on_error !== false) this.#abortQueued();
  }

  /**
   * After a failed cell (stop_on_error), the cells sent behind it are not run: each gets an aborted reply. "Behind
   * it" is what is queued now, plus what arrives within ABORT_WINDOW_MS but was sent (header date) before the
   * failure: "Run all" sends every cell at once and some may still be on the wire, while a cell sent after the
   * error reply arrived is a new request and runs.
   */
  #abortQueued(): void {
    this.#abortingUntil = Date.now() + ABORT_WINDOW_MS;
    this.#failedAt = Date.now();
    const aborted = this.#queue.filter((m) => m.header.msg_type === 'execute_request');
    this.#queue = this.#queue.filter((m) => m.header.msg_type !== 'execute_request');
    for (const msg of aborted) this.#abort(msg);
  }

  #sentBeforeFailure(msg: Message): boolean {
    if (msg.header.msg_type !== 'execute_request' || Date.now() >= this.#abortingUntil) return false;
    const sent = Date.parse(msg.header.date);
    return Number.isFinite(sent) && sent < this.#failedAt;
  }

  #abort(msg: Message): void {
    this.#publish('status', { execution_state: 'busy' }, [], msg.header);
    this.#reply(msg, 'shell', 'execute_reply', { status: 'aborted', execution_count: null });
    this.#publish('status', { execution_state: 'idle' }, [], msg.header);
  }

  #complete(msg: Message, channel: 'shell' | 'control'): void {
    const code = String(msg.content.code ?? '');
    const cursor = Number(msg.content.cursor_pos ?? code.length);
    try {
      const { start, end, matches } = this.#evaluator.complete(code, cursor);
      this.#reply(msg, channel, 'complete_reply', {
        status: 'ok',
        matches,
        cursor_start: start,
        cursor_end: end,
        metadata: {},
      });
    } catch (err) {
      this.#reply(msg, channel, 'complete_reply', { status: 'error', ...errorContent(err) });
    }
  }

  #inspect(msg: Message, channel: 'shell' | 'control'): void {
    const code = String(msg.content.code ?? '');
    const cursor = Number(msg.content.cursor_pos ?? code.length);
    try {
      const text = this.#evaluator.inspect(code, cursor);
      this.#reply(msg, channel, 'inspect_reply', {
        status: 'ok',
        found: text !== undefined,
        data: text === undefined ? {} : { 'text/plain': text },
        metadata: {},
      });
    } catch (err) {
      this.#reply(msg, channel, 'inspect_reply', { status: 'error', ...errorContent(err) });
    }
  }

  async #shutdownRequest(msg: Message, channel: 'shell' | 'control'): Promise<void> {
    const restart = msg.content.restart === true;
    this.#publish('status', { execution_state: 'idle' }, [], msg.header);
    // What the kernel started goes first; the reply says it is done.
    const failures = await this.#resources.stopAll();
    this.#reply(msg, channel, 'shutdown_reply', {
      status: failures.length === 0 ? 'ok' : 'error',
      restart,
      ...(failures.length === 0
        ? {}
        : { ename: 'PETAL_KERNEL_SHUTDOWN', evalue: failures.join('; '), traceback: failures }),
    });
    await this.shutdown(failures.length === 0 ? 0 : 1);
  }

  // -----------------------------------------------------------------------------------------------------------
  // Globals a cell uses: its stdout/stderr, prompt() and confirm(), tslab's display API.

  #installGlobals(): void {
    const writer =
      (name: 'stdout' | 'stderr') =>
      (
        chunk: string | Uint8Array,
        encoding?: BufferEncoding | ((err?: Error | null) => void),
        callback?: () => void,
      ) => {
        this.#write(
          name,
          typeof chunk === 'string'
            ? chunk
            : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8'),
        );
        const done = typeof encoding === 'function' ? encoding : callback;
        if (done) queueMicrotask(() => done());
        return true;
      };
    process.stdout.write = writer('stdout') as typeof process.stdout.write;
    process.stderr.write = writer('stderr') as typeof process.stderr.write;
    this.#evaluator.provide('prompt', (message = '', defaultValue?: string): string | null => {
      const answer = this.#input(String(message), false);
      return answer === '' && defaultValue !== undefined ? defaultValue : answer;
    });
    this.#evaluator.provide('confirm', (message = ''): boolean =>
      /^y(es)?$/i.test(this.#input(`${String(message)} [y/N] `, false).trim()),
    );
    // tslab's own display API (`import * as tslab from "tslab"; tslab.display.html(…)`) writes through this hook.
    const jupyter = createRequire(createRequire(import.meta.url).resolve('tslab/dist/main.js'))('./jupyter.js') as {
      lastWriteDisplayData: unknown;
    };
    jupyter.lastWriteDisplayData = (data: Record<string, unknown>, update: boolean) =>
      this.#publish(update ? 'update_display_data' : 'display_data', data);
  }

  /** Blocks the cell until the frontend answers an input_request. */
  #input(prompt: string, password: boolean): string {
    const parent = this.#parent;
    if (!parent || parent.header.msg_type !== 'execute_request' || !this.#allowStdin) {
      throw new PetalError(
        'PETAL_STDIN',
        'this frontend does not take input (its execute_request has allow_stdin false)',
        {
          fix: 'run the cell from JupyterLab or `jupyter console`, or pass the value in code',
        },
      );
    }
    this.#flushStreams();
    const buffer = createInputBuffer();
    this.#io.worker.postMessage({
      kind: 'input',
      idents: parent.idents,
      parent: parent.header,
      prompt,
      password,
      buffer,
    } satisfies FromMain);
    const { state, value } = waitForInput(buffer);
    if (state === INPUT_CANCELLED) throw new Interrupted();
    return value;
  }
}
