import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadTf } from '../tf/tf.ts';
import { commonSteps, exportModel, latestCheckpoint, psCheckpointDir, saveCheckpoint } from './checkpoint.ts';
import { createOptimizer } from './optimizers.ts';
import { planShards } from './shard-plan.ts';
import type { ShardPlan } from './shard-plan.ts';
import { ShardStore } from './shard-store.ts';

const tf = loadTf();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'petal-ckpt-'));
  dirs.push(d);
  return d;
}

function stores(plan: ShardPlan, values: Map<string, Float32Array>, steps: number): ShardStore[] {
  return Array.from({ length: plan.numPs }, (_, ps) => {
    const store = new ShardStore(plan, ps, createOptimizer({ type: 'adam', learningRate: 0.01 }), values);
    for (let s = 0; s < steps; s++) store.apply(store.trainable.map((t) => t.params.map((_, i) => Math.sin(i + s))));
    return store;
  });
}

const plan = planShards(
  [
    { name: 'big', shape: [300, 500] },
    { name: 'small', shape: [7] },
    { name: 'frozen', shape: [5], trainable: false },
  ],
  2,
  { maxSliceBytes: 200_000 },
);
const values = new Map(
  plan.variables.map((v) => [v.name, Float32Array.from({ length: v.size }, (_, i) => Math.cos(i))]),
);

test('checkpoint → restore gives bit-identical weights, optimizer slots and state, step and feed positions', async () => {
  const dir = await tempDir();
  const [a] = stores(plan, values, 3);
  const feedPositions = { train: { '0': 120, '1': 98 } };
  await saveCheckpoint(dir, { ...a!.snapshot(), psIndex: 0, numPs: 2, feedPositions });
  const fresh = stores(plan, values, 0)[0]!;
  const ck = (await latestCheckpoint(dir, 0))!;
  fresh.restore(ck);
  assert.deepEqual(ck.feedPositions, feedPositions);
  assert.equal(fresh.globalStep, 3);
  assert.deepEqual(fresh.optimizer.state(), a!.optimizer.state());
  // The store's arrays share one memory: compare each array's own bytes.
  const bytes = (x: Float32Array): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  fresh.trainable.forEach((s, i) => {
    assert.ok(bytes(s.params).equals(bytes(a!.trainable[i]!.params)), 'params bit-identical');
    s.slots.forEach((slot, j) => assert.ok(bytes(slot).equals(bytes(a!.trainable[i]!.slots[j]!))));
  });
  // And both continue identically.
  const g = a!.trainable.map((t) => t.params.map((_, i) => Math.cos(i * 3)));
  a!.apply(g);
  fresh.apply(g);
  fresh.trainable.forEach((s, i) => assert.deepEqual(s.params, a!.trainable[i]!.params));
});

test('a crash mid-write leaves the last good checkpoint; only the newest K are kept', async () => {
  const dir = await tempDir();
  const [a] = stores(plan, values, 0);
  for (let s = 0; s < 4; s++) {
    a!.apply(a!.trainable.map((t) => new Float32Array(t.params.length).fill(0.1)));
    await saveCheckpoint(dir, { ...a!.snapshot(), psIndex: 0, numPs: 2, feedPositions: { step: s } }, { keep: 2 });
  }
  const folder = psCheckpointDir(dir, 0);
  assert.deepEqual((await readdir(folder)).sort(), ['ckpt-000000000003.petal', 'ckpt-000000000004.petal']);
  // A writer killed mid-write leaves only its temp file: half the bytes, never renamed.
  await writeFile(path.join(folder, `.tmp-99999-deadbeef`), Buffer.alloc(1000, 7));
  const ck = (await latestCheckpoint(dir, 0))!;
  assert.equal(ck.globalStep, 4);
  assert.deepEqual(ck.feedPositions, { step: 3 });
  // A corrupted final file is detected, not loaded as weights.
  await writeFile(path.join(folder, 'ckpt-000000000005.petal'), Buffer.from('PETALCK1garbage'));
  await assert.rejects(latestCheckpoint(dir, 0), /PETAL_PS_CHECKPOINT|not a readable checkpoint/);
});

test('a new run into the folder of an earlier, longer one: its own checkpoints are the newest', async () => {
  const dir = await tempDir();
  const save = async (store: ShardStore) =>
    saveCheckpoint(dir, { ...store.snapshot(), psIndex: 0, numPs: 1, feedPositions: null }, { keep: 2 });
  const [earlier] = stores(plan, values, 40);
  await save(earlier!);
  earlier!.apply(earlier!.trainable.map((t) => new Float32Array(t.params.length).fill(0.1)));
  await save(earlier!); // steps 40 and 41
  const [later] = stores(plan, values, 5);
  await save(later!); // step 5, written last: kept, although 40 and 41 have higher numbers
  assert.deepEqual(await commonSteps(dir, 1), [41, 5]);
  assert.equal((await latestCheckpoint(dir, 0))!.globalStep, 5);
  assert.deepEqual((await readdir(psCheckpointDir(dir, 0))).sort(), [
    'ckpt-000000000005.petal',
    'ckpt-000000000041.petal',
  ]);
});

test('export with a slot writes that slot of the trainable values (the moving averages of useEma)', async () => {
  const dir = await tempDir();
  const one = planShards([{ name: 'w', shape: [4] }], 1);
  const config = { type: 'sgd', learningRate: 1, useEma: true, emaMomentum: 0.9 } as const;
  const store = new ShardStore(one, 0, createOptimizer(config), new Map([['w', new Float32Array([1, 2, 3, 4])]]));
  const ema = new Float32Array(4);
  for (let step = 0; step < 3; step++) {
    store.apply([new Float32Array([1, 1, 1, 1])]);
    const v = store.trainable[0]!.params;
    const d = Math.fround((1 + step) / (10 + step)); // below 0.9 for these first steps
    for (let i = 0; i < 4; i++) ema[i] = step === 0 ? v[i]! : d * ema[i]! + Math.fround(1 - d) * v[i]!;
  }
  await saveCheckpoint(dir, { ...store.snapshot(), psIndex: 0, numPs: 1, feedPositions: null });
  const exported = async (slot?: number) => {
    const out = path.join(dir, `export-${slot}`);
    await exportModel({ dir, numPs: 1, outDir: out, modelTopology: null, order: ['w'], slot });
    return new Float32Array((await readFile(path.join(out, 'weights.bin'))).buffer.slice(0));
  };
  assert.deepEqual(await exported(), new Float32Array([-2, -1, 0, 1]), 'the values after 3 updates');
  assert.deepEqual(await exported(0), ema, 'the moving averages');
  assert.ok(ema[0]! > -2, 'which lag the values (falling by 1 a step)');
  await assert.rejects(exported(1), /has no optimizer slot 1/);
});

test('the shards of all PS assemble into a tfjs layers model that tf.loadLayersModel loads', async () => {
  const dir = await tempDir();
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [6], units: 4, name: 'd1' }), tf.layers.dense({ units: 3, name: 'd2' })],
  });
  const specs = model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
  const mplan = planShards(specs, 2, { maxSliceBytes: 40 });
  const init = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
  const ss = stores(mplan, init, 2);
  for (const [i, s] of ss.entries())
    await saveCheckpoint(dir, { ...s.snapshot(), psIndex: i, numPs: 2, feedPositions: null });
  const out = path.join(dir, 'export');
  const file = await exportModel({
    dir,
    numPs: 2,
    outDir: out,
    modelTopology: model.toJSON(null, false),
    order: specs.map((s) => s.name),
  });
  const loaded = await tf.loadLayersModel(`file://${file}`);
  const want = new Map<string, Float32Array>();
  for (const s of ss)
    for (const t of s.trainable) {
      const v = want.get(t.slice.variable) ?? new Float32Array(t.slice.shape.reduce((a, b) => a * b, 1));
      v.set(t.params, t.slice.begin);
      want.set(t.slice.variable, v);
    }
  loaded.weights.forEach((w, i) => {
    assert.deepEqual(w.read().dataSync(), want.get(specs[i]!.name), `weight ${specs[i]!.name}`);
  });
  model.dispose();
  loaded.dispose();
});
