// The transport's options checks: the shared validator, with PETAL_TRANSPORT_OPTIONS errors.
import { optionsChecker } from '../options.ts';
import { TransportError } from './errors.ts';

export { any, fn, int, str } from '../options.ts';
export type { Check } from '../options.ts';

/** Throws PETAL_TRANSPORT_OPTIONS naming the first bad, unknown or missing key. */
export const checkOptions = optionsChecker((message) => new TransportError('PETAL_TRANSPORT_OPTIONS', message));
