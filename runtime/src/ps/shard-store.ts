// The shards one parameter server holds: values, optimizer slots, the global step, and the gradient sums of the
// step being gathered. Everything here is synchronous, so an update is atomic with respect to every request.
// Trainable values, slots and sums live in one KernelMemory, where the SIMD kernels update them in place: a push's
// gradients are copied (first push of a step) or added into the sums there, and the optimizer reads them from there.
import { PsError } from './errors.ts';
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
  /** Updates applied so far. */
  globalStep = 0;
  readonly #sums: Float32Array[];
  #summed = 0;
  #pullCopy: PullCopy | undefined;
  /** Copies no pull holds any more, reused for the next step's (at most two kept). */
  readonly #freeCopies: Float32Array[][] = [];

  /**
   * `values` holds each of this PS's slices by slice id, or whole variables by name (sliced here); values are
   * copied. Throws PETAL_PS_SHAPE when one is missing or the wrong length.
   */
  constructor(plan: ShardPlan, psIndex: number, optimizer: ShardOptimizer, values: ReadonlyMap<string, Float32Array>) {
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
    const memory = new KernelMemory(trainable.flatMap((s) => Array<number>(perShard).fill(s.end - s.begin)));
    const alloc = (s: ShardSlice): Float32Array => memory.alloc(s.end - s.begin);
    this.trainable = trainable.map((slice) => {
      const params = alloc(slice);
      params.set(valueOf(slice));
      return { slice, params, slots: optimizer.slotNames.map(() => alloc(slice)) };
    });
    this.frozen = mine.filter((s) => !s.trainable).map((slice) => ({ slice, params: valueOf(slice).slice() }));
    this.#sums = trainable.map(alloc);
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
   * Applies one update from these gradients (one per trainable shard) and advances the global step. Async and SSP
   * updates: it stages them in the sums, so it must not interleave with a sync step being gathered.
   */
  apply(grads: readonly Float32Array[]): void {
    this.accumulate(grads);
    this.applyAverage();
  }

  /** Adds gradients to the sums of the step being gathered (the first push is copied: no zeroing pass). */
  accumulate(grads: readonly Float32Array[]): void {
    const kernels = simdKernels();
    this.#sums.forEach((sum, i) => (this.#summed === 0 ? sum.set(grads[i]!) : kernels.add(sum, grads[i]!)));
    this.#summed++;
  }

  /** Gradients gathered for the current step. */
  get gathered(): number {
    return this.#summed;
  }

  /** Applies the average of the gathered gradients (if any) as one update, then clears the sums. */
  applyAverage(): void {
    if (this.#summed === 0) return;
    const n = this.#summed;
    if (n > 1) for (const sum of this.#sums) simdKernels().divide(sum, n);
    this.trainable.forEach((s, i) => this.optimizer.apply(s.params, this.#sums[i]!, s.slots));
    this.optimizer.finishStep();
    this.globalStep++;
    this.#summed = 0;
  }

  /** Drops the gathered gradients (restore, generation change). */
  clearGathered(): void {
    this.#summed = 0;
  }

  /**
   * The trainable values as sent to workers: a copy made once per global step and shared by every pull of that
   * step. Each pull calls `done()` once its reply is sent; until every holder has, a later update never touches
   * that copy (it takes another), so no bytes still queued on a socket change. Copies nobody holds are reused.
   */
  pullCopy(): { data: Float32Array[]; done: () => void } {
    let copy = this.#pullCopy;
    if (copy?.step !== this.globalStep) {
      if (copy) this.#retire(copy);
      const data = this.#freeCopies.pop() ?? this.trainable.map((s) => new Float32Array(s.params.length));
      this.trainable.forEach((s, i) => data[i]!.set(s.params));
      copy = this.#pullCopy = { step: this.globalStep, data, holders: 0, retired: false };
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
        if (held.retired && held.holders === 0) this.#free(held);
      },
    };
  }

  #retire(copy: PullCopy): void {
    copy.retired = true;
    if (copy.holders === 0) this.#free(copy);
  }

  #free(copy: PullCopy): void {
    if (this.#freeCopies.length < 2) this.#freeCopies.push(copy.data);
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
    if (this.#pullCopy) this.#retire(this.#pullCopy);
    this.#pullCopy = undefined;
  }
}

interface PullCopy {
  step: number;
  data: Float32Array[];
  /** Pulls whose reply is not sent yet. */
  holders: number;
  /** Replaced by a newer step's copy: free once no pull holds it. */
  retired: boolean;
}
