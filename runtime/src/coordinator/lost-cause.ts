// How a replaced task was lost, in words for a person (the CLI's lines, the kernel's cell lines and cards).
import type { TaskRestart } from './cluster.ts';

/** `was killed (SIGKILL)`, `exited with code 1`, `fell silent (no heartbeat for 5012 ms (timeout 5000 ms))`. */
export function lostCause(restart: Pick<TaskRestart, 'exit' | 'reason'>): string {
  // A silent task is stopped with SIGKILL before it is replaced: its silence is the cause, not that signal.
  if (restart.reason.startsWith('no heartbeat')) return `fell silent (${restart.reason})`;
  return restart.exit.signal ? `was killed (${restart.exit.signal})` : `exited with code ${restart.exit.code}`;
}

/** The line for a restart: `worker:1 was killed (SIGKILL); replacing it (restart 1 of 3)`. */
export function restartLine(restart: TaskRestart): string {
  return `${restart.task} ${lostCause(restart)}; replacing it (restart ${restart.restarts} of ${restart.maxRestarts})`;
}

/** The line for a job's rollback: `worker:1 was killed (SIGKILL); replacing it and rolling back to step 60 (…)`. */
export function rollbackLine(task: string, cause: string, toStep: number): string {
  const where = toStep === 0 ? ' (no checkpoint yet: the job starts over)' : ' (its newest checkpoint)';
  return `${task} ${cause}; replacing it and rolling back to step ${toStep}${where}`;
}
