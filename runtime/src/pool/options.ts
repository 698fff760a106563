// One validator for the pool's public calls: unknown keys are rejected and each message names the path and a hint.
import { PetalError } from '../errors.ts';

/** Returns a hint when `value` is wrong. */
export type Check = (value: unknown) => string | undefined;

/** An integer in [min, max]. */
export const int =
  (min: number, max: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `must be an integer in [${min}, ${max}]`;
/** A non-empty string. */
export const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string');
/** An array of strings. */
export const strings: Check = (v) =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? undefined : 'must be an array of strings';
/** A plain object of string values (an environment). */
export const record: Check = (v) =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((s) => typeof s === 'string' || s === undefined)
    ? undefined
    : 'must be an object of strings';
/** An AbortSignal. */
export const abortSignal: Check = (v) => (v instanceof AbortSignal ? undefined : 'must be an AbortSignal');

/** Throws PETAL_POOL_OPTIONS naming the first bad, unknown or missing key of `options`. */
export function checkOptions(
  path: string,
  options: unknown,
  schema: Record<string, Check>,
  required: readonly string[] = [],
): void {
  if (typeof options !== 'object' || options === null) throw bad(`${path} must be an object`);
  for (const [key, value] of Object.entries(options)) {
    const check = schema[key];
    if (!check) throw bad(`${path}.${key} is not an option (known: ${Object.keys(schema).join(', ')})`);
    if (value === undefined) continue;
    const hint = check(value);
    if (hint === undefined) continue;
    // A nested check returns a whole message already naming its path.
    if (hint.startsWith(`${path}.${key}`)) throw bad(hint);
    throw bad(`${path}.${key} ${hint} (got ${show(value)})`);
  }
  for (const key of required) {
    if ((options as Record<string, unknown>)[key] === undefined) throw bad(`${path}.${key} is required`);
  }
}

function show(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  // An object may be an environment holding secrets: never echo its values.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return 'an object';
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return typeof value;
  }
}

function bad(message: string): PetalError {
  return new PetalError('PETAL_POOL_OPTIONS', message, { fix: 'correct the option named above' });
}
