// Public surface of the job spec: the JSON a training run is described by, and its validator.
export {
  validateJobSpec,
  toOptimizerConfig,
  layerTrainable,
  canonicalName,
  JobSpecError,
  LOSSES,
  METRICS,
} from './job-spec.ts';
export type { JobSpec, JobFeedSpec, OptimizerSpec, TrainableRule } from './job-spec.ts';
export { assignPartitions } from './partitions.ts';
export { startOfEpoch, workerResumes } from './resume.ts';
export type { FeedCursor, SavedFeedPositions, WorkerResume } from './resume.ts';
