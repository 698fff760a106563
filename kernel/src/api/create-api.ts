// The "petal" module object cells import, built once per kernel from the kernel's parts. Its type is PetalModule
// (types.ts), the declaration cells are checked against.
import { imageTable, listImageFolder, loadTf, locateFlowers, stratifiedSplit, transferModel } from '@petal/runtime';
import type { CommManager } from '../comms.ts';
import { LiveOutputs } from '../live/live-outputs.ts';
import type { MagicRegistry } from '../magics/registry.ts';
import { shown } from '../display.ts';
import { cardValue } from '../outputs/card-bundle.ts';
import type { Resources } from '../resources.ts';
import { createClusterApi } from './cluster.ts';
import { createGallery } from './gallery.ts';
import type { ClusterApiDeps } from './cluster.ts';
import { createKafkaApi } from './kafka.ts';
import type { KafkaApiOptions } from './kafka.ts';
import { createNpmApi } from './npm.ts';
import { createStreamApi } from './stream.ts';
import { TaskLogs } from './task-logs.ts';
import { Interrupts } from './interrupts.ts';
import { createTrainApi } from './train.ts';
import type { DisplayHandle, DisplayOptions, Help, PetalModule, TfModule } from './types.ts';

/** Where the API's outputs go: the kernel publishes them on iopub for the running cell. */
export interface OutputSink {
  display(value: unknown, displayId: string, update: boolean): void;
  clear(wait: boolean): void;
  write(stream: 'stdout' | 'stderr', text: string): void;
  /** Whether a cell runs now (its outputs would show under it). */
  executing(): boolean;
}

export interface ApiOptions {
  resources: Resources;
  magics: MagicRegistry;
  comms: CommManager;
  output: OutputSink;
  /** The notebook folder. */
  dir: string;
  kafka?: Omit<KafkaApiOptions, 'resources'>;
  cluster?: ClusterApiDeps['startOptions'];
  /** What an interrupt of the kernel stops (streams, training jobs); default: nothing outside this API hears of them. */
  interrupts?: Interrupts;
}

let displays = 0;

export function createPetalApi(options: ApiOptions): PetalModule {
  const { magics, comms, output, resources } = options;
  const kafka = createKafkaApi({ ...options.kafka, resources });
  const live = new LiveOutputs(comms, output);
  const logs = new TaskLogs();
  const cluster = createClusterApi({ resources, live, output, logs, startOptions: options.cluster });
  const interrupts = options.interrupts ?? new Interrupts();
  const streams = createStreamApi({ kafka, live, interrupts });
  const api: PetalModule = {
    get tf(): TfModule {
      return loadTf();
    },
    kafka,
    stream: (data, streamOptions) => streams.stream(data, streamOptions),
    topics: () => streams.topics(),
    cluster: { up: (o) => cluster.up(o), down: () => cluster.down(), status: () => cluster.status() },
    train: createTrainApi({
      kafka,
      cluster,
      live,
      output,
      interrupts,
      resolveTopic: (name) => streams.resolve(name),
    }),
    gallery: createGallery(output, () => `petal-${process.pid}-${++displays}`),
    logs: (task) => cardValue('logs', logs.card(task)),
    datasets: { locateFlowers, listImageFolder, imageTable, stratifiedSplit },
    models: { transferModel },
    npm: createNpmApi({ dir: options.dir, resources: options.resources, write: output.write }),
    comms: {
      registerTarget: (name, handler) => comms.registerTarget(name, handler),
      unregisterTarget: (name) => comms.unregisterTarget(name),
      open: (target, data, buffers) => comms.open(target, data, buffers),
    },
    display(value: unknown, displayOptions: DisplayOptions = {}): DisplayHandle {
      const id = displayOptions.id ?? `petal-${process.pid}-${++displays}`;
      output.display(value, id, false);
      return shown({ id, update: (next: unknown) => output.display(next, id, true) });
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
