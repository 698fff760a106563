// An image dataset laid out as `<root>/<class>/<file>.jpg` (the tf_flowers / Keras `image_dataset_from_directory`
// layout): list it, then read the files into an Arrow table (path, label, image bytes) ready for stream().
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Binary, Table, Utf8, makeData, makeVector, vectorFromArray } from 'apache-arrow';
import { PetalError } from '../errors.ts';

/** One image file and its class (the folder it sits in). */
export interface ImageEntry {
  path: string;
  label: string;
}

/** Options of listImageFolder(). */
export interface ListImageFolderOptions {
  /** Keep at most this many files per class (the first by name; 0 or absent keeps all). */
  perClass?: number;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);
/** Files read at once: enough to keep the disk busy, few enough to bound open descriptors. */
const READ_CONCURRENCY = 32;

function dataError(message: string, root: string, fix: string, cause?: unknown): PetalError {
  return new PetalError('PETAL_DATA_FOLDER', message, { fix, cause, detail: { root } });
}

/** The images under `root`, class by class (classes and files sorted by name, so the order is reproducible). */
export async function listImageFolder(root: string, options: ListImageFolderOptions = {}): Promise<ImageEntry[]> {
  const perClass = options.perClass ?? 0;
  if (!Number.isInteger(perClass) || perClass < 0) {
    throw new PetalError('PETAL_OPTIONS', `perClass must be an integer ≥ 0, not ${String(perClass)}`, {
      fix: 'give the number of images to keep per class, or 0 for all',
    });
  }
  let names: string[];
  try {
    names = (await readdir(root)).sort();
  } catch (err) {
    throw dataError(`cannot read the image folder ${root}`, root, 'point at a folder of class folders', err);
  }
  const entries: ImageEntry[] = [];
  for (const label of names) {
    const dir = join(root, label);
    if (!(await stat(dir)).isDirectory()) continue;
    const files = (await readdir(dir)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
    if (files.length === 0) {
      throw dataError(`class folder ${dir} holds no .jpg/.jpeg/.png files`, root, 'remove the folder or add images');
    }
    for (const f of perClass > 0 ? files.slice(0, perClass) : files) entries.push({ path: join(dir, f), label });
  }
  if (entries.length === 0) {
    throw dataError(`${root} has no class folders`, root, 'lay the images out as <root>/<class>/<file>.jpg');
  }
  return entries;
}

/** Reads every entry's file into an Arrow table with columns `path` (Utf8), `label` (Utf8) and `image` (Binary). */
export async function imageTable(entries: readonly ImageEntry[]): Promise<Table> {
  const files = new Array<Uint8Array>(entries.length);
  let next = 0;
  const readNext = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const path = entries[i]!.path;
      try {
        files[i] = await readFile(path);
      } catch (err) {
        throw dataError(`cannot read image ${path}`, path, 'check the file exists and is readable', err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, entries.length) }, readNext));
  // One contiguous value buffer with offsets: the Arrow Binary layout, built without per-row vectors.
  const offsets = new Int32Array(files.length + 1);
  for (let i = 0; i < files.length; i++) offsets[i + 1] = offsets[i]! + files[i]!.length;
  const data = new Uint8Array(offsets[files.length]!);
  for (let i = 0; i < files.length; i++) data.set(files[i]!, offsets[i]);
  return new Table({
    path: vectorFromArray(
      entries.map((e) => e.path),
      new Utf8(),
    ),
    label: vectorFromArray(
      entries.map((e) => e.label),
      new Utf8(),
    ),
    image: makeVector(makeData({ type: new Binary(), length: files.length, valueOffsets: offsets, data })),
  });
}
