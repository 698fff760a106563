// The typed API cells import from "petal". This file holds declarations only: the kernel serves its text as the
// declaration of the module "petal" to the cells' TypeScript service (completion, type errors), and the
// implementation (create-api.ts) is checked against it by tsc, so the two cannot drift. Its only import is the output
// cards' types; the kernel rewrites that specifier to an absolute path when serving it (see declaration.ts), so cells
// type-check wherever the notebook folder is. tfjs-node's declarations are not imported here: loading them costs a
// second or more, so the kernel adds them (PetalKernelTypes) once a cell mentions `tf` (evaluator.ts). Types mirrored
// from the runtime are checked against the runtime's own in mirror-checks.ts.
import type { ClusterCard, GalleryCard, LogsCard, TrainCard } from '../outputs/types.ts';

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

declare global {
  /** Types the kernel serves on demand: `tf` (tfjs-node's module type) from the first cell that mentions `tf`. */
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
  interface PetalKernelTypes {}
}

/** Native TensorFlow (tfjs-node on libtensorflow), as `loadTf()` gives it (typed once a cell mentions `tf`). */
export type TfModule = PetalKernelTypes extends { tf: infer T } ? T : unknown;

/** A tfjs layers model, as cells build them with `tf.sequential()` / `tf.model()` (what train() reads of one). */
export interface LayersModel {
  name: string;
  toJSON(unused?: null, returnString?: boolean): unknown;
}

/** How a column becomes a tensor (the runtime's FeatureKind). */
export type FeatureKind = 'numeric' | 'vector' | 'image' | 'label' | 'onehot';

/** One column's mapping (the runtime's Feature). */
export interface Feature {
  column: string;
  kind?: FeatureKind;
  height?: number;
  width?: number;
  channels?: 1 | 3;
  /** image: the range pixels are scaled to (default [0, 1]; MobileNet-style models take [-1, 1]). */
  scale?: [number, number];
  /** image: random transforms per batch (give them on the train feed's features only). */
  augment?: AugmentOptions;
  /** onehot/label over an integer column: the number of classes. */
  depth?: number;
}

/** Training-time image augmentation (the runtime's AugmentOptions); each transform is off unless given. */
export interface AugmentOptions {
  /** Mirror half of the images left-right. */
  flip?: boolean;
  /** Crop a random square of at least `1 - zoom` of the side and resize it back, e.g. 0.2. */
  zoom?: number;
  /** Shift each image's brightness by up to ± this share of the pixel range, e.g. 0.1. */
  brightness?: number;
  seed?: number;
}

/** Columns → tensors: xs one feature or several concatenated; ys optional (the runtime's FeatureSpec). */
export interface FeatureSpec {
  xs: string | Feature | (string | Feature)[];
  ys?: string | Feature;
}

/** What `stream()` accepts: an Arrow Table, a nodejs-polars DataFrame, an Arquero table or records, or chunks of those. */
export type StreamData = object | Iterable<object> | AsyncIterable<object>;

/** Options of `stream()`. */
export interface StreamApiOptions {
  /** The name: with `fresh` (default) the topic gets a time suffix, and `topics()` maps the name to it. */
  topic: string;
  /** Partition count of a new topic (default 8). */
  partitions?: number;
  /** false writes the topic named exactly `topic` (default true: a new topic per call). */
  fresh?: boolean;
  /** Checked against the data now and stored with the topic as the feeds' default. */
  features?: FeatureSpec;
  /** Fixed vocabularies of string columns. */
  vocabularies?: Record<string, string[]>;
  /** Target size of one Arrow IPC message in bytes (default 2 MiB). */
  messageBytes?: number;
}

/** What `stream()` wrote (the runtime's StreamSummary). */
export interface StreamSummary {
  topic: string;
  partitions: number;
  rows: number;
  bytes: number;
  batches: number;
  partitionRows: number[];
  schema: { name: string; type: string }[];
  fingerprint: string;
  vocabularies: Record<string, string[]>;
  /** What the data may do to training that is not an error (rows ordered by label). */
  warnings: string[];
}

/** How the parameter servers apply updates. */
export type ClusterMode = 'sync' | 'async' | `ssp:${number}`;

/** Options of `cluster.up()`. */
export interface ClusterUpOptions {
  /** Parameter servers (default 1). */
  ps?: number;
  /** Workers (default 2). */
  workers?: number;
  /** default `sync`. */
  mode?: ClusterMode;
  /** Failed workers replaced in the cluster's life before a failure fails it (default 3; 0 fails at once). */
  maxRestarts?: number;
}

/** The cluster of this kernel (`%cluster up|down|status`); one at a time, stopped when the kernel shuts down. */
export interface ClusterApi {
  /** Starts PS and worker processes (all or nothing) and shows the cluster panel; fails when one is already up. */
  up(options?: ClusterUpOptions): Promise<ClusterCard>;
  /** Stops every task of the cluster; resolves once their processes are gone. */
  down(): Promise<ClusterCard | undefined>;
  /** The cluster panel now (tasks, states, heartbeat ages); throws when no cluster is up. */
  status(): ClusterCard;
}

/** Optimizer by tfjs name with tfjs's parameters (the runtime's OptimizerSpec). */
export interface OptimizerSpec {
  name: 'sgd' | 'momentum' | 'adam' | 'rmsprop';
  learningRate?: number;
  momentum?: number;
  useNesterov?: boolean;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  decay?: number;
  centered?: boolean;
  /** Keras' CosineDecay: the rate falls along half a cosine to `alpha × learningRate` over `decaySteps` updates. */
  schedule?: { name: 'cosineDecay'; decaySteps: number; alpha?: number };
  /** Keras' use_ema: the saved model holds moving averages of the trained weights (momentum default 0.99). */
  useEma?: boolean;
  emaMomentum?: number;
}

/** A layer-name rule (`*` any run of characters); the last matching rule wins (the runtime's TrainableRule). */
export interface TrainableRule {
  pattern: string;
  trainable: boolean;
}

/** A named feed of a job (the runtime's JobFeedSpec); `topic` may be a name given to `stream()`. */
export interface JobFeedSpec {
  topic: string;
  features?: FeatureSpec;
  shuffleBuffer?: number;
  batchSize?: number;
}

/** Options of `train()`. */
export interface TrainOptions {
  model: LayersModel;
  /** An OptimizerSpec, or a name with tfjs's default parameters (`"adam"`). */
  optimizer: OptimizerSpec | OptimizerSpec['name'];
  loss: string;
  metrics?: string[];
  /** A feed is a name given to `stream()` (its last topic), an exact topic name, or a JobFeedSpec. */
  feeds: { train: string | JobFeedSpec; validation?: string | JobFeedSpec };
  batchSize: number;
  epochs: number;
  /** A tfjs layers model folder (or model.json) whose weights, matched by name, start the run. */
  initialWeights?: string;
  trainable?: TrainableRule[];
  /** Every PS checkpoints every `everySteps` steps into `dir`. */
  checkpoint?: { dir: string; everySteps: number; keep?: number };
  seed?: number;
  /** Where the model, checkpoints and TensorBoard events go (default: a new run folder in the state dir). */
  outDir?: string;
}

/** Loss and metrics of one pass. */
export interface Figures {
  loss: number;
  metrics: Record<string, number>;
}

/** What `train()` returns. */
export interface TrainSummary {
  /** model.json of the trained model: `tf.loadLayersModel("file://" + modelPath)`. */
  modelPath: string;
  globalStep: number;
  /** The chief's last epoch, and its validation pass when the job has a validation feed. */
  final: (Figures & { validation?: Figures }) | undefined;
  /** The training card as it ended (every epoch point). */
  card: TrainCard;
}

/** What `gallery()` shows: a GalleryCard without its version. */
export type GalleryOptions = Omit<GalleryCard, 'version' | 'live' | 'error'>;

/** One image file of a folder dataset and its class (the folder it sits in). */
export interface ImageEntry {
  path: string;
  label: string;
}

/** An Apache Arrow table (apache-arrow's Table, as `stream()` takes it), seen through what cells usually read. */
export interface ArrowTable {
  readonly numRows: number;
  getChild(name: string): { readonly length: number; get(index: number): unknown } | null;
}

/** Image datasets laid out as `<root>/<class>/<file>.jpg`, the tf_flowers photos first. */
export interface DatasetsApi {
  /** The tf_flowers folder: `dir`, else PETAL_DATA_DIR/flowers or `../shared/data/flowers`, else the cache, else a
   * download of TensorFlow's flower_photos.tgz (unless `download: false`). */
  locateFlowers(options?: { dir?: string; download?: boolean; url?: string }): Promise<string>;
  /** The images under `root`, classes and files sorted by name; `perClass` keeps the first N of each class. */
  listImageFolder(root: string, options?: { perClass?: number }): Promise<ImageEntry[]>;
  /** Reads the files into an Arrow table: `path`, `label` (strings) and `image` (the JPEG/PNG bytes, Binary). */
  imageTable(entries: readonly ImageEntry[]): Promise<ArrowTable>;
  /** A seeded split holding out `validation` (default 0.2) of every class; both parts come shuffled. */
  stratifiedSplit<T>(
    items: readonly T[],
    options: { key: (item: T) => string; validation?: number; seed?: number },
  ): { train: T[]; validation: T[] };
}

/** Options of `models.transferModel()` (the runtime's TransferModelOptions). */
export interface TransferModelOptions {
  /** Number of output classes (softmax). */
  classes: number;
  /** A tfjs layers model: folder, model.json or URL (default MobileNet v1 0.25/224: the local copy, else online). */
  base?: string;
  /** The last base layer kept (default `conv_pw_13_relu`). */
  cut?: string;
  /** Base layer-name patterns that keep training, e.g. `['conv_pw_13']` (default none: the base is frozen). */
  fineTune?: string[];
  /** Dropout before the classifier (default 0.2). */
  dropout?: number;
  /** Seeds the head's initial weights. */
  seed?: number;
}

/** A pretrained base cut at a layer (BatchNorms folded in) plus a pooling-dropout-softmax head. */
export interface TransferModel {
  readonly model: LayersModel;
  /** The freeze rules for `train({ trainable })`: the base frozen except `fineTune`, the head trainable. */
  readonly trainable: TrainableRule[];
  /** [height, width, channels] the model takes. */
  readonly inputShape: [number, number, number];
  /** Saves topology and weights into `dir` and returns it: pass it as `train({ initialWeights })`. */
  save(dir: string): Promise<string>;
  dispose(): void;
}

/** Model builders. */
export interface ModelsApi {
  /** MobileNet (or another tfjs layers model) up to `cut`, with a new head for `classes`. */
  transferModel(options: TransferModelOptions): Promise<TransferModel>;
}

/** Everything `import { … } from "petal"` offers. */
export interface PetalModule {
  /** Native TensorFlow (tfjs-node): build models with it, pass them to `train()`. */
  tf: TfModule;
  /** Streams `data` into a new Kafka topic as Arrow batches, with a live progress card (`%%stream NAME`). */
  stream(data: StreamData, options: StreamApiOptions): Promise<StreamSummary>;
  /** Names given to `stream()` → the topic each last wrote. */
  topics(): Record<string, string>;
  cluster: ClusterApi;
  /** Trains `options.model` on the running cluster, with a live training card (`%train EXPR`). */
  train(options: TrainOptions): Promise<TrainSummary>;
  /** Shows images with labels, predictions and probabilities, and optionally a confusion matrix. */
  gallery(card: GalleryOptions): GalleryCard;
  /** Image folder datasets: locate (or download) tf_flowers, list, read into Arrow, split. */
  datasets: DatasetsApi;
  /** Transfer-learning models. */
  models: ModelsApi;
  /** The last log lines of the cluster's tasks (or of one, `worker:1`) the kernel kept (`%logs [TASK]`). */
  logs(task?: string): LogsCard;
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
