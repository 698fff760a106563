/** @petal/runtime: Petal's engine, free of Jupyter. */
export { PetalError, isPetalError } from './errors.ts';
export { loadTf } from './tf/tf.ts';
export type { Tf } from './tf/tf.ts';
export { LOOPBACK, findFreePort, portAccepts, portFree, waitUntil } from './net/loopback.ts';
export * from './kafka/index.ts';
export * from './feed/index.ts';
export * from './protocol/index.ts';
export * from './transport/index.ts';
export * from './pool/index.ts';
export * from './ps/index.ts';
export * from './job/index.ts';
export * from './worker/index.ts';
export * from './coordinator/index.ts';
export * from './datasets/index.ts';
export * from './models/index.ts';
export { createAugmenter } from './feed/augment.ts';
export type { AugmentOptions, Augmenter } from './feed/augment.ts';
