// `petal train JOB.json [--ps N --workers M --mode …]`: runs a job on a fresh cluster (torn down at the end) against
// the broker of `petal kafka up`, printing progress; exits non-zero with the cause on failure.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lostCause, restartLine, rollbackLine, startCluster } from '../coordinator/index.ts';
import type { TaskRestart } from '../coordinator/index.ts';
import { PetalError } from '../errors.ts';
import { brokerConnection, findRunningBroker, kafkaStatePaths } from '../kafka/index.ts';
import type { PsMode } from '../ps/index.ts';
import { clusterFlags, maxRestartsFlag } from './cluster-command.ts';
import type { Command } from './petal.ts';

const USAGE = `usage: petal train JOB.json [--ps N] [--workers M] [--mode sync|async|ssp:K] [--max-restarts R] [--out DIR]
  Runs the job on a fresh cluster of the job's size (flags override it), against \`petal kafka up\`'s broker. A
  failed worker is replaced up to R times (default 3) and the job rolls back to its newest checkpoint; each such
  event is a line on stderr.
`;

/** `petal train JOB.json [FLAGS]`. */
export const trainCommand: Command = async (argv) => {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ps: { type: 'string' },
        workers: { type: 'string' },
        mode: { type: 'string' },
        'max-restarts': { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`petal train: ${(err as Error).message.split('\n')[0]}\n\n${USAGE}`);
    return 2;
  }
  const [file] = parsed.positionals;
  if (!file) {
    process.stderr.write(USAGE);
    return 2;
  }
  let job: Record<string, unknown>;
  try {
    job = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new PetalError('PETAL_CLI_JOB', `cannot read the job ${file}: ${(err as Error).message}`, {
      fix: 'pass a JSON job spec file (see JobSpec in @petal/runtime)',
    });
  }
  const size = clusterFlags(parsed.values, {
    ps: Number(job['ps'] ?? 1),
    workers: Number(job['workers'] ?? 1),
    mode: String(job['mode'] ?? 'sync'),
  });
  const spec = { ...job, ...size };
  const maxRestarts = maxRestartsFlag(parsed.values);
  const { running } = findRunningBroker(kafkaStatePaths(), { clean: false });
  if (!running)
    throw new PetalError('PETAL_KAFKA_DOWN', 'no Kafka broker is running', { fix: 'run `petal kafka up` first' });
  const kafka = brokerConnection(running.dataDir, running.bootstrap);
  process.stderr.write(`petal train: starting ${size.ps} PS + ${size.workers} workers (${size.mode})\n`);
  // A restart is told once the job says where it rolls back to (one line for both); one it never rolled back for, at the end.
  const restarts = new Map<string, TaskRestart>();
  const cluster = await startCluster({
    ps: size.ps,
    workers: size.workers,
    mode: size.mode as PsMode,
    maxRestarts,
    listener: {
      onLog: (l) => process.stderr.write(`[${l.task}] ${l.text}\n`),
      onTaskFailed: (t) => process.stderr.write(`petal train: ${t.id} failed: ${t.failure}\n`),
      onRestart: (r) => restarts.set(r.task, r),
    },
  });
  try {
    let last = 0;
    const result = await cluster.train(spec, kafka, {
      ...(parsed.values.out ? { outDir: parsed.values.out } : {}),
      onRollback: ({ task, toStep }) => {
        const r = restarts.get(task);
        restarts.delete(task);
        process.stderr.write(`petal train: ${rollbackLine(task, r ? lostCause(r) : 'was lost', toStep)}\n`);
      },
      onStep: (m) => {
        if (Date.now() - last < 1000) return;
        last = Date.now();
        process.stdout.write(`step ${m.step}  ${m.worker}  epoch ${m.epoch}  loss ${m.loss.toFixed(4)}\n`);
      },
      onEpoch: (m) => {
        const v = m.validation ? `  val_loss ${m.validation.loss.toFixed(4)} ${fmt(m.validation.metrics, 'val_')}` : '';
        process.stdout.write(`epoch ${m.epoch} ${m.worker}: loss ${m.loss.toFixed(4)} ${fmt(m.metrics, '')}${v}\n`);
      },
    });
    const lost = result.rollbacks.length > 0 ? ` (${result.rollbacks.length} worker(s) replaced on the way)` : '';
    process.stdout.write(`done: ${result.globalStep} steps${lost}; model at ${result.modelPath}\n`);
    return 0;
  } finally {
    for (const r of restarts.values()) process.stderr.write(`petal train: ${restartLine(r)}\n`);
    await cluster.stop();
  }
};

function fmt(metrics: Record<string, number>, prefix: string): string {
  return Object.entries(metrics)
    .map(([k, v]) => `${prefix}${k} ${v.toFixed(4)}`)
    .join(' ');
}
