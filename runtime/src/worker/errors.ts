import { PetalError } from '../errors.ts';

/** Worker failures: bad options, a model that does not fit its plan or loss, a PS that answers unlike the plan. */
export class WorkerError extends PetalError {
  constructor(
    code: `PETAL_WORKER_${string}`,
    message: string,
    options: { fix?: string; retryable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'WorkerError';
  }
}

/** PETAL_WORKER_OPTIONS naming the bad field. */
export function workerOptionsError(message: string): WorkerError {
  return new WorkerError('PETAL_WORKER_OPTIONS', message, {
    fix: 'correct the named field; see the option docs in @petal/runtime',
  });
}
