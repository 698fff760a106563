// Training augmentation: flips mirror whole images, crops zoom in, brightness shifts each image by one offset, the
// same seed repeats the same transforms, nothing leaks; and the feature options are checked up front.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor4D } from '@tensorflow/tfjs-node';
import { isPetalError } from '../errors.ts';
import { loadTf } from '../tf/tf.ts';
import { createAugmenter } from './augment.ts';
import { checkSpec } from './feature-spec.ts';

const tf = loadTf();
const range = [-1, 1] as const;

/** Four distinct 8×8 RGB images, each a left-right gradient, pixels in [0, 255]. */
function images(): Tensor4D {
  return tf.tidy(() => {
    const x = tf.linspace(0, 200, 8).reshape([1, 1, 8, 1]);
    return tf.mul(tf.ones([4, 8, 1, 3]), x).add(tf.tensor4d([0, 15, 30, 45], [4, 1, 1, 1])) as Tensor4D;
  });
}

function values(t: Tensor4D): number[][][][] {
  const v = t.arraySync();
  t.dispose();
  return v;
}

test('with no transforms the augmenter only scales to the range', () => {
  const x = images();
  const out = values(createAugmenter(tf, {})(x, range));
  const want = values(tf.tidy(() => x.mul(2 / 255).sub(1) as Tensor4D));
  assert.deepEqual(out, want);
  x.dispose();
});

test('flip mirrors some images left-right and leaves the others, the same way for the same seed', () => {
  const x = images();
  const scaled = values(tf.tidy(() => x.mul(2 / 255).sub(1) as Tensor4D));
  const mirrored = values(tf.tidy(() => tf.reverse(x.mul(2 / 255).sub(1), 2) as Tensor4D));
  const run = () => values(createAugmenter(tf, { flip: true, seed: 5 })(x, range));
  const out = run();
  let flips = 0;
  // 0.01: cropAndResize samples pixel centres, a float rounding away from the input.
  const near = (a: number[][][], b: number[][][]) => a.flat(2).every((v, i) => Math.abs(v - b.flat(2)[i]!) < 0.01);
  for (let i = 0; i < 4; i++) {
    const isFlip = near(out[i]!, mirrored[i]!);
    assert.ok(isFlip || near(out[i]!, scaled[i]!), `image ${i} is the input or its mirror`);
    if (isFlip) flips++;
  }
  assert.ok(flips > 0 && flips < 4, `some but not all of 4 images flipped (${flips})`);
  assert.deepEqual(run(), out, 'same seed, same transforms');
  x.dispose();
});

test('zoom crops into the image; brightness shifts each image by one offset; no tensor leaks', () => {
  const x = images();
  const augment = createAugmenter(tf, { zoom: 0.5, brightness: 0.2, seed: 1 });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) augment(x, range).dispose();
  assert.equal(tf.memory().numTensors, before, 'tensors stay flat across batches');
  const out = values(createAugmenter(tf, { zoom: 0.5, seed: 1 })(x, range));
  for (const image of out) {
    const row = image[0]!.map((p) => p[0]!);
    // Zoomed in, a row spans less of the gradient than the whole row (200 of 255 → 1.57 of the range).
    assert.ok(row.at(-1)! - row[0]! < (200 / 255) * 2 - 0.1, `row spans ${row[0]}..${row.at(-1)}`);
  }
  const bright = values(createAugmenter(tf, { brightness: 0.2, seed: 1 })(x, range));
  const plain = values(tf.tidy(() => x.mul(2 / 255).sub(1) as Tensor4D));
  const shifts = bright.map((image, i) => image.flat(2).map((v, k) => v - plain[i]!.flat(2)[k]!));
  for (const s of shifts) {
    assert.ok(
      s.every((d) => Math.abs(d - s[0]!) < 1e-5),
      'one shift per image',
    );
    assert.ok(Math.abs(s[0]!) <= 0.2 * 2 + 1e-6, `shift ${s[0]} within brightness × range`);
  }
  assert.ok(new Set(shifts.map((s) => s[0]!.toFixed(4))).size > 1, 'images get different shifts');
  x.dispose();
});

test('image options are checked with the path named', () => {
  const image = (extra: Record<string, unknown>) => ({
    xs: { column: 'image', kind: 'image', height: 224, width: 224, ...extra },
  });
  assert.doesNotThrow(() => checkSpec('features', image({ scale: [-1, 1], augment: { flip: true, zoom: 0.2 } })));
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ scale: [1, -1] }, /features\.xs\.scale must be \[min, max\] with min < max/],
    [{ scale: [0] }, /features\.xs\.scale/],
    [{ augment: { zoom: 1.5 } }, /features\.xs\.augment\.zoom must be a number in \[0, 1\)/],
    [{ augment: { flip: 'yes' } }, /features\.xs\.augment\.flip must be true or false/],
    [{ augment: { rotate: 10 } }, /features\.xs\.augment\.rotate is unknown/],
  ];
  for (const [extra, message] of bad) {
    assert.throws(
      () => checkSpec('features', image(extra)),
      (e: unknown) => isPetalError(e, 'PETAL_FEED_OPTIONS') && message.test(e.message),
      JSON.stringify(extra),
    );
  }
});
