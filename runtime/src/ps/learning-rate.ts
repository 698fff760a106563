// Learning-rate schedules, as Keras has them (tfjs has none): the rate of update step t, from the optimizer's
// learningRate. They live with the optimizer on the PS, since the PS counts the global steps.
import { PsError } from './errors.ts';
import { checkOptions, int, num, str } from './options.ts';

/**
 * Keras' `CosineDecay`: the rate falls along half a cosine from `learningRate` to `alpha × learningRate`
 * (default alpha 0) over `decaySteps` updates, and stays there.
 */
export interface CosineDecay {
  name: 'cosineDecay';
  decaySteps: number;
  alpha?: number;
}

/** A learning-rate schedule (one kind so far). */
export type LearningRateSchedule = CosineDecay;

/** Validates a schedule under `path` (PETAL_PS_OPTIONS naming the field). */
export function checkSchedule(path: string, schedule: unknown): asserts schedule is LearningRateSchedule {
  const name = (schedule as { name?: unknown } | null)?.name;
  if (name !== 'cosineDecay') {
    throw new PsError('PETAL_PS_OPTIONS', `${path}.name must be "cosineDecay" (got ${JSON.stringify(name)})`, {
      fix: 'use { name: "cosineDecay", decaySteps: N }, or leave the schedule out for a constant rate',
    });
  }
  checkOptions(path, schedule, { name: str, decaySteps: int(1, Number.MAX_SAFE_INTEGER), alpha: num(0, 1) }, [
    'decaySteps',
  ]);
}

/** The rate of the update after `step` updates (0-based), for a base rate `rate`. */
export function scheduledRate(rate: number, schedule: LearningRateSchedule | undefined, step: number): number {
  if (!schedule) return rate;
  const alpha = schedule.alpha ?? 0;
  const progress = Math.min(step, schedule.decaySteps) / schedule.decaySteps;
  return rate * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * progress)) + alpha);
}
