// Maps columns to tensors. A spec is checked three times, each as early as it can be: its shape when the options
// arrive, its columns against the Arrow schema before anything is produced or fetched, and (at stream time) the
// data itself — nulls, NaN labels, ragged lists, image signatures — before the topic exists.
import { Type } from 'apache-arrow';
import type { Data, DataType, Schema, Table } from 'apache-arrow';
import { binaryValue, firstNullRow } from './arrow-columns.ts';
import { FeedCodes, checkKeys, feedError, intOption, optionError } from './errors.ts';
import type { Vocabularies } from './vocabulary.ts';
import type { AugmentOptions } from './augment.ts';

/** How a column becomes a tensor. */
export type FeatureKind = 'numeric' | 'vector' | 'image' | 'label' | 'onehot';

/** One column's mapping; a bare column name means "infer the kind from the schema". */
export interface Feature {
  column: string;
  kind?: FeatureKind;
  /** image: output size (bilinear resize) and channels (default 3). */
  height?: number;
  width?: number;
  channels?: 1 | 3;
  /** image: the range pixels are scaled to (default [0, 1]; MobileNet-style models take [-1, 1]). */
  scale?: [number, number];
  /** image: random transforms applied per batch (give them on the train feed's features only). */
  augment?: AugmentOptions;
  /** onehot/label over an integer column: the number of classes (string columns use their vocabulary). */
  depth?: number;
}

/** xs: one feature, or numeric/vector features concatenated along axis 1; ys: optional. */
export interface FeatureSpec {
  xs: string | Feature | (string | Feature)[];
  ys?: string | Feature;
}

/** A feature checked against a schema: kind, sizes and depth all known. */
export interface ResolvedFeature {
  column: string;
  kind: FeatureKind;
  /** vector: elements per row. */
  size: number;
  height: number;
  width: number;
  channels: number;
  depth: number;
  /** image: the output pixel range. */
  scale: [number, number];
  /** image: training augmentation, or undefined. */
  augment: AugmentOptions | undefined;
}

export interface ResolvedSpec {
  xs: ResolvedFeature[];
  ys: ResolvedFeature | undefined;
}

const featureKeys = ['column', 'kind', 'height', 'width', 'channels', 'depth', 'scale', 'augment'] as const;
const kinds: readonly FeatureKind[] = ['numeric', 'vector', 'image', 'label', 'onehot'];

function checkFeature(path: string, value: unknown): Feature {
  if (typeof value === 'string') return { column: value };
  const f = checkKeys(path, value, featureKeys);
  if (typeof f.column !== 'string' || f.column === '') {
    throw optionError(`${path}.column`, 'must be a column name', 'name a column of the data');
  }
  if (f.kind !== undefined && !kinds.includes(f.kind as FeatureKind)) {
    throw optionError(`${path}.kind`, `must be one of ${kinds.join(', ')}`, `got ${JSON.stringify(f.kind)}`);
  }
  intOption(`${path}.height`, f.height, 1, 4096);
  intOption(`${path}.width`, f.width, 1, 4096);
  intOption(`${path}.depth`, f.depth, 1);
  if (f.channels !== undefined && f.channels !== 1 && f.channels !== 3) {
    throw optionError(`${path}.channels`, 'must be 1 or 3', `got ${JSON.stringify(f.channels)}`);
  }
  if (f.scale !== undefined) checkScale(`${path}.scale`, f.scale);
  if (f.augment !== undefined) checkAugment(`${path}.augment`, f.augment);
  if (f.kind === 'image' && (f.height === undefined || f.width === undefined)) {
    throw optionError(path, 'is an image feature without height and width', 'give both: images are resized to them');
  }
  return f as unknown as Feature;
}

function checkScale(path: string, value: unknown): void {
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    (value[0] as number) < (value[1] as number);
  if (!ok) throw optionError(path, 'must be [min, max] with min < max', `got ${JSON.stringify(value)}; e.g. [-1, 1]`);
}

function checkAugment(path: string, value: unknown): void {
  const a = checkKeys(path, value, ['flip', 'zoom', 'brightness', 'seed']);
  if (a.flip !== undefined && typeof a.flip !== 'boolean') {
    throw optionError(`${path}.flip`, 'must be true or false', `got ${JSON.stringify(a.flip)}`);
  }
  for (const key of ['zoom', 'brightness'] as const) {
    const v = a[key];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v < 1))) {
      throw optionError(`${path}.${key}`, 'must be a number in [0, 1)', `got ${JSON.stringify(v)}; e.g. 0.2`);
    }
  }
  intOption(`${path}.seed`, a.seed, 0, 0xffff_ffff);
}

/** Checks a spec's shape (not its columns); throws PETAL_FEED_OPTIONS naming the path. */
export function checkSpec(path: string, value: unknown): FeatureSpec {
  const spec = checkKeys(path, value, ['xs', 'ys']);
  if (spec.xs === undefined) throw optionError(`${path}.xs`, 'is required', 'name the input column(s)');
  const xs = Array.isArray(spec.xs) ? spec.xs : [spec.xs];
  if (xs.length === 0) throw optionError(`${path}.xs`, 'must name at least one column', 'e.g. xs: ["x1", "x2"]');
  xs.forEach((x, i) => checkFeature(Array.isArray(spec.xs) ? `${path}.xs[${i}]` : `${path}.xs`, x));
  if (spec.ys !== undefined) checkFeature(`${path}.ys`, spec.ys);
  return spec as unknown as FeatureSpec;
}

function isNumeric(type: DataType): boolean {
  return type.typeId === Type.Int || type.typeId === Type.Float;
}

function isInteger(type: DataType): boolean {
  return type.typeId === Type.Int;
}

function isListOfNumbers(type: DataType): boolean {
  return (
    (type.typeId === Type.FixedSizeList || type.typeId === Type.List || type.typeId === Type.LargeList) &&
    isNumeric((type as { children: { type: DataType }[] }).children[0]!.type)
  );
}

function isBinary(type: DataType): boolean {
  // nodejs-polars writes its binary columns as BinaryView.
  return type.typeId === Type.Binary || type.typeId === Type.LargeBinary || type.typeId === Type.BinaryView;
}

function typeError(topic: string, column: string, type: DataType, wanted: string, fix: string) {
  return feedError(
    FeedCodes.type,
    `column of type ${String(type)} cannot become ${wanted}`,
    { topic, column },
    { fix },
  );
}

function resolveFeature(
  feature: string | Feature,
  schema: Schema,
  vocabularies: Vocabularies,
  topic: string,
  role: 'xs' | 'ys',
  table?: Table,
): ResolvedFeature {
  const f = typeof feature === 'string' ? { column: feature } : feature;
  const field = schema.fields.find((x) => x.name === f.column);
  if (!field) {
    throw feedError(
      FeedCodes.missingColumn,
      `the feature spec names column "${f.column}", which the data lacks`,
      { topic, column: f.column },
      {
        fix: `use one of: ${schema.fields.map((x) => x.name).join(', ')}`,
      },
    );
  }
  const type = field.type;
  const vocabulary = vocabularies[f.column];
  const kind: FeatureKind =
    f.kind ??
    (vocabulary
      ? role === 'ys'
        ? 'label'
        : 'onehot'
      : isListOfNumbers(type)
        ? 'vector'
        : isBinary(type)
          ? 'image'
          : 'numeric');
  const resolved: ResolvedFeature = {
    column: f.column,
    kind,
    size: 1,
    height: f.height ?? 0,
    width: f.width ?? 0,
    channels: f.channels ?? 3,
    depth: 0,
    scale: f.scale ?? [0, 1],
    augment: f.augment,
  };
  switch (kind) {
    case 'numeric':
      if (!isNumeric(type))
        throw typeError(
          topic,
          f.column,
          type,
          'a numeric tensor',
          'pick a numeric column, or declare its kind (vector, image, label, onehot)',
        );
      break;
    case 'vector':
      if (!isListOfNumbers(type))
        throw typeError(topic, f.column, type, 'a vector tensor', 'vector columns hold fixed-size lists of numbers');
      if (type.typeId === Type.FixedSizeList) resolved.size = (type as unknown as { listSize: number }).listSize;
      // 0: a List's length is known only from data (the feed sizes it from its first message).
      else resolved.size = table ? listSize(table, f.column, topic) : 0;
      break;
    case 'image':
      if (!isBinary(type))
        throw typeError(
          topic,
          f.column,
          type,
          'an image tensor',
          'image columns hold the JPEG or PNG file bytes (Arrow Binary)',
        );
      if (!f.height || !f.width)
        throw optionError(
          `features.${role}`,
          `(column "${f.column}") is an image without height and width`,
          'give both: images are resized to them',
        );
      break;
    case 'label':
    case 'onehot':
      if (vocabulary) resolved.depth = f.depth ?? vocabulary.length;
      else if (isNumeric(type) && f.depth !== undefined) resolved.depth = f.depth;
      else if (isNumeric(type))
        throw optionError(
          `features.${role}.depth`,
          `is required for ${kind} column "${f.column}" (numbers, no vocabulary)`,
          'give the number of classes',
        );
      else
        throw typeError(
          topic,
          f.column,
          type,
          `a ${kind} tensor`,
          'labels are strings (mapped through the vocabulary) or integer class indices',
        );
      break;
  }
  return resolved;
}

/** Checks a spec's columns against a schema (and, with `table`, sizes ragged lists); throws naming the column. */
export function resolveSpec(
  spec: FeatureSpec,
  schema: Schema,
  vocabularies: Vocabularies,
  topic: string,
  table?: Table,
): ResolvedSpec {
  const xs = (Array.isArray(spec.xs) ? spec.xs : [spec.xs]).map((x) =>
    resolveFeature(x, schema, vocabularies, topic, 'xs', table),
  );
  const ys = spec.ys === undefined ? undefined : resolveFeature(spec.ys, schema, vocabularies, topic, 'ys', table);
  if (xs.length > 1 && xs.some((x) => x.kind === 'image')) {
    throw optionError('features.xs', 'mixes an image with other columns', 'an image feature must be the only xs');
  }
  return { xs, ys };
}

function listSize(table: Table, column: string, topic: string): number {
  const type = table.getChild(column)!.type;
  // A FixedSizeList has one length by type and no offsets to check.
  if (type.typeId === Type.FixedSizeList) return (type as unknown as { listSize: number }).listSize;
  let size = -1;
  let row = 0;
  for (const data of table.getChild(column)!.data) {
    // Int32Array for List, BigInt64Array for LargeList: Number() reads both.
    const offsets = data.valueOffsets as unknown as ArrayLike<number | bigint>;
    for (let i = 0; i < data.length; i++, row++) {
      const n = Number(offsets[i + 1]!) - Number(offsets[i]!);
      if (size === -1) size = n;
      else if (n !== size && data.getValid(i)) {
        throw feedError(
          FeedCodes.ragged,
          `list of ${n} elements where the rows before hold ${size}`,
          { topic, column, row },
          {
            fix: 'vector columns need one length per row: pad or truncate the lists, or use a FixedSizeList column',
          },
        );
      }
    }
  }
  return Math.max(size, 0);
}

const JPEG = [0xff, 0xd8, 0xff];
const PNG = [0x89, 0x50, 0x4e, 0x47];

/** True when `bytes` begin like a JPEG or a PNG file. */
export function looksLikeImage(bytes: Uint8Array): boolean {
  const starts = (sig: number[]) => sig.every((b, i) => bytes[i] === b);
  return starts(JPEG) || starts(PNG);
}

/**
 * Checks the data of every column the spec uses, before anything is produced: nulls in any of them, NaN/Inf or
 * out-of-range class indices in labels, ragged lists, and image bytes that are not a JPEG or PNG.
 * Errors name the column and the first bad row of the input.
 */
export function checkData(table: Table, spec: ResolvedSpec, topic: string): void {
  for (const feature of [...spec.xs, ...(spec.ys ? [spec.ys] : [])]) {
    const column = feature.column;
    let base = 0;
    for (const data of table.getChild(column)!.data) {
      if (data.nullCount > 0) {
        const row = firstNullRow(data);
        throw feedError(
          FeedCodes.nulls,
          `${data.nullCount} null value(s) in a column the feature spec needs`,
          { topic, column, row: base + row },
          {
            fix: 'fill or drop the nulls first (polars: df.dropNulls(), arquero: table.filter(d => d.col != null))',
          },
        );
      }
      if (feature.kind === 'label' || feature.kind === 'onehot') checkLabels(data, feature, topic, base);
      if (feature.kind === 'image') checkImages(data, column, topic, base);
      base += data.length;
    }
    if (feature.kind === 'vector') listSize(table, column, topic);
  }
}

function checkLabels(data: Data, feature: ResolvedFeature, topic: string, base: number): void {
  const values = data.values as ArrayLike<number | bigint>;
  const integer = isInteger(data.type);
  for (let i = 0; i < data.length; i++) {
    const v = Number(values[i]);
    if (!Number.isFinite(v)) {
      throw feedError(
        FeedCodes.nanLabel,
        `label ${v} is not a finite number`,
        { topic, column: feature.column, row: base + i },
        {
          fix: 'drop or fix rows whose label is NaN or Infinity',
        },
      );
    }
    if ((!integer && !Number.isInteger(v)) || v < 0 || v >= feature.depth) {
      throw feedError(
        FeedCodes.unknownLabel,
        `label ${v} is not a class index in [0, ${feature.depth})`,
        { topic, column: feature.column, row: base + i },
        {
          fix: `labels must be integers from 0 to ${feature.depth - 1}, or raise features.ys.depth`,
        },
      );
    }
  }
}

function checkImages(data: Data, column: string, topic: string, base: number): void {
  for (let i = 0; i < data.length; i++) {
    if (!looksLikeImage(binaryValue(data, i))) {
      throw feedError(
        FeedCodes.image,
        'the bytes are neither a JPEG nor a PNG file',
        { topic, column, row: base + i },
        {
          fix: 'image columns hold whole JPEG or PNG files; re-read the file, or drop the row',
        },
      );
    }
  }
}
