// The job spec of the image transfer-learning recipe: a transfer model's topology and freeze rules, an image feed
// decoded at the model's input size and scaled to [-1, 1], augmented on the train feed only, and Adam on the
// trainable layers exporting moving averages of the weights. The defaults are the recipe
// measured on tf_flowers (see runtime/src/models/README.md).
import type { AugmentOptions } from '../feed/augment.ts';
import type { FeatureSpec } from '../feed/index.ts';
import type { JobSpec } from '../job/index.ts';
import type { TransferModel } from './mobilenet.ts';

/** Options of transferJob(). */
export interface TransferJobOptions {
  /** The model: its topology, freeze rules and input shape (from transferModel()). */
  model: Pick<TransferModel, 'topology' | 'trainable' | 'inputShape'>;
  /** Where `model.save()` wrote it: the base's weights, matched by name, start the run. */
  initialWeights: string;
  /** Topics written by stream(): an image column (JPEG/PNG bytes) and a label column (strings or class indices). */
  train: string;
  validation?: string;
  /** Column names (default `image` and `label`). */
  imageColumn?: string;
  labelColumn?: string;
  /** Default 10. */
  epochs?: number;
  /** Per worker, per step (default 32). */
  batchSize?: number;
  /** Adam's learning rate (default 0.003). */
  learningRate?: number;
  /** Train-feed augmentation (default flip, zoom 0.1, brightness 0.1); `false` turns it off. */
  augment?: AugmentOptions | false;
  /**
   * Rows in the train feed's shuffle pool (default 4096). Images are pooled as their encoded bytes (~10 KB a photo),
   * so a whole small dataset fits: a pool of a few batches over rows streamed class by class gives one-class
   * batches, and training diverges.
   */
  shuffleBuffer?: number;
  /** Seeds the train feed's shuffle and the augmentation (default 42). */
  seed?: number;
  /** Export the moving averages of the trained weights (Keras' use_ema, momentum 0.99; default true). */
  useEma?: boolean;
  /** Default 1 PS and 2 workers. */
  ps?: number;
  workers?: number;
}

/** The recipe's train-feed augmentation. */
export const DEFAULT_AUGMENT: AugmentOptions = { flip: true, zoom: 0.1, brightness: 0.1 };

/** A sync-mode JobSpec for cluster.train() that fine-tunes `model` on the image topics. */
export function transferJob(options: TransferJobOptions): JobSpec {
  const [height, width, channels] = options.model.inputShape;
  const seed = options.seed ?? 42;
  const features = (augment: AugmentOptions | undefined): FeatureSpec => ({
    xs: {
      column: options.imageColumn ?? 'image',
      kind: 'image',
      height,
      width,
      channels: channels === 1 ? 1 : 3,
      scale: [-1, 1],
      ...(augment ? { augment } : {}),
    },
    ys: { column: options.labelColumn ?? 'label', kind: 'label' },
  });
  const augment = options.augment === false ? undefined : { ...(options.augment ?? DEFAULT_AUGMENT), seed };
  return {
    model: {
      topology: options.model.topology,
      initialWeights: options.initialWeights,
      trainable: options.model.trainable,
    },
    compile: {
      optimizer: { name: 'adam', learningRate: options.learningRate ?? 0.003, useEma: options.useEma ?? true },
      loss: 'sparseCategoricalCrossentropy',
      metrics: ['accuracy'],
    },
    feeds: {
      train: { topic: options.train, features: features(augment), shuffleBuffer: options.shuffleBuffer ?? 4096 },
      ...(options.validation ? { validation: { topic: options.validation, features: features(undefined) } } : {}),
    },
    batchSize: options.batchSize ?? 32,
    epochs: options.epochs ?? 10,
    mode: 'sync',
    ps: options.ps ?? 1,
    workers: options.workers ?? 2,
    seed,
  };
}
