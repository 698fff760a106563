// The detached process behind `petal cluster up`: owns the cluster (its tasks are tied to it), writes the record
// once every task is up, and on SIGTERM (`petal cluster down`) or a failed task stops everything and removes it.
// argv: PS WORKERS MODE RECORD_FILE. Its stdout/stderr go to the cluster log next to the record.
import { rmSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { startCluster } from '../coordinator/index.ts';
import type { PsMode } from '../ps/index.ts';
import { writePrivateFile } from '../kafka/broker-config.ts';

const [ps, workers, mode, recordFile] = process.argv.slice(2) as [string, string, PsMode, string];
const cluster = await startCluster({
  ps: Number(ps),
  workers: Number(workers),
  mode,
  listener: {
    onLog: (l) => process.stdout.write(`[${l.task}] ${l.stream === 'stderr' ? '! ' : ''}${l.text}\n`),
    onState: (s, failure) => process.stdout.write(`cluster: ${s}${failure ? ` (${failure.message})` : ''}\n`),
  },
});
const status = cluster.status();
mkdirSync(dirname(recordFile), { recursive: true });
writePrivateFile(
  recordFile,
  `${JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString(), ...status }, null, 2)}\n`,
);
const leave = (code: number): void => {
  void cluster.stop().finally(() => {
    rmSync(recordFile, { force: true });
    process.exit(code);
  });
};
process.once('SIGTERM', () => leave(0)).once('SIGINT', () => leave(0));
void cluster.ended.then((s) => leave(s.state === 'failed' ? 1 : 0));
