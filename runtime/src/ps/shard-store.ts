// The shards one parameter server holds: values, optimizer slots, the global step, and the gradient sums of the
// step being gathered. Everything here is synchronous, so an update is atomic with respect to every request.
// Trainable values, slots and sums live in one KernelMemory, where the SIMD kernels update them in place: a push's
// gradients are copied (first push of a step) or added into the sums there, and the optimizer reads them from there.
// A step is gathered and applied part by part (exchange-parts.ts): the optimizers are elementwise, so updating the
// parts one after another is the same update as all at once; the step ends, and the global step advances, once
// every part is applied. The memory also holds receive arenas for the PS's connections (see ArenaSource): pushed
// gradients land there, so the kernels read them in place, and a lone worker's are applied without a copy.
import type { ArenaSource, LentArena } from '../transport/index.ts';
import { PsError } from './errors.ts';
import { exchangeParts } from './exchange-parts.ts';
import type { ExchangePart } from './exchange-parts.ts';
import type { ShardOptimizer } from './optimizers.ts';
import { slicesOf } from './shard-plan.ts';
import { KernelMemory, simdKernels } from './simd-kernels.ts';
import type { ShardPlan, ShardSlice } from './shard-plan.ts';

/** A trainable shard: its slice, its values, its optimizer slots (in the optimizer's slotNames order). */
export interface TrainableShard {
  slice: ShardSlice;
  params: Float32Array;
  slots: Float32Array[];
}

/** A frozen shard: served once, never updated. */
export interface FrozenShard {
  slice: ShardSlice;
  params: Float32Array;
}

/** A consistent copy of a store, for checkpoints. */
export interface StoreSnapshot {
  globalStep: number;
  optimizerState: Record<string, number>;
  trainable: TrainableShard[];
  frozen: FrozenShard[];
}

/** One PS's shards and optimizer. */
export class ShardStore {
  readonly optimizer: ShardOptimizer;
  readonly trainable: TrainableShard[];
  readonly frozen: FrozenShard[];
  /** The parts a step is gathered, applied and pulled in (see exchange-parts.ts). */
  readonly parts: readonly ExchangePart[];
  /** Updates applied so far. */
  globalStep = 0;
  readonly #sums: Float32Array[];
  /** Per part: gradients gathered into the sums in the step in progress. */
  readonly #summed: number[];
  /** Per part: already updated in the step in progress. */
  readonly #applied: boolean[];
  readonly #wholeCopies: CopyCache;
  readonly #memory: KernelMemory;
  /** Receive arenas in the kernels' memory, for the connections that push to this store. */
  readonly arenas: ArenaSource;

  /**
   * `values` holds each of this PS's slices by slice id, or whole variables by name (sliced here); values are
   * copied. `receiveArenas`: how many arenas, each a part push long, to lend the PS's connections. Throws
   * PETAL_PS_SHAPE when one is missing or the wrong length.
   */
  constructor(
    plan: ShardPlan,
    psIndex: number,
    optimizer: ShardOptimizer,
    values: ReadonlyMap<string, Float32Array>,
    receiveArenas = 0,
  ) {
    this.optimizer = optimizer;
    const mine = slicesOf(plan, psIndex);
    const valueOf = (s: ShardSlice): Float32Array => {
      const own = values.get(s.id);
      const whole = own ? undefined : values.get(s.variable);
      const data = own ?? whole?.subarray(s.begin, s.end);
      const want = s.end - s.begin;
      if (!data || (whole && whole.length !== s.shape.reduce((a, b) => a * b, 1)) || data.length !== want) {
        throw new PsError('PETAL_PS_SHAPE', `no ${want}-element value for slice "${s.id}" of "${s.variable}"`, {
          detail: { slice: s.id },
          fix: 'pass the initial values of every variable (or slice) this PS holds, with the plan’s shapes',
        });
      }
      return data;
    };
    const trainable = mine.filter((s) => s.trainable);
    const perShard = 2 + optimizer.slotNames.length; // values, slots, sums
    // The same cut the workers' clients make: one function of the plan on both sides.
    this.parts = exchangeParts(plan, psIndex);
    const arenaLength = Math.max(0, ...this.parts.map(partLength)) + ARENA_SLACK / 4;
    const arenaCount =
      this.parts.length === 0 ? 0 : Math.min(receiveArenas, Math.floor(MAX_ARENA_BYTES / (arenaLength * 4)));
    const memory = new KernelMemory([
      ...trainable.flatMap((s) => Array<number>(perShard).fill(s.end - s.begin)),
      ...Array<number>(arenaCount).fill(arenaLength),
    ]);
    this.#memory = memory;
    const alloc = (s: ShardSlice): Float32Array => memory.alloc(s.end - s.begin);
    this.trainable = trainable.map((slice) => {
      const params = alloc(slice);
      params.set(valueOf(slice));
      return { slice, params, slots: optimizer.slotNames.map(() => alloc(slice)) };
    });
    this.frozen = mine.filter((s) => !s.trainable).map((slice) => ({ slice, params: valueOf(slice).slice() }));
    this.#sums = trainable.map(alloc);
    this.arenas = arenaPool(Array.from({ length: arenaCount }, () => memory.alloc(arenaLength)));
    this.#summed = this.parts.map(() => 0);
    this.#applied = this.parts.map(() => false);
    this.#wholeCopies = new CopyCache(
      () => this.trainable.map((s) => new Float32Array(s.params.length)),
      (data) => this.trainable.forEach((s, i) => data[i]!.set(s.params)),
    );
  }

  /** Checks that `grads` has one array per trainable shard, of the shard's length. Throws PETAL_PS_SHAPE. */
  checkGradients(grads: readonly { length: number }[]): void {
    if (grads.length !== this.trainable.length) {
      throw new PsError(
        'PETAL_PS_SHAPE',
        `push carries ${grads.length} gradients; this PS holds ${this.trainable.length} trainable shards`,
        {
          fix: 'push one float32 gradient per trainable shard of this PS, in plan order (from the same plan)',
        },
      );
    }
    this.trainable.forEach((s, i) => {
      if (grads[i]!.length !== s.params.length) {
        throw new PsError(
          'PETAL_PS_SHAPE',
          `gradient for "${s.slice.id}" has ${grads[i]!.length} elements, want ${s.params.length}`,
          {
            fix: 'push gradients shaped by the same shard plan as the PS',
          },
        );
      }
    });
  }

  /**
   * Checks that `grads` are the segments of part `j` (a part of this PS: the push handler checked the number), each of
   * its length. Throws PETAL_PS_SHAPE.
   */
  checkPart(j: number, grads: readonly { length: number }[]): void {
    const part = this.parts[j]!;
    if (grads.length !== part.length || part.some((g, k) => grads[k]!.length !== g.end - g.begin)) {
      throw new PsError('PETAL_PS_SHAPE', `gradients of part ${j} do not have the part's segment lengths`, {
        fix: 'cut pushes with exchangeParts() of the same shard plan as the PS',
      });
    }
  }

  /**
   * Applies one update from these gradients (one per trainable shard) and advances the global step. Async and SSP
   * updates: it stages them in the sums, so it must not interleave with a sync step being gathered.
   */
  apply(grads: readonly Float32Array[]): void {
    this.accumulate(grads);
    this.applyAverage();
  }

  /** Adds whole gradients (one per trainable shard) to the sums of the step being gathered, every part of them. */
  accumulate(grads: readonly Float32Array[]): void {
    this.parts.forEach((_, j) => this.accumulatePart(j, this.segments(j, grads)));
  }

  /** Part `j`'s segments of whole per-shard arrays (views). */
  segments(j: number, whole: readonly Float32Array[]): Float32Array[] {
    return this.parts[j]!.map((g) => whole[g.shard]!.subarray(g.begin, g.end));
  }

  /** Whether every one of `grads` lies in the kernels' memory (landed in one of the store's arenas). */
  holds(grads: readonly Float32Array[]): boolean {
    return grads.every((g) => this.#memory.holds(g));
  }

  /** Adds part `j`'s gradients (its segments) to the sums (the first push is copied: no zeroing pass). */
  accumulatePart(j: number, grads: readonly Float32Array[]): void {
    const kernels = simdKernels();
    const first = this.#summed[j] === 0;
    this.parts[j]!.forEach((g, k) => {
      const sum = this.#sums[g.shard]!.subarray(g.begin, g.end);
      if (first) sum.set(grads[k]!);
      else kernels.add(sum, grads[k]!);
    });
    this.#summed[j]!++;
  }

  /** Gradients gathered for the current step (the most any part holds). */
  get gathered(): number {
    return Math.max(...this.#summed);
  }

  /** Gradients gathered for part `j` in the current step. */
  gatheredPart(j: number): number {
    return this.#summed[j]!;
  }

  /** Whether part `j` is already updated in the step in progress. */
  partApplied(j: number): boolean {
    return this.#applied[j]!;
  }

  /** Whether the step in progress has some parts updated and some not: its values are half old, half new. */
  get midStep(): boolean {
    return this.#applied.includes(true);
  }

  /** Steps applied to part `j`: the global step, or one more while the step is in progress and `j` is done. */
  partStep(j: number): number {
    return this.globalStep + (this.#applied[j] ? 1 : 0);
  }

  /** Applies the average of the gathered gradients (if any) to every part not yet updated, ending the step. */
  applyAverage(): void {
    if (this.gathered === 0) return;
    this.parts.forEach((_, j) => {
      if (!this.#applied[j]) this.applyPart(j);
    });
  }

  /**
   * Updates part `j` from the average of its gathered gradients (unchanged when none were: its step passes without
   * it), or from `lone`, the part's one gradient (its segments), used where it lies; nothing may be gathered for the
   * part then. Once every part is updated, ends the step and answers true.
   */
  applyPart(j: number, lone?: readonly Float32Array[]): boolean {
    const n = lone ? 1 : this.#summed[j]!;
    if (n > 0) {
      const kernels = simdKernels();
      for (const [k, g] of this.parts[j]!.entries()) {
        const s = this.trainable[g.shard]!;
        const grad = lone ? lone[k]! : this.#sums[g.shard]!.subarray(g.begin, g.end);
        if (n > 1) kernels.divide(grad, n);
        this.optimizer.apply(
          s.params.subarray(g.begin, g.end),
          grad,
          s.slots.map((x) => x.subarray(g.begin, g.end)),
        );
      }
    }
    this.#summed[j] = 0;
    this.#applied[j] = true;
    if (this.#applied.includes(false)) return false;
    this.optimizer.finishStep();
    this.globalStep++;
    this.#applied.fill(false);
    return true;
  }

  /** Drops the gathered gradients (restore, generation change). */
  clearGathered(): void {
    this.#summed.fill(0);
  }

  /**
   * The trainable values as sent to workers: a copy made once per global step and shared by every pull of that
   * step. Each pull calls `done()` once its reply is sent; until every holder has, a later update never touches
   * that copy (it takes another), so no bytes still queued on a socket change. Copies nobody holds are reused.
   */
  pullCopy(): { data: Float32Array[]; done: () => void } {
    return this.#wholeCopies.take(this.globalStep);
  }

  /**
   * Part `j`'s live values, one view per segment, no copy: for a sync PS, which holds back the part's next update
   * until the bytes of every reply sent from them are with the kernel.
   */
  partValues(j: number): Float32Array[] {
    return this.parts[j]!.map((g) => this.trainable[g.shard]!.params.subarray(g.begin, g.end));
  }

  /** A deep copy of everything a checkpoint holds. */
  snapshot(): StoreSnapshot {
    return {
      globalStep: this.globalStep,
      optimizerState: this.optimizer.state(),
      trainable: this.trainable.map((s) => ({
        slice: s.slice,
        params: s.params.slice(),
        slots: s.slots.map((x) => x.slice()),
      })),
      frozen: this.frozen.map((s) => ({ slice: s.slice, params: s.params.slice() })),
    };
  }

  /** Loads a snapshot (values copied in). Throws PETAL_PS_CHECKPOINT when it does not hold this store's shards. */
  restore(snapshot: StoreSnapshot): void {
    const byId = new Map([...snapshot.trainable, ...snapshot.frozen].map((s) => [s.slice.id, s]));
    const fail = (why: string): PsError =>
      new PsError('PETAL_PS_CHECKPOINT', `checkpoint does not fit this parameter server: ${why}`, {
        fix: 'restore with the same model, number of PS and optimizer the checkpoint was taken with',
      });
    for (const s of [...this.trainable, ...this.frozen]) {
      const saved = byId.get(s.slice.id);
      if (!saved || saved.slice.begin !== s.slice.begin || saved.slice.end !== s.slice.end)
        throw fail(`slice "${s.slice.id}" differs or is missing`);
    }
    for (const s of this.trainable) {
      const saved = byId.get(s.slice.id) as TrainableShard;
      if (!saved.slots || saved.slots.length !== s.slots.length)
        throw fail(`slice "${s.slice.id}" has other optimizer slots`);
    }
    for (const s of this.trainable) {
      const saved = byId.get(s.slice.id) as TrainableShard;
      s.params.set(saved.params);
      s.slots.forEach((slot, i) => slot.set(saved.slots[i]!));
    }
    for (const s of this.frozen) s.params.set(byId.get(s.slice.id)!.params);
    this.optimizer.restoreState(snapshot.optimizerState);
    this.globalStep = snapshot.globalStep;
    this.clearGathered();
    this.#applied.fill(false);
    this.#wholeCopies.invalidate();
  }
}

/** Room in an arena past one part's gradients: the frame's header and metadata, and the start of the next frame. */
const ARENA_SLACK = 64 * 1024;
/** Most memory a store lends as receive arenas; past it, connections allocate their own. */
const MAX_ARENA_BYTES = 64 * 1024 * 1024;

function partLength(part: ExchangePart): number {
  return part.reduce((a, g) => a + g.end - g.begin, 0);
}

/** Lends these regions, each to one arena at a time; asks for more than one holds get nothing. */
function arenaPool(regions: Float32Array[]): ArenaSource {
  const free = regions.map((r) => new Uint8Array(r.buffer, r.byteOffset, r.byteLength));
  return {
    take(bytes: number): LentArena | undefined {
      const region = free.length > 0 && bytes <= free[0]!.byteLength ? free.pop()! : undefined;
      if (!region) return undefined;
      let given = false;
      return {
        bytes: region,
        give: () => {
          if (given) return;
          given = true;
          free.push(region);
        },
      };
    },
  };
}

interface PullCopy {
  step: number;
  data: Float32Array[];
  /** Pulls whose reply is not sent yet. */
  holders: number;
  /** Replaced by a newer step's copy: free once no pull holds it. */
  retired: boolean;
}

/** Copies of some values for pulls: one per step, shared by that step's pulls, reused once nobody holds them. */
class CopyCache {
  readonly #make: () => Float32Array[];
  readonly #fill: (data: Float32Array[]) => void;
  #current: PullCopy | undefined;
  /** Copies no pull holds any more, reused for a later step's (at most two kept). */
  readonly #free: Float32Array[][] = [];

  constructor(make: () => Float32Array[], fill: (data: Float32Array[]) => void) {
    this.#make = make;
    this.#fill = fill;
  }

  take(step: number): { data: Float32Array[]; done: () => void } {
    let copy = this.#current;
    if (copy?.step !== step) {
      this.invalidate();
      const data = this.#free.pop() ?? this.#make();
      this.#fill(data);
      copy = this.#current = { step, data, holders: 0, retired: false };
    }
    const held = copy;
    held.holders++;
    let done = false;
    return {
      data: held.data,
      done: () => {
        if (done) return;
        done = true;
        held.holders--;
        if (held.retired && held.holders === 0) this.#release(held);
      },
    };
  }

  /** Retires the current copy (the values it holds are no longer current). */
  invalidate(): void {
    const copy = this.#current;
    this.#current = undefined;
    if (!copy) return;
    copy.retired = true;
    if (copy.holders === 0) this.#release(copy);
  }

  #release(copy: PullCopy): void {
    if (this.#free.length < 2) this.#free.push(copy.data);
  }
}
