// Boundary checks of the API's option objects: an object, no unknown keys, the required ones present. Each message
// names the call and the key and lists the valid ones. Values are checked where they are used (the runtime checks
// its own options with the field path).
import { PetalError } from '@petal/runtime';

/** Throws `code` naming `where` when `value` is not an object with only `keys` and every one of `required`. */
export function checkOptions(
  code: string,
  where: string,
  value: unknown,
  keys: readonly string[],
  required: readonly string[] = [],
): Record<string, unknown> {
  const fix = `valid options: ${keys.join(', ')}${required.length > 0 ? ` (required: ${required.join(', ')})` : ''}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PetalError(code, `${where} takes an options object`, { fix });
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new PetalError(code, `${where} option "${key}" is unknown`, { fix });
  }
  for (const key of required) {
    if ((value as Record<string, unknown>)[key] === undefined)
      throw new PetalError(code, `${where} option "${key}" is required`, { fix });
  }
  return value as Record<string, unknown>;
}

/** The `error` field of a failed card. */
export function cardError(err: unknown): { code?: string; message: string; fix?: string } {
  const e = err as { code?: unknown; message?: unknown; fix?: unknown };
  return {
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    message: typeof e?.message === 'string' ? (e.message.split('\n')[0] ?? e.message) : String(err),
    ...(typeof e?.fix === 'string' ? { fix: e.fix } : {}),
  };
}
