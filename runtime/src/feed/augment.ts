// Training-time image augmentation, batched: a random crop (zoom) with a random horizontal flip is a single
// cropAndResize (a box with x1 > x2 comes out mirrored), and the per-image brightness shift rides on the scaling
// to the output range (one mul + add over the batch, which the feed does anyway). Seeded, so a run repeats; the
// validation feed never gets it (it is an option of the train feed's image feature).
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import type { Tf } from '../tf/tf.ts';
import { mulberry32 } from '../random.ts';

/** Random transforms of training images; each is off unless given. */
export interface AugmentOptions {
  /** Mirror half of the images left-right. */
  flip?: boolean;
  /** Crop a random square of at least `1 - zoom` of the side and resize it back (0 ≤ zoom < 1), e.g. 0.2. */
  zoom?: number;
  /** Add a random shift in [-brightness, brightness] × the pixel range to each image, e.g. 0.1. */
  brightness?: number;
  /** Seeds the random transforms (default 0). */
  seed?: number;
}

/** Transforms a batch of [0, 255] pixels and scales it to [low, high]; returns a new batch of the same shape. */
export type Augmenter = (images: Tensor4D, scale: readonly [number, number]) => Tensor4D;

/** An augmenter with its own seeded random stream (one per feed: batches draw from it in order). */
export function createAugmenter(tf: Tf, options: AugmentOptions): Augmenter {
  const rand = mulberry32(options.seed ?? 0);
  const zoom = options.zoom ?? 0;
  const flip = options.flip ?? false;
  const brightness = options.brightness ?? 0;
  return (images, [low, high]) => {
    const [n, height, width] = images.shape;
    // Drawn outside tidy and in a fixed order, so the stream of numbers does not depend on which ops run.
    const boxes = new Float32Array(n * 4);
    const shifts = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const side = 1 - rand() * zoom;
      const y1 = rand() * (1 - side);
      const x1 = rand() * (1 - side);
      const mirror = flip && rand() < 0.5;
      boxes.set([y1, mirror ? x1 + side : x1, y1 + side, mirror ? x1 : x1 + side], i * 4);
      // The shift in output units: brightness is a share of the pixel range, so of (high - low).
      shifts[i] = low + (rand() * 2 - 1) * brightness * (high - low);
    }
    return tf.tidy(() => {
      let out: Tensor = images;
      if (zoom > 0 || flip) {
        const index = tf.range(0, n, 1, 'int32');
        out = tf.image.cropAndResize(images, tf.tensor2d(boxes, [n, 4]), index as never, [height, width]);
      }
      // Not clipped: a shifted pixel may leave [low, high] a little, as Keras' RandomBrightness(value_range=None) does.
      return tf.add(tf.mul(out, (high - low) / 255), tf.tensor4d(shifts, [n, 1, 1, 1])) as Tensor4D;
    });
  };
}
