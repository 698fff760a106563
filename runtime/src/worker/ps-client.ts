// A worker's view of all parameter servers as one: pull reassembles whole variables from every PS's shards by the
// shard plan, push cuts gradients into each PS's slices. A variable a PS holds whole is handed out as a view of the
// reply's receive buffer (no copy), kept until the next pull; sliced ones are assembled into buffers this client
// owns (allocated once, reused every step).
//
// Each push is followed at once by the pull of the next step on the same connections: a PS answers requests in
// order, so that pull is served right after the push is applied (sync: once the step's barrier releases) and its
// bytes flow while the worker turns to its next batch, with no round trip between the two. A pull for any other
// step (after an epoch barrier, say) drops the prefetched one and asks afresh.
import type { FeedCursor } from '../job/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { TensorPayload } from '../protocol/index.ts';
import { slicesOf } from '../ps/index.ts';
import type { ShardPlan, ShardSlice } from '../ps/index.ts';
import { connect } from '../transport/index.ts';
import type { IncomingMessage, OutgoingMessage } from '../transport/index.ts';
import { WorkerError } from './errors.ts';

/** Where one PS listens. */
export interface PsEndpoint {
  host: string;
  port: number;
}

/** Options of connectPs(). */
export interface PsClientOptions {
  endpoints: readonly PsEndpoint[];
  token: string | Uint8Array;
  plan: ShardPlan;
  worker: string;
  generation?: number;
}

/** What one pull returned. */
export interface Pulled {
  /** The lowest global step among the PS (they agree in sync mode). */
  globalStep: number;
  /** Whole trainable variables by name: valid until the next pull (views of receive buffers, or the client's). */
  values: Map<string, Float32Array>;
  /** The longest a PS held this pull back (sync barrier, SSP bound) after pull() was called, ms. */
  waitedMs: number;
}

/** A connection to every PS of a job. */
export interface PsClient {
  pull(step: number): Promise<Pulled>;
  /**
   * Pushes whole gradients by variable name (every trainable variable), with the feed cursor after the batch they
   * came from (the PS keep it for checkpoints). Resolves to whether every PS accepted.
   */
  push(step: number, grads: ReadonlyMap<string, Float32Array>, cursor?: FeedCursor): Promise<boolean>;
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
    options.endpoints.map((e) =>
      connect({ host: e.host, port: e.port, token: options.token, generation: options.generation }),
    ),
  );
  const failed = settled.find((s) => s.status === 'rejected');
  const connections = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failed) {
    await Promise.allSettled(connections.map((c) => c.close()));
    throw failed.reason;
  }
  const whole = new Set(plan.variables.filter((v) => v.slices.length === 1).map((v) => v.name));
  const assembled = new Map<string, Float32Array>();
  for (const v of plan.variables)
    if (v.trainable && !whole.has(v.name)) assembled.set(v.name, new Float32Array(v.size));
  const bySlice = new Map(plan.slices.map((s) => [s.id, s]));
  const mine: ShardSlice[][] = connections.map((_, i) => slicesOf(plan, i).filter((s) => s.trainable));

  // Every PS's answer, or the first failure (answers that did arrive are released).
  const requestAll = async (message: (ps: number) => OutgoingMessage): Promise<IncomingMessage[]> => {
    const settled = await Promise.allSettled(connections.map((c, ps) => c.request(message(ps))));
    const failed = settled.find((s) => s.status === 'rejected');
    if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<IncomingMessage>).value);
    for (const s of settled) if (s.status === 'fulfilled') s.value.release();
    throw failed.reason;
  };
  const requestPull = (step: number): Promise<IncomingMessage[]> =>
    requestAll(() => ({ type: MessageType.pullParams, meta: { worker, step } }));
  let prefetched: { step: number; replies: Promise<IncomingMessage[]>; sentAt: number } | undefined;
  const dropPrefetch = (): void => {
    void prefetched?.replies.then(
      (rs) => rs.forEach((r) => r.release()),
      () => {},
    );
    prefetched = undefined;
  };
  let held: IncomingMessage[] = []; // the last pull's replies, viewed by its values

  const copyInto = (
    reply: IncomingMessage,
    into: Map<string, Float32Array>,
    ps: number,
    views: Map<string, Float32Array> | undefined,
  ): void => {
    const ids = (reply.meta as { shards?: unknown }).shards;
    if (!Array.isArray(ids) || ids.length !== reply.tensors.length) {
      throw new WorkerError('PETAL_WORKER_PLAN', `PS ${ps} answered shards that do not match its tensors`, {
        fix: 'start workers and PS from the same shard plan',
      });
    }
    ids.forEach((id, k) => {
      const s = bySlice.get(id as string);
      const data = reply.tensors[k]!.data as Float32Array;
      if (!s || s.ps !== ps || data.length !== s.end - s.begin) {
        throw new WorkerError('PETAL_WORKER_PLAN', `PS ${ps} holds shard "${String(id)}" unlike this worker's plan`, {
          fix: 'start workers and PS from the same shard plan',
        });
      }
      if (views && whole.has(s.variable)) views.set(s.variable, data);
      else into.get(s.variable)!.set(data, s.begin);
    });
  };

  return {
    async pull(step) {
      const calledAt = performance.now();
      for (const r of held.splice(0)) r.release();
      let replies: IncomingMessage[] | undefined;
      let askedAt = calledAt;
      if (prefetched?.step === step) {
        askedAt = prefetched.sentAt;
        replies = await prefetched.replies.catch(() => undefined); // a failed prefetch (timeout): ask again
        prefetched = undefined;
      }
      dropPrefetch();
      if (!replies) {
        askedAt = calledAt;
        replies = await requestPull(step);
      }
      const values = new Map(assembled);
      let globalStep = Infinity;
      let waitedMs = 0;
      try {
        replies.forEach((r, ps) => {
          copyInto(r, assembled, ps, values);
          const meta = r.meta as { globalStep: number; waitedMs?: number };
          globalStep = Math.min(globalStep, meta.globalStep);
          waitedMs = Math.max(waitedMs, meta.waitedMs ?? 0);
        });
      } catch (e) {
        for (const r of replies) r.release();
        throw e;
      }
      held = replies;
      // The PS held a prefetched pull from when it was asked: only the part after this call is the caller's wait.
      waitedMs = Math.min(Math.max(0, waitedMs - (calledAt - askedAt)), performance.now() - calledAt);
      return { globalStep, values, waitedMs };
    },
    async push(step, grads, cursor) {
      const tensorsOf = (ps: number): TensorPayload[] =>
        mine[ps]!.map((s) => {
          const g = grads.get(s.variable);
          if (!g) {
            throw new WorkerError('PETAL_WORKER_PLAN', `no gradient for variable "${s.variable}"`, {
              fix: 'compute gradients for every trainable variable of the plan',
            });
          }
          return { dtype: 'float32' as const, shape: [s.end - s.begin], data: g.subarray(s.begin, s.end) };
        });
      const tensors = connections.map((_, ps) => tensorsOf(ps));
      const pushed = requestAll((ps) => ({
        type: MessageType.pushGradients,
        meta: cursor ? { worker, step, cursor } : { worker, step },
        tensors: tensors[ps]!,
      }));
      dropPrefetch();
      const next = requestPull(step + 1);
      next.catch(() => {}); // settled by the next pull, or dropped
      prefetched = { step: step + 1, replies: next, sentAt: performance.now() };
      const replies = await pushed;
      for (const r of replies) r.release();
      return replies.every((r) => (r.meta as { accepted?: boolean }).accepted === true);
    },
    async pullFrozen() {
      const out = new Map<string, Float32Array>();
      for (const v of plan.variables) if (!v.trainable) out.set(v.name, new Float32Array(v.size));
      if (out.size === 0) return out;
      const replies = await requestAll(() => ({ type: MessageType.pullFrozen }));
      try {
        replies.forEach((r, ps) => copyInto(r, out, ps, undefined));
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
      for (const r of held.splice(0)) r.release();
      await Promise.allSettled(connections.map((c) => c.close()));
    },
  };
}
