// The cluster's named states and the one pure function that decides what an event does to them. The controller
// (cluster.ts) feeds events to step(), which applies decide()'s answer and carries out its actions; policies
// (what a failed task means) are decisions here, never side effects.
import { CoordinatorError } from './errors.ts';

/** Where a cluster is. `restarting`: a failed worker is being replaced; a job running then rolls back and goes on. */
export type ClusterState = 'starting' | 'running' | 'checkpointing' | 'restarting' | 'stopping' | 'stopped' | 'failed';

/** Restarts used so far and allowed in all (StartClusterOptions.maxRestarts). */
export interface RestartBudget {
  restarts: number;
  maxRestarts: number;
}

/** What happens to a cluster. */
export type ClusterEvent =
  | { kind: 'ready' }
  | { kind: 'start-failed'; error: Error }
  /** `reason` names the cause: the exit (`exited on SIGKILL`) or the silence, and the task's last log lines. */
  | { kind: 'task-failed'; task: string; reason: string; budget: RestartBudget }
  /** A replacement registered; `pending` replacements are still on their way. */
  | { kind: 'task-restarted'; task: string; pending: number }
  | { kind: 'restart-failed'; task: string; error: Error }
  | { kind: 'checkpoint-begin' }
  | { kind: 'checkpoint-end' }
  | { kind: 'stop' }
  | { kind: 'stopped' };

/** What the controller must do. */
export type ClusterAction =
  | { kind: 'stop-tasks' }
  | { kind: 'fail-training'; error: Error }
  /** Bump the generation, stop what is left of the task, launch its replacement; a running job rolls back. */
  | { kind: 'restart-task'; task: string };

/** decide()'s answer: the next state (unchanged when the event does not apply) and the actions to take. */
export interface Decision {
  next: ClusterState;
  actions: ClusterAction[];
  /** Set when the cluster failed: the cause, for status() and the caller. */
  failure?: Error;
}

/** onTaskFailure()'s answer: replace the task, or fail the cluster with `error`. */
export type FailurePolicy = { restart: true } | { restart: false; error: CoordinatorError };

const ACTIVE: readonly ClusterState[] = ['running', 'checkpointing', 'restarting'];

/**
 * The failure policy: a worker that exits or falls silent is replaced while the budget lasts (the job rolls back
 * to its newest complete checkpoint); a PS failure, or a worker's past the budget, fails the cluster naming the task.
 */
export function onTaskFailure(task: string, reason: string, budget: RestartBudget): FailurePolicy {
  const worker = task.startsWith('worker:');
  if (worker && budget.restarts < budget.maxRestarts) return { restart: true };
  const fix = !worker
    ? 'parameter servers are not restarted (PS failover is not supported): start a new cluster and resume the job from its checkpoints (job.resume = { dir: job.checkpoint.dir })'
    : budget.maxRestarts === 0
      ? 'read the log lines above for the cause; startCluster({ maxRestarts: N }) lets the cluster replace failed workers'
      : `read the log lines above for the cause; the cluster already replaced workers ${budget.restarts} time(s) (maxRestarts ${budget.maxRestarts})`;
  return {
    restart: false,
    error: new CoordinatorError('PETAL_CLUSTER_TASK_FAILED', `${task} failed: ${reason}`, {
      fix,
      detail: { task, restarts: budget.restarts, maxRestarts: budget.maxRestarts },
    }),
  };
}

/** The transition table. Pure: same state and event, same decision. */
export function decide(state: ClusterState, event: ClusterEvent): Decision {
  const stay: Decision = { next: state, actions: [] };
  switch (event.kind) {
    case 'ready':
      return state === 'starting' ? { next: 'running', actions: [] } : stay;
    case 'start-failed':
      return state === 'starting' ? { next: 'failed', actions: [], failure: event.error } : stay;
    case 'task-failed': {
      if (!ACTIVE.includes(state)) return stay;
      const policy = onTaskFailure(event.task, event.reason, event.budget);
      if (policy.restart) return { next: 'restarting', actions: [{ kind: 'restart-task', task: event.task }] };
      return fail(policy.error);
    }
    case 'task-restarted':
      return state === 'restarting' && event.pending === 0 ? { next: 'running', actions: [] } : stay;
    case 'restart-failed':
      return ACTIVE.includes(state) ? fail(event.error) : stay;
    case 'checkpoint-begin':
      return state === 'running' ? { next: 'checkpointing', actions: [] } : stay;
    case 'checkpoint-end':
      return state === 'checkpointing' ? { next: 'running', actions: [] } : stay;
    case 'stop':
      if (state === 'stopped' || state === 'stopping') return stay;
      // A failed cluster keeps its state (and cause) but still has its tasks stopped.
      return { next: state === 'failed' ? 'failed' : 'stopping', actions: [{ kind: 'stop-tasks' }] };
    case 'stopped':
      return state === 'stopping' ? { next: 'stopped', actions: [] } : stay;
  }
}

function fail(error: Error): Decision {
  return { next: 'failed', actions: [{ kind: 'fail-training', error }, { kind: 'stop-tasks' }], failure: error };
}
