// The cluster's named states and the one pure function that decides what an event does to them. The controller
// (cluster.ts) feeds events to step(), which applies decide()'s answer and carries out its actions; policies
// (what a failed task means) are decisions here, never side effects.

/** Where a cluster is. `restarting` is named for failover; this version fails the cluster instead of restarting. */
export type ClusterState = 'starting' | 'running' | 'checkpointing' | 'restarting' | 'stopping' | 'stopped' | 'failed';

/** What happens to a cluster. */
export type ClusterEvent =
  | { kind: 'ready' }
  | { kind: 'start-failed'; error: Error }
  | { kind: 'task-failed'; task: string; reason: string }
  | { kind: 'checkpoint-begin' }
  | { kind: 'checkpoint-end' }
  | { kind: 'stop' }
  | { kind: 'stopped' };

/** What the controller must do. */
export type ClusterAction = { kind: 'stop-tasks' } | { kind: 'fail-training'; error: Error };

/** decide()'s answer: the next state (unchanged when the event does not apply) and the actions to take. */
export interface Decision {
  next: ClusterState;
  actions: ClusterAction[];
  /** Set when the cluster failed: the cause, for status() and the caller. */
  failure?: Error;
}

const ACTIVE: readonly ClusterState[] = ['running', 'checkpointing', 'restarting'];

/** The failure policy: a task that exits or falls silent fails the cluster (no restart yet), naming the task. */
export function onTaskFailure(task: string, reason: string): { restart: false; error: Error } {
  return { restart: false, error: new Error(`${task} failed: ${reason}`) };
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
      const policy = onTaskFailure(event.task, event.reason);
      return {
        next: 'failed',
        actions: [{ kind: 'fail-training', error: policy.error }, { kind: 'stop-tasks' }],
        failure: policy.error,
      };
    }
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
