// Message type codes (the frame header's u16 `type`). Ranges keep roles apart so each adds its own without
// clashing: 1–99 transport and cluster-wide, 100–199 coordinator, 200–299 parameter server, 300–399 worker.

/** Known message types. Roles add theirs here, in their range. */
export const MessageType = {
  /** Liveness probe; a request answered with an empty response. */
  ping: 1,
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
