// Public surface of the coordinator: start a cluster of PS and worker processes, run jobs on it (replacing failed
// workers), stop it.
export { startCluster } from './cluster.ts';
export type {
  Cluster,
  ClusterListener,
  ClusterMetrics,
  ClusterStatus,
  StartClusterOptions,
  TaskRestart,
} from './cluster.ts';
export type { ClusterTrainOptions, ClusterTrainResult } from './train-job.ts';
export type { TaskInfo } from './registry.ts';
export { decide, onTaskFailure } from './states.ts';
export type { ClusterAction, ClusterEvent, ClusterState, Decision, FailurePolicy, RestartBudget } from './states.ts';
export { CoordinatorError } from './errors.ts';
export { lostCause, restartLine, rollbackLine } from './lost-cause.ts';
