// Message type codes (the frame header's u16 `type`). Ranges keep roles apart so each adds its own without
// clashing: 1–99 transport and cluster-wide, 100–199 coordinator, 200–299 parameter server, 300–399 worker.

/** Known message types. Roles add theirs here, in their range. */
export const MessageType = {
  /** Liveness probe; a request answered with an empty response. */
  ping: 1,
  /** Task → coordinator: role, index, host, port, pid, devices; answered with the generation and heartbeat period. */
  register: 100,
  /** Task → coordinator: still alive (request; the answer carries the cluster state). */
  heartbeat: 101,
  /** Coordinator → chief worker: build the job's model; answered with the plan, variable order and initial values. */
  prepareJob: 102,
  /** Coordinator → PS: serve a job's shards (options in metadata, initial values as tensors). */
  psJob: 103,
  /** Coordinator → worker: run a job (runWorker options in metadata); answered with its result at the end. */
  workerJob: 104,
  /** Worker → coordinator: one step's or epoch's metrics (fire-and-forget). */
  metrics: 105,
  /** Coordinator → PS: checkpoint the job now; answered with the file, global step and stats. */
  psCheckpoint: 106,
  /** Coordinator → PS: end the job's service. */
  psEndJob: 107,
  /** Coordinator → task: leave now (fire-and-forget). */
  shutdown: 108,
  /** Worker → PS: gradients for the PS's shard (tensors), step and worker in metadata. */
  pushGradients: 200,
  /** Worker → PS: ask for the current parameters of the shard; the response carries them as tensors. */
  pullParams: 201,
  /** Worker → PS: ask once for the frozen (non-trainable) shards; the response carries them as tensors. */
  pullFrozen: 202,
  /** Worker → PS: the worker has no more data this epoch (epoch in metadata); answered once every worker has. */
  epochDone: 203,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
