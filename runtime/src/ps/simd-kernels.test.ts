import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { KernelMemory, simdKernels } from './simd-kernels.ts';
import type { AdamConstants } from './simd-kernels.ts';

const r = Math.fround;
const c: AdamConstants = {
  beta1: r(0.9),
  oneMinusBeta1: r(1 - 0.9),
  beta2: r(0.999),
  oneMinusBeta2: r(1 - 0.999),
  oneMinusAccBeta1: r(1 - r(r(0.9) * r(0.9))),
  oneMinusAccBeta2: r(1 - r(r(0.999) * r(0.999))),
  epsilon: r(1e-7),
  negLearningRate: r(-0.01),
};

// tfjs's Adam on TensorFlow, one float32-rounded op at a time, in scalar JS.
function adamReference(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array): void {
  for (let i = 0; i < p.length; i++) {
    const m1 = r(r(m[i]! * c.beta1) + r(g[i]! * c.oneMinusBeta1));
    const v1 = r(r(v[i]! * c.beta2) + r(r(g[i]! * g[i]!) * c.oneMinusBeta2));
    m[i] = m1;
    v[i] = v1;
    const denom = r(r(Math.sqrt(r(v1 / c.oneMinusAccBeta2))) + c.epsilon);
    p[i] = r(r(r(r(m1 / c.oneMinusAccBeta1) / denom) * c.negLearningRate) + p[i]!);
  }
}

const wave = (n: number, f: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f));

// Lengths around the 4-lane vectors and the 16 Ki-element staging chunks.
for (const n of [1, 7, 16 * 1024 + 5, 50_003]) {
  test(`adam, add and divide equal float32 scalar math bit for bit (${n} elements, in place and staged)`, () => {
    const want = { p: wave(n, 0.1), g: wave(n, 0.37), m: wave(n, 0.05).map((x) => x * 0.1), v: wave(n, 0.2) };
    want.v = want.v.map((x) => x * x);
    const staged = { p: want.p.slice(), g: want.g.slice(), m: want.m.slice(), v: want.v.slice() };
    const memory = new KernelMemory([n, n, n, n, 3]);
    const placed = { p: memory.alloc(n), g: memory.alloc(n), m: memory.alloc(n), v: memory.alloc(n) };
    const guard = memory.alloc(3).fill(42); // right after v's padding: must survive the last partial vector
    for (const k of ['p', 'g', 'm', 'v'] as const) placed[k].set(want[k]);
    const kernels = simdKernels();
    for (let step = 0; step < 3; step++) {
      adamReference(want.p, want.g, want.m, want.v);
      kernels.adam(staged.p, staged.g, staged.m, staged.v, c);
      kernels.adam(placed.p, placed.g, placed.m, placed.v, c);
    }
    for (const k of ['p', 'm', 'v'] as const) {
      assert.deepEqual(staged[k], want[k], `staged ${k}`);
      assert.deepEqual(placed[k], want[k], `in place ${k}`);
    }
    assert.deepEqual([...guard], [42, 42, 42]);

    const sum = want.p.map((x, i) => r(x + want.g[i]!));
    kernels.add(staged.p, staged.g);
    kernels.add(placed.p, placed.g);
    assert.deepEqual(staged.p, sum);
    assert.deepEqual(placed.p, sum);
    const third = sum.map((x) => r(x / 3));
    kernels.divide(staged.p, 3);
    kernels.divide(placed.p, 3);
    assert.deepEqual(staged.p, third);
    assert.deepEqual(placed.p, third);
  });
}

test('a memory past wasm32 4 GiB is refused with PETAL_PS_TOO_LARGE and a fix', () => {
  assert.throws(
    () => new KernelMemory([600_000_000, 600_000_000]),
    (e: unknown) => isPetalError(e, 'PETAL_PS_TOO_LARGE') && /more parameter servers/.test(e.fix ?? ''),
  );
});
