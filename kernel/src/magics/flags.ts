// Flag values of magic lines: integers and booleans, each error naming the magic and the flag.
import { PetalError } from '@petal/runtime';

/** `--flag N` as an integer in [min, max], or undefined when absent. */
export function intFlag(
  where: string,
  flag: string,
  value: string | boolean | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new PetalError(
      'PETAL_MAGIC_USAGE',
      `${where} --${flag} must be an integer from ${min} to ${max}, not "${String(value)}"`,
      { fix: `${where} --${flag} N` },
    );
  }
  return n;
}

/** `--flag true|false`, or undefined when absent. */
export function boolFlag(where: string, flag: string, value: string | boolean | undefined): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new PetalError('PETAL_MAGIC_USAGE', `${where} --${flag} must be true or false, not "${value}"`, {
    fix: `${where} --${flag} false`,
  });
}
