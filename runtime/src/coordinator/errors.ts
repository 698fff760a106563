import { PetalError, isPetalError } from '../errors.ts';
import { optionsChecker } from '../options.ts';

/** Coordinator failures: bad options, a refused job, a task that failed or fell silent. */
export class CoordinatorError extends PetalError {
  constructor(
    code: `PETAL_${string}`,
    message: string,
    options: { fix?: string; retryable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'CoordinatorError';
  }
}

/** Throws PETAL_CLUSTER_OPTIONS naming the first unknown, missing or bad key. */
export const checkOptions = optionsChecker(
  (message) =>
    new CoordinatorError('PETAL_CLUSTER_OPTIONS', message, {
      fix: 'correct the named option; see the startCluster() docs in @petal/runtime',
    }),
);

/** PETAL_TRAIN_FAILED: `task` could not do `what`, with the cause and its fix. */
export function taskError(task: string, what: string, cause: unknown): CoordinatorError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new CoordinatorError('PETAL_TRAIN_FAILED', `${task} ${what}: ${message}`, {
    cause,
    fix: isPetalError(cause) && cause.fix ? cause.fix : `read ${task}'s log lines for the cause`,
    detail: { task, code: isPetalError(cause) ? cause.code : undefined },
  });
}
