// The "petal" module object cells import, built once per kernel from the kernel's parts. Its type is PetalModule
// (types.ts), the declaration cells are checked against.
import type { CommManager } from '../comms.ts';
import type { MagicRegistry } from '../magics/registry.ts';
import type { Resources } from '../resources.ts';
import { createKafkaApi } from './kafka.ts';
import type { KafkaApiOptions } from './kafka.ts';
import { createNpmApi } from './npm.ts';
import type { DisplayHandle, DisplayOptions, Help, PetalModule } from './types.ts';

/** Where the API's outputs go: the kernel publishes them on iopub for the running cell. */
export interface OutputSink {
  display(value: unknown, displayId: string, update: boolean): void;
  clear(wait: boolean): void;
  write(stream: 'stdout' | 'stderr', text: string): void;
}

export interface ApiOptions {
  resources: Resources;
  magics: MagicRegistry;
  comms: CommManager;
  output: OutputSink;
  /** The notebook folder. */
  dir: string;
  kafka?: Omit<KafkaApiOptions, 'resources'>;
}

let displays = 0;

export function createPetalApi(options: ApiOptions): PetalModule {
  const { magics, comms, output } = options;
  const api: PetalModule = {
    kafka: createKafkaApi({ ...options.kafka, resources: options.resources }),
    npm: createNpmApi({ dir: options.dir, resources: options.resources, write: output.write }),
    comms: {
      registerTarget: (name, handler) => comms.registerTarget(name, handler),
      unregisterTarget: (name) => comms.unregisterTarget(name),
      open: (target, data, buffers) => comms.open(target, data, buffers),
    },
    display(value: unknown, displayOptions: DisplayOptions = {}): DisplayHandle {
      const id = displayOptions.id ?? `petal-${process.pid}-${++displays}`;
      output.display(value, id, false);
      return { id, update: (next: unknown) => output.display(next, id, true) };
    },
    clearOutput(wait = false): void {
      output.clear(wait);
    },
    async magic(line: string): Promise<unknown> {
      const { magic, call } = magics.parseLine(line);
      return await magic.run(call, api);
    },
    help(name?: string): Help {
      const text = magics.help(name);
      return { text, [Symbol.for('Jupyter.display')]: () => ({ 'text/plain': text }) } as Help;
    },
  };
  return api;
}
