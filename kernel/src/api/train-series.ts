// The TrainCard's figures as metrics arrive: step points of the chief downsampled to at most MAX_POINTS (halved, with
// the stride doubled, whenever full), examples/s summed over the workers, and one point per finished epoch.
import type { EpochMetrics, StepMetrics } from '@petal/runtime';
import type { EpochPoint, TrainPoint } from '../outputs/types.ts';

/** Step points kept at most. */
export const MAX_POINTS = 500;

/** Metrics in, card figures out. */
export class TrainSeries {
  readonly steps: TrainPoint[] = [];
  readonly epochPoints: EpochPoint[] = [];
  step = 0;
  readonly #chief: string;
  readonly #rates = new Map<string, number>();
  readonly #epochRates = new Map<number, number>();
  #stride = 1;
  #seen = 0;

  /** `chief`: the worker id whose steps and epochs (with validation) the card follows. */
  constructor(chief: string) {
    this.#chief = chief;
  }

  onStep(m: StepMetrics): void {
    this.#rates.set(m.worker, m.examplesPerSec);
    this.step = Math.max(this.step, m.step);
    if (m.worker !== this.#chief) return;
    if (this.#seen++ % this.#stride !== 0) return;
    let rate = 0;
    for (const r of this.#rates.values()) rate += r;
    this.steps.push({ step: m.step, epoch: m.epoch, loss: m.loss, metrics: m.metrics, examplesPerSec: rate });
    if (this.steps.length >= MAX_POINTS) {
      // keep every other point: the curve keeps its shape, the card its size
      for (let i = 1; i * 2 < this.steps.length; i++) this.steps[i] = this.steps[i * 2]!;
      this.steps.length = Math.ceil(this.steps.length / 2);
      this.#stride *= 2;
    }
  }

  /** The job rolled back to `toStep`: the lost attempt's later points go, so the curve stays one increasing line,
   * and the epochs it will redo are counted once. */
  rollBack(toStep: number): void {
    const kept = this.steps.filter((p) => p.step <= toStep);
    this.steps.splice(0, this.steps.length, ...kept);
    this.step = Math.min(this.step, toStep);
    const resumed = kept.at(-1)?.epoch ?? 0;
    for (let i = this.epochPoints.length - 1; i >= 0; i--) {
      if (this.epochPoints[i]!.epoch > resumed) this.epochPoints.splice(i, 1);
    }
    for (const epoch of [...this.#epochRates.keys()]) if (epoch >= resumed) this.#epochRates.delete(epoch);
  }

  onEpoch(m: EpochMetrics): void {
    const rate = (this.#epochRates.get(m.epoch) ?? 0) + m.examplesPerSec;
    this.#epochRates.set(m.epoch, rate);
    const existing = this.epochPoints.find((e) => e.epoch === m.epoch);
    if (existing) existing.examplesPerSec = rate;
    if (m.worker !== this.#chief) return;
    const point: EpochPoint = {
      epoch: m.epoch,
      loss: m.loss,
      metrics: m.metrics,
      ...(m.validation ? { validation: { loss: m.validation.loss, metrics: m.validation.metrics } } : {}),
      examplesPerSec: rate,
      computeMs: m.computeMs,
      exchangeMs: m.exchangeMs,
      waitMs: m.waitMs,
      inputMs: m.inputMs,
    };
    if (existing) Object.assign(existing, point);
    else this.epochPoints.push(point);
  }
}
