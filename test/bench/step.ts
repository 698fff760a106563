// `npm run bench -- step [--rows-mlp N] [--rows-head N] [--epochs E] [--warmup W] [--rounds R] [--in-process]`
//
// One training step's throughput through Petal's cluster against a plain single-process tfjs-node loop, on two
// models: the ~4.2 M-parameter MLP of the backend bench (784 → 2048 → 1024 → 512 → 10, batch 128) and the flowers
// transfer head (a small dense head, 256 → 128 → 5, batch 32, on 256-d features: what MobileNet v1 0.25's
// conv_pw_13 gives after global average pooling; synthetic features of that shape here, not real photos).
//
// Ways, each on the same synthetic rows:
//   plain        tfjs-node in this process: the same model, Adam(1e-3), categorical cross-entropy, a custom step
//                (optimizer.minimize in tf.tidy, loss read every step like a worker does), on the same batches
//                pre-made in memory (no Kafka, no copies): the reference;
//   plain+feed   the same loop fed by one feed() over every epoch from the topic (shuffle off, as in the cluster
//                runs);
//   1+1 sync     1 PS + 1 worker, real processes started by startCluster (or trainLocalCluster with --in-process),
//                data through Kafka (a broker of this bench in a temp dir, stream() before the timed runs);
//   1+2 sync / 1+2 async   the same with 2 workers, each reading half of the partitions.
// Cluster examples/s: rows of the steps that reach the coordinator after the first W (warm-up: process start,
// TensorFlow's first kernels, first fetch) ÷ the time between. On this machine every process shares the same
// few cores (PS, workers, broker, this process), so examples per CPU-second (the whole machine's busy time from
// /proc/stat over the timed window) is printed too. `ratio` = 1+1 sync ÷ plain examples/s on the MLP (goal ≥ 0.85).
// When others load the machine, that ratio swings with their load (the ways run minutes apart), so `cpuRatio` is
// printed beside it: plain ÷ 1+1 sync CPU ms per example of only the processes doing the work (this one and the
// cluster's tasks, from /proc/PID/stat), which the load of others hardly moves. The two ways of `ratio` (plain and
// 1+1 sync on the MLP) run R times interleaved (default 3) and the best of each counts: load only ever slows a run.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Field, FixedSizeList, Float32, Int32, Table, makeData, makeVector } from 'apache-arrow';
import { feed, startBroker, startCluster, stream, trainLocalCluster } from '@petal/runtime';
import type { Broker, KafkaConnection, PsMode, StepMetrics } from '@petal/runtime';
import { loadTf } from '@petal/runtime/tf';
import type { Tf } from '@petal/runtime/tf';
import type { Scalar, Sequential, Tensor } from '@tensorflow/tfjs-node';
import { boolArg, buildMlp, collectGarbage, intArg, num, printBench, round } from './bench-util.ts';

const args = process.argv.slice(2);
const ROWS_MLP = intArg(args, '--rows-mlp', 5120);
const ROWS_HEAD = intArg(args, '--rows-head', 3670);
const EPOCHS = intArg(args, '--epochs', 2);
const WARMUP = intArg(args, '--warmup', 6);
const ROUNDS = intArg(args, '--rounds', 3);
const IN_PROCESS = boolArg(args, '--in-process');
const PARTITIONS = 2;

const cores = availableParallelism();
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const tf: Tf = loadTf();
const progress = (line: string): void => void process.stderr.write(`step: ${line}\n`);

interface ModelCase {
  name: 'mlp' | 'head';
  inputs: number;
  classes: number;
  batch: number;
  rows: number;
  build: () => Sequential;
}

const cases: ModelCase[] = [
  {
    name: 'mlp',
    inputs: 784,
    classes: 10,
    batch: 128,
    rows: ROWS_MLP,
    build: () => buildMlp(tf),
  },
  {
    name: 'head',
    inputs: 256,
    classes: 5,
    batch: 32,
    rows: ROWS_HEAD,
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [256], units: 128, activation: 'relu' }),
          tf.layers.dense({ units: 5, activation: 'softmax' }),
        ],
      }),
  },
];

/** Deterministic synthetic rows: features ~ U(-1, 1), labels in [0, classes). */
function synthetic(c: ModelCase): { x: Float32Array; label: Int32Array } {
  let s = 12345;
  const rand = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const x = new Float32Array(c.rows * c.inputs);
  for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1;
  const label = new Int32Array(c.rows);
  for (let i = 0; i < c.rows; i++) label[i] = Math.floor(rand() * c.classes);
  return { x, label };
}

function toTable(c: ModelCase, d: { x: Float32Array; label: Int32Array }): Table {
  const type = new FixedSizeList(c.inputs, new Field('item', new Float32()));
  const child = makeData({ type: new Float32(), length: d.x.length, data: d.x });
  return new Table({
    x: makeVector(makeData({ type, length: c.rows, child })),
    label: makeVector(makeData({ type: new Int32(), length: c.rows, data: d.label })),
  });
}

const featuresOf = (c: ModelCase) => ({
  xs: 'x', // a FixedSizeList column: a vector of its list size
  ys: { column: 'label', kind: 'onehot' as const, depth: c.classes },
});

/** Whole-machine busy and total jiffies (all cores), for examples per CPU-second. */
function cpuJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}
const HZ = 100; // USER_HZ on Linux

/**
 * CPU ms used so far by this process and the cluster's task processes (its descendants; the Kafka broker, a java
 * process, left out, as the plain reference has no broker either): what a run itself costs, whatever else loads the
 * machine. `pids` fixes the processes to read (found once, at the start of a timed window).
 */
function ownCpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {
      // gone: its time is lost to the sum, which only ever makes a run look cheaper by a little
    }
  }
  const self = process.cpuUsage();
  return (ticks * 1000) / HZ + (self.user + self.system) / 1000;
}

/** This process's descendants except java (the broker). */
function taskPids(): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pid = Number(entry);
      comm.set(pid, stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited while listing
    }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!mine.has(pid) && mine.has(ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  mine.delete(process.pid);
  return [...mine].filter((pid) => comm.get(pid) !== 'java');
}

interface Measured {
  examplesPerSec: number;
  /** Examples per second of busy CPU (whole machine). */
  perCpuSec: number;
  /** CPU ms per example of this process and the cluster's tasks (see ownCpuMs). */
  cpuMsPerExample: number;
  steps: number;
  breakdown?: { computeMs: number; exchangeMs: number; waitMs: number; inputMs: number };
}

/** The plain loop over every epoch's batches from `batches`; the first WARMUP steps untimed. */
async function plainLoop(c: ModelCase, batches: AsyncIterable<{ xs: Tensor; ys: Tensor }>): Promise<Measured> {
  const model = c.build();
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as ReturnType<Tf['variable']>);
  let steps = 0;
  let timed = 0;
  let rows = 0;
  let t0 = 0;
  let cpu0 = cpuJiffies();
  let own0 = ownCpuMs([]);
  for await (const b of batches) {
    if (steps === WARMUP) {
      collectGarbage();
      t0 = performance.now();
      cpu0 = cpuJiffies();
      own0 = ownCpuMs([]);
    }
    tf.tidy(() => {
      const loss = optimizer.minimize(
        () =>
          tf.mean(tf.metrics.categoricalCrossentropy(b.ys, model.apply(b.xs, { training: true }) as Tensor)) as Scalar,
        true,
        vars,
      );
      loss!.dataSync();
    });
    if (steps >= WARMUP) {
      timed++;
      rows += b.xs.shape[0]!;
    }
    steps++;
  }
  const ms = performance.now() - t0;
  const cpu1 = cpuJiffies();
  const own = ownCpuMs([]) - own0;
  optimizer.dispose();
  model.dispose();
  return {
    examplesPerSec: (rows * 1000) / ms,
    perCpuSec: rows / Math.max((cpu1.busy - cpu0.busy) / HZ, 1e-3),
    cpuMsPerExample: own / Math.max(rows, 1),
    steps: timed,
  };
}

function memoryBatches(c: ModelCase, d: { x: Float32Array; label: Int32Array }): { xs: Tensor; ys: Tensor }[] {
  const out: { xs: Tensor; ys: Tensor }[] = [];
  for (let at = 0; at + c.batch <= c.rows; at += c.batch) {
    out.push({
      xs: tf.tensor2d(d.x.subarray(at * c.inputs, (at + c.batch) * c.inputs), [c.batch, c.inputs]),
      ys: tf.tidy(() => tf.oneHot(tf.tensor1d(d.label.subarray(at, at + c.batch), 'int32'), c.classes).toFloat()),
    });
  }
  return out;
}

async function* fromFeed(
  c: ModelCase,
  kafka: KafkaConnection,
  topic: string,
): AsyncGenerator<{ xs: Tensor; ys: Tensor }> {
  // One feed for every epoch, as a worker reads: its start (metadata, first fetch) is paid once, not per epoch.
  const f = feed({
    connection: kafka,
    topic,
    batchSize: c.batch,
    features: featuresOf(c),
    shuffleBuffer: 0,
    epochs: EPOCHS,
  });
  try {
    for await (const b of f) yield { xs: b.xs, ys: b.ys! };
  } finally {
    await f.close();
  }
}

function job(c: ModelCase, topic: string, mode: PsMode, workers: number): Record<string, unknown> {
  const m = c.build();
  const topology = m.toJSON(null, false) as Record<string, unknown>;
  m.dispose();
  return {
    model: { topology },
    compile: { optimizer: { name: 'adam', learningRate: 1e-3 }, loss: 'categoricalCrossentropy' },
    feeds: { train: { topic, features: featuresOf(c), shuffleBuffer: 0 } },
    batchSize: c.batch,
    epochs: EPOCHS,
    mode,
    ps: 1,
    workers,
    seed: 1,
  };
}

/** Step metrics as they reach the caller, timed from the WARMUP-th on. */
class StepClock {
  #seen = 0;
  #t0 = 0;
  #t1 = 0;
  #cpu0 = cpuJiffies();
  #cpu1 = cpuJiffies();
  #pids: number[] = [];
  #own0 = 0;
  #own1 = 0;
  rows = 0;
  timed: StepMetrics[] = [];

  onStep = (m: StepMetrics): void => {
    const now = performance.now();
    this.#seen++;
    if (this.#seen === WARMUP) {
      this.#t0 = now;
      this.#cpu0 = cpuJiffies();
      this.#pids = taskPids();
      this.#own0 = ownCpuMs(this.#pids);
    } else if (this.#seen > WARMUP) {
      this.rows += m.rows;
      this.timed.push(m);
      this.#t1 = now;
      this.#cpu1 = cpuJiffies();
      this.#own1 = ownCpuMs(this.#pids);
    }
  };

  result(): Measured {
    const mean = (k: 'computeMs' | 'exchangeMs' | 'waitMs' | 'inputMs'): number =>
      this.timed.reduce((a, m) => a + m[k], 0) / Math.max(this.timed.length, 1);
    return {
      examplesPerSec: (this.rows * 1000) / Math.max(this.#t1 - this.#t0, 1e-3),
      perCpuSec: this.rows / Math.max((this.#cpu1.busy - this.#cpu0.busy) / HZ, 1e-3),
      cpuMsPerExample: (this.#own1 - this.#own0) / Math.max(this.rows, 1),
      steps: this.timed.length,
      breakdown: {
        computeMs: mean('computeMs'),
        exchangeMs: mean('exchangeMs'),
        waitMs: mean('waitMs'),
        inputMs: mean('inputMs'),
      },
    };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'petal-bench-step-'));
let broker: Broker | undefined;
const results: Record<string, Record<string, Measured>> = { mlp: {}, head: {} };
const began = performance.now();
try {
  progress(`starting a broker in ${dir}`);
  broker = await startBroker({ dataDir: join(dir, 'kafka'), logFile: join(dir, 'kafka', 'broker.log') });
  const kafka = broker.connection;
  const topics: Record<string, string> = {};
  const data = new Map<string, { x: Float32Array; label: Int32Array }>();
  for (const c of cases) {
    const d = synthetic(c);
    data.set(c.name, d);
    const s = await stream(toTable(c, d), {
      connection: kafka,
      topic: `step-${c.name}`,
      partitions: PARTITIONS,
      // No feature spec here: stream()'s data check reads list offsets, which a FixedSizeList column lacks.
    });
    topics[c.name] = s.topic;
    progress(`streamed ${s.rows} rows of ${c.name} (${(s.bytes / 1e6).toFixed(1)} MB) into ${PARTITIONS} partitions`);
  }

  const plainFromMemory = async (c: ModelCase): Promise<Measured> => {
    const batches = memoryBatches(c, data.get(c.name)!);
    try {
      return await plainLoop(
        c,
        (async function* () {
          for (let epoch = 0; epoch < EPOCHS; epoch++) yield* batches;
        })(),
      );
    } finally {
      for (const b of batches) tf.dispose([b.xs, b.ys]);
    }
  };
  const keep = (c: ModelCase, way: string, m: Measured): void => {
    const kept = results[c.name]![way];
    if (!kept || m.examplesPerSec > kept.examplesPerSec) results[c.name]![way] = m;
  };

  const configs: { key: string; workers: number; mode: PsMode }[] = [
    { key: '1+1 sync', workers: 1, mode: 'sync' },
    { key: '1+2 sync', workers: 2, mode: 'sync' },
    { key: '1+2 async', workers: 2, mode: 'async' },
  ];
  for (const cfg of configs) {
    const cluster = IN_PROCESS ? undefined : await startCluster({ ps: 1, workers: cfg.workers, mode: cfg.mode });
    try {
      for (const c of cases) {
        // The ways of `ratio` alternate, R rounds; every other way and model runs once.
        const rounds = cfg.key === '1+1 sync' && c.name === 'mlp' ? ROUNDS : 1;
        for (let r = 0; r < rounds; r++) {
          const which = rounds > 1 ? ` (round ${r + 1}/${rounds})` : '';
          if (rounds > 1 || !results[c.name]!['plain']) {
            progress(`${c.name}: plain loop from memory${which}`);
            keep(c, 'plain', await plainFromMemory(c));
          }
          progress(`${c.name}: ${cfg.key}${IN_PROCESS ? ' (in-process)' : ''}${which}`);
          const clock = new StepClock();
          const spec = job(c, topics[c.name]!, cfg.mode, cfg.workers);
          const outDir = join(dir, 'runs', `${c.name}-${cfg.key.replace(/\W+/g, '-')}-${r}`);
          if (cluster) await cluster.train(spec, kafka, { outDir, onStep: clock.onStep });
          else await trainLocalCluster({ spec, kafka, outDir, onStep: clock.onStep });
          keep(c, cfg.key, clock.result());
        }
      }
    } finally {
      await cluster?.stop();
    }
  }
  for (const c of cases) {
    progress(`${c.name}: plain loop fed by feed()`);
    results[c.name]!['plain+feed'] = await plainLoop(c, fromFeed(c, kafka, topics[c.name]!));
  }
} finally {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
}

const ways = ['plain', 'plain+feed', '1+1 sync', '1+2 sync', '1+2 async'];
process.stdout.write(
  `step: ${IN_PROCESS ? 'in-process cluster (trainLocalCluster)' : 'real processes (startCluster)'}, ` +
    `${cores} cores, ${EPOCHS} epochs, first ${WARMUP} steps untimed, plain reference fed from memory, ` +
    `mlp plain and 1+1 sync best of ${ROUNDS} interleaved rounds\n`,
);
process.stdout.write(
  `${'model'.padEnd(6)} ${'way'.padEnd(11)} ${'examples/s'.padStart(11)} ${'per CPU-s'.padStart(10)} ${'vs plain'.padStart(9)} ${'steps'.padStart(6)} ${'CPU ms/ex'.padStart(10)}\n`,
);
for (const c of cases) {
  const plain = results[c.name]!['plain']!.examplesPerSec;
  for (const w of ways) {
    const r = results[c.name]![w];
    if (!r) continue;
    process.stdout.write(
      `${c.name.padEnd(6)} ${w.padEnd(11)} ${num(r.examplesPerSec, 11)} ${num(r.perCpuSec, 10)} ${num(r.examplesPerSec / plain, 9, 3)} ${num(r.steps, 6)} ${num(r.cpuMsPerExample, 10, 3)}\n`,
    );
  }
}
for (const c of cases) {
  const b = results[c.name]!['1+1 sync']!.breakdown!;
  const total = b.computeMs + b.exchangeMs + b.waitMs + b.inputMs;
  const pct = (x: number): string => `${((100 * x) / Math.max(total, 1e-9)).toFixed(0)}%`;
  process.stdout.write(
    `${c.name} 1+1 sync, mean step ${total.toFixed(1)} ms: compute ${b.computeMs.toFixed(1)} (${pct(b.computeMs)}), ` +
      `exchange ${b.exchangeMs.toFixed(1)} (${pct(b.exchangeMs)}), wait ${b.waitMs.toFixed(1)} (${pct(b.waitMs)}), ` +
      `input ${b.inputMs.toFixed(1)} (${pct(b.inputMs)})\n`,
  );
}
process.stdout.write(`step: ${((performance.now() - began) / 1000).toFixed(0)} s in all\n`);

const eps = (m: string, w: string): number => round(results[m]![w]?.examplesPerSec ?? 0, 1);
const mlp11 = results['mlp']!['1+1 sync']!;
printBench({
  name: 'step',
  ratio: round(mlp11.examplesPerSec / results['mlp']!['plain']!.examplesPerSec),
  goal: 0.85,
  processes: !IN_PROCESS,
  rounds: ROUNDS,
  cores,
  mlp: Object.fromEntries(ways.map((w) => [w, eps('mlp', w)])),
  head: Object.fromEntries(ways.map((w) => [w, eps('head', w)])),
  headRatio: round(results['head']!['1+1 sync']!.examplesPerSec / results['head']!['plain']!.examplesPerSec),
  mlpPerCpuSec: Object.fromEntries(ways.map((w) => [w, round(results['mlp']![w]?.perCpuSec ?? 0, 1)])),
  // Load-proof companion of `ratio`: plain ÷ 1+1 sync CPU ms per example, of the processes doing the work only.
  cpuRatio: round(results['mlp']!['plain']!.cpuMsPerExample / mlp11.cpuMsPerExample),
  mlpCpuMsPerExample: Object.fromEntries(ways.map((w) => [w, round(results['mlp']![w]?.cpuMsPerExample ?? 0, 3)])),
  mlp11Ms: Object.fromEntries(Object.entries(mlp11.breakdown!).map(([k, v]) => [k, round(v, 2)])),
});
