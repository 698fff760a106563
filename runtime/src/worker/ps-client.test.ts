// The worker's PS client against real sync PS: after the first (whole) pull it pushes and pulls in parts, and what
// it pulls is exactly the whole-step update; the values a pull returned stay intact while the next step's parts
// arrive (double buffers), and a pull for another step than the prefetched one asks afresh.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { PART_ELEMENTS, createOptimizer, planShards, startParameterServer } from '../ps/index.ts';
import type { OptimizerConfig, ParameterServer } from '../ps/index.ts';
import { createClusterToken } from '../transport/index.ts';
import { connectPs } from './ps-client.ts';

const token = createClusterToken();
const W = 2 * PART_ELEMENTS + 1000; // sliced over 2 PS, each slice cut into 2 parts
const variables = [
  { name: 'w', shape: [W] },
  { name: 'b', shape: [6] },
];
const wave = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i));
const init = new Map([
  ['w', wave(W, 1)],
  ['b', wave(6, 2)],
]);
const open: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of open.reverse()) await o.close();
});

test('sync: pipelined pushes and pulls over 2 PS equal the whole-step update; returned values stay intact', async () => {
  const config: OptimizerConfig = { type: 'adam', learningRate: 0.01 };
  const plan = planShards(variables, 2, { maxSliceBytes: 4 * (PART_ELEMENTS + 600) });
  assert.ok(plan.slices.filter((s) => s.variable === 'w').length >= 2, 'w is sliced over both PS');
  const servers: ParameterServer[] = [];
  for (const psIndex of [0, 1]) {
    const ps = await startParameterServer({ token, plan, psIndex, optimizer: config, workers: ['a'], values: init });
    open.push(ps);
    servers.push(ps);
  }
  assert.ok(servers.every((ps) => ps.store.parts.length === 2));
  const early = new Map<string, Float32Array>(); // what onValues was handed, copied
  const client = await connectPs({
    endpoints: servers,
    token,
    plan,
    worker: 'a',
    onValues: (name, values) => {
      assert.ok(!early.has(name), `${name} is handed over once per step`);
      early.set(name, values.slice());
    },
  });
  open.push(client);

  const reference = createOptimizer(config);
  const ref = [init.get('w')!.slice(), init.get('b')!.slice()];
  const slots = ref.map((p) => reference.slotNames.map(() => new Float32Array(p.length)));
  let pulled = await client.pull(0);
  assert.equal(pulled.delivered.size, 0, 'a whole pull hands nothing over early');
  for (let step = 0; step < 3; step++) {
    assert.equal(pulled.globalStep, step);
    if (step > 0) {
      assert.deepEqual([...pulled.delivered].sort(), ['b', 'w'], 'each variable went to onValues as it arrived');
      assert.deepEqual(early, pulled.values, 'onValues had the values the pull returns');
    }
    early.clear();
    assert.deepEqual(pulled.values.get('w'), ref[0], `step ${step}: w`);
    assert.deepEqual(pulled.values.get('b'), ref[1], `step ${step}: b`);
    const grads = [wave(W, 10 + step), wave(6, 20 + step)];
    assert.ok(
      await client.push(
        step,
        new Map([
          ['w', grads[0]!],
          ['b', grads[1]!],
        ]),
      ),
    );
    await new Promise((r) => setTimeout(r, 20)); // the prefetched parts of the next step arrive meanwhile
    assert.deepEqual(pulled.values.get('w'), ref[0], 'what the last pull returned is untouched until the next');
    ref.forEach((p, i) => reference.apply(p, grads[i]!, slots[i]!));
    reference.finishStep();
    pulled = await client.pull(step + 1);
  }
  assert.equal(pulled.globalStep, 3);
  assert.deepEqual(pulled.values.get('w'), ref[0]);
  assert.ok(servers.every((ps) => ps.stats.applied === 3 && ps.stats.pushes === 3));

  // A pull of a step other than the prefetched one (after an epoch barrier, say) drops the prefetch and asks anew.
  await client.push(
    3,
    new Map([
      ['w', new Float32Array(W)],
      ['b', new Float32Array(6)],
    ]),
  );
  const again = await client.pull(3);
  assert.equal(again.globalStep, 4);
  assert.deepEqual(
    again.values.get('b'),
    servers[plan.slices.find((s) => s.variable === 'b')!.ps]!.store.trainable.at(-1)!.params,
  );
});
