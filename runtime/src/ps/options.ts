// The parameter server's options checks: the shared validator, with PETAL_PS_OPTIONS errors.
import { optionsChecker } from '../options.ts';
import { optionsError } from './errors.ts';

export { any, bool, fn, int, num, str } from '../options.ts';
export type { Check } from '../options.ts';

/** Throws PETAL_PS_OPTIONS naming the first unknown, missing or bad key. */
export const checkOptions = optionsChecker(optionsError);
