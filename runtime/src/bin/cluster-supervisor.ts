// The detached process behind `petal cluster up`: owns the cluster (its tasks are tied to it), writes the record
// once every task is up (and again after a failed worker was replaced: new pids), and on SIGTERM (`petal cluster
// down`) or a cluster failure stops everything and removes it. argv: PS WORKERS MODE RECORD_FILE [MAX_RESTARTS].
// Its stdout/stderr go to the cluster log next to the record; each restart is a line there.
import { rmSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { restartLine, startCluster } from '../coordinator/index.ts';
import type { Cluster } from '../coordinator/index.ts';
import type { PsMode } from '../ps/index.ts';
import { writePrivateFile } from '../kafka/broker-config.ts';

const [ps, workers, mode, recordFile, maxRestarts = '3'] = process.argv.slice(2) as [
  string,
  string,
  PsMode,
  string,
  string?,
];
const startedAt = new Date().toISOString();
let cluster: Cluster | undefined;

function writeRecord(): void {
  if (!cluster) return;
  mkdirSync(dirname(recordFile), { recursive: true });
  writePrivateFile(recordFile, `${JSON.stringify({ pid: process.pid, startedAt, ...cluster.status() }, null, 2)}\n`);
}

const started = await startCluster({
  ps: Number(ps),
  workers: Number(workers),
  mode,
  maxRestarts: Number(maxRestarts),
  listener: {
    onLog: (l) => process.stdout.write(`[${l.task}] ${l.stream === 'stderr' ? '! ' : ''}${l.text}\n`),
    onRestart: (r) => process.stdout.write(`cluster: ${restartLine(r)}\n`),
    onState: (s, failure) => {
      process.stdout.write(`cluster: ${s}${failure ? ` (${failure.message})` : ''}\n`);
      if (s === 'running') writeRecord(); // a replacement is up: `petal cluster status` shows its pid
    },
  },
});
cluster = started;
writeRecord();
const leave = (code: number): void => {
  void started.stop().finally(() => {
    rmSync(recordFile, { force: true });
    process.exit(code);
  });
};
process.once('SIGTERM', () => leave(0)).once('SIGINT', () => leave(0));
void started.ended.then((s) => leave(s.state === 'failed' ? 1 : 0));
