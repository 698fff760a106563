import { PetalError } from '../errors.ts';

/** Model-building failures: a base model that cannot be read, a cut layer it lacks, bad options. */
export class ModelError extends PetalError {
  constructor(
    code: `PETAL_MODEL_${string}`,
    message: string,
    options: { fix?: string; retryable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'ModelError';
  }
}

/** PETAL_MODEL_OPTIONS naming the bad field. */
export function modelOptionsError(message: string): ModelError {
  return new ModelError('PETAL_MODEL_OPTIONS', message, {
    fix: 'correct the named option of transferModel() (see its doc comment)',
  });
}
