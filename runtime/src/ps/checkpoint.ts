// Checkpoints of one PS (values, optimizer slots, global step, feed positions) and the whole model assembled
// from every PS's checkpoint of one step. Files are written to a temp name, fsynced and renamed, so a crash
// leaves the last good checkpoint intact; the newest `keep` are kept.
//
// File: "PETALCK1" | u32 header bytes | header JSON | zero pad to 8 | float32 arrays (each shard: params, slots…)
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { PsError } from './errors.ts';
import type { ShardSlice } from './shard-plan.ts';
import type { StoreSnapshot } from './shard-store.ts';

const MAGIC = 'PETALCK1';
const FILE = /^ckpt-(\d{12})\.petal$/;

/** What a checkpoint holds beyond the store: opaque feed positions (per-partition offsets) to resume the data. */
export interface CheckpointData extends StoreSnapshot {
  psIndex: number;
  numPs: number;
  feedPositions: unknown;
}

interface Header {
  version: 1;
  psIndex: number;
  numPs: number;
  globalStep: number;
  optimizerState: Record<string, number>;
  feedPositions: unknown;
  shards: { slice: ShardSlice; arrays: number }[];
  dataBytes: number;
  crc32: number;
}

/** The folder of one PS's checkpoints under a checkpoint directory. */
export function psCheckpointDir(dir: string, psIndex: number): string {
  return path.join(dir, `ps-${psIndex}`);
}

/** Writes a checkpoint atomically under `dir/ps-<i>/`, keeps the newest `keep` (default 3). Resolves to the file. */
export async function saveCheckpoint(
  dir: string,
  data: CheckpointData,
  options: { keep?: number } = {},
): Promise<string> {
  const keep = options.keep ?? 3;
  const folder = psCheckpointDir(dir, data.psIndex);
  await mkdir(folder, { recursive: true });
  const arrays: Float32Array[] = [];
  const shards: Header['shards'] = [];
  for (const s of data.trainable) {
    arrays.push(s.params, ...s.slots);
    shards.push({ slice: s.slice, arrays: 1 + s.slots.length });
  }
  for (const s of data.frozen) {
    arrays.push(s.params);
    shards.push({ slice: s.slice, arrays: 1 });
  }
  let crc = 0;
  let dataBytes = 0;
  for (const a of arrays) {
    crc = crc32(bytes(a), crc);
    dataBytes += a.byteLength;
  }
  const header: Header = {
    version: 1,
    psIndex: data.psIndex,
    numPs: data.numPs,
    globalStep: data.globalStep,
    optimizerState: data.optimizerState,
    feedPositions: data.feedPositions ?? null,
    shards,
    dataBytes,
    crc32: crc,
  };
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(Math.ceil((12 + json.length) / 8) * 8);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 12);

  const final = path.join(folder, `ckpt-${String(data.globalStep).padStart(12, '0')}.petal`);
  const temp = path.join(folder, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const file = await open(temp, 'w');
  try {
    await file.writev([head, ...arrays.map(bytes)]);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, final);
  await syncDir(folder);
  const files = await checkpointFiles(folder);
  for (const old of files.slice(0, Math.max(0, files.length - keep)))
    await rm(path.join(folder, old.name), { force: true });
  return final;
}

/** Reads one checkpoint file, checking its magic, sizes and checksum. Throws PETAL_PS_CHECKPOINT. */
export async function readCheckpoint(file: string): Promise<CheckpointData> {
  const buf = await readFile(file);
  const bad = (why: string): PsError =>
    new PsError('PETAL_PS_CHECKPOINT', `${file} is not a readable checkpoint: ${why}`, {
      detail: { file },
      fix: 'restore from an older checkpoint (the newest `keep` are kept) or start over',
    });
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw bad('bad magic');
  const jsonBytes = buf.readUInt32LE(8);
  if (12 + jsonBytes > buf.length) throw bad('truncated header');
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + jsonBytes)) as Header;
  } catch {
    throw bad('header is not JSON');
  }
  const start = Math.ceil((12 + jsonBytes) / 8) * 8;
  if (header.version !== 1 || buf.length !== start + header.dataBytes) throw bad('wrong length');
  // Copy into aligned memory: a Buffer from readFile may sit at any offset of a shared pool.
  const data = new Float32Array(header.dataBytes / 4);
  new Uint8Array(data.buffer).set(buf.subarray(start));
  if (crc32(bytes(data)) !== header.crc32) throw bad('checksum mismatch');
  let at = 0;
  const take = (n: number): Float32Array => data.subarray(at, (at += n));
  const out: CheckpointData = {
    psIndex: header.psIndex,
    numPs: header.numPs,
    globalStep: header.globalStep,
    optimizerState: header.optimizerState,
    feedPositions: header.feedPositions,
    trainable: [],
    frozen: [],
  };
  for (const { slice, arrays } of header.shards) {
    const n = slice.end - slice.begin;
    const params = take(n);
    if (slice.trainable)
      out.trainable.push({ slice, params, slots: Array.from({ length: arrays - 1 }, () => take(n)) });
    else out.frozen.push({ slice, params });
  }
  return out;
}

/** The newest checkpoint of a PS under `dir` (or the one at `step`), or undefined when there is none. */
export async function latestCheckpoint(
  dir: string,
  psIndex: number,
  step?: number,
): Promise<CheckpointData | undefined> {
  const folder = psCheckpointDir(dir, psIndex);
  const files = await checkpointFiles(folder);
  const pick = step === undefined ? files.at(-1) : files.find((f) => f.step === step);
  return pick ? readCheckpoint(path.join(folder, pick.name)) : undefined;
}

/** Steps checkpointed by every PS under `dir`, in the order PS 0 wrote them (the newest last). */
export async function commonSteps(dir: string, numPs: number): Promise<number[]> {
  let common: number[] = [];
  for (let i = 0; i < numPs; i++) {
    const steps = (await checkpointFiles(psCheckpointDir(dir, i))).map((f) => f.step);
    common = i === 0 ? steps : common.filter((s) => steps.includes(s));
  }
  return common;
}

/** Options of exportModel(). */
export interface ExportModelOptions {
  /** The checkpoint directory (holding `ps-0/`, `ps-1/`, …). */
  dir: string;
  numPs: number;
  /** Where model.json and weights.bin go. */
  outDir: string;
  /** The Keras model topology (`model.toJSON(null, false)` or model.json's modelTopology). */
  modelTopology: unknown;
  /** Variable names in the order of the weights manifest (default: the order of the plan). */
  order?: readonly string[];
  /** The step to export (default: the newest step every PS checkpointed). */
  step?: number;
  /** Export this optimizer slot of the trainable values instead of the values (the `ema` slot's moving averages). */
  slot?: number;
}

/**
 * Assembles whole variables from every PS's checkpoint of one step and writes them in tfjs layers format
 * (model.json with weightsManifest + weights.bin), loadable by `tf.loadLayersModel('file://…/model.json')`.
 * Resolves to model.json's path. Throws PETAL_PS_CHECKPOINT when no step is complete.
 */
export async function exportModel(options: ExportModelOptions): Promise<string> {
  const steps = await commonSteps(options.dir, options.numPs);
  const step = options.step ?? steps.at(-1);
  if (step === undefined || !steps.includes(step)) {
    throw new PsError(
      'PETAL_PS_CHECKPOINT',
      `no step ${step ?? ''} checkpointed by all ${options.numPs} PS under ${options.dir}`,
      {
        fix: 'take a checkpoint on every parameter server at the same step first',
      },
    );
  }
  const vars = new Map<string, { shape: number[]; data: Float32Array; filled: number }>();
  for (let i = 0; i < options.numPs; i++) {
    const ck = (await latestCheckpoint(options.dir, i, step))!;
    const trainable = ck.trainable.map((s) => ({ slice: s.slice, params: slotOrValues(s, options.slot) }));
    for (const s of [...trainable, ...ck.frozen]) {
      const { variable, shape, begin, end } = s.slice;
      let v = vars.get(variable);
      if (!v) vars.set(variable, (v = { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)), filled: 0 }));
      v.data.set(s.params, begin);
      v.filled += end - begin;
    }
  }
  const names = options.order ?? [...vars.keys()];
  const weights: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const chunks: Float32Array[] = [];
  for (const name of names) {
    const v = vars.get(name);
    if (!v || v.filled !== v.data.length) {
      throw new PsError('PETAL_PS_CHECKPOINT', `variable "${name}" is incomplete in the step ${step} checkpoints`, {
        fix: 'export with the same numPs the checkpoints were taken with',
      });
    }
    weights.push({ name, shape: v.shape, dtype: 'float32' });
    chunks.push(v.data);
  }
  await mkdir(options.outDir, { recursive: true });
  const modelJson = {
    modelTopology: options.modelTopology,
    format: 'layers-model',
    generatedBy: 'petal',
    convertedBy: null,
    weightsManifest: [{ paths: ['weights.bin'], weights }],
    userDefinedMetadata: { petalGlobalStep: step },
  };
  await writeAtomic(path.join(options.outDir, 'weights.bin'), Buffer.concat(chunks.map(bytes)));
  const file = path.join(options.outDir, 'model.json');
  await writeAtomic(file, JSON.stringify(modelJson));
  return file;
}

function slotOrValues(shard: CheckpointData['trainable'][number], slot: number | undefined): Float32Array {
  if (slot === undefined) return shard.params;
  const values = shard.slots[slot];
  if (!values) {
    throw new PsError('PETAL_PS_CHECKPOINT', `the checkpoint of "${shard.slice.id}" has no optimizer slot ${slot}`, {
      fix: 'export with the optimizer config the checkpoints were taken with',
    });
  }
  return values;
}

async function writeAtomic(file: string, content: Buffer | string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, content, { flush: true });
  await rename(temp, file);
}

/**
 * A PS's checkpoint files, oldest written first. Written, not numbered: a new run into the folder of an earlier,
 * longer one writes smaller steps, and its files are still the newest (kept when pruning, restored, exported).
 */
async function checkpointFiles(folder: string): Promise<{ name: string; step: number }[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  const files = await Promise.all(
    names
      .map((name) => ({ name, match: FILE.exec(name) }))
      .filter((f) => f.match)
      .map(async (f) => ({
        name: f.name,
        step: Number(f.match![1]),
        written: (await stat(path.join(folder, f.name)).catch(() => undefined))?.mtimeMs ?? -1,
      })),
  );
  return files
    .filter((f) => f.written >= 0) // pruned by another reader meanwhile
    .sort((a, b) => a.written - b.written || a.step - b.step)
    .map(({ name, step }) => ({ name, step }));
}

async function syncDir(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}

function bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
