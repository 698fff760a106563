/**
 * Every error Petal raises: a stable `code` to match on, whether trying again may help, the detail a user
 * needs to act, and a `fix` line. Checked by code (not `instanceof`) so it survives two copies of the library.
 */
export class PetalError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly fix: string | undefined;
  readonly detail: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    options: { fix?: string; retryable?: boolean; cause?: unknown; detail?: Record<string, unknown> } = {},
  ) {
    super(options.fix ? `${message}\n  fix: ${options.fix}` : message, { cause: options.cause });
    this.name = 'PetalError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.fix = options.fix;
    this.detail = options.detail ?? {};
  }
}

/** True for any PetalError, from this copy of the library or another. */
export function isPetalError(err: unknown, code?: string): err is PetalError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('PETAL_') &&
    (code === undefined || (err as { code: string }).code === code)
  );
}
