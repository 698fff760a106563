// The one validator for the parameter server's public options: unknown keys rejected, messages name the path.
import { optionsError } from './errors.ts';

/** Returns a hint when the value is wrong. */
export type Check = (value: unknown) => string | undefined;

/** A finite number in [min, max] (with `open` true, `> min`). */
export const num =
  (min: number, max: number, open = false): Check =>
  (v) =>
    typeof v === 'number' && Number.isFinite(v) && (open ? v > min : v >= min) && v <= max
      ? undefined
      : `must be a number in ${open ? '(' : '['}${min}, ${max}]`;
/** An integer in [min, max]. */
export const int =
  (min: number, max: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `must be an integer in [${min}, ${max}]`;
/** A boolean. */
export const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
/** A non-empty string. */
export const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string');
/** Anything (checked by the caller). */
export const any: Check = () => undefined;
/** A function. */
export const fn: Check = (v) => (typeof v === 'function' ? undefined : 'must be a function');

/** Throws PETAL_PS_OPTIONS naming the first unknown, missing or bad key of `options` under `path`. */
export function checkOptions(
  path: string,
  options: unknown,
  schema: Record<string, Check>,
  required: readonly string[] = [],
): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw optionsError(`${path} must be an object`);
  }
  for (const [key, value] of Object.entries(options)) {
    const check = schema[key];
    if (!check) throw optionsError(`${path}.${key} is not an option (known: ${Object.keys(schema).join(', ')})`);
    if (value === undefined) continue;
    const hint = check(value);
    if (hint) throw optionsError(`${path}.${key} ${hint} (got ${describe(value)})`);
  }
  for (const key of required) {
    if ((options as Record<string, unknown>)[key] === undefined) throw optionsError(`${path}.${key} is required`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return String(value);
  }
}
