// A worker's view of all parameter servers as one: pull reassembles whole variables from every PS's shards by the
// shard plan, push cuts gradients into each PS's slices.
//
// Each push is followed at once by the pull of the next step on the same connections: a PS answers requests in
// order, so that pull is served right after the push is applied (sync: once the step's barrier releases) and its
// bytes flow with no round trip between the two. A pull for any other step (after an epoch barrier, say) drops the
// prefetched one and asks afresh.
//
// Sync PS announce parts (exchange-parts.ts) in their pull replies; from then on a push goes out part by part, each
// part followed by the pull of that part for the next step, so the PS applies and sends back part i while part i+1
// is on the wire; pushStream() sends each part as soon as its gradients are out of TensorFlow. Arriving parts are
// copied at once into one of two sets of buffers this client owns (the other holds what the last pull returned) and
// released, and each variable, once whole, goes to `onValues` (the worker loads it into its model while later parts
// are still coming). A whole pull (the first, or after a barrier) hands out views of its replies for variables a PS
// holds whole, kept until the next pull, and copies sliced ones into that set.
import type { FeedCursor } from '../job/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { TensorPayload } from '../protocol/index.ts';
import { exchangeParts, slicesOf } from '../ps/index.ts';
import type { ExchangePart, ShardPlan, ShardSlice } from '../ps/index.ts';
import { connect, machineId } from '../transport/index.ts';
import type { IncomingMessage, OutgoingMessage } from '../transport/index.ts';
import { WorkerError } from './errors.ts';

/** Where one PS listens. */
export interface PsEndpoint {
  host: string;
  port: number;
  /** Its Unix socket, if it has one, and the machine it is on (`machine`): used only from that same machine. */
  socketPath?: string;
  machine?: string;
}

/** How this process reaches a PS: by its Unix socket when the PS is on this machine (faster), else host:port. */
export function psAddress(e: PsEndpoint): { path: string } | { host: string; port: number } {
  const local = machineId();
  return e.socketPath !== undefined && local !== undefined && e.machine === local
    ? { path: e.socketPath }
    : { host: e.host, port: e.port };
}

/** Options of connectPs(). */
export interface PsClientOptions {
  endpoints: readonly PsEndpoint[];
  token: string | Uint8Array;
  plan: ShardPlan;
  worker: string;
  generation?: number;
  /**
   * Called with each trainable variable of a sync step's prefetched values as soon as all of it has arrived (before
   * pull() is called, while the rest is still on the wire): a worker uploads it into its model then. Such variables
   * are listed in Pulled.delivered. A throw here fails the prefetch; pull() then asks for the whole.
   */
  onValues?: (name: string, values: Float32Array) => void;
}

/** What one pull returned. */
export interface Pulled {
  /** The lowest global step among the PS (they agree in sync mode). */
  globalStep: number;
  /** Whole trainable variables by name: valid until the next pull (views of receive buffers, or the client's). */
  values: Map<string, Float32Array>;
  /** The longest a PS held this pull back (sync barrier, SSP bound) after pull() was called, ms. */
  waitedMs: number;
  /** Variables already handed to options.onValues (still in `values` too). */
  delivered: ReadonlySet<string>;
}

/** Gradients of one push, handed over as they are copied out of TensorFlow. */
export interface GradientStream {
  /** Adds one variable's whole gradient (kept, not copied, until the push is answered). */
  add(name: string, grad: Float32Array): void;
  /** Sends what is left; resolves to whether every PS accepted the push. */
  done(): Promise<boolean>;
}

/** A connection to every PS of a job. */
export interface PsClient {
  pull(step: number): Promise<Pulled>;
  /**
   * Pushes whole gradients by variable name (every trainable variable), with the feed cursor after the batch they
   * came from (the PS keep it for checkpoints). Resolves to whether every PS accepted.
   */
  push(step: number, grads: ReadonlyMap<string, Float32Array>, cursor?: FeedCursor): Promise<boolean>;
  /**
   * The same push, fed one gradient at a time (in plan order, as a TrainStep's streamGradients gives them): each
   * part goes out as soon as its gradients are in. `done()` resolves to whether every PS accepted; it throws
   * PETAL_WORKER_PLAN when a trainable variable's gradient never came.
   */
  pushStream(step: number, cursor?: FeedCursor): GradientStream;
  /** Frozen variables, whole, by name (copies; pulled once). */
  pullFrozen(): Promise<Map<string, Float32Array>>;
  /** Tells every PS this worker is out of data for `epoch`; resolves when all workers are, to the step to resume at. */
  epochDone(epoch: number): Promise<number>;
  close(): Promise<void>;
}

/** Connects to every PS (all or none: a failure closes those already open). */
export async function connectPs(options: PsClientOptions): Promise<PsClient> {
  const { plan, worker } = options;
  if (options.endpoints.length !== plan.numPs) {
    throw new WorkerError(
      'PETAL_WORKER_OPTIONS',
      `${options.endpoints.length} PS endpoints for a plan of ${plan.numPs} PS`,
      { fix: 'pass one endpoint per parameter server, in PS index order' },
    );
  }
  const settled = await Promise.allSettled(
    options.endpoints.map((e) => connect({ ...psAddress(e), token: options.token, generation: options.generation })),
  );
  const failed = settled.find((s) => s.status === 'rejected');
  const connections = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failed) {
    await Promise.allSettled(connections.map((c) => c.close()));
    throw failed.reason;
  }
  const whole = new Set(plan.variables.filter((v) => v.slices.length === 1).map((v) => v.name));
  const trainableVariables = plan.variables.filter((v) => v.trainable);
  // Two sets: a pull fills one while the values the last pull returned (the other) may still be read.
  const sets = [0, 1].map(() => new Map(trainableVariables.map((v) => [v.name, new Float32Array(v.size)])));
  let turn = 0; // the set the next pull fills
  const bySlice = new Map(plan.slices.map((s) => [s.id, s]));
  const mine: ShardSlice[][] = connections.map((_, i) => slicesOf(plan, i).filter((s) => s.trainable));
  const parts: ExchangePart[][] = connections.map((_, i) => exchangeParts(plan, i));
  let pipelined = false; // every PS announced its parts (sync mode)

  // Every PS's answer, or the first failure (answers that did arrive are released).
  const requestAll = async (message: (ps: number) => OutgoingMessage): Promise<IncomingMessage[]> => {
    const settled = await Promise.allSettled(connections.map((c, ps) => c.request(message(ps))));
    const failed = settled.find((s) => s.status === 'rejected');
    if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<IncomingMessage>).value);
    for (const s of settled) if (s.status === 'fulfilled') s.value.release();
    throw failed.reason;
  };
  const planError = (message: string): WorkerError =>
    new WorkerError('PETAL_WORKER_PLAN', message, { fix: 'start workers and PS from the same shard plan' });

  // A whole pull's reply: views (into `views`, when given) for variables held whole, copies into `into` for the rest.
  const takeWhole = (
    reply: IncomingMessage,
    ps: number,
    into: Map<string, Float32Array>,
    views: Map<string, Float32Array> | undefined,
  ): void => {
    const ids = (reply.meta as { shards?: unknown }).shards;
    if (!Array.isArray(ids) || ids.length !== reply.tensors.length) {
      throw planError(`PS ${ps} answered shards that do not match its tensors`);
    }
    ids.forEach((id, k) => {
      const s = bySlice.get(id as string);
      const data = reply.tensors[k]!.data as Float32Array;
      if (!s || s.ps !== ps || data.length !== s.end - s.begin) {
        throw planError(`PS ${ps} holds shard "${String(id)}" unlike this worker's plan`);
      }
      if (views && whole.has(s.variable)) views.set(s.variable, data);
      else into.get(s.variable)!.set(data, s.begin);
    });
    const announced = (reply.meta as { parts?: unknown }).parts;
    if (announced !== undefined && announced !== parts[ps]!.length) {
      throw planError(`PS ${ps} cuts a step into ${String(announced)} parts, this worker into ${parts[ps]!.length}`);
    }
  };

  // A part's reply: copied into `into` (the caller releases it).
  const takePart = (reply: IncomingMessage, ps: number, j: number, into: Map<string, Float32Array>): void => {
    const part = parts[ps]![j]!;
    if (
      (reply.meta as { part?: unknown }).part !== j ||
      reply.tensors.length !== part.length ||
      part.some((g, k) => reply.tensors[k]!.data.length !== g.end - g.begin)
    ) {
      throw planError(`PS ${ps} answered part ${j} with other segments than this worker's plan`);
    }
    part.forEach((g, k) => {
      const s = mine[ps]![g.shard]!;
      into.get(s.variable)!.set(reply.tensors[k]!.data as Float32Array, s.begin + g.begin);
    });
  };

  const fetchWhole = (step: number): Fetch => {
    const into = sets[turn]!;
    let held: IncomingMessage[] = [];
    let dropped = false;
    const result = requestAll(() => ({ type: MessageType.pullParams, meta: { worker, step } })).then((replies) => {
      try {
        if (dropped) throw planError('the pull was dropped'); // seen by nobody: its caller has moved on
        const values = new Map(into);
        replies.forEach((r, ps) => takeWhole(r, ps, into, values));
        pipelined = replies.every((r) => (r.meta as { parts?: unknown }).parts !== undefined);
        held = replies;
        return summary(
          replies.map((r) => r.meta),
          values,
        );
      } catch (e) {
        for (const r of replies) r.release();
        throw e;
      }
    });
    return {
      step,
      sentAt: performance.now(),
      result,
      drop() {
        dropped = true;
        for (const r of held.splice(0)) r.release();
      },
    };
  };

  let current: Fetch | undefined; // the last pull's, whose values may view its replies
  let prefetched: Fetch | undefined;
  const dropPrefetch = (): void => {
    prefetched?.drop();
    prefetched?.result.catch(() => {});
    prefetched = undefined;
  };

  const sizes = new Map(plan.variables.map((v) => [v.name, v.size]));
  // Every trainable variable's gradient is in (their sizes were checked as they came). Throws PETAL_WORKER_PLAN.
  const checkComplete = (grads: ReadonlyMap<string, Float32Array>): void => {
    const missing = trainableVariables.find((v) => !grads.has(v.name));
    if (missing) {
      throw new WorkerError('PETAL_WORKER_PLAN', `no gradient for variable "${missing.name}"`, {
        fix: 'compute gradients for every trainable variable of the plan',
      });
    }
  };
  const payload = (data: Float32Array): TensorPayload => ({ dtype: 'float32', shape: [data.length], data });

  const client: PsClient = {
    async pull(step) {
      const calledAt = performance.now();
      current?.drop();
      current = undefined;
      const ahead = prefetched?.step === step ? prefetched : undefined;
      if (!ahead) dropPrefetch();
      prefetched = undefined;
      // A failed prefetch (timeout), or parts of different steps (this worker was not live): ask for the whole.
      let r = ahead ? await ahead.result.catch(() => undefined) : undefined;
      let fetch = ahead;
      if (!fetch || !r?.consistent) {
        ahead?.drop();
        fetch = fetchWhole(step);
        r = await fetch.result;
      }
      current = fetch;
      turn ^= 1;
      // The PS held a prefetched pull from when it was asked: only the part after this call is the caller's wait.
      const waitedMs = Math.min(Math.max(0, r.waitedMs - (calledAt - fetch.sentAt)), performance.now() - calledAt);
      return { globalStep: r.globalStep, values: r.values, waitedMs, delivered: r.delivered };
    },
    push(step, grads, cursor) {
      const stream = client.pushStream(step, cursor);
      for (const [name, grad] of grads) stream.add(name, grad);
      return stream.done();
    },
    pushStream(step, cursor) {
      dropPrefetch();
      const grads = new Map<string, Float32Array>();
      const meta = (extra: object): object => ({ worker, step, ...(cursor ? { cursor } : {}), ...extra });
      const add = (name: string, grad: Float32Array): void => {
        if (grad.length !== sizes.get(name)) {
          throw new WorkerError('PETAL_WORKER_PLAN', `the gradient of "${name}" does not fit the plan`, {
            detail: { length: grad.length, size: sizes.get(name) },
            fix: 'compute gradients for the plan’s variables, from the same model',
          });
        }
        grads.set(name, grad);
      };
      if (!pipelined) {
        return {
          add,
          async done() {
            checkComplete(grads);
            const tensors = connections.map((_, ps) =>
              mine[ps]!.map((s) => payload(grads.get(s.variable)!.subarray(s.begin, s.end))),
            );
            const pushed = requestAll((ps) => ({
              type: MessageType.pushGradients,
              meta: meta({}),
              tensors: tensors[ps]!,
            }));
            prefetched = fetchWhole(step + 1);
            prefetched.result.catch(() => {}); // settled by the next pull, or dropped
            const replies = await pushed;
            for (const r of replies) r.release();
            return replies.every((r) => (r.meta as { accepted?: boolean }).accepted === true);
          },
        };
      }
      // Each part goes out with the pull of that part for the next step right behind it, so the PS answers that
      // pull as soon as the part is applied; arriving parts are copied into the free set of buffers at once.
      const into = sets[turn]!;
      let dropped = false;
      // Segments of each variable still to arrive: at 0 the variable is whole and goes to onValues.
      const remaining = new Map<string, number>();
      connections.forEach((_, ps) => {
        for (const g of parts[ps]!.flat()) {
          const v = mine[ps]![g.shard]!.variable;
          remaining.set(v, (remaining.get(v) ?? 0) + 1);
        }
      });
      const delivered = new Set<string>();
      const arrived = (ps: number, j: number): void => {
        for (const g of parts[ps]![j]!) {
          const v = mine[ps]![g.shard]!.variable;
          const left = remaining.get(v)! - 1;
          remaining.set(v, left);
          if (left === 0 && options.onValues) {
            options.onValues(v, into.get(v)!);
            delivered.add(v);
          }
        }
      };
      const accepted: Promise<boolean>[] = [];
      const pulled: Promise<unknown>[] = [];
      const next = connections.map(() => 0); // per PS, the next part to send
      const sendReady = (): void =>
        connections.forEach((c, ps) => {
          for (; next[ps]! < parts[ps]!.length; next[ps]!++) {
            const j = next[ps]!;
            const part = parts[ps]![j]!;
            if (!part.every((g) => grads.has(mine[ps]![g.shard]!.variable))) return;
            const tensors = part.map((g) => {
              const s = mine[ps]![g.shard]!;
              return payload(grads.get(s.variable)!.subarray(s.begin + g.begin, s.begin + g.end));
            });
            const ack = c.request({ type: MessageType.pushGradients, meta: meta({ part: j }), tensors }).then((r) => {
              r.release();
              return (r.meta as { accepted?: boolean }).accepted === true;
            });
            const reply = c
              .request({ type: MessageType.pullParams, meta: { worker, step: step + 1, part: j } })
              .then((r) => {
                try {
                  if (!dropped) {
                    takePart(r, ps, j, into);
                    arrived(ps, j);
                  }
                  return r.meta;
                } finally {
                  r.release();
                }
              });
            // Observed by done() and the next pull; a failure before then (connection closed) must not go unhandled.
            ack.catch(() => {});
            reply.catch(() => {});
            accepted.push(ack);
            pulled.push(reply);
          }
        });
      let sent!: () => void;
      const allSent = new Promise<void>((resolve) => (sent = resolve));
      const fetch: Fetch = {
        step: step + 1,
        sentAt: performance.now(),
        result: allSent.then(() => Promise.all(pulled)).then((metas) => summary(metas, into, delivered)),
        drop: () => void (dropped = true),
      };
      fetch.result.catch(() => {}); // settled by the next pull, or dropped
      prefetched = fetch;
      return {
        add(name, grad) {
          add(name, grad);
          sendReady();
        },
        async done() {
          sendReady();
          try {
            checkComplete(grads);
          } catch (e) {
            fetch.drop();
            throw e;
          }
          sent();
          return (await Promise.all(accepted)).every(Boolean);
        },
      };
    },
    async pullFrozen() {
      const out = new Map<string, Float32Array>();
      for (const v of plan.variables) if (!v.trainable) out.set(v.name, new Float32Array(v.size));
      if (out.size === 0) return out;
      const replies = await requestAll(() => ({ type: MessageType.pullFrozen }));
      try {
        replies.forEach((r, ps) => takeWhole(r, ps, out, undefined));
      } finally {
        for (const r of replies) r.release();
      }
      return out;
    },
    async epochDone(epoch) {
      const replies = await requestAll(() => ({ type: MessageType.epochDone, meta: { worker, epoch } }));
      for (const r of replies) r.release();
      return Math.max(...replies.map((r) => (r.meta as { resumeStep: number }).resumeStep));
    },
    async close() {
      dropPrefetch();
      current?.drop();
      await Promise.allSettled(connections.map((c) => c.close()));
    },
  };
  return client;
}

/** A pull under way: its step, when it was asked, and its result once every reply is in. */
interface Fetch {
  step: number;
  sentAt: number;
  result: Promise<Pulled & { consistent: boolean }>;
  /** Stops copying what still arrives, and releases the replies its values view. */
  drop(): void;
}

// The lowest global step among the replies and the longest wait. A step's parts (`delivered` given) must agree on
// their step (`consistent`); the PS of an async job may stand at different steps, so a whole pull is taken as it is.
function summary(
  metas: unknown[],
  values: Map<string, Float32Array>,
  delivered?: ReadonlySet<string>,
): Pulled & { consistent: boolean } {
  const steps = metas.map((m) => (m as { globalStep: number }).globalStep);
  const globalStep = Math.min(...steps);
  const waitedMs = Math.max(0, ...metas.map((m) => (m as { waitedMs?: number }).waitedMs ?? 0));
  const consistent = !delivered || steps.every((x) => x === globalStep);
  return { globalStep, values, waitedMs, delivered: delivered ?? new Set(), consistent };
}
