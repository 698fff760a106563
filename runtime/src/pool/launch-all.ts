// All-or-nothing start: every task comes up by the deadline, or every task launched is stopped and the error
// names the one that failed with its last log lines, so the cause is in the cell, not on some executor.
import { PetalError, isPetalError } from '../errors.ts';
import { describeExit } from './local-task.ts';
import { abortSignal, checkOptions, int } from './options.ts';
import { checkTaskSpec, taskId } from './pool.ts';
import type { Pool, ReadyInfo, TaskExit, TaskHandle, TaskSpec } from './pool.ts';

/** Options of {@link launchAll}. */
export interface LaunchAllOptions {
  /** Every task must have reported ready within this many ms of the call. */
  deadlineMs: number;
  /** Grace between SIGTERM and SIGKILL when a failed start stops the tasks (default 2000 ms). */
  stopGraceMs?: number;
  /** Log lines of the failing task quoted in the error (default 20). */
  tailLines?: number;
  /** Aborting (an interrupted cell) fails the start the same way, stopping every task. */
  signal?: AbortSignal;
}

/** A task that came up, with what it reported. */
export interface LaunchedTask {
  task: TaskHandle;
  ready: ReadyInfo;
}

type Failure =
  | { kind: 'launch'; spec: TaskSpec; error: unknown }
  | { kind: 'not-ready'; task: TaskHandle; error: unknown }
  | { kind: 'exited'; task: TaskHandle; exit: TaskExit }
  | { kind: 'deadline' }
  | { kind: 'aborted'; reason: unknown };

/**
 * Launches every spec on `pool` and waits until all report ready; resolves in spec order. If any launch fails,
 * any task exits or fails readiness, the deadline passes or `signal` aborts first, every task launched is stopped
 * (awaited) and it throws PETAL_CLUSTER_START naming the task (role:index, pid) with its last log lines.
 */
export async function launchAll(
  pool: Pool,
  specs: readonly TaskSpec[],
  options: LaunchAllOptions,
): Promise<LaunchedTask[]> {
  checkOptions(
    'launchAll',
    options,
    {
      deadlineMs: int(1, 24 * 60 * 60 * 1000),
      stopGraceMs: int(0, 600_000),
      tailLines: int(0, 1000),
      signal: abortSignal,
    },
    ['deadlineMs'],
  );
  const ids = new Set<string>();
  specs.forEach((spec, i) => {
    checkTaskSpec(spec, `specs[${i}]`);
    if (ids.has(taskId(spec)))
      throw new PetalError('PETAL_POOL_OPTIONS', `specs[${i}] repeats task ${taskId(spec)}`, {
        fix: 'give each task of a role its own index',
      });
    ids.add(taskId(spec));
  });
  const { deadlineMs, stopGraceMs = 2000, tailLines = 20, signal } = options;
  const started = Date.now();

  let fail!: (failure: Failure) => void;
  const failed = new Promise<Failure>((resolve) => (fail = resolve));
  const timer = setTimeout(() => fail({ kind: 'deadline' }), deadlineMs);
  const onAbort = (): void => fail({ kind: 'aborted', reason: signal?.reason });
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });

  const launched: TaskHandle[] = [];
  const readyInfo = new Map<TaskHandle, ReadyInfo>();
  const launches = specs.map((spec) =>
    pool.launch(spec).then(
      (task) => {
        launched.push(task);
        // Exiting counts as failure even after a ready report: the cluster is not up until all are, at once.
        void task.exited.then((exit) => fail({ kind: 'exited', task, exit }));
        return task;
      },
      (error: unknown) => fail({ kind: 'launch', spec, error }),
    ),
  );
  const allReady = Promise.all(
    launches.map(async (launching) => {
      const task = await launching;
      if (!task) return;
      try {
        readyInfo.set(task, await task.ready);
      } catch (error) {
        fail({ kind: 'not-ready', task, error });
      }
    }),
  ).then(() => readyInfo.size === specs.length);

  try {
    const outcome = await Promise.race([allReady, failed]);
    if (outcome === true) return orderBySpec(specs, readyInfo);
    const failure = outcome === false ? await failed : outcome;
    // Launches in flight must land in `launched` before we stop them (spawning is quick; readiness is not awaited).
    await Promise.allSettled(launches);
    await Promise.all(launched.map((task) => task.stop(stopGraceMs)));
    throw startError(failure, specs, launched, readyInfo, { deadlineMs, tailLines, elapsedMs: Date.now() - started });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function orderBySpec(specs: readonly TaskSpec[], ready: Map<TaskHandle, ReadyInfo>): LaunchedTask[] {
  const byId = new Map([...ready].map(([task, info]) => [task.id, { task, ready: info }]));
  return specs.map((spec) => byId.get(taskId(spec)) as LaunchedTask);
}

function startError(
  failure: Failure,
  specs: readonly TaskSpec[],
  launched: TaskHandle[],
  ready: Map<TaskHandle, ReadyInfo>,
  context: { deadlineMs: number; tailLines: number; elapsedMs: number },
): PetalError {
  const name = (task: TaskHandle): string => `${task.id} (pid ${task.pid} on ${task.host})`;
  const notReady = launched.filter((task) => !ready.has(task));
  let culprit: TaskHandle | undefined;
  let what: string;
  let fix: string;
  let cause: unknown;
  switch (failure.kind) {
    case 'launch':
      what = `${taskId(failure.spec)} could not be launched: ${(failure.error as Error).message ?? failure.error}`;
      fix = isPetalError(failure.error) && failure.error.fix ? failure.error.fix : 'check the pool and the entry file';
      cause = failure.error;
      break;
    case 'not-ready':
      culprit = failure.task;
      what = (failure.error as Error).message?.split('\n')[0] ?? `${name(culprit)} failed to become ready`;
      fix = isPetalError(failure.error, 'PETAL_TASK_READY_TIMEOUT')
        ? `read ${culprit.id}'s log lines below for where it stalls, or raise its readyTimeoutMs`
        : `read ${culprit.id}'s log lines below for the cause`;
      cause = failure.error;
      break;
    case 'exited':
      culprit = failure.task;
      what = `${name(culprit)} exited ${describeExit(failure.exit)} ${ready.has(culprit) ? 'after it reported ready, before the cluster was up' : 'before it reported ready'}`;
      fix = `read ${culprit.id}'s log lines below for the cause`;
      break;
    case 'deadline':
      culprit = notReady[0];
      what = `not every task was ready within ${context.deadlineMs} ms; waiting for ${notReady.map(name).join(', ') || `${specs.length - launched.length} task(s) still launching`}`;
      fix = 'read the log lines below for where it stalls, or raise deadlineMs';
      break;
    case 'aborted':
      culprit = notReady[0];
      what = `the start was interrupted with ${notReady.length} of ${specs.length} tasks not ready`;
      fix = 'start the cluster again when ready';
      cause = failure.reason;
      break;
  }
  const lines = [`cluster start failed after ${context.elapsedMs} ms: ${what}`];
  lines.push(`  every task launched was stopped (${launched.length} of ${specs.length})`);
  if (culprit) {
    const tail = culprit.logs.tail(context.tailLines);
    lines.push(
      tail.length > 0
        ? `  last ${tail.length} log lines of ${culprit.id}:`
        : `  ${culprit.id} wrote nothing to stdout or stderr`,
    );
    for (const line of tail) lines.push(`    ${line.stream === 'stderr' ? '!' : '|'} ${line.text}`);
  }
  return new PetalError('PETAL_CLUSTER_START', lines.join('\n'), {
    fix,
    cause,
    retryable: failure.kind === 'deadline',
    detail: {
      failure: failure.kind,
      task: culprit?.id,
      pid: culprit?.pid,
      host: culprit?.host,
      logTail: culprit?.logs.tail(context.tailLines).map((l) => l.text) ?? [],
      notReady: notReady.map((task) => task.id),
    },
  });
}
