// How one attempt of a job ends, and what the job waits for when a worker is lost. A worker whose link dropped (or
// that is found down) is the cluster's to judge: the controller either replaces it (the job rolls back and tries
// again) or fails the cluster (the job fails with the controller's error, which names the task and its log tail). A
// worker that answered an error fails the job at once: the same data would fail a replacement the same way.
import { isPetalError } from '../errors.ts';
import type { WorkerResult } from '../worker/index.ts';
import { taskError } from './errors.ts';
import type { JobContext } from './train-job.ts';

/** Runs `what` again after the cluster replaced a worker whose loss made it fail. */
export async function survive<T>(ctx: JobContext, what: () => Promise<T>): Promise<T> {
  for (;;) {
    const lost = ctx.lost(ctx.generation());
    try {
      return await Promise.race([what(), ctx.failed]);
    } catch (e) {
      if (!linkDropped(e)) throw e;
      await Promise.race([verdict(lost, ctx.verdictMs, e), ctx.failed]);
      await Promise.race([ctx.whenRunning(), ctx.failed]);
    }
  }
}

/**
 * How the workers' runs of one attempt end: all done, or a worker lost (the cluster replaces it: roll back). A
 * worker whose link dropped waits for the cluster's verdict; one that answered an error fails the job. Either way
 * ending the PS jobs releases the others from the barrier, and every run has settled before this returns.
 */
export async function attemptOutcome(
  ctx: JobContext,
  runs: Promise<WorkerResult>[],
  lost: Promise<string>,
  endPs: () => Promise<unknown>,
): Promise<{ kind: 'done'; workers: WorkerResult[] } | { kind: 'lost'; task: string }> {
  const all = Promise.allSettled(runs);
  const firstError = new Promise<{ index: number; error: unknown }>((resolve) =>
    runs.forEach((run, index) => void run.catch((error: unknown) => resolve({ index, error }))),
  );
  const first = await Promise.race([
    all.then((settled) => ({ kind: 'settled' as const, settled })),
    lost.then((task) => ({ kind: 'lost' as const, task })),
    firstError.then((e) => ({ kind: 'error' as const, ...e })),
  ]);
  if (first.kind === 'settled' && first.settled.every((s) => s.status === 'fulfilled'))
    return { kind: 'done', workers: first.settled.map((s) => (s as PromiseFulfilledResult<WorkerResult>).value) };
  void endPs();
  if (first.kind === 'lost') {
    await all;
    return first;
  }
  let failure: { index: number; error: unknown };
  if (first.kind === 'error') failure = first;
  else {
    const index = first.settled.findIndex((s) => s.status === 'rejected');
    failure = { index, error: (first.settled[index] as PromiseRejectedResult).reason };
  }
  const error = taskError(`worker:${failure.index}`, 'failed', failure.error);
  if (!linkDropped(failure.error)) {
    await all;
    throw error;
  }
  const task = await verdict(lost, ctx.verdictMs, error);
  await all;
  return { kind: 'lost', task };
}

/** `lost`, or `error` when the cluster has not decided within `ms`. */
async function verdict(lost: Promise<string>, ms: number, error: unknown): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([lost, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(error), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A connection closed under a request (the peer, or one it talks to, may be gone), or a task found down: the
 * cluster judges those (a restart or a failure).
 */
function linkDropped(e: unknown): boolean {
  const lost = (x: unknown): boolean =>
    isPetalError(x, 'PETAL_TRANSPORT_CLOSED') || isPetalError(x, 'PETAL_CLUSTER_TASK');
  return lost(e) || (e instanceof Error && lost(e.cause));
}

/** The newest step every PS checkpointed. */
export function newestCommon(written: Set<number>[]): number | undefined {
  const [first, ...rest] = written;
  const common = [...(first ?? [])].filter((s) => rest.every((w) => w.has(s)));
  return common.length > 0 ? Math.max(...common) : undefined;
}
