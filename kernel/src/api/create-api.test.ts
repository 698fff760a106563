import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPetalError } from '@petal/runtime';
import { CommManager } from '../comms.ts';
import { mimeBundle } from '../display.ts';
import { builtinMagics } from '../magics/index.ts';
import { Resources } from '../resources.ts';
import { createPetalApi } from './create-api.ts';

function api(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'petal-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const shown: Record<string, unknown>[] = [];
  const petal = createPetalApi({
    resources: new Resources(),
    magics: builtinMagics(),
    comms: new CommManager(() => {}),
    output: {
      display: (value) => void shown.push(mimeBundle(value).data),
      clear: () => {},
      write: () => {},
      executing: () => true,
    },
    dir,
    kafka: {
      env: {},
      paths: { dataDir: join(dir, 'kafka'), logFile: join(dir, 'kafka.log'), recordFile: join(dir, 'kafka.json') },
    },
  });
  return { petal, shown };
}

const rejectsWith = (code: string, hint: RegExp) => (err: unknown) => isPetalError(err, code) && hint.test(err.message);

test('stream() without a broker says to run %kafka up, and starts nothing', async (t) => {
  const { petal, shown } = api(t);
  await assert.rejects(petal.stream([{ a: 1 }], { topic: 'x' }), rejectsWith('PETAL_KAFKA_DOWN', /%kafka up/));
  await assert.rejects(
    petal.stream([{ a: 1 }], { topic: 'x', parts: 2 } as never),
    rejectsWith('PETAL_STREAM_OPTIONS', /"parts" is unknown[\s\S]*topic, partitions, fresh/),
  );
  assert.deepEqual(shown, []);
  assert.deepEqual(petal.topics(), {});
});

test('train(), cluster.status() and %train without a cluster say to run %cluster up', async (t) => {
  const { petal } = api(t);
  const noCluster = rejectsWith('PETAL_CLUSTER_DOWN', /%cluster up --ps 1 --workers 2/);
  const options = {
    model: {},
    optimizer: 'adam',
    loss: 'meanSquaredError',
    feeds: { train: 't' },
    batchSize: 1,
    epochs: 1,
  };
  await assert.rejects(petal.train(options as never), noCluster);
  assert.throws(() => petal.cluster.status(), noCluster);
  await assert.rejects(
    petal.train({ ...options, epochz: 1 } as never),
    rejectsWith('PETAL_TRAIN_OPTIONS', /"epochz" is unknown/),
  );
  await assert.rejects(petal.magic('train opts'), rejectsWith('PETAL_MAGIC_USAGE', /must give train options/));
  assert.equal(await petal.cluster.down(), undefined);
});

test('gallery() shows its card at once; logs() is empty before a cluster', (t) => {
  const { petal, shown } = api(t);
  const card = petal.gallery({ classes: ['a'], items: [{ src: 'data:image/png;base64,AA', label: 'a' }] });
  assert.equal(card.version, 1);
  assert.equal(shown.length, 1);
  assert.ok('application/vnd.petal.gallery+json' in shown[0]!);
  assert.throws(
    () => petal.gallery({ classes: ['a'], items: [{ src: 'javascript:1' }] }),
    rejectsWith('PETAL_GALLERY', /items\[0\]\.src must be a data:image/),
  );
  assert.equal(shown.length, 1);
  assert.deepEqual(petal.logs().lines, []);
});
