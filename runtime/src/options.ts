// The one validator behind every public call's options: unknown keys are rejected, and each message names the
// option's path, what it must be and what it got. Each module binds it to its own error code.

/** Returns a hint ("must be …") when `value` is wrong, or a whole message that already names its path. */
export type Check = (value: unknown) => string | undefined;

/** A finite number in [min, max] (with `open`, `> min`). */
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
/** A function. */
export const fn: Check = (v) => (typeof v === 'function' ? undefined : 'must be a function');
/** Anything (checked by the caller, e.g. a token). */
export const any: Check = () => undefined;
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

/** Validates `options` under `path` against `schema`; throws the first problem through `error`. */
export type OptionsChecker = (
  path: string,
  options: unknown,
  schema: Record<string, Check>,
  required?: readonly string[],
) => void;

/** A checker whose problems become `error(message)`, e.g. a PetalError with the module's code. */
export function optionsChecker(error: (message: string) => Error): OptionsChecker {
  return (path, options, schema, required = []) => {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw error(`${path} must be an object`);
    }
    for (const [key, value] of Object.entries(options)) {
      const check = schema[key];
      if (!check) throw error(`${path}.${key} is not an option (known: ${Object.keys(schema).join(', ')})`);
      if (value === undefined) continue;
      const hint = check(value);
      if (hint === undefined) continue;
      if (hint.startsWith(`${path}.${key}`)) throw error(hint);
      throw error(`${path}.${key} ${hint} (got ${show(value)})`);
    }
    for (const key of required) {
      if ((options as Record<string, unknown>)[key] === undefined) throw error(`${path}.${key} is required`);
    }
  };
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
