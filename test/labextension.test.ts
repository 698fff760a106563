// @petal/labextension in a real JupyterLab (the venv's, with the extension setup installed) driven by headless
// Chromium: a saved notebook holding one card of each kind renders each card, and a cell run in the real
// "TypeScript (Petal)" kernel displays a live card whose DOM follows the LiveUpdates the kernel sends on its comm.
// Needs what `npm run setup` builds (the venv with JupyterLab, the kernelspec, the installed extension) and
// /usr/bin/chromium.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { LOOPBACK, waitUntil } from '@petal/runtime';
import { venvBin } from '@petal/runtime/locations';
import {
  PETAL_LIVE_TARGET,
  PETAL_MIME,
  type ClusterCard,
  type GalleryCard,
  type LogsCard,
  type PetalCards,
  type PetalOutputKind,
  type StreamCard,
  type TrainCard,
} from '@petal/kernel/outputs';
import { cleanups, openBrowser, startLab, type Lab } from './lab-fixtures.ts';

const SCREENSHOT = '/tmp/petal-labextension.png';
const LIVE_SCREENSHOT = '/tmp/petal-labextension-live.png';

// ---------------------------------------------------------------------------------------------------------------
// One card of each kind, as the kernel would save them

/** A 2×2 PNG of one colour, so the gallery's images really decode. */
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==';

const cluster: ClusterCard = {
  version: 1,
  state: 'running',
  generation: 2,
  mode: 'sync',
  pool: 'local',
  coordinator: { host: LOOPBACK, port: 41000 },
  readyMs: 2400,
  restarts: 1,
  maxRestarts: 3,
  tasks: [
    {
      id: 'ps-0',
      role: 'ps',
      index: 0,
      host: LOOPBACK,
      port: 41001,
      pid: 101,
      devices: ['cpu'],
      state: 'up',
      heartbeatAgeMs: 300,
    },
    {
      id: 'worker-0',
      role: 'worker',
      index: 0,
      host: LOOPBACK,
      port: 41002,
      pid: 102,
      devices: ['cpu'],
      state: 'up',
      heartbeatAgeMs: 12_000,
      restarts: 1,
    },
    {
      id: 'worker-1',
      role: 'worker',
      index: 1,
      host: LOOPBACK,
      pid: 103,
      devices: [],
      state: 'failed',
      heartbeatAgeMs: 31_000,
      failure: 'exited with code 137 (killed: out of memory)',
    },
  ],
};

/** The same cluster after `%cluster down`: what was up reads stopped; the failed worker keeps its failure. */
const stoppedCluster: ClusterCard = {
  ...cluster,
  state: 'stopped',
  tasks: cluster.tasks.map((t) => (t.state === 'up' ? { ...t, state: 'stopped' } : t)),
};

const stream: StreamCard = {
  version: 1,
  topic: 'flowers-train',
  state: 'streaming',
  rows: 600,
  totalRows: 1000,
  bytes: 6 << 20,
  elapsedMs: 1500,
  partitions: [
    { rows: 200, bytes: 2 << 20, batches: 4 },
    { rows: 150, bytes: 1.5 * (1 << 20), batches: 3 },
    { rows: 150, bytes: 1.5 * (1 << 20), batches: 3 },
    { rows: 100, bytes: 1 << 20, batches: 2 },
  ],
  schema: [
    { name: 'image', type: 'Binary' },
    { name: 'label', type: 'Int32' },
  ],
};

const STEPS = 40;
const train: TrainCard = {
  version: 1,
  // Saved while the run was live: reopened, it must still show this snapshot.
  live: { displayId: 'saved-mid-run' },
  job: 'flowers',
  state: 'running',
  mode: 'sync',
  workers: 2,
  epochs: 4,
  step: STEPS,
  elapsedMs: 64_000,
  steps: Array.from({ length: STEPS }, (_, i) => ({
    step: i + 1,
    epoch: Math.floor(i / 20) + 1,
    loss: 1.6 / (1 + i / 8),
    metrics: { accuracy: 0.2 + (0.7 * i) / STEPS },
    examplesPerSec: 900 + i,
  })),
  epochPoints: [1, 2].map((epoch) => ({
    epoch,
    loss: 1 / epoch,
    metrics: { accuracy: 0.5 + epoch / 10 },
    validation: { loss: 1.1 / epoch, metrics: { accuracy: 0.45 + epoch / 10 } },
    examplesPerSec: 910,
    computeMs: 7000,
    exchangeMs: 2000,
    waitMs: 500,
    inputMs: 500,
  })),
  rollbacks: [{ task: 'worker:1', cause: 'was killed (SIGKILL)', toStep: 20, time: Date.UTC(2026, 10, 22, 8, 0, 4) }],
};

const CLASSES = ['daisy', 'dandelion', 'roses'];
const gallery: GalleryCard = {
  version: 1,
  title: 'Validation images',
  classes: CLASSES,
  items: [
    { src: PNG, label: 'daisy', predicted: 'daisy', probabilities: [0.8, 0.15, 0.05] },
    { src: PNG, label: 'dandelion', predicted: 'dandelion', probabilities: [0.1, 0.85, 0.05] },
    { src: PNG, label: 'roses', predicted: 'daisy', probabilities: [0.6, 0.1, 0.3], caption: 'roses_0042.jpg' },
    { src: PNG, label: 'roses', predicted: 'roses', probabilities: [0.05, 0.05, 0.9] },
  ],
  confusion: [
    [5, 0, 0],
    [1, 4, 0],
    [1, 0, 3],
  ],
};

const logs: LogsCard = {
  version: 1,
  dropped: 12,
  lines: [
    { task: 'worker-0', stream: 'stdout', text: 'epoch 1 step 20 loss 0.81', time: Date.UTC(2026, 10, 22, 8, 0, 1) },
    { task: 'worker-1', stream: 'stderr', text: 'std::bad_alloc', time: Date.UTC(2026, 10, 22, 8, 0, 2) },
    { task: 'ps-0', stream: 'stdout', text: 'checkpoint written', time: Date.UTC(2026, 10, 22, 8, 0, 3) },
  ],
};

const CARDS: { [K in PetalOutputKind]: PetalCards[K] } = { cluster, stream, train, gallery, logs };

// ---------------------------------------------------------------------------------------------------------------
// Notebooks

const KERNELSPEC = { name: 'petal', display_name: 'TypeScript (Petal)', language: 'typescript' };

function notebook(cells: object[]): string {
  return JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: KERNELSPEC }, cells }, null, 1);
}

function codeCell(id: string, source: string, outputs: object[] = []): object {
  return { id, cell_type: 'code', execution_count: null, metadata: {}, source, outputs };
}

/** A cell holding one saved card, with the text/plain and text/html fallbacks the kernel adds. */
function cardCell<K extends PetalOutputKind>(id: string, kind: K, card: PetalCards[K]): object {
  return codeCell(id, `// ${id}`, [
    {
      output_type: 'display_data',
      data: {
        [PETAL_MIME[kind]]: card,
        'text/plain': `Petal ${kind}`,
        'text/html': `<p>HTML fallback for ${kind}</p>`,
      },
      metadata: {},
    },
  ]);
}

/** The saved notebook: one card per kind, then the cluster card `%cluster down` leaves. */
function cardsNotebook(): string {
  return notebook([
    ...(Object.keys(CARDS) as PetalOutputKind[]).map((kind) => cardCell(kind, kind, CARDS[kind])),
    cardCell('cluster-down', 'cluster', stoppedCluster),
  ]);
}

/** The running cluster's panel and the stopped one's, told apart by the state badge in their headers. */
const RUNNING = '.petal-cluster:has(.petal-header .petal-badge[data-state="running"])';
const STOPPED = '.petal-cluster:has(.petal-header .petal-badge[data-state="stopped"])';

const STREAM_ID = 'live-stream-1';
const LOGS_ID = 'live-logs-1';
const LIVE_ROWS = [250, 500, 750, 1000];

/**
 * A cell for the real Petal kernel, doing what the kernel's live outputs do: it registers the live target and
 * displays a stream card at 0 rows and a logs card, each under a display id. When the frontend opens the stream's
 * comm it sends LiveUpdates with growing row counts, then the final snapshot (`live` removed) through
 * `update_display_data`; the logs comm gets one update and stays open. Each comm close from the frontend appends
 * the display id it was opened with to `closedFile`.
 */
function liveCell(closedFile: string): string {
  const start: StreamCard = { ...stream, live: { displayId: STREAM_ID }, rows: 0, elapsedMs: 0 };
  const logsStart: LogsCard = { version: 1, live: { displayId: LOGS_ID }, lines: [], dropped: 0 };
  const line = { task: 'worker-0', stream: 'stdout', text: 'hello over the comm', time: Date.UTC(2026, 0, 1) };
  return `import { appendFileSync } from 'node:fs';
import { comms, display } from 'petal';
const card = ${JSON.stringify(start)};
const logs = ${JSON.stringify(logsStart)};
const bundle = (mime: string, value: object) => ({ [Symbol.for('Jupyter.display')]: () => ({ [mime]: value, 'text/plain': mime }) });
comms.registerTarget(${JSON.stringify(PETAL_LIVE_TARGET)}, (comm, data) => {
  const id = String(data.displayId);
  comm.onClose(() => appendFileSync(${JSON.stringify(closedFile)}, id + '\\n'));
  if (id === logs.live.displayId) return comm.send({ kind: 'logs', card: { ...logs, lines: [${JSON.stringify(line)}] } });
  const rows = ${JSON.stringify(LIVE_ROWS)};
  const timer = setInterval(() => {
    const next = rows.shift();
    if (next === undefined) {
      clearInterval(timer);
      const { live: _, ...final } = { ...card, topic: 'final snapshot', rows: card.totalRows, state: 'done' };
      return shown.update(bundle(${JSON.stringify(PETAL_MIME.stream)}, final));
    }
    comm.send({ kind: 'stream', card: { ...card, topic: 'opened for ' + id, rows: next, elapsedMs: next } });
  }, 200);
});
const shown = display(bundle(${JSON.stringify(PETAL_MIME.stream)}, card), { id: card.live.displayId });
const shownLogs = display(bundle(${JSON.stringify(PETAL_MIME.logs)}, logs), { id: logs.live.displayId });
`;
}

// ---------------------------------------------------------------------------------------------------------------
// JupyterLab and Chromium

/** The notebook's cards once JupyterLab has drawn them. */
async function openNotebook(page: Page, lab: Lab, name: string): Promise<void> {
  await page.goto(`${lab.base}/lab/tree/${name}?token=${lab.token}`);
  await page.locator('.jp-Notebook').first().waitFor({ state: 'visible', timeout: 120_000 });
}

const texts = (page: Page, selector: string): Promise<string[]> =>
  page.locator(selector).evaluateAll((els) => els.map((el) => (el.textContent ?? '').trim()));

// ---------------------------------------------------------------------------------------------------------------

test('JupyterLab lists @petal/labextension as an enabled prebuilt extension', () => {
  const list = spawnSync(venvBin('jupyter'), ['labextension', 'list'], { encoding: 'utf8' });
  const line = `${list.stdout}\n${list.stderr}`.split('\n').find((l) => l.includes('@petal/labextension'));
  assert.ok(line, `jupyter labextension list does not show @petal/labextension; run \`npm run setup\`\n${list.stderr}`);
  assert.match(line, /enabled/);
  assert.match(line, /OK/);
});

test('a saved notebook shows each Petal card, drawn by the extension', async (t) => {
  const defer = cleanups(t);
  const tmp = mkdtempSync(join(tmpdir(), 'petal-labext-'));
  defer(() => rmSync(tmp, { recursive: true, force: true }));
  writeFileSync(join(tmp, 'cards.ipynb'), cardsNotebook());
  const lab = await startLab(defer, tmp, tmp);
  const page = await openBrowser(defer);
  await openNotebook(page, lab, 'cards.ipynb');
  // Some kinds have several cards (the cluster running, then after down): wait for the first of each.
  for (const kind of Object.keys(CARDS)) {
    await page.locator(`.petal-card[data-kind="${kind}"]`).first().waitFor({ state: 'visible', timeout: 60_000 });
  }
  await page.locator('.petal-card').nth(5).waitFor({ state: 'visible', timeout: 60_000 });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.equal(await page.locator('.petal-card').count(), 6, 'one card per output, nothing drawn twice');
  assert.equal(await page.getByText('HTML fallback').count(), 0, 'the cards win over the text/html fallbacks');

  await t.test('cluster: a row per task with its state, heartbeat age and restarts', async () => {
    const rows = page.locator(`${RUNNING} tr.petal-task`);
    assert.equal(await rows.count(), cluster.tasks.length);
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-state'))), [
      'up',
      'up',
      'failed',
    ]);
    assert.deepEqual(await texts(page, `${RUNNING} .petal-heartbeat`), ['300 ms ago', '12.0 s ago', '31.0 s ago']);
    assert.equal(await page.locator(`${RUNNING} tr.petal-task[data-stale]`).count(), 1, 'worker-0 is stale');
    assert.match((await texts(page, `${RUNNING} .petal-failure`))[0] ?? '', /out of memory/);
    assert.match((await texts(page, `${RUNNING} .petal-header`))[0] ?? '', /running.*sync.*local.*generation 2/);
    assert.deepEqual(await texts(page, `${RUNNING} .petal-restarts-used`), ['1 of 3 worker restarts used']);
    assert.deepEqual(await texts(page, `${RUNNING} .petal-restarts`), ['', 'restarted 1×', '']);
  });

  await t.test('cluster after down: its tasks read stopped, without a heartbeat age', async () => {
    assert.deepEqual(await texts(page, `${STOPPED} tr.petal-task .petal-badge`), ['stopped', 'stopped', 'failed']);
    assert.deepEqual(await texts(page, `${STOPPED} .petal-heartbeat`), ['–', '–', '31.0 s ago']);
    assert.equal(await page.locator(`${STOPPED} tr.petal-task[data-stale]`).count(), 0, 'nothing stopped is stale');
    assert.deepEqual(await texts(page, `${STOPPED} .petal-restarts-used`), ['1 of 3 worker restarts used']);
  });

  await t.test('stream: the progress bar and one bar per partition', async () => {
    assert.deepEqual(await texts(page, '.petal-stream .petal-progress-text'), ['600 / 1,000 rows (60.0%)']);
    assert.equal(await page.locator('.petal-stream .petal-bar-main').getAttribute('aria-valuenow'), '60');
    const widths = await page
      .locator('.petal-stream .petal-partition .petal-bar-fill')
      .evaluateAll((els) => els.map((el) => el.getAttribute('style')));
    assert.deepEqual(
      widths,
      ['width:100.0%', 'width:75.0%', 'width:75.0%', 'width:50.0%'],
      'partition bars relative to the fullest',
    );
  });

  await t.test('train: loss and metric curves, validation dots, and the epoch table with the time split', async () => {
    const loss = page.locator('.petal-train svg.petal-chart[data-series="loss"] path.petal-line');
    const d = (await loss.getAttribute('d')) ?? '';
    assert.equal(d.match(/[ML]/g)?.length, STEPS, `one point per step in the loss path: ${d.slice(0, 80)}…`);
    const accuracy = page.locator('.petal-train svg.petal-chart[data-series="accuracy"]');
    assert.equal(await accuracy.getAttribute('data-points'), String(STEPS));
    assert.equal(
      await page.locator('.petal-train circle.petal-validation').count(),
      4,
      'val loss + val accuracy × 2 epochs',
    );
    const epochs = page.locator('.petal-train tr.petal-epoch');
    assert.equal(await epochs.count(), 2);
    const headers = await texts(page, '.petal-epochs th');
    for (const column of ['val loss', 'val accuracy', 'examples/s', 'compute · exchange · wait · input'])
      assert.ok(headers.includes(column), `epoch table has "${column}": ${headers.join(' | ')}`);
    const split = await page
      .locator('.petal-train tr.petal-epoch')
      .first()
      .locator('.petal-split-part')
      .evaluateAll((els) => els.map((el) => `${el.getAttribute('data-part')} ${el.getAttribute('style')}`));
    assert.deepEqual(split, [
      'compute flex-grow:0.7',
      'exchange flex-grow:0.2',
      'wait flex-grow:0.05',
      'input flex-grow:0.05',
    ]);
  });

  await t.test('train: each rollback is a marker at its step on every chart, with a tooltip, and listed', async () => {
    const markers = page.locator('.petal-train svg.petal-chart g.petal-rollback');
    assert.equal(await markers.count(), 2, 'one marker on the loss chart, one on the accuracy chart');
    assert.deepEqual(await markers.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-step'))), ['20', '20']);
    // The marker sits where step 20 of the loss line is: the path's 20th point has the same x.
    const d =
      (await page.locator('.petal-train svg.petal-chart[data-series="loss"] path.petal-line').getAttribute('d')) ?? '';
    const x20 = /[ML]([\d.]+) /.exec(d.split(/(?=[ML])/)[19] ?? '')?.[1];
    const lossMarker = page.locator('.petal-train svg.petal-chart[data-series="loss"] line.petal-rollback-line');
    const x1 = Number(await lossMarker.getAttribute('x1'));
    assert.ok(Math.abs(x1 - Number(x20)) < 0.1, `marker at x ${x1}, step 20 of the loss line at x ${x20}`);
    assert.deepEqual(await texts(page, '.petal-train g.petal-rollback title'), [
      'worker:1 was killed (SIGKILL): rolled back to step 20',
      'worker:1 was killed (SIGKILL): rolled back to step 20',
    ]);
    const listed = await texts(page, '.petal-train .petal-rollback-item');
    assert.equal(listed.length, 1);
    assert.match(listed[0] ?? '', /worker:1 was killed \(SIGKILL\): rolled back to step 20$/);
    assert.match((await texts(page, '.petal-train .petal-header'))[0] ?? '', /rollbacks 1/);
  });

  await t.test('train: a card saved live keeps its snapshot when the kernel has nothing to feed it', async () => {
    // Once the notebook's kernel is up the card asks it for its display id; that work is long gone, so the kernel
    // closes the comm at once and the saved card stays as it was.
    await page.locator('.petal-output[data-live="ended"]:has(.petal-train)').waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('.petal-train tr.petal-epoch').count(), 2);
    assert.equal(
      await page.locator('.petal-train svg.petal-chart[data-series="loss"]').getAttribute('data-points'),
      String(STEPS),
    );
  });

  await t.test('gallery: every image, mistakes first, probability bars and the confusion matrix', async () => {
    const images = page.locator('.petal-gallery figure.petal-image');
    assert.equal(await images.count(), gallery.items.length);
    assert.deepEqual(await images.evaluateAll((els) => els.map((el) => el.hasAttribute('data-mistake'))), [
      true,
      false,
      false,
      false,
    ]);
    assert.deepEqual((await texts(page, '.petal-gallery .petal-verdict'))[0], 'roses → daisy');
    const decoded = await page
      .locator('.petal-gallery img')
      .evaluateAll((imgs) => imgs.map((img) => (img as unknown as { naturalWidth: number }).naturalWidth));
    assert.deepEqual(decoded, [2, 2, 2, 2], 'each image decodes');
    assert.equal(await page.locator('.petal-gallery .petal-prob').count(), 3 * gallery.items.length);
    assert.equal(await page.locator('.petal-gallery .petal-confusion-cell').count(), CLASSES.length ** 2);
    assert.deepEqual(await texts(page, '.petal-gallery .petal-confusion-cell[data-diagonal]'), ['5', '4', '3']);
    assert.match((await texts(page, '.petal-gallery .petal-confusion .petal-note'))[0] ?? '', /accuracy 85\.7%/);
  });

  await t.test('logs: each line with its task, stderr marked, and the dropped count', async () => {
    assert.deepEqual(await texts(page, '.petal-logs .petal-log-task'), ['worker-0', 'worker-1', 'ps-0']);
    assert.deepEqual(await texts(page, '.petal-logs [data-stream="stderr"] .petal-log-text'), ['std::bad_alloc']);
    assert.match((await texts(page, '.petal-logs .petal-header'))[0] ?? '', /12 older lines/);
  });
});

/** The browser globals the page-side callbacks use (the test project has no DOM lib). */
interface PageGlobals {
  jupyterapp: {
    shell: {
      currentWidget: { sessionContext: { ready: Promise<void>; session: { kernel: { info: Promise<unknown> } } } };
    };
    commands: { execute(id: string): Promise<unknown> };
  };
  petalSeen: string[];
  document: { body: unknown; querySelector(selector: string): { textContent: string | null } | null };
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void };
}

test('live cards in the Petal kernel follow the LiveUpdates on their comms, and close them when done or cleared', async (t) => {
  const defer = cleanups(t);
  const tmp = mkdtempSync(join(tmpdir(), 'petal-labext-'));
  defer(() => rmSync(tmp, { recursive: true, force: true }));
  const closedFile = join(tmp, 'comms-closed.txt');
  const closed = (): string[] =>
    existsSync(closedFile) ? readFileSync(closedFile, 'utf8').split('\n').filter(Boolean) : [];
  writeFileSync(join(tmp, 'live.ipynb'), notebook([codeCell('live', liveCell(closedFile))]));
  const lab = await startLab(defer, tmp, tmp);
  const page = await openBrowser(defer);
  await openNotebook(page, lab, 'live.ipynb');

  // Record every progress text the stream card shows, to see the updates arrive one by one.
  await page.evaluate(() => {
    const w = globalThis as unknown as PageGlobals;
    w.petalSeen = [];
    new w.MutationObserver(() => {
      const text = w.document.querySelector('.petal-stream .petal-progress-text')?.textContent;
      if (text && w.petalSeen.at(-1) !== text) w.petalSeen.push(text);
    }).observe(w.document.body, { childList: true, subtree: true });
  });
  await page.evaluate(async () => {
    const app = (globalThis as unknown as PageGlobals).jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.sessionContext.ready;
    await panel.sessionContext.session.kernel.info;
    await app.commands.execute('notebook:run-all-cells');
  });
  // run-all resolves once the cell ran, so an error (or stderr) would show by now.
  const cellErrors = await texts(page, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
  assert.deepEqual(cellErrors, [], 'the cell ran without errors');
  const failWithScreenshot = async (what: string, err: unknown): Promise<never> => {
    await page.screenshot({ path: LIVE_SCREENSHOT, fullPage: true });
    throw new Error(`${what} (screenshot ${LIVE_SCREENSHOT})\n${lab.log().slice(-4000)}`, { cause: err });
  };

  await t.test('the stream card draws each update, then the final snapshot, which closes its comm', async () => {
    const output = page.locator('.petal-output:has(.petal-stream)');
    await page
      .locator('.petal-stream .petal-title', { hasText: 'final snapshot' })
      .waitFor({ timeout: 120_000 })
      .catch((err: unknown) => failWithScreenshot('the stream card never showed its final snapshot', err));
    const seen = await page.evaluate(() => (globalThis as unknown as PageGlobals).petalSeen);
    const rows = seen.map((text) => Number((/^([\d,]+) \//.exec(text)?.[1] ?? 'NaN').replaceAll(',', '')));
    assert.equal(rows[0], 0, `the card first drew the saved snapshot: ${seen.join(' | ')}`);
    assert.equal(rows.at(-1), 1000);
    assert.ok(rows.length >= 3, `it drew updates between the snapshot and the end: ${seen.join(' | ')}`);
    assert.ok(
      rows.every((n, i) => i === 0 || n > (rows[i - 1] ?? 0)),
      `updates drew in order: ${seen.join(' | ')}`,
    );
    assert.equal(await output.getAttribute('data-live'), 'none', 'a final card follows nothing');
    assert.equal(await page.locator('.petal-stream .petal-badge').first().textContent(), 'done');
    assert.ok(
      await waitUntil(() => closed().includes(STREAM_ID), 30_000),
      `the kernel saw the stream comm close: ${closed().join(', ')}`,
    );
  });

  const hello = page.locator('.petal-logs .petal-log-text', { hasText: 'hello over the comm' });
  const logsOutput = page.locator('.petal-output:has(.petal-logs)');

  await t.test('the logs card shows the line sent over its comm, which stays open', async () => {
    await hello.waitFor({ timeout: 60_000 });
    assert.equal(await logsOutput.getAttribute('data-live'), 'open');
    assert.deepEqual(closed(), [STREAM_ID], 'only the finished stream comm is closed');
    await page.screenshot({ path: LIVE_SCREENSHOT, fullPage: true });
  });

  await t.test('after a page reload the saved live card follows its comm again', async () => {
    // The saved logs card is the snapshot (no lines): the line can only come back over a new comm.
    await page.evaluate(() => (globalThis as unknown as PageGlobals).jupyterapp.commands.execute('docmanager:save'));
    await page.reload();
    await page.locator('.jp-Notebook').first().waitFor({ state: 'visible', timeout: 120_000 });
    await hello.waitFor({ timeout: 60_000 });
    assert.equal(await logsOutput.getAttribute('data-live'), 'open');
    assert.equal(
      await page.locator('.petal-output:has(.petal-stream)').getAttribute('data-live'),
      'none',
      'the finished stream card stays as saved',
    );
  });

  await t.test('clearing the outputs closes the live comm', async () => {
    const before = closed().length;
    await page.evaluate(() =>
      (globalThis as unknown as PageGlobals).jupyterapp.commands.execute('notebook:clear-all-cell-outputs'),
    );
    assert.equal(await page.locator('.petal-output').count(), 0, 'the outputs are gone');
    assert.ok(
      await waitUntil(() => closed().length > before, 30_000),
      `the kernel saw the logs comm close: ${closed().join(', ')}`,
    );
    assert.deepEqual(closed().slice(before), [LOGS_ID], 'the logs comm closed, once');
  });
});
