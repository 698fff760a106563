// `npm run bench -- startup [--runs N]`: startCluster → ready for 1 PS + 2 workers (real task processes), median of
// several runs as ready_s; the reference, measured in the same run, is 3 bare `node -e` processes launched through
// the same pool that report ready at once, so the ratio isolates what Petal's tasks add to a Node start.
import { fileURLToPath } from 'node:url';
import { startCluster } from '../../runtime/src/coordinator/index.ts';
import { LocalPool, launchAll } from '../../runtime/src/pool/index.ts';
import { intArg, median, printBench, round } from './bench-util.ts';

const runs = intArg(process.argv.slice(2), '--runs', 5);
const bare = fileURLToPath(new URL('./_startup-bare.ts', import.meta.url));

async function petal(): Promise<number> {
  const t0 = performance.now();
  const cluster = await startCluster({ ps: 1, workers: 2, deadlineMs: 60_000 });
  const s = (performance.now() - t0) / 1000;
  await cluster.stop();
  return s;
}

async function reference(): Promise<number> {
  const pool = new LocalPool();
  const t0 = performance.now();
  const spec = (role: string, index: number) => ({ role, index, command: { entry: bare }, readyTimeoutMs: 60_000 });
  await launchAll(pool, [spec('ps', 0), spec('worker', 0), spec('worker', 1)], { deadlineMs: 60_000 });
  const s = (performance.now() - t0) / 1000;
  await pool.close(0);
  return s;
}

const ours: number[] = [];
const refs: number[] = [];
for (let i = 0; i < runs; i++) {
  ours.push(await petal());
  refs.push(await reference());
  process.stdout.write(
    `run ${i + 1}: cluster ready ${ours.at(-1)!.toFixed(3)} s, bare node tasks ${refs.at(-1)!.toFixed(3)} s\n`,
  );
}
const readyS = median(ours);
const refS = median(refs);
process.stdout.write(
  `median: cluster up → ready ${readyS.toFixed(3)} s (goal ≤ 2 s); 3 bare node tasks ${refS.toFixed(3)} s\n`,
);
printBench({ name: 'startup', ratio: round(readyS / refS), ready_s: round(readyS), reference_s: round(refS), runs });
