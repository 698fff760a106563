// One small seeded PRNG for everything that must repeat from a seed (splits, augmentation). The feed's shuffle
// inlines the same generator in its hot loop and keeps its state in feed positions (feed/shuffle.ts).

/** mulberry32: a fast, well-mixed 32-bit generator; returns draws in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
