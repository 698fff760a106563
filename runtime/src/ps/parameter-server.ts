// A parameter server: serves its shards over the Petal transport and applies workers' gradients in one of three
// modes. `sync`: one update per step from the average of the live workers' pushes (stale pushes dropped);
// `async`: every push is an update; `ssp:K`: every push is an update, and a worker more than K steps ahead of the
// slowest live worker waits in its pull. Pulls are where workers wait, so the PS never buffers work it cannot do.
// Sync steps go part by part (exchange-parts.ts): a worker pushes a step's gradients and pulls the next step's
// values in parts, and a part is applied as soon as every live worker's gradient for it is in, then served at once;
// the step (one averaged update) ends when every part is applied. A pull of the whole waits for a step in between.
// Epochs: a worker out of data sends `epochDone` and leaves the live set until every member has, so peers with more
// data go on alone (no hang, nothing dropped); the last one releases them all into the next epoch together.
import { listen } from '../transport/index.ts';
import type { Connection, Handler, IncomingMessage, OutgoingMessage, PetalServer } from '../transport/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { TensorPayload } from '../protocol/index.ts';
import { latestCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { PsError, optionsError } from './errors.ts';
import { createOptimizer } from './optimizers.ts';
import type { OptimizerConfig } from './optimizers.ts';
import { any, checkOptions, int, str } from './options.ts';
import type { ShardPlan } from './shard-plan.ts';
import { ShardStore } from './shard-store.ts';

/** How updates are applied: `sync`, `async`, or `ssp:K` (bounded staleness K ≥ 0). */
export type PsMode = 'sync' | 'async' | `ssp:${number}`;

/** Options of startParameterServer(). */
export interface ParameterServerOptions {
  /** Cluster token (see createClusterToken). */
  token: string | Uint8Array;
  /** Interface (default 127.0.0.1) and port (default 0: any). */
  host?: string;
  port?: number;
  /** Cluster generation: pushes stamped with an older one are dropped. Default 0. */
  generation?: number;
  plan: ShardPlan;
  psIndex: number;
  optimizer: OptimizerConfig;
  /** Default `sync`. */
  mode?: PsMode;
  /** The live worker ids at start. */
  workers: readonly string[];
  /** Initial values: this PS's slices by id, or whole variables by name. Copied. */
  values: ReadonlyMap<string, Float32Array>;
  /** Handlers running per connection before it stops reading (default 64): bounds pulls waiting in sync/ssp. */
  maxConcurrentHandlers?: number;
  /** Checkpoint every `everySteps` global steps, right after the update that reaches it (see PeriodicCheckpoints). */
  checkpoints?: PeriodicCheckpoints;
}

/**
 * Periodic checkpoints taken by the PS itself inside the update that makes the global step a multiple of
 * `everySteps`: no push can land between that update and the snapshot, so in sync mode every PS saves the same step
 * with the same feed cursors (each worker's, sent with its push of that step). The snapshot is copied at once and
 * written in the background, one file after another.
 */
export interface PeriodicCheckpoints {
  dir: string;
  everySteps: number;
  keep?: number;
}

/** Counters of what the PS did with pushes. */
export interface PsStats {
  applied: number;
  pushes: number;
  /** Sync parts updated straight from where a lone worker's push landed (see ShardStore.arenas), no copy. */
  partsInPlace: number;
  dropped: { stale: number; duplicate: number; notLive: number; generation: number };
}

/** A running parameter server. */
export interface ParameterServer {
  readonly host: string;
  readonly port: number;
  readonly mode: PsMode;
  /** Updates applied so far. */
  readonly globalStep: number;
  readonly stats: PsStats;
  /** The store (values, slots) — for tests and the checkpoint path; do not mutate while serving. */
  readonly store: ShardStore;
  /**
   * Replaces the member set; a worker leaving releases a sync barrier or an SSP wait it was holding. Members done
   * with the current epoch (an `epochDone` request) stay out of the live set until every member is done.
   */
  setLiveWorkers(ids: readonly string[]): void;
  /**
   * Checkpoints at a sync point: at once, or with `atStep` right after the update that makes the global step
   * `atStep` (before any other). Feed positions default to the PS epoch and each worker's last cursor. Waits for
   * periodic checkpoints still being written. Resolves to the file written.
   */
  checkpoint(dir: string, options?: { keep?: number; feedPositions?: unknown; atStep?: number }): Promise<string>;
  /** Loads the newest checkpoint under `dir` (or the one at `step`); resolves to its feed positions, or undefined when there is none. */
  restore(dir: string, step?: number): Promise<{ globalStep: number; feedPositions: unknown } | undefined>;
  /** Stops serving; waiting pulls fail with PETAL_PS_CLOSED. Idempotent. */
  close(): Promise<void>;
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

const schema = {
  token: any,
  host: str,
  port: int(0, 65535),
  generation: int(0, 0xffff_ffff),
  plan: any,
  psIndex: int(0, 1_000_000),
  optimizer: any,
  mode: (v: unknown) => (parseMode(v) ? undefined : 'must be "sync", "async" or "ssp:K" with K an integer ≥ 0'),
  workers: (v: unknown) =>
    Array.isArray(v) && v.every((w) => typeof w === 'string' && w.length > 0)
      ? undefined
      : 'must be an array of worker ids',
  values: (v: unknown) => (v instanceof Map ? undefined : 'must be a Map of name → Float32Array'),
  maxConcurrentHandlers: int(1, 1_000_000),
  checkpoints: (v: unknown) => {
    const c = v as Partial<PeriodicCheckpoints> | null;
    return typeof c === 'object' &&
      c !== null &&
      typeof c.dir === 'string' &&
      Number.isSafeInteger(c.everySteps) &&
      c.everySteps! >= 1 &&
      (c.keep === undefined || (Number.isSafeInteger(c.keep) && c.keep >= 1))
      ? undefined
      : 'must be { dir: string, everySteps: integer ≥ 1, keep?: integer ≥ 1 }';
  },
};

/**
 * A PS without its listener: the request handler and the same controls. A PS task listens once, at start, and
 * serves one service per job through it; startParameterServer() pairs one service with its own listener.
 */
export interface PsService extends Omit<ParameterServer, 'host' | 'port' | 'close'> {
  /** Answers pull, push, pullFrozen, epochDone and ping requests. */
  readonly handler: Handler;
  /** Fails waiting pulls with PETAL_PS_CLOSED and refuses new waits. Idempotent. */
  close(): void;
  /** Resolves once every periodic checkpoint begun so far is written (or failed: the next checkpoint() throws). */
  written(): Promise<void>;
  /** Global steps of the periodic checkpoints written so far, in order (what a job rolling back may restore). */
  readonly checkpointed: readonly number[];
}

/** Starts a PS listening on the transport. Throws PETAL_PS_OPTIONS, PETAL_PS_SHAPE or transport errors. */
export async function startParameterServer(options: ParameterServerOptions): Promise<ParameterServer> {
  const service = createPsService(options);
  const server: PetalServer = await listen({
    token: options.token,
    host: options.host,
    port: options.port,
    generation: options.generation ?? 0,
    handler: service.handler,
    arenas: service.store.arenas,
    maxConcurrentHandlers: options.maxConcurrentHandlers,
  }).catch((e: unknown) => {
    service.close();
    throw e;
  });
  let closePromise: Promise<void> | undefined;
  return {
    host: server.host,
    port: server.port,
    mode: service.mode,
    get globalStep() {
      return service.globalStep;
    },
    stats: service.stats,
    store: service.store,
    setLiveWorkers: (ids) => service.setLiveWorkers(ids),
    checkpoint: (dir, opts) => service.checkpoint(dir, opts),
    restore: (dir, step) => service.restore(dir, step),
    close() {
      closePromise ??= (async () => {
        service.close();
        await service.written();
        await server.close();
      })();
      return closePromise;
    },
  };
}

/** The PS logic without a listener (see {@link PsService}). Throws PETAL_PS_OPTIONS. */
export function createPsService(options: ParameterServerOptions): PsService {
  checkOptions('parameterServer options', options, schema, [
    'token',
    'plan',
    'psIndex',
    'optimizer',
    'workers',
    'values',
  ]);
  if (options.psIndex >= options.plan.numPs) {
    throw optionsError(
      `parameterServer options.psIndex ${options.psIndex} is not below plan.numPs ${options.plan.numPs}`,
    );
  }
  const mode = (options.mode ?? 'sync') as PsMode;
  const staleness = parseMode(mode)!.staleness;
  const optimizer = createOptimizer(options.optimizer, 'parameterServer options.optimizer');
  // Arenas for each worker's connection (its current and spare one), and two for anyone else.
  const store = new ShardStore(
    options.plan,
    options.psIndex,
    optimizer,
    options.values,
    2 * options.workers.length + 2,
  );
  const generation = options.generation ?? 0;
  const stats: PsStats = {
    applied: 0,
    pushes: 0,
    partsInPlace: 0,
    dropped: { stale: 0, duplicate: 0, notLive: 0, generation: 0 },
  };
  // Live = members not done with the current epoch. Members come from setLiveWorkers (failures, scaling); a worker
  // out of data for the epoch leaves the live set until every member is done, so no peer waits on it.
  let members = new Set(options.workers);
  let live = new Set(options.workers);
  let epoch = 0;
  const epochDone = new Set<string>();
  let highClock = 0; // ssp/async: the highest step any worker has pushed + 1
  const gatheredBy = store.parts.map(() => new Set<string>()); // sync: per part, who pushed it this step
  // Sync part pulls are sent from the live values: per part, replies whose bytes are not yet with the kernel. A part
  // whose gradients are all in waits for them, and the last one sent applies it (a slow or stalled reader delays one
  // update, never tears its values).
  const partReaders = store.parts.map(() => 0);
  const clocks = new Map<string, number>(); // ssp: steps each worker has pushed
  for (const w of live) clocks.set(w, 0);
  const waiters = new Set<Waiter>();
  const stepHooks = new Map<number, (() => void)[]>();
  let closed = false;
  // Each worker's feed cursor, as sent with its last push that counted (opaque here; see job/resume.ts).
  const cursors = new Map<string, unknown>();
  const feedPositions = (): { epoch: number; workers: Record<string, unknown> } => ({
    epoch,
    workers: Object.fromEntries(cursors),
  });
  let writing: Promise<unknown> = Promise.resolve();
  let writeFailure: Error | undefined;
  const checkpointed: number[] = [];
  const saveInBackground = (periodic: PeriodicCheckpoints): void => {
    const data = {
      ...store.snapshot(),
      psIndex: options.psIndex,
      numPs: options.plan.numPs,
      feedPositions: feedPositions(),
    };
    writing = writing
      .then(() => saveCheckpoint(periodic.dir, data, { keep: periodic.keep }))
      .then(() => void checkpointed.push(data.globalStep))
      .catch((e: unknown) => {
        writeFailure ??= e as Error;
      });
  };

  const minClock = (): number => {
    let min = Infinity;
    for (const w of live) min = Math.min(min, clocks.get(w) ?? 0);
    return min === Infinity ? 0 : min;
  };
  const wake = (): void => {
    for (const w of waiters) {
      if (w.ready()) {
        waiters.delete(w);
        w.resolve();
      }
    }
  };
  const afterUpdate = (): void => {
    stats.applied++;
    const periodic = options.checkpoints;
    if (periodic && store.globalStep % periodic.everySteps === 0) saveInBackground(periodic);
    const hooks = stepHooks.get(store.globalStep);
    if (hooks) {
      stepHooks.delete(store.globalStep);
      for (const h of hooks) h();
    }
  };
  // A part is applied once every live worker's gradient for it is in (a leaver's stays: it was live when it pushed).
  const maybeApplyPart = (j: number): void => {
    if (store.gatheredPart(j) === 0) return;
    for (const w of live) if (!gatheredBy[j]!.has(w)) return;
    if (partReaders[j]! > 0) return;
    gatheredBy[j]!.clear();
    if (store.applyPart(j)) afterUpdate();
  };
  const applyLive = (): void => {
    const next = new Set([...members].filter((w) => !epochDone.has(w)));
    const floor = minClock();
    for (const w of next) if (!clocks.has(w)) clocks.set(w, floor);
    for (const w of clocks.keys()) if (!next.has(w)) clocks.delete(w);
    live = next;
    if (mode === 'sync') {
      gatheredBy.forEach((by, j) => {
        for (const w of by) if (!live.has(w)) by.delete(w);
        maybeApplyPart(j);
      });
    }
    wake();
  };
  const maybeNextEpoch = (): void => {
    if (epochDone.size === 0 || ![...members].every((w) => epochDone.has(w))) return;
    epoch++;
    epochDone.clear();
    // Every member starts the next epoch at the same clock, so SSP compares like with like.
    live = new Set(members);
    clocks.clear();
    for (const w of live) clocks.set(w, highClock);
    wake();
  };
  const addStepHook = (step: number, hook: () => void): void => {
    const list = stepHooks.get(step) ?? [];
    list.push(hook);
    stepHooks.set(step, list);
  };
  const waitUntil = (ready: () => boolean): Promise<void> | undefined => {
    if (ready()) return undefined;
    if (closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => waiters.add({ ready, resolve, reject }));
  };

  const onPull = async (msg: IncomingMessage): Promise<OutgoingMessage> => {
    const { worker, step, part } = pullMeta(msg.meta);
    const began = performance.now();
    if (part !== undefined) return onPullPart(step, part, began);
    if (mode === 'sync') await waitUntil(() => store.globalStep >= step && !store.midStep);
    else if (staleness !== undefined) await waitUntil(() => !live.has(worker) || step - minClock() <= staleness);
    const waitedMs = performance.now() - began;
    const copy = store.pullCopy();
    const tensors: TensorPayload[] = copy.data.map((d) => ({ dtype: 'float32', shape: [d.length], data: d }));
    return {
      type: MessageType.pullParams,
      meta: {
        globalStep: store.globalStep,
        shards: store.trainable.map((s) => s.slice.id),
        waitedMs,
        // Sync: the worker may push and pull the next steps in this many parts.
        ...(mode === 'sync' ? { parts: store.parts.length } : {}),
      },
      tensors,
      sent: copy.done, // the copy may be reused once the socket has its bytes
    };
  };

  // Part `part` of the values of step `step`: answered as soon as that part has been updated for it.
  const onPullPart = async (step: number, part: number, began: number): Promise<OutgoingMessage> => {
    checkPartRequest(part);
    await waitUntil(() => store.partStep(part) >= step);
    partReaders[part]!++;
    return {
      type: MessageType.pullParams,
      meta: { globalStep: store.partStep(part), part, waitedMs: performance.now() - began },
      tensors: store.partValues(part).map((d) => ({ dtype: 'float32', shape: [d.length], data: d })),
      sent: () => {
        if (--partReaders[part]! > 0) return;
        maybeApplyPart(part);
        wake();
      },
    };
  };

  const checkPartRequest = (part: number): void => {
    if (mode !== 'sync') {
      throw new PsError('PETAL_PS_REQUEST', `a ${mode} PS takes whole pushes and pulls, not parts`, {
        fix: 'push and pull in parts only when a sync PS announces them (its pull reply carries `parts`)',
      });
    }
    if (part >= store.parts.length) {
      throw new PsError('PETAL_PS_SHAPE', `part ${part} asked; this PS cuts a step into ${store.parts.length} parts`, {
        fix: 'cut pushes and pulls with exchangeParts() of the same shard plan as the PS',
      });
    }
  };

  const noteCursor = (worker: string, meta: unknown): void => {
    const cursor = (meta as { cursor?: unknown }).cursor;
    if (cursor !== undefined) cursors.set(worker, cursor);
  };

  // A whole push (one gradient per trainable shard) or, in sync mode, part `meta.part` of one (its segments).
  // Stats count a pipelined push once, by its part 0.
  const onPush = (msg: IncomingMessage): OutgoingMessage => {
    const { worker, step, part } = pullMeta(msg.meta);
    const grads = msg.tensors.map((t) => t.data) as Float32Array[];
    if (msg.tensors.some((t) => t.dtype !== 'float32')) {
      throw new PsError('PETAL_PS_SHAPE', 'gradients must be float32', { fix: 'push float32 gradients' });
    }
    if (part === undefined) store.checkGradients(grads);
    else {
      checkPartRequest(part);
      store.checkPart(part, grads);
    }
    const counted = part === undefined || part === 0;
    if (counted) stats.pushes++;
    const answer = (accepted: boolean, reason?: 'generation' | 'not-live' | 'stale' | 'duplicate'): OutgoingMessage => {
      if (reason && counted) stats.dropped[reason === 'not-live' ? 'notLive' : reason]++;
      return { type: MessageType.pushGradients, meta: { accepted, reason, globalStep: store.globalStep } };
    };
    if (msg.generation < generation) return answer(false, 'generation');
    if (!live.has(worker)) return answer(false, 'not-live');
    if (mode === 'sync') {
      if (step < store.globalStep) return answer(false, 'stale');
      if (step > store.globalStep) {
        throw new PsError(
          'PETAL_PS_STEP_AHEAD',
          `worker ${worker} pushed step ${step}; the PS is at step ${store.globalStep}`,
          {
            detail: { worker, step, globalStep: store.globalStep },
            fix: 'pull the parameters for a step (which waits for it) before pushing its gradients',
          },
        );
      }
      const parts = part === undefined ? store.parts.map((_, j) => j) : [part];
      if (parts.some((j) => gatheredBy[j]!.has(worker))) return answer(false, 'duplicate');
      // A part already applied this step (its workers were all in before this one became live) takes no more.
      const open = parts.filter((j) => !store.partApplied(j));
      if (open.length === 0) return answer(false, 'stale');
      noteCursor(worker, msg.meta);
      for (const j of open) {
        const segments = part === undefined ? store.segments(j, grads) : grads;
        // The part's only gradient (a lone live worker, nothing else gathered, no reply still sent from its values),
        // landed in the kernels' memory: applied from where it lies, not copied into the sums first.
        if (live.size === 1 && store.gatheredPart(j) === 0 && partReaders[j] === 0 && store.holds(segments)) {
          stats.partsInPlace++;
          if (store.applyPart(j, segments)) afterUpdate();
        } else {
          store.accumulatePart(j, segments);
          gatheredBy[j]!.add(worker);
        }
      }
      for (const j of open) maybeApplyPart(j);
    } else {
      noteCursor(worker, msg.meta);
      store.apply(grads);
      afterUpdate();
      clocks.set(worker, Math.max(clocks.get(worker) ?? 0, step + 1));
      highClock = Math.max(highClock, step + 1);
    }
    wake();
    return answer(true);
  };

  // Resolves once every member is done with `meta.epoch`; answers the step to resume at (sync: the global step;
  // ssp/async: the common clock every member restarts from).
  const onEpochDone = async (msg: IncomingMessage): Promise<OutgoingMessage> => {
    const m = (typeof msg.meta === 'object' && msg.meta !== null ? msg.meta : {}) as {
      worker?: unknown;
      epoch?: unknown;
    };
    if (typeof m.worker !== 'string' || !Number.isSafeInteger(m.epoch) || (m.epoch as number) < 0) {
      throw new PsError('PETAL_PS_REQUEST', 'epochDone metadata must be {worker: string, epoch: integer ≥ 0}', {
        fix: 'use the Petal worker client, which sends both',
      });
    }
    const worker = m.worker;
    const done = m.epoch as number;
    if (done === epoch && members.has(worker)) {
      epochDone.add(worker);
      applyLive();
      maybeNextEpoch();
    }
    await waitUntil(() => epoch > done || !members.has(worker));
    return {
      type: MessageType.epochDone,
      meta: { epoch, globalStep: store.globalStep, resumeStep: mode === 'sync' ? store.globalStep : highClock },
    };
  };

  const onFrozen = (): OutgoingMessage => ({
    type: MessageType.pullFrozen,
    meta: { shards: store.frozen.map((s) => s.slice.id) },
    tensors: store.frozen.map((s) => ({ dtype: 'float32', shape: [s.params.length], data: s.params })),
  });

  const handler: Handler = (msg: IncomingMessage, _connection: Connection) => {
    switch (msg.type) {
      case MessageType.pullParams:
        return onPull(msg);
      case MessageType.pushGradients:
        return onPush(msg);
      case MessageType.pullFrozen:
        return onFrozen();
      case MessageType.epochDone:
        return onEpochDone(msg);
      case MessageType.ping:
        return { type: MessageType.ping };
      default:
        throw new PsError('PETAL_PS_UNKNOWN_MESSAGE', `a parameter server takes no message type ${msg.type}`, {
          fix: 'send pull/push/pullFrozen requests to a PS',
        });
    }
  };

  return {
    handler,
    mode,
    get globalStep() {
      return store.globalStep;
    },
    stats,
    store,
    setLiveWorkers(ids) {
      members = new Set(ids);
      applyLive();
      maybeNextEpoch();
    },
    async checkpoint(dir, opts = {}) {
      checkOptions('checkpoint options', opts, {
        keep: int(1, 1_000_000),
        feedPositions: any,
        atStep: int(0, Number.MAX_SAFE_INTEGER),
      });
      if (opts.atStep !== undefined && opts.atStep !== store.globalStep) {
        if (opts.atStep < store.globalStep) {
          throw new PsError(
            'PETAL_PS_CHECKPOINT_MISSED',
            `step ${opts.atStep} is past (the PS is at ${store.globalStep})`,
            {
              fix: 'ask for a checkpoint at a step the PS has not reached yet',
            },
          );
        }
        const atStep = opts.atStep;
        await new Promise<void>((resolve) => addStepHook(atStep, resolve));
      }
      // A step half applied (its last parts still on the wire) is let finish: a checkpoint holds whole steps.
      if (store.midStep) await new Promise<void>((resolve) => addStepHook(store.globalStep + 1, resolve));
      // The snapshot is taken synchronously: no update can interleave with it.
      const snap = store.snapshot();
      const positions = opts.feedPositions ?? feedPositions();
      await writing; // periodic files first, so `keep` prunes in step order
      if (writeFailure) throw checkpointWriteError(writeFailure);
      return saveCheckpoint(
        dir,
        { ...snap, psIndex: options.psIndex, numPs: options.plan.numPs, feedPositions: positions },
        { keep: opts.keep },
      );
    },
    async restore(dir, step) {
      const ck = await latestCheckpoint(dir, options.psIndex, step);
      if (!ck) return undefined;
      store.restore(ck);
      for (const by of gatheredBy) by.clear();
      for (const w of clocks.keys()) clocks.set(w, ck.globalStep);
      highClock = ck.globalStep;
      const saved = ck.feedPositions as { epoch?: unknown; workers?: unknown } | null;
      if (saved && Number.isSafeInteger(saved.epoch) && typeof saved.workers === 'object' && saved.workers) {
        epoch = saved.epoch as number;
        epochDone.clear();
        cursors.clear();
        for (const [w, c] of Object.entries(saved.workers)) cursors.set(w, c);
      }
      wake();
      return { globalStep: ck.globalStep, feedPositions: ck.feedPositions };
    },
    async written() {
      await writing;
    },
    checkpointed,
    close() {
      if (closed) return;
      closed = true;
      for (const w of waiters) w.reject(closedError());
      waiters.clear();
    },
  };
}

function checkpointWriteError(cause: Error): PsError {
  return new PsError('PETAL_PS_CHECKPOINT', `a periodic checkpoint could not be written: ${cause.message}`, {
    cause,
    fix: 'check that job.checkpoint.dir is writable and has space',
  });
}

function closedError(): PsError {
  return new PsError('PETAL_PS_CLOSED', 'the parameter server is shutting down', {
    retryable: true,
    fix: 'reconnect to the restarted parameter server',
  });
}

function parseMode(v: unknown): { staleness?: number } | undefined {
  if (v === 'sync' || v === 'async') return {};
  const m = typeof v === 'string' ? /^ssp:(\d{1,6})$/.exec(v) : null;
  return m ? { staleness: Number(m[1]) } : undefined;
}

function pullMeta(meta: unknown): { worker: string; step: number; part: number | undefined } {
  const m = (typeof meta === 'object' && meta !== null ? meta : {}) as {
    worker?: unknown;
    step?: unknown;
    part?: unknown;
  };
  if (
    typeof m.worker !== 'string' ||
    !Number.isSafeInteger(m.step) ||
    (m.step as number) < 0 ||
    (m.part !== undefined && (!Number.isSafeInteger(m.part) || (m.part as number) < 0))
  ) {
    throw new PsError(
      'PETAL_PS_REQUEST',
      'pull/push metadata must be {worker: string, step: integer ≥ 0, part?: integer ≥ 0}',
      { fix: 'use the Petal worker client, which sends these' },
    );
  }
  return { worker: m.worker, step: m.step as number, part: m.part as number | undefined };
}
