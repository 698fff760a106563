// The pool's options checks: the shared validator, with PETAL_POOL_OPTIONS errors.
import { PetalError } from '../errors.ts';
import { optionsChecker } from '../options.ts';

export { abortSignal, int, record, str, strings } from '../options.ts';
export type { Check } from '../options.ts';

/** Throws PETAL_POOL_OPTIONS naming the first bad, unknown or missing key. */
export const checkOptions = optionsChecker(
  (message) => new PetalError('PETAL_POOL_OPTIONS', message, { fix: 'correct the option named above' }),
);
