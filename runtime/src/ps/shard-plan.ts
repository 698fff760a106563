// Which parameter server holds which variable, or which contiguous slice of a large one. A pure function of the
// variables and the number of PS, so every worker and PS computes the same plan with no coordination.
import { PsError, optionsError } from './errors.ts';
import { checkOptions, int } from './options.ts';

/** A model variable (float32): its name, shape and whether the optimizer updates it. */
export interface VariableSpec {
  name: string;
  shape: readonly number[];
  /** Default true. Frozen variables are served once, never per step. */
  trainable?: boolean;
}

/** One piece of a variable held by one PS: the flattened element range [begin, end). */
export interface ShardSlice {
  /** The variable name when it is whole, `name#k` for its k-th slice. */
  id: string;
  variable: string;
  /** The whole variable's shape. */
  shape: number[];
  begin: number;
  end: number;
  trainable: boolean;
  ps: number;
}

/** The whole assignment. `slices` lists variables in input order, each one's slices in element order. */
export interface ShardPlan {
  numPs: number;
  variables: { name: string; shape: number[]; trainable: boolean; size: number; slices: string[] }[];
  slices: ShardSlice[];
  /** Trainable bytes per PS (what moves every step). */
  trainableBytes: number[];
  /** Frozen bytes per PS (served once). */
  frozenBytes: number[];
}

/** Options of planShards(). */
export interface PlanOptions {
  /** Variables above this many bytes are split (default: a quarter of the fair share per PS, at least 64 KiB: LPT placement then stays within ~1/4 of the fair share). */
  maxSliceBytes?: number;
}

const BYTES = 4;

/** Plans shards: large variables split into near-equal contiguous slices, pieces placed largest first on the least loaded PS. */
export function planShards(variables: readonly VariableSpec[], numPs: number, options: PlanOptions = {}): ShardPlan {
  checkOptions('planShards options', options, { maxSliceBytes: int(BYTES, Number.MAX_SAFE_INTEGER) });
  if (!Number.isInteger(numPs) || numPs < 1)
    throw optionsError(`planShards numPs must be an integer ≥ 1 (got ${numPs})`);
  if (!Array.isArray(variables as unknown)) throw optionsError('planShards variables must be an array');
  const seen = new Set<string>();
  const vars = variables.map((v, i) => {
    checkOptions(`variables[${i}]`, v, { name: checkName, shape: checkShape, trainable: checkBool }, ['name', 'shape']);
    if (seen.has(v.name)) throw optionsError(`variables[${i}].name "${v.name}" appears twice`);
    seen.add(v.name);
    const size = v.shape.reduce((a, b) => a * b, 1);
    return { name: v.name, shape: [...v.shape], trainable: v.trainable ?? true, size, slices: [] as string[] };
  });

  const slices: ShardSlice[] = [];
  const trainableBytes = new Array<number>(numPs).fill(0);
  const frozenBytes = new Array<number>(numPs).fill(0);
  for (const trainable of [true, false]) {
    const group = vars.filter((v) => v.trainable === trainable);
    const total = group.reduce((a, v) => a + v.size * BYTES, 0);
    const limit =
      options.maxSliceBytes ?? (numPs === 1 ? Infinity : Math.max(Math.ceil(total / (4 * numPs)), 64 * 1024));
    const pieces: ShardSlice[] = [];
    for (const v of group) {
      const count = Math.max(1, Math.ceil((v.size * BYTES) / limit));
      for (let k = 0; k < count; k++) {
        const begin = Math.floor((v.size * k) / count);
        const end = Math.floor((v.size * (k + 1)) / count);
        const id = count === 1 ? v.name : `${v.name}#${k}`;
        pieces.push({ id, variable: v.name, shape: v.shape, begin, end, trainable, ps: -1 });
        v.slices.push(id);
      }
    }
    // Largest first onto the least loaded PS (ties: lower index); the sort is stable, so input order breaks ties.
    const load = trainable ? trainableBytes : frozenBytes;
    const order = pieces.map((_, i) => i).sort((a, b) => size(pieces[b]!) - size(pieces[a]!) || a - b);
    for (const i of order) {
      let best = 0;
      for (let p = 1; p < numPs; p++) if (load[p]! < load[best]!) best = p;
      pieces[i]!.ps = best;
      load[best]! += size(pieces[i]!) * BYTES;
    }
    slices.push(...pieces);
  }
  // Back to input order: variables as given, each one's slices in element order.
  const index = new Map(vars.map((v, i) => [v.name, i]));
  slices.sort((a, b) => index.get(a.variable)! - index.get(b.variable)! || a.begin - b.begin);
  return { numPs, variables: vars, slices, trainableBytes, frozenBytes };
}

/** The slices one PS holds, in plan order. */
export function slicesOf(plan: ShardPlan, ps: number): ShardSlice[] {
  return plan.slices.filter((s) => s.ps === ps);
}

/** Cuts whole variables' values into the plan's slices (views, no copy). Throws PETAL_PS_SHAPE on a wrong length. */
export function sliceVariables(plan: ShardPlan, values: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const v of plan.variables) {
    const data = values.get(v.name);
    if (!data)
      throw new PsError('PETAL_PS_SHAPE', `no value for variable "${v.name}"`, { detail: { variable: v.name } });
    if (data.length !== v.size) throw shapeError(v.name, v.size, data.length);
  }
  for (const s of plan.slices) out.set(s.id, values.get(s.variable)!.subarray(s.begin, s.end));
  return out;
}

/** Reassembles whole variables from slices (all of them must be present). Throws PETAL_PS_SHAPE when one is missing. */
export function assembleVariables(
  plan: ShardPlan,
  slices: ReadonlyMap<string, Float32Array>,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const v of plan.variables) out.set(v.name, new Float32Array(v.size));
  for (const s of plan.slices) {
    const data = slices.get(s.id);
    if (!data) throw new PsError('PETAL_PS_SHAPE', `slice "${s.id}" is missing`, { detail: { slice: s.id } });
    if (data.length !== s.end - s.begin) throw shapeError(s.id, s.end - s.begin, data.length);
    out.get(s.variable)!.set(data, s.begin);
  }
  return out;
}

function size(s: ShardSlice): number {
  return s.end - s.begin;
}

function shapeError(name: string, want: number, got: number): PsError {
  return new PsError('PETAL_PS_SHAPE', `"${name}" needs ${want} float32 elements, got ${got}`, {
    detail: { name, want, got },
    fix: 'the model and the shard plan disagree: build both from the same variable list',
  });
}

function checkName(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && !v.includes('#')
    ? undefined
    : 'must be a non-empty string without "#"';
}
function checkShape(v: unknown): string | undefined {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0)
    ? undefined
    : 'must be an array of integers ≥ 0';
}
function checkBool(v: unknown): string | undefined {
  return typeof v === 'boolean' ? undefined : 'must be true or false';
}
