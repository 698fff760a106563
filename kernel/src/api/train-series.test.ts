import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpochMetrics, StepMetrics } from '@petal/runtime';
import { MAX_POINTS, TrainSeries } from './train-series.ts';

const figures = { rows: 32, loss: 1, metrics: { accuracy: 0.5 }, computeMs: 1, exchangeMs: 1, waitMs: 1, inputMs: 1 };

function step(worker: string, n: number): StepMetrics {
  return { ...figures, worker, epoch: 0, step: n, loss: 1 / (n + 1), examplesPerSec: 100, accepted: true };
}

test('step points stay bounded and span the whole run; examples/s sums the workers', () => {
  const series = new TrainSeries('worker-0');
  for (let n = 0; n < 20_000; n++) {
    series.onStep(step('worker-0', n));
    series.onStep(step('worker-1', n));
  }
  assert.ok(series.steps.length <= MAX_POINTS && series.steps.length >= MAX_POINTS / 4, `${series.steps.length}`);
  assert.equal(series.steps[0]!.step, 0);
  assert.ok(series.steps.at(-1)!.step > 19_000, 'the newest steps are kept');
  assert.ok(
    series.steps.every((p, i) => i === 0 || p.step > series.steps[i - 1]!.step),
    'in order',
  );
  assert.equal(series.steps.at(-1)!.examplesPerSec, 200);
  assert.equal(series.step, 19_999);
});

test("epoch points follow the chief, with its validation, and add every worker's examples/s", () => {
  const series = new TrainSeries('worker-0');
  const epoch = (worker: string, validation?: EpochMetrics['validation']): EpochMetrics => ({
    ...figures,
    worker,
    epoch: 0,
    steps: 10,
    examplesPerSec: 50,
    ...(validation ? { validation } : {}),
  });
  series.onEpoch(epoch('worker-1'));
  series.onEpoch(epoch('worker-0', { rows: 60, loss: 0.2, metrics: { accuracy: 0.95 } }));
  assert.equal(series.epochPoints.length, 1);
  assert.deepEqual(series.epochPoints[0]!.validation, { loss: 0.2, metrics: { accuracy: 0.95 } });
  assert.equal(series.epochPoints[0]!.examplesPerSec, 100);
});

test('a rollback drops the lost attempt: one increasing curve, redone epochs counted once', () => {
  const series = new TrainSeries('worker-0');
  const at = (n: number, epoch: number): StepMetrics => ({ ...step('worker-0', n), epoch });
  const done = (worker: string, epoch: number): EpochMetrics => ({
    ...figures,
    worker,
    epoch,
    steps: 10,
    examplesPerSec: 50,
  });
  for (let n = 0; n < 25; n++) series.onStep(at(n, Math.floor(n / 10)));
  for (const e of [0, 1]) for (const w of ['worker-0', 'worker-1']) series.onEpoch(done(w, e));
  series.rollBack(12); // the newest checkpoint was at step 12, in epoch 1
  assert.equal(series.step, 12);
  assert.equal(series.steps.at(-1)!.step, 12);
  assert.deepEqual(
    series.epochPoints.map((e) => e.epoch),
    [0, 1],
    'epoch 1 stays until it is redone',
  );
  for (let n = 13; n < 30; n++) series.onStep(at(n, Math.floor(n / 10)));
  for (const w of ['worker-0', 'worker-1']) series.onEpoch(done(w, 1));
  assert.ok(
    series.steps.every((p, i) => i === 0 || p.step > series.steps[i - 1]!.step),
    'in order',
  );
  assert.deepEqual(
    series.epochPoints.map((e) => [e.epoch, e.examplesPerSec]),
    [
      [0, 100],
      [1, 100],
    ],
  );
});
