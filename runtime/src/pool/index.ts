// The pool's public surface: where tasks run, the all-or-nothing start, and the task-side helpers.
export { checkTaskSpec, taskId } from './pool.ts';
export type { Pool, ReadyInfo, TaskExit, TaskHandle, TaskRole, TaskSpec } from './pool.ts';
export { LOCAL_HOST, LocalPool } from './local-pool.ts';
export type { LocalPoolOptions } from './local-pool.ts';
export { describeExit } from './local-task.ts';
export { processAlive } from './process-alive.ts';
export { launchAll } from './launch-all.ts';
export type { LaunchAllOptions, LaunchedTask } from './launch-all.ts';
export type { LogLine, LogListener, TaskLogs } from './log-lines.ts';
export { reportReady, watchOwner } from './task-runtime.ts';
export type { WatchOwnerOptions } from './task-runtime.ts';
export { taskChannel } from './diagnostics.ts';
export type { TaskEvent } from './diagnostics.ts';
export { clusterEnv, joinCluster } from './cluster-link.ts';
export type { ClusterLink, HeartbeatNews, TaskRegistration } from './cluster-link.ts';
