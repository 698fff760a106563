// types.ts is served to cells on its own, so it repeats a few of the runtime's types instead of importing them. This
// file makes tsc fail when a copy and its original drift apart (each must be assignable to the other).
import type {
  AugmentOptions as RuntimeAugmentOptions,
  Feature as RuntimeFeature,
  TransferModelOptions as RuntimeTransferModelOptions,
  FeatureSpec as RuntimeFeatureSpec,
  JobFeedSpec as RuntimeJobFeedSpec,
  OptimizerSpec as RuntimeOptimizerSpec,
  PsMode,
  StreamSummary as RuntimeStreamSummary,
  TrainableRule as RuntimeTrainableRule,
} from '@petal/runtime';
import type { LayersModel as TfLayersModel } from '@tensorflow/tfjs-node';
import type {
  AugmentOptions,
  TransferModelOptions,
  ClusterMode,
  LayersModel,
  Feature,
  FeatureSpec,
  JobFeedSpec,
  OptimizerSpec,
  StreamSummary,
  TrainableRule,
} from './types.ts';

declare global {
  // In the kernel's own build `tf` is typed in full, so tsc checks create-api's `tf` against tfjs-node's module.
  interface PetalKernelTypes {
    tf: typeof import('@tensorflow/tfjs-node');
  }
}

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
  Same<AugmentOptions, RuntimeAugmentOptions>,
  Same<TransferModelOptions, RuntimeTransferModelOptions>,
  // What cells pass as train({ model }) fits the API's LayersModel.
  TfLayersModel extends LayersModel ? true : false,
] = [true, true, true, true, true, true, true, true, true, true];
