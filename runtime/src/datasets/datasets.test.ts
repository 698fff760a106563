import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedDataDir } from '../env/locations.ts';
import { isPetalError } from '../errors.ts';
import { LOOPBACK } from '../net/loopback.ts';
import { imageTable, listImageFolder, locateFlowers, stratifiedSplit } from './index.ts';

const flowersDir = join(sharedDataDir() ?? '/nonexistent', 'flowers');
/** Class sizes of tf_flowers (its README). */
const CLASS_SIZES = { daisy: 633, dandelion: 898, roses: 641, sunflowers: 699, tulips: 799 };

function withEnv(vars: Record<string, string>, t: { after: (fn: () => void) => void }): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

test('lists every tf_flowers photo by class, and reads them into an Arrow table byte for byte', async () => {
  const all = await listImageFolder(flowersDir);
  const counts: Record<string, number> = {};
  for (const e of all) counts[e.label] = (counts[e.label] ?? 0) + 1;
  assert.deepEqual(counts, CLASS_SIZES);
  const few = await listImageFolder(flowersDir, { perClass: 4 });
  assert.equal(few.length, 20);
  const table = await imageTable(few);
  assert.equal(table.numRows, 20);
  assert.deepEqual(
    table.schema.fields.map((f) => `${f.name}:${f.type}`),
    ['path:Utf8', 'label:Utf8', 'image:Binary'],
  );
  for (const i of [0, 7, 19]) {
    assert.equal(table.getChild('label')!.get(i), few[i]!.label);
    assert.deepEqual(table.getChild('image')!.get(i), new Uint8Array(readFileSync(few[i]!.path)));
  }
});

test('a bad image folder names the folder and the layout it needs', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'petal-folder-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await assert.rejects(listImageFolder(join(root, 'missing')), (err) => isPetalError(err, 'PETAL_DATA_FOLDER'));
  await assert.rejects(listImageFolder(root), /has no class folders/);
  mkdirSync(join(root, 'cats'));
  writeFileSync(join(root, 'cats', 'notes.txt'), 'x');
  await assert.rejects(listImageFolder(root), /cats holds no \.jpg/);
});

test('the stratified split keeps each class share, is disjoint and complete, and repeats with its seed', async () => {
  const all = await listImageFolder(flowersDir);
  const key = (e: { label: string }) => e.label;
  const a = stratifiedSplit(all, { key, validation: 0.2, seed: 7 });
  const b = stratifiedSplit(all, { key, validation: 0.2, seed: 7 });
  const c = stratifiedSplit(all, { key, validation: 0.2, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(
    a.validation.map((e) => e.path),
    c.validation.map((e) => e.path),
  );
  assert.equal(a.train.length + a.validation.length, all.length);
  assert.equal(new Set([...a.train, ...a.validation].map((e) => e.path)).size, all.length);
  for (const [label, size] of Object.entries(CLASS_SIZES)) {
    assert.equal(a.validation.filter((e) => e.label === label).length, Math.round(size * 0.2), label);
  }
  const firstLabels = new Set(a.train.slice(0, 50).map(key));
  assert.equal(firstLabels.size, 5, 'the classes come mixed, not one after another');
  assert.throws(() => stratifiedSplit(all, { key, validation: 1 }), /validation must be a share in \(0, 1\)/);
});

test('locateFlowers downloads the archive once into the cache when no copy is found, never half-written', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'petal-flowers-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  // A real tar.gz in the canonical layout, made from two photos of each of two classes.
  const src = join(work, 'src', 'flower_photos');
  for (const label of ['daisy', 'roses']) {
    mkdirSync(join(src, label), { recursive: true });
    for (const e of (await listImageFolder(flowersDir, { perClass: 2 })).filter((x) => x.label === label)) {
      writeFileSync(join(src, label, e.path.split('/').pop()!), readFileSync(e.path));
    }
  }
  const archive = join(work, 'flower_photos.tgz');
  assert.equal(spawnSync('tar', ['-czf', archive, '-C', join(work, 'src'), 'flower_photos']).status, 0);
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    if (req.url === '/flower_photos.tgz') createReadStream(archive).pipe(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  t.after(() => server.close());
  const base = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;
  withEnv({ PETAL_CACHE_DIR: join(work, 'cache'), PETAL_DATA_DIR: join(work, 'no-shared-data') }, t);

  await assert.rejects(locateFlowers({ url: `${base}/missing.tgz` }), (err) => {
    assert.ok(isPetalError(err, 'PETAL_DATA_DOWNLOAD'));
    assert.match(String(err), /HTTP 404.*\n.*fix: .*PETAL_DATA_DIR/s);
    return true;
  });
  assert.equal(existsSync(join(work, 'cache', 'datasets', 'flower_photos')), false, 'nothing half-written');
  await assert.rejects(locateFlowers({ download: false }), /no copy of the flower photos/);

  const dir = await locateFlowers({ url: `${base}/flower_photos.tgz` });
  assert.equal(dir, join(work, 'cache', 'datasets', 'flower_photos'));
  assert.equal((await listImageFolder(dir)).length, 4);
  assert.equal(await locateFlowers({ url: `${base}/flower_photos.tgz` }), dir);
  assert.equal(requests, 2, 'the second call reuses the download');
  await assert.rejects(locateFlowers({ dir: work }), /holds no flowers class folders/);
});
