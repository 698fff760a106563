import { PetalError } from '../errors.ts';

/** Parameter-server failures: bad options or plans, pushes that do not fit the shards, checkpoints that cannot be read. */
export class PsError extends PetalError {
  constructor(
    code: `PETAL_PS_${string}`,
    message: string,
    options: { fix?: string; retryable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'PsError';
  }
}

/** PETAL_PS_OPTIONS naming the bad field. */
export function optionsError(message: string): PsError {
  return new PsError('PETAL_PS_OPTIONS', message, {
    fix: 'correct the named field; see the option docs in @petal/runtime',
  });
}
