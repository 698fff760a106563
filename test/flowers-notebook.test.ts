// notebooks/flowers.ipynb end to end, as `npm run demo -- flowers` runs it (nbclient, the real Petal kernel, a real
// broker and cluster), in a reduced configuration set through its parameters cell: 40 photos per class, 3 epochs.
// The floor proves learning (5 classes: chance is 0.2); the full run's figures are the demo's, not this test's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processAlive } from '@petal/runtime';
import { PETAL_MIME } from '@petal/kernel/outputs';
import type { GalleryCard, StreamCard, TrainCard } from '@petal/kernel/outputs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FLOOR = 0.45;

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}

const text = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join('') : (v ?? ''));

function cards<T>(nb: { cells: Cell[] }, mime: string): T[] {
  return nb.cells.flatMap((c) => (c.outputs ?? []).map((o) => o.data?.[mime]).filter((d) => d !== undefined)) as T[];
}

test('the flowers notebook runs headless end to end and learns', { timeout: 900_000 }, async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'petal-flowers-nb-'));
  t.after(() => rmSync(state, { recursive: true, force: true }));
  const args = [join(root, 'scripts', 'demo.ts'), 'flowers', '-p', 'IMAGES_PER_CLASS=40', '-p', 'EPOCHS=3'];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, PETAL_STATE_DIR: state },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-8000)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `demo exited ${code}\n${out.slice(-4000)}\n${err}`);

  const demo = /^DEMO (\{.*\})$/m.exec(out);
  assert.ok(demo, `no DEMO line in:\n${out}`);
  const figures = JSON.parse(demo[1]!) as Record<string, number>;
  assert.equal(figures.train_images, 160);
  assert.equal(figures.validation_images, 40);
  assert.ok(figures.val_accuracy! > FLOOR, `validation accuracy ${figures.val_accuracy} ≤ ${FLOOR}`);

  const executed = /^executed notebook: (.+)$/m.exec(out)![1]!;
  const nb = JSON.parse(readFileSync(executed, 'utf8')) as { cells: Cell[] };
  const errors = nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.output_type === 'error'));
  assert.deepEqual(errors, [], 'no cell failed');

  const streams = cards<StreamCard>(nb, PETAL_MIME.stream);
  assert.deepEqual(
    streams.map((s) => [s.state, s.rows, s.partitions.every((p) => p.rows > 0)]),
    [
      ['done', 160, true],
      ['done', 40, true],
    ],
    'both parts streamed, every partition holding rows',
  );
  const [train] = cards<TrainCard>(nb, PETAL_MIME.train);
  assert.equal(train?.state, 'done');
  assert.equal(train.live, undefined, 'the saved card is the final snapshot');
  assert.deepEqual(
    train.epochPoints.map((e) => e.epoch),
    [0, 1, 2],
  );
  assert.ok(train.epochPoints.every((e) => e.validation !== undefined));
  const galleries = cards<GalleryCard>(nb, PETAL_MIME.gallery);
  const predictions = galleries.at(-1)!;
  assert.equal(
    predictions.confusion?.flat().reduce((a, b) => a + b, 0),
    40,
    'the confusion matrix counts every photo',
  );
  const wrong = predictions.items.findIndex((i) => i.label === i.predicted);
  assert.ok(
    predictions.items.slice(wrong === -1 ? predictions.items.length : wrong).every((i) => i.label === i.predicted),
    'mistakes come first',
  );
  // %cluster down, then the kernel's shutdown, stopped every task and the broker it started.
  const pids = cards<{ tasks: { pid: number }[] }>(nb, PETAL_MIME.cluster).flatMap((c) => c.tasks.map((x) => x.pid));
  assert.ok(pids.length >= 3);
  for (const pid of pids) assert.equal(processAlive(pid), false, `task pid ${pid} is gone`);
  const kafka = nb.cells.find((c) => text(c.source).startsWith('%kafka up'))!;
  const brokerPid = Number(/pid\s+(\d+)/.exec(text(kafka.outputs?.[0]?.data?.['text/plain'] as string))?.[1]);
  assert.ok(brokerPid > 0);
  assert.equal(processAlive(brokerPid), false, 'the broker the kernel started is gone');
});
