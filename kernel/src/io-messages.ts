// What the main thread and the io worker (io-worker.ts) tell each other.
import type { Header } from './wire.ts';

/** Main thread → io worker. */
export type FromMain =
  | { kind: 'send'; frames: Uint8Array[] }
  | {
      kind: 'input';
      idents: Uint8Array[];
      parent: Header;
      prompt: string;
      password: boolean;
      buffer: SharedArrayBuffer;
    }
  | { kind: 'close' };

/** io worker → main thread. */
export type ToMain =
  { kind: 'ready' } | { kind: 'control'; frames: Uint8Array[] } | { kind: 'failed'; message: string };
