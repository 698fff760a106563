// Every error the data plane raises, in one place: a stable code, the message, where it happened (topic, column,
// partition, row) and the fix. Codes are matched by string, so they survive two copies of the library.
import { PetalError } from '../errors.ts';

/** Codes of the data plane's errors. */
export const FeedCodes = {
  options: 'PETAL_FEED_OPTIONS',
  input: 'PETAL_FEED_INPUT',
  empty: 'PETAL_FEED_EMPTY',
  missingColumn: 'PETAL_FEED_MISSING_COLUMN',
  type: 'PETAL_FEED_TYPE',
  nulls: 'PETAL_FEED_NULLS',
  nanLabel: 'PETAL_FEED_NAN_LABEL',
  unknownLabel: 'PETAL_FEED_UNKNOWN_LABEL',
  ragged: 'PETAL_FEED_RAGGED',
  image: 'PETAL_FEED_IMAGE',
  schema: 'PETAL_FEED_SCHEMA',
  topicExists: 'PETAL_FEED_TOPIC_EXISTS',
  incomplete: 'PETAL_FEED_INCOMPLETE',
  rowCount: 'PETAL_FEED_ROW_COUNT',
  corrupt: 'PETAL_FEED_CORRUPT_MESSAGE',
  aborted: 'PETAL_STREAM_ABORTED',
} as const;

/** Where a data error happened; every field a user can act on. */
export interface FeedPlace {
  topic?: string;
  column?: string;
  partition?: number;
  /** Row index within the input (stream) or within the message (feed). */
  row?: number;
  offset?: bigint;
}

function where(place: FeedPlace): string {
  const parts: string[] = [];
  if (place.topic !== undefined) parts.push(`topic ${place.topic}`);
  if (place.column !== undefined) parts.push(`column "${place.column}"`);
  if (place.partition !== undefined) parts.push(`partition ${place.partition}`);
  if (place.offset !== undefined) parts.push(`offset ${place.offset}`);
  if (place.row !== undefined) parts.push(`row ${place.row}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** A PetalError whose message ends with the place it names, and whose detail carries it. */
export function feedError(
  code: string,
  message: string,
  place: FeedPlace,
  options: { fix: string; cause?: unknown; retryable?: boolean },
): PetalError {
  const detail: Record<string, unknown> = { ...place };
  if (place.offset !== undefined) detail.offset = Number(place.offset);
  return new PetalError(code, `${message}${where(place)}`, { ...options, detail });
}

/** An invalid option: the message names its path (`feed.batchSize must be ≥ 1`). */
export function optionError(path: string, message: string, fix: string): PetalError {
  return new PetalError(FeedCodes.options, `${path} ${message}`, { fix, detail: { path } });
}

/**
 * Rejects keys of `value` not in `allowed`, and a non-object `value`, naming the path; the shared check behind
 * every options object of the data plane.
 */
export function checkKeys(path: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(path, 'must be an object', `pass { ${allowed.join(', ')} }`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw optionError(`${path}.${key}`, 'is unknown', `valid keys: ${allowed.join(', ')}`);
    }
  }
  return value as Record<string, unknown>;
}

/** Checks an optional integer option in [min, max]. */
export function intOption(path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw optionError(path, `must be an integer ${range}`, `got ${JSON.stringify(value)}`);
  }
}
