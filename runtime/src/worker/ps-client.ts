// A worker's view of all parameter servers as one: pull reassembles whole variables from every PS's shards by the
// shard plan, push cuts gradients into each PS's slices. Received tensors are views into transport buffers, so each
// reply is copied into buffers this client owns (allocated once, reused every step) and released at once.
import type { FeedCursor } from '../job/index.ts';
import { MessageType } from '../protocol/index.ts';
import { slicesOf } from '../ps/index.ts';
import type { ShardPlan, ShardSlice } from '../ps/index.ts';
import { connect } from '../transport/index.ts';
import type { IncomingMessage } from '../transport/index.ts';
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
  /** Whole trainable variables by name: buffers owned by the client, overwritten by the next pull. */
  values: Map<string, Float32Array>;
  /** The longest a PS held this pull back (sync barrier, SSP bound), ms. */
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
  const trainable = new Map<string, Float32Array>();
  for (const v of plan.variables) if (v.trainable) trainable.set(v.name, new Float32Array(v.size));
  const bySlice = new Map(plan.slices.map((s) => [s.id, s]));
  const mine: ShardSlice[][] = connections.map((_, i) => slicesOf(plan, i).filter((s) => s.trainable));

  const copyInto = (reply: IncomingMessage, into: Map<string, Float32Array>, ps: number): void => {
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
      into.get(s.variable)!.set(data, s.begin);
    });
  };

  return {
    async pull(step) {
      const replies = await Promise.all(
        connections.map((c) => c.request({ type: MessageType.pullParams, meta: { worker, step } })),
      );
      let globalStep = Infinity;
      let waitedMs = 0;
      try {
        replies.forEach((r, ps) => {
          copyInto(r, trainable, ps);
          const meta = r.meta as { globalStep: number; waitedMs?: number };
          globalStep = Math.min(globalStep, meta.globalStep);
          waitedMs = Math.max(waitedMs, meta.waitedMs ?? 0);
        });
      } finally {
        for (const r of replies) r.release();
      }
      return { globalStep, values: trainable, waitedMs };
    },
    async push(step, grads, cursor) {
      const replies = await Promise.all(
        connections.map((c, ps) =>
          c.request({
            type: MessageType.pushGradients,
            meta: cursor ? { worker, step, cursor } : { worker, step },
            tensors: mine[ps]!.map((s) => {
              const g = grads.get(s.variable);
              if (!g) {
                throw new WorkerError('PETAL_WORKER_PLAN', `no gradient for variable "${s.variable}"`, {
                  fix: 'compute gradients for every trainable variable of the plan',
                });
              }
              return { dtype: 'float32' as const, shape: [s.end - s.begin], data: g.subarray(s.begin, s.end) };
            }),
          }),
        ),
      );
      for (const r of replies) r.release();
      return replies.every((r) => (r.meta as { accepted?: boolean }).accepted === true);
    },
    async pullFrozen() {
      const out = new Map<string, Float32Array>();
      for (const v of plan.variables) if (!v.trainable) out.set(v.name, new Float32Array(v.size));
      if (out.size === 0) return out;
      const replies = await Promise.all(connections.map((c) => c.request({ type: MessageType.pullFrozen })));
      try {
        replies.forEach((r, ps) => copyInto(r, out, ps));
      } finally {
        for (const r of replies) r.release();
      }
      return out;
    },
    async epochDone(epoch) {
      const replies = await Promise.all(
        connections.map((c) => c.request({ type: MessageType.epochDone, meta: { worker, epoch } })),
      );
      for (const r of replies) r.release();
      return Math.max(...replies.map((r) => (r.meta as { resumeStep: number }).resumeStep));
    },
    async close() {
      await Promise.allSettled(connections.map((c) => c.close()));
    },
  };
}
