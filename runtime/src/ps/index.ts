// Public surface of the parameter server: shard plans, optimizers, the server, checkpoints.
export { PsError } from './errors.ts';
export { planShards, slicesOf, sliceVariables, assembleVariables } from './shard-plan.ts';
export type { ShardPlan, ShardSlice, VariableSpec, PlanOptions } from './shard-plan.ts';
export { exchangeParts, PART_ELEMENTS } from './exchange-parts.ts';
export type { ExchangePart, PartSegment } from './exchange-parts.ts';
export { createOptimizer, DEFAULT_EPSILON, EMA_SLOT, emaSlot } from './optimizers.ts';
export type { OptimizerConfig, ShardOptimizer } from './optimizers.ts';
export type { CosineDecay, LearningRateSchedule } from './learning-rate.ts';
export { ShardStore } from './shard-store.ts';
export type { TrainableShard, FrozenShard, StoreSnapshot } from './shard-store.ts';
export { createPsService, startParameterServer } from './parameter-server.ts';
export type {
  ParameterServer,
  ParameterServerOptions,
  PeriodicCheckpoints,
  PsMode,
  PsService,
  PsStats,
} from './parameter-server.ts';
export {
  saveCheckpoint,
  readCheckpoint,
  latestCheckpoint,
  commonSteps,
  exportModel,
  psCheckpointDir,
} from './checkpoint.ts';
export type { CheckpointData, ExportModelOptions } from './checkpoint.ts';
