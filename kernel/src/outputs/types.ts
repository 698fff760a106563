// The contract between the kernel and the labextension for Petal's rich outputs. Node-free and type-only apart from
// the constants, so the labextension can import it (`@petal/kernel/outputs`) without pulling in the kernel.
//
// How a live output works (the ipywidgets pattern, without ipywidgets):
// 1. The kernel sends `display_data` with a display id; the bundle holds the card under its MIME type, plus
//    text/plain (and text/html where useful) fallbacks for VS Code, nbconvert and GitHub.
// 2. A renderer that sees `card.live` opens a comm to the kernel's `PETAL_LIVE_TARGET` with `{ displayId }`; the
//    kernel answers on that comm with `LiveUpdate`s at up to ~10 Hz while the work runs, then closes it.
// 3. The kernel also sends `update_display_data` with the full card at ~1 Hz and once at the end (with `live`
//    removed), so a saved or reopened notebook shows the final state and frontends without the extension still move.

/** Comm target the kernel registers for live outputs. */
export const PETAL_LIVE_TARGET = 'petal.live';

/** The MIME type of each output kind. */
export const PETAL_MIME = {
  cluster: 'application/vnd.petal.cluster+json',
  stream: 'application/vnd.petal.stream+json',
  train: 'application/vnd.petal.train+json',
  gallery: 'application/vnd.petal.gallery+json',
  logs: 'application/vnd.petal.logs+json',
} as const;

/** One output kind. */
export type PetalOutputKind = keyof typeof PETAL_MIME;

/** Present while the kernel still sends updates for this output. */
export interface LiveRef {
  /** The display id of the output; the comm's open message carries it back. */
  displayId: string;
}

/** Fields every card has. */
export interface CardBase {
  version: 1;
  live?: LiveRef;
  /** Set when the work behind the card failed: the error as the cell shows it. */
  error?: { code?: string; message: string; fix?: string };
}

/** One task of a cluster, as the cluster panel shows it. */
export interface TaskCard {
  id: string;
  role: string;
  index: number;
  host: string;
  port?: number;
  pid: number;
  devices: string[];
  /** `stopped`: the cluster was taken down (`%cluster down`); the heartbeat age then means nothing. */
  state: 'up' | 'failed' | 'stopped';
  /** Milliseconds since the task's last heartbeat, when the card was made. */
  heartbeatAgeMs: number;
  failure?: string;
  /** How many times this task was replaced after a failure. */
  restarts?: number;
}

/** `application/vnd.petal.cluster+json`: the cluster panel. */
export interface ClusterCard extends CardBase {
  state: 'starting' | 'running' | 'checkpointing' | 'restarting' | 'stopping' | 'stopped' | 'failed';
  generation: number;
  mode: string;
  pool: string;
  coordinator: { host: string; port: number };
  tasks: TaskCard[];
  /** Wall time of `cluster up` to ready, when known. */
  readyMs?: number;
  /** Failed workers replaced so far, and how many the cluster may replace in its life (`--max-restarts`). */
  restarts?: number;
  maxRestarts?: number;
}

/** `application/vnd.petal.stream+json`: a `%%stream` summary with its progress bar. */
export interface StreamCard extends CardBase {
  topic: string;
  state: 'streaming' | 'done' | 'failed';
  rows: number;
  /** Rows in the input; -1 when only known at the end. */
  totalRows: number;
  bytes: number;
  elapsedMs: number;
  partitions: { rows: number; bytes: number; batches: number }[];
  schema?: { name: string; type: string }[];
  /** Rows skipped by the decode policy `skip`, with the first reasons. */
  skipped?: { rows: number; reasons: string[] };
}

/** One point of a training curve. */
export interface TrainPoint {
  step: number;
  epoch: number;
  loss: number;
  metrics: Record<string, number>;
  examplesPerSec: number;
}

/** One finished epoch. */
export interface EpochPoint {
  epoch: number;
  loss: number;
  metrics: Record<string, number>;
  validation?: { loss: number; metrics: Record<string, number> };
  examplesPerSec: number;
  /** Step time split, summed over the epoch (ms). */
  computeMs: number;
  exchangeMs: number;
  waitMs: number;
  inputMs: number;
}

/** `application/vnd.petal.train+json`: live training metrics. */
export interface TrainCard extends CardBase {
  job: string;
  state: 'running' | 'done' | 'failed';
  mode: string;
  workers: number;
  epochs: number;
  step: number;
  /** Step points, downsampled so the card stays small (at most ~500). */
  steps: TrainPoint[];
  epochPoints: EpochPoint[];
  elapsedMs: number;
  /** Where the trained model was saved (tfjs format), once done. */
  modelPath?: string;
  /** Each worker lost during the job: the cluster replaced it and the whole job went back to `toStep`. */
  rollbacks?: TrainRollback[];
}

/** One failover of a training job, as its card records it. */
export interface TrainRollback {
  /** The lost task (`worker:1`). */
  task: string;
  /** How it was lost: `was killed (SIGKILL)`, `exited with code 1`, `fell silent (no heartbeat for 5012 ms …)`. */
  cause: string;
  /** The global step every PS and worker went back to (the newest checkpoint, or the job's start). */
  toStep: number;
  /** Epoch milliseconds. */
  time: number;
}

/** One image of a gallery. */
export interface GalleryItem {
  /** `data:image/jpeg;base64,…` or `data:image/png;base64,…`. */
  src: string;
  label?: string;
  predicted?: string;
  /** Class probabilities, in `classes` order. */
  probabilities?: number[];
  caption?: string;
}

/** `application/vnd.petal.gallery+json`: images with predictions, and optionally a confusion matrix. */
export interface GalleryCard extends CardBase {
  title?: string;
  classes: string[];
  items: GalleryItem[];
  /** confusion[actual][predicted] counts, in `classes` order. */
  confusion?: number[][];
}

/** One log line of a remote task. */
export interface LogEntry {
  task: string;
  stream: 'stdout' | 'stderr';
  text: string;
  /** Epoch milliseconds. */
  time: number;
}

/** `application/vnd.petal.logs+json`: task logs (`%logs`), newest last, bounded. */
export interface LogsCard extends CardBase {
  task?: string;
  lines: LogEntry[];
  /** Lines dropped to keep the card bounded. */
  dropped: number;
}

/** The card of each kind. */
export interface PetalCards {
  cluster: ClusterCard;
  stream: StreamCard;
  train: TrainCard;
  gallery: GalleryCard;
  logs: LogsCard;
}

/** A comm message from the kernel on a live output's comm: the whole card, replacing the last. */
export interface LiveUpdate<K extends PetalOutputKind = PetalOutputKind> {
  kind: K;
  card: PetalCards[K];
}
