// types.ts is served to cells on its own, so it repeats a few of the runtime's types instead of importing them. This
// file makes tsc fail when a copy and its original drift apart (each must be assignable to the other).
import type {
  Feature as RuntimeFeature,
  FeatureSpec as RuntimeFeatureSpec,
  JobFeedSpec as RuntimeJobFeedSpec,
  OptimizerSpec as RuntimeOptimizerSpec,
  PsMode,
  StreamSummary as RuntimeStreamSummary,
  TrainableRule as RuntimeTrainableRule,
} from '@petal/runtime';
import type {
  ClusterMode,
  Feature,
  FeatureSpec,
  JobFeedSpec,
  OptimizerSpec,
  StreamSummary,
  TrainableRule,
} from './types.ts';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Every entry is `true` only while the copies match the runtime's types. */
export const MIRRORS_MATCH: [
  Same<Feature, RuntimeFeature>,
  Same<FeatureSpec, RuntimeFeatureSpec>,
  Same<JobFeedSpec, RuntimeJobFeedSpec>,
  Same<OptimizerSpec, RuntimeOptimizerSpec>,
  Same<TrainableRule, RuntimeTrainableRule>,
  Same<StreamSummary, RuntimeStreamSummary>,
  Same<ClusterMode, PsMode>,
] = [true, true, true, true, true, true, true];
