// Sync steps pushed and pulled part by part (exchange-parts.ts) over real sockets: a part is applied once every live
// worker's gradient for it is in and served at once, the step is still one averaged update equal to applying the
// whole average, and stale or duplicate parts are dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { MessageType } from '../protocol/index.ts';
import type { Connection } from '../transport/index.ts';
import { PART_ELEMENTS } from './exchange-parts.ts';
import { createOptimizer } from './optimizers.ts';
import type { OptimizerConfig } from './optimizers.ts';
import { planShards } from './shard-plan.ts';
import { psHarness } from './testing/ps-harness.ts';

const W = PART_ELEMENTS + 77_824; // two parts: w's first PART_ELEMENTS, then the rest of w with b
const plan = planShards(
  [
    { name: 'w', shape: [W] },
    { name: 'b', shape: [4] },
  ],
  1,
);
const wave = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i));
const init = new Map([
  ['w', wave(W, 1)],
  ['b', wave(4, 2)],
]);
const { start, client } = psHarness(plan, init);

// Part j's segments of whole gradients [w, b].
function partOf(grads: Float32Array[], j: number): Float32Array[] {
  return j === 0 ? [grads[0]!.subarray(0, PART_ELEMENTS)] : [grads[0]!.subarray(PART_ELEMENTS), grads[1]!];
}
async function pushPart(
  c: Connection,
  worker: string,
  step: number,
  part: number,
  grads: Float32Array[],
): Promise<{ accepted: boolean; reason?: string }> {
  const reply = await c.request({
    type: MessageType.pushGradients,
    meta: { worker, step, part },
    tensors: partOf(grads, part).map((g) => ({ dtype: 'float32', shape: [g.length], data: g })),
  });
  reply.release();
  return reply.meta as { accepted: boolean; reason?: string };
}
async function pullPart(
  c: Connection,
  worker: string,
  step: number,
  part: number,
): Promise<{ globalStep: number; data: Float32Array[] }> {
  const reply = await c.request({ type: MessageType.pullParams, meta: { worker, step, part } });
  const data = reply.tensors.map((t) => (t.data as Float32Array).slice());
  reply.release();
  return { globalStep: (reply.meta as { globalStep: number }).globalStep, data };
}
async function pullWhole(c: Connection, worker: string, step: number): Promise<Record<string, unknown>> {
  const reply = await c.request({ type: MessageType.pullParams, meta: { worker, step } });
  reply.release();
  return reply.meta as Record<string, unknown>;
}

test('sync: pipelined pushes from 2 workers make one averaged update per step, applied part by part', async () => {
  const config: OptimizerConfig = { type: 'adam', learningRate: 0.01 };
  const ps = await start('sync', config);
  const [ca, cb] = [await client(ps), await client(ps)];
  assert.equal((await pullWhole(ca, 'a', 0)).parts, 2, 'a sync PS announces its parts');
  const reference = createOptimizer(config);
  const ref = [init.get('w')!.slice(), init.get('b')!.slice()];
  const refSlots = ref.map((p) => reference.slotNames.map(() => new Float32Array(p.length)));
  for (let step = 0; step < 3; step++) {
    const ga = [wave(W, 10 + step), wave(4, 20 + step)];
    const gb = [wave(W, 30 + step), wave(4, 40 + step)];
    // a's part 0 and its pull of part 0 for the next step: the pull waits for b's part 0.
    assert.ok((await pushPart(ca, 'a', step, 0, ga)).accepted);
    let pulled = false;
    const a0 = pullPart(ca, 'a', step + 1, 0).then((r) => ((pulled = true), r));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(pulled, false, 'part 0 waits for every live worker');
    assert.ok((await pushPart(cb, 'b', step, 0, gb)).accepted);
    const first = await a0;
    assert.equal(ps.globalStep, step, 'part 0 is applied, the step is not over');
    assert.equal(ps.store.midStep, true);
    assert.equal(first.globalStep, step + 1, 'part 0 is served at its next step at once');
    // Part 1 from both ends the step.
    const a1 = pullPart(ca, 'a', step + 1, 1);
    assert.ok((await pushPart(ca, 'a', step, 1, ga)).accepted);
    assert.ok((await pushPart(cb, 'b', step, 1, gb)).accepted);
    const second = await a1;
    assert.equal(ps.globalStep, step + 1);
    assert.equal(ps.store.midStep, false);

    ref.forEach((p, i) =>
      reference.apply(
        p,
        ga[i]!.map((g, k) => (g + gb[i]![k]!) / 2),
        refSlots[i]!,
      ),
    );
    reference.finishStep();
    assert.deepEqual([...first.data, ...second.data], [...partOf(ref, 0), ...partOf(ref, 1)], `step ${step}`);
  }
  assert.deepEqual(ps.store.trainable[0]!.slots, refSlots[0], 'optimizer slots match the whole-step reference');
  assert.equal(ps.stats.applied, 3, 'one update per step');
  assert.equal(ps.stats.pushes, 6, 'a pipelined push counts once');
  assert.equal(ps.stats.partsInPlace, 0, 'two workers’ parts are summed, not applied where they landed');
});

test('sync: a lone worker’s parts, applied where they land, update the values exactly as its whole gradients would', async () => {
  const config: OptimizerConfig = { type: 'adam', learningRate: 0.01 };
  const ps = await start('sync', config, ['a']);
  const c = await client(ps);
  await pullWhole(c, 'a', 0);
  const reference = createOptimizer(config);
  const ref = [init.get('w')!.slice(), init.get('b')!.slice()];
  const refSlots = ref.map((p) => reference.slotNames.map(() => new Float32Array(p.length)));
  for (let step = 0; step < 3; step++) {
    const grads = [wave(W, 50 + step), wave(4, 60 + step)];
    // As the worker's client sends them: each part, then the pull of that part for the next step behind it.
    const pulled = [];
    for (const j of [0, 1]) {
      assert.ok((await pushPart(c, 'a', step, j, grads)).accepted);
      pulled.push(await pullPart(c, 'a', step + 1, j));
    }
    const [first, second] = pulled;
    ref.forEach((p, i) => reference.apply(p, grads[i]!.slice(), refSlots[i]!));
    reference.finishStep();
    assert.deepEqual([...first!.data, ...second!.data], [...partOf(ref, 0), ...partOf(ref, 1)], `step ${step}`);
  }
  assert.deepEqual(ps.store.trainable[0]!.slots, refSlots[0], 'optimizer slots match the reference');
  assert.equal(ps.globalStep, 3);
  assert.equal(ps.stats.partsInPlace, 6, 'every part was applied from the kernels’ memory it landed in, uncopied');
});

test('sync: stale and duplicate parts are dropped; a part already applied takes no late gradient', async () => {
  const ps = await start('sync', { type: 'sgd', learningRate: 0.5 });
  const [ca, cb] = [await client(ps), await client(ps)];
  const g = [new Float32Array(W).fill(1), new Float32Array(4).fill(1)];
  assert.ok((await pushPart(ca, 'a', 0, 0, g)).accepted);
  assert.deepEqual(await pushPart(ca, 'a', 0, 0, g), { accepted: false, reason: 'duplicate', globalStep: 0 });
  for (const j of [0, 1]) assert.ok((await pushPart(cb, 'b', 0, j, g)).accepted);
  assert.ok((await pushPart(ca, 'a', 0, 1, g)).accepted);
  assert.equal(ps.globalStep, 1);
  assert.deepEqual(await pushPart(cb, 'b', 0, 1, g), { accepted: false, reason: 'stale', globalStep: 1 });
  assert.equal(ps.stats.dropped.stale, 0, 'drops count once per push, by its part 0');
  assert.deepEqual(await pushPart(cb, 'b', 0, 0, g), { accepted: false, reason: 'stale', globalStep: 1 });
  assert.equal(ps.stats.dropped.stale, 1);
  assert.equal(ps.stats.dropped.duplicate, 1);

  // b alone pushed part 0 of step 1 when a left the live set: part 0 is applied at once from b's gradient. a comes
  // back within the step: its part 0 is too late (dropped as stale), its part 1 counts, and the step ends as usual.
  assert.ok((await pushPart(cb, 'b', 1, 0, g)).accepted);
  assert.equal(ps.store.partApplied(0), false, 'part 0 waits for a');
  ps.setLiveWorkers(['b']);
  assert.equal(ps.store.partStep(0), 2, 'with a gone, b’s part 0 is applied');
  ps.setLiveWorkers(['a', 'b']);
  const w0 = ps.store.trainable[0]!.params[0]!;
  assert.deepEqual(await pushPart(ca, 'a', 1, 0, g), { accepted: false, reason: 'stale', globalStep: 1 });
  assert.equal(ps.store.trainable[0]!.params[0], w0, 'the late part changed nothing');
  assert.ok((await pushPart(ca, 'a', 1, 1, g)).accepted);
  assert.ok((await pushPart(cb, 'b', 1, 1, g)).accepted);
  assert.equal(ps.globalStep, 2);
  assert.equal(ps.stats.applied, 2);
});

test('parts are for sync PS only, and must match the PS’s cut', async () => {
  const ps = await start('async', { type: 'sgd', learningRate: 0.5 });
  const c = await client(ps);
  assert.equal((await pullWhole(c, 'a', 0)).parts, undefined, 'an async PS announces no parts');
  const g = [new Float32Array(W), new Float32Array(4)];
  await assert.rejects(pushPart(c, 'a', 0, 0, g), (e: unknown) => isPetalError(e, 'PETAL_PS_REQUEST'));
  const sync = await start('sync', { type: 'sgd', learningRate: 0.5 });
  const cs = await client(sync);
  await assert.rejects(pushPart(cs, 'a', 0, 2, g), (e: unknown) => isPetalError(e, 'PETAL_PS_SHAPE'));
  await assert.rejects(
    cs.request({
      type: MessageType.pushGradients,
      meta: { worker: 'a', step: 0, part: 1 },
      tensors: [{ dtype: 'float32', shape: [3], data: new Float32Array(3) }],
    }),
    (e: unknown) => isPetalError(e, 'PETAL_PS_SHAPE'),
  );
});
