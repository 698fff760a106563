// kernel_info_reply content, and the io worker's start: both light (no TypeScript, no tslab), so the heartbeat and
// control answer within a moment of the process starting, before the main thread has loaded TypeScript.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { PetalError } from '@petal/runtime';
import type { ToMain } from './io-messages.ts';
import type { ConnectionInfo } from './wire.ts';
import { PROTOCOL_VERSION } from './wire.ts';

const require = createRequire(import.meta.url);
const kernelVersion = (require('../package.json') as { version: string }).version;
/** The TypeScript version tslab type-checks cells with. */
export const TYPESCRIPT_VERSION = (
  createRequire(require.resolve('tslab/dist/main.js'))('@tslab/typescript-for-tslab/package.json') as {
    version: string;
  }
).version;

/** kernel_info_reply content. */
export function kernelInfo(): Record<string, unknown> {
  return {
    status: 'ok',
    protocol_version: PROTOCOL_VERSION,
    implementation: 'petal',
    implementation_version: kernelVersion,
    language_info: {
      name: 'typescript',
      version: TYPESCRIPT_VERSION,
      mimetype: 'text/typescript',
      file_extension: '.ts',
      codemirror_mode: { name: 'javascript', typescript: true },
    },
    banner: `TypeScript (Petal) ${kernelVersion}: TypeScript ${TYPESCRIPT_VERSION} on Node ${process.version}. %help lists the magics.`,
    help_links: [],
    debugger: false,
  };
}

/** The io worker thread, with what it said before anyone listened. */
export interface IoWorker {
  worker: Worker;
  /** Resolves once its sockets are bound; rejects when they cannot be. */
  ready: Promise<void>;
  /** Receives control requests; those that arrived earlier are delivered at once. */
  onControl(handler: (frames: Uint8Array[]) => void): void;
}

/** Starts the thread that owns heartbeat, control and stdin (io-worker.ts). */
export function startIoWorker(connection: ConnectionInfo): IoWorker {
  const worker = new Worker(new URL('./io-worker.ts', import.meta.url), {
    workerData: { connection, kernelInfo: kernelInfo() },
  });
  let early: Uint8Array[][] | undefined = [];
  let handler: ((frames: Uint8Array[]) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (message: ToMain) => {
      if (message.kind === 'ready') resolve();
      else if (message.kind === 'failed') reject(new PetalError('PETAL_KERNEL_SOCKETS', message.message));
      else if (handler) handler(message.frames);
      else early?.push(message.frames);
    });
    worker.once('error', reject);
  });
  ready.catch(() => {}); // the kernel awaits it; an early failure must not count as unhandled meanwhile
  return {
    worker,
    ready,
    onControl(h) {
      handler = h;
      for (const frames of early ?? []) h(frames);
      early = undefined;
    },
  };
}
