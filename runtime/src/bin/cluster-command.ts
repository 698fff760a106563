// `petal cluster up|status|down`: a cluster kept alive by a detached supervisor (cluster-supervisor.ts) and found
// again through its record, `stateDir()/cluster/cluster.json`, as `petal kafka up` does for the broker.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stateDir } from '../env/locations.ts';
import { PetalError } from '../errors.ts';
import { waitUntil } from '../net/loopback.ts';
import type { Command } from './petal.ts';
import { processAlive } from '../pool/process-alive.ts';

/** Exit status of `status` when no cluster runs (0 means it runs). */
export const EXIT_DOWN = 3;

const USAGE = `usage: petal cluster up --ps N --workers M [--mode sync|async|ssp:K] [--max-restarts R] [--deadline-s S]
       petal cluster status [--json]
       petal cluster down

  up       start PS and worker processes in the background (no-op when a cluster runs); a failed worker is
           replaced up to R times in the cluster's life (default 3; each restart is a line in the cluster log)
  status   print the cluster's tasks (exit 0 up, ${EXIT_DOWN} down)
  down     stop every process of the cluster
`;

interface ClusterRecord {
  pid: number;
  startedAt: string;
  state: string;
  generation: number;
  mode: string;
  ps: number;
  workers: number;
  coordinator: { host: string; port: number };
  tasks: { id: string; host: string; port?: number; pid: number; restarts?: number }[];
  restarts?: number;
  maxRestarts?: number;
}

/** Where the cluster's record and log live. */
export function clusterPaths(base = stateDir()): { dir: string; recordFile: string; logFile: string } {
  const dir = join(base, 'cluster');
  return { dir, recordFile: join(dir, 'cluster.json'), logFile: join(dir, 'cluster.log') };
}

function readRecord(file: string): ClusterRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as ClusterRecord;
    return typeof r.pid === 'number' && Array.isArray(r.tasks) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** `petal cluster SUBCOMMAND [FLAGS]`. */
export const clusterCommand: Command = async (argv) => {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = {
      ps: { type: 'string' },
      workers: { type: 'string' },
      mode: { type: 'string' },
      'max-restarts': { type: 'string' },
      'deadline-s': { type: 'string' },
      json: { type: 'boolean' },
    } as const;
    values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`petal cluster ${sub}: ${(err as Error).message.split('\n')[0]}\n\n${USAGE}`);
    return 2;
  }
  const paths = clusterPaths();
  const record = readRecord(paths.recordFile);
  const running = record && processAlive(record.pid) ? record : undefined;
  if (record && !running) rmSync(paths.recordFile, { force: true });
  if (sub === 'up') return up(values, paths, running);
  if (sub === 'down') return down(paths, running);
  if (sub === 'status') {
    if (values.json) process.stdout.write(`${JSON.stringify(running ?? { state: 'down' })}\n`);
    else if (running) process.stdout.write(describe(running));
    else process.stdout.write(`cluster: down${record ? ` (removed the stale record of pid ${record.pid})` : ''}\n`);
    return running ? 0 : EXIT_DOWN;
  }
  process.stderr.write(`petal cluster: unknown subcommand "${sub}"\n\n${USAGE}`);
  return 2;
};

function count(value: string | boolean | undefined, name: string, fallback: number, min = 1, max = 4095): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new PetalError(
      'PETAL_CLI_FLAG',
      `--${name} must be an integer from ${min} to ${max}, not "${String(value)}"`,
      {
        fix: `petal cluster up --${name} N`,
      },
    );
  return n;
}

/** --max-restarts (shared with `petal train`): failed workers the cluster replaces in its life (default 3). */
export function maxRestartsFlag(values: Record<string, string | boolean | undefined>): number {
  return count(values['max-restarts'], 'max-restarts', 3, 0, 1000);
}

/** Parses --ps, --workers, --mode (shared with `petal train`). */
export function clusterFlags(
  values: Record<string, string | boolean | undefined>,
  fallback = { ps: 1, workers: 1, mode: 'sync' },
) {
  const mode = typeof values.mode === 'string' ? values.mode : fallback.mode;
  if (!/^(sync|async|ssp:\d{1,6})$/.test(mode))
    throw new PetalError('PETAL_CLI_FLAG', `--mode must be sync, async or ssp:K, not "${mode}"`, {
      fix: 'petal cluster up --mode ssp:2',
    });
  return { ps: count(values.ps, 'ps', fallback.ps), workers: count(values.workers, 'workers', fallback.workers), mode };
}

async function up(
  values: Record<string, string | boolean | undefined>,
  paths: ReturnType<typeof clusterPaths>,
  running: ClusterRecord | undefined,
): Promise<number> {
  const { ps, workers, mode } = clusterFlags(values);
  const maxRestarts = maxRestartsFlag(values);
  const deadlineS = count(values['deadline-s'], 'deadline-s', 60);
  if (running) {
    process.stdout.write(`A cluster is already running (pid ${running.pid}).\n${describe(running)}`);
    return 0;
  }
  mkdirSync(paths.dir, { recursive: true });
  const log = openSync(paths.logFile, 'w');
  const supervisor = fileURLToPath(new URL('./cluster-supervisor.ts', import.meta.url));
  const argv = [supervisor, String(ps), String(workers), mode, paths.recordFile, String(maxRestarts)];
  const child = spawn(process.execPath, argv, {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => (exited = true));
  child.unref();
  const up = await waitUntil(() => exited || readRecord(paths.recordFile)?.pid === pid, deadlineS * 1000 + 5000, 20);
  const record = readRecord(paths.recordFile);
  if (!up || exited || record?.pid !== pid) {
    if (!exited) process.kill(pid, 'SIGTERM');
    const tail = readFileSync(paths.logFile, 'utf8').trimEnd().split('\n').slice(-25).join('\n    ');
    throw new PetalError(
      'PETAL_CLUSTER_START',
      `the cluster did not come up; its log (${paths.logFile}):\n    ${tail}`,
      {
        fix: 'read the log lines above for the task that failed',
      },
    );
  }
  process.stdout.write(
    `Cluster is up: ${ps} PS, ${workers} workers, mode ${mode}, up to ${maxRestarts} worker restarts (supervisor pid ${pid})\n${describe(record)}`,
  );
  return 0;
}

async function down(paths: ReturnType<typeof clusterPaths>, running: ClusterRecord | undefined): Promise<number> {
  if (!running) {
    process.stdout.write('No cluster is running.\n');
    return 0;
  }
  process.kill(running.pid, 'SIGTERM');
  const gone = await waitUntil(
    () => !processAlive(running.pid) && running.tasks.every((t) => !processAlive(t.pid)),
    15_000,
    50,
  );
  if (!gone) {
    // The supervisor hung: killing it makes every task's watcher stop its task (they are tied to it).
    process.kill(running.pid, 'SIGKILL');
    await waitUntil(() => running.tasks.every((t) => !processAlive(t.pid)), 10_000, 50);
  }
  rmSync(paths.recordFile, { force: true });
  process.stdout.write(`Stopped the cluster (supervisor pid ${running.pid}, ${running.tasks.length} tasks).\n`);
  return 0;
}

function describe(r: ClusterRecord): string {
  const lines = [
    `cluster: ${r.state === 'running' ? 'up' : r.state} (${r.ps} PS, ${r.workers} workers, mode ${r.mode}, generation ${r.generation})`,
    `  supervisor   pid ${r.pid}, since ${r.startedAt}`,
    `  coordinator  ${r.coordinator.host}:${r.coordinator.port}`,
    ...(r.maxRestarts === undefined ? [] : [`  restarts     ${r.restarts ?? 0} of ${r.maxRestarts} used`]),
    ...r.tasks.map(
      (t) =>
        `  ${t.id.padEnd(12)} pid ${t.pid}${t.port ? ` at ${t.host}:${t.port}` : ''}${t.restarts ? `, restarted ${t.restarts}×` : ''}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
