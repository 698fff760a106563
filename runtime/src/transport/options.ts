// One validator for the public calls' options: unknown keys are rejected and each message names the path and a hint.
import { TransportError } from './errors.ts';

type Check = (value: unknown) => string | undefined; // a hint when wrong

/** An integer in [min, max]. */
export const int =
  (min: number, max: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? undefined
      : `must be an integer in [${min}, ${max}]`;
/** A non-empty string. */
export const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? undefined : 'must be a non-empty string');
/** A function. */
export const fn: Check = (v) => (typeof v === 'function' ? undefined : 'must be a function');
/** Anything (checked elsewhere, e.g. the token). */
export const any: Check = () => undefined;

/** Throws PETAL_TRANSPORT_OPTIONS naming the first bad or unknown key of `options`. */
export function checkOptions(
  path: string,
  options: unknown,
  schema: Record<string, Check>,
  required: readonly string[],
): void {
  if (typeof options !== 'object' || options === null) throw bad(`${path} must be an object`);
  for (const [key, value] of Object.entries(options)) {
    const check = schema[key];
    if (!check) throw bad(`${path}.${key} is not an option (known: ${Object.keys(schema).join(', ')})`);
    if (value === undefined) continue;
    const hint = check(value);
    if (hint)
      throw bad(`${path}.${key} ${hint} (got ${typeof value === 'function' ? 'a function' : JSON.stringify(value)})`);
  }
  for (const key of required) {
    if ((options as Record<string, unknown>)[key] === undefined) throw bad(`${path}.${key} is required`);
  }
}

function bad(message: string): TransportError {
  return new TransportError('PETAL_TRANSPORT_OPTIONS', message);
}
