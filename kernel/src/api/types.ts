// The typed API cells import from "petal". This file holds declarations only and imports nothing: the kernel serves
// its text as the declaration of the module "petal" to the cells' TypeScript service (completion, type errors), and
// the implementation (create-api.ts) is checked against it by tsc, so the two cannot drift.

/** Who started the Kafka broker a kernel sees. */
export type KafkaOwner = 'kernel' | 'petal kafka up' | 'npm start' | 'another process';

/** The embedded Kafka broker, as `%kafka status` shows it. */
export interface KafkaStatus {
  state: 'up' | 'down';
  /** `host:port` of the client listener, when up. */
  bootstrap?: string;
  pid?: number;
  owner?: KafkaOwner;
  dataDir: string;
  logFile: string;
  /** What happened, in a sentence ("started", "already running", "stopped"). */
  note?: string;
}

/** Where a broker is and how to authenticate to it. */
export interface KafkaConnectionInfo {
  bootstrap: string;
  sasl: { mechanism: 'PLAIN'; username: string; password: string };
}

/** Options of `kafka.up()`. */
export interface KafkaUpOptions {
  /** Client port; default a free one. */
  port?: number;
  /** JVM heap in MiB; default 1024. */
  heapMb?: number;
}

/** The embedded Kafka broker (`%kafka up|down|status`). */
export interface KafkaApi {
  /** Starts the broker unless one runs; one started here stops when the kernel shuts down. */
  up(options?: KafkaUpOptions): Promise<KafkaStatus>;
  /** Stops the broker this kernel started (or the one `petal kafka up` left running). */
  down(): Promise<KafkaStatus>;
  status(): KafkaStatus;
  /** Bootstrap address and credentials for Kafka clients; throws when no broker runs. */
  connection(): KafkaConnectionInfo;
}

/** Handles one message (or the close) of a comm. */
export type CommMessageHandler = (data: Record<string, unknown>, buffers: Uint8Array[]) => void;

/** A channel to a frontend widget. */
export interface Comm {
  readonly id: string;
  readonly target: string;
  readonly closed: boolean;
  send(data?: Record<string, unknown>, buffers?: readonly Uint8Array[]): void;
  close(data?: Record<string, unknown>): void;
  onMsg(handler: CommMessageHandler): void;
  onClose(handler: CommMessageHandler): void;
}

/** Called when the frontend opens a comm to a registered target. */
export type CommHandler = (comm: Comm, data: Record<string, unknown>, buffers: Uint8Array[]) => void;

/** Comms with the frontend. */
export interface CommsApi {
  registerTarget(name: string, handler: CommHandler): void;
  unregisterTarget(name: string): void;
  open(target: string, data?: Record<string, unknown>, buffers?: readonly Uint8Array[]): Comm;
}

/** An output shown with an id, so it can be replaced later. */
export interface DisplayHandle {
  readonly id: string;
  update(value: unknown): void;
}

/** Options of `display()`. */
export interface DisplayOptions {
  /** Names the output so `update()` can replace it; default a new id. */
  id?: string;
}

/** Installing npm packages for this notebook (`%npm install`). */
export interface NpmApi {
  /** Runs `npm install` in the notebook's folder (install scripts off); resolves to the installed specs. */
  install(...packages: string[]): Promise<string[]>;
}

/** The text of `%help`. */
export interface Help {
  readonly text: string;
}

/** Everything `import { … } from "petal"` offers. */
export interface PetalModule {
  kafka: KafkaApi;
  comms: CommsApi;
  npm: NpmApi;
  /** Shows `value` (rich when it has a `Symbol.for("Jupyter.display")` method) below the cell. */
  display(value: unknown, options?: DisplayOptions): DisplayHandle;
  /** Clears the cell's output; `wait` clears when the next output arrives. */
  clearOutput(wait?: boolean): void;
  /** Runs a magic line, e.g. `magic("kafka status")`: what `%kafka status` does. */
  magic(line: string): Promise<unknown>;
  /** The magics and their flags (what `%help` shows). */
  help(magic?: string): Help;
}
