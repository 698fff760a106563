// The parameter-server task: the entry a pool runs for `ps:N`. It listens at once (so its port is known at
// registration), joins the coordinator, reports ready, and then serves one job at a time: `psJob` installs a
// service for the job's shards, `psCheckpoint` saves them, `psEndJob` drops them (answering the steps it checkpointed,
// which a rollback may restore). It never loads TensorFlow.
//
// On a loopback pool every worker runs on this machine, so the PS also listens on a Unix socket, registered with
// its port: a step's 16.8 MB each way takes about a third less time than over loopback TCP. The socket sits in a
// private directory (mkdtemp: mode 0700) that goes at exit, whichever way the task leaves (after a SIGKILL, the
// coordinator removes it).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { LOOPBACK } from '../net/loopback.ts';
import { joinCluster, reportReady, watchOwner } from '../pool/index.ts';
import { MessageType } from '../protocol/index.ts';
import { listen, makeSocketDir } from '../transport/index.ts';
import type { Handler, IncomingMessage, OutgoingMessage } from '../transport/index.ts';
import { PsError } from './errors.ts';
import type { OptimizerConfig } from './optimizers.ts';
import { createPsService } from './parameter-server.ts';
import type { PeriodicCheckpoints, PsMode, PsService } from './parameter-server.ts';
import type { ShardPlan } from './shard-plan.ts';

/** What the coordinator sends with `psJob`: the service's options (values as tensors, in `names` order). */
export interface PsJobMeta {
  plan: ShardPlan;
  optimizer: OptimizerConfig;
  mode: PsMode;
  workers: string[];
  names: string[];
  /** Periodic checkpoints (job.checkpoint). */
  checkpoints?: PeriodicCheckpoints;
  /** Restore this PS from the checkpoint of `step` under `dir` before serving (job.resume, or a rollback). */
  resume?: { dir: string; step: number };
  /** The cluster's generation for this job: pushes stamped older (a rolled-back attempt's) are dropped. */
  generation?: number;
}

const index = Number(process.env['PETAL_TASK_INDEX'] ?? '0');
const host = process.env['PETAL_HOST'] ?? '127.0.0.1';
let service: PsService | undefined;

const serve: Handler = (msg, connection) => {
  if (service) return service.handler(msg, connection);
  if (msg.type === MessageType.ping) return { type: MessageType.ping };
  throw new PsError('PETAL_PS_NO_JOB', `ps:${index} has no job yet`, {
    retryable: true,
    fix: 'start training through the coordinator (cluster.train), which hands every PS its shards first',
  });
};

async function startJob(msg: IncomingMessage, token: string, generation: number): Promise<OutgoingMessage> {
  const meta = msg.meta as PsJobMeta;
  const values = new Map(meta.names.map((name, i) => [name, msg.tensors[i]!.data as Float32Array]));
  service?.close();
  service = createPsService({
    token,
    plan: meta.plan,
    psIndex: index,
    optimizer: meta.optimizer,
    mode: meta.mode,
    workers: meta.workers,
    values, // copied by the store: the tensors view the receive buffer
    generation: meta.generation ?? generation,
    ...(meta.checkpoints ? { checkpoints: meta.checkpoints } : {}),
  });
  if (!meta.resume) return { type: MessageType.psJob, meta: { ok: true } };
  const restored = await service.restore(meta.resume.dir, meta.resume.step);
  if (!restored) {
    throw new PsError(
      'PETAL_PS_CHECKPOINT',
      `ps:${index} has no checkpoint of step ${meta.resume.step} under ${meta.resume.dir}`,
      {
        fix: 'resume from a checkpoint directory written by a job with the same number of PS',
      },
    );
  }
  return { type: MessageType.psJob, meta: { ok: true, restored } };
}

async function checkpoint(msg: IncomingMessage): Promise<OutgoingMessage> {
  const { dir, keep } = msg.meta as { dir: string; keep?: number };
  if (!service) throw new PsError('PETAL_PS_NO_JOB', `ps:${index} has no job to checkpoint`);
  const file = await service.checkpoint(dir, keep === undefined ? {} : { keep });
  return { type: MessageType.psCheckpoint, meta: { file, globalStep: service.globalStep, stats: service.stats } };
}

async function endJob(): Promise<OutgoingMessage> {
  const ending = service;
  service = undefined;
  ending?.close();
  await ending?.written();
  return { type: MessageType.psEndJob, meta: { stats: ending?.stats, checkpointed: ending?.checkpointed ?? [] } };
}

const env = process.env;
const token = env['PETAL_CLUSTER_TOKEN'] ?? '';
const generation = Number(env['PETAL_GENERATION'] ?? '0');
const socketDir = host === LOOPBACK ? makeSocketDir('ps') : undefined;
if (socketDir) process.once('exit', () => rmSync(socketDir, { recursive: true, force: true }));
const socketPath = socketDir && path.join(socketDir, 'ps.sock');
const server = await listen({
  token,
  host,
  port: 0,
  ...(socketPath ? { socketPath } : {}),
  generation,
  handler: serve,
  // Pushes land in the current job's kernel memory (see ShardStore.arenas).
  arenas: { take: (bytes) => service?.store.arenas.take(bytes) },
  // Which way each peer came, for the task log (and the tests that check workers use the socket).
  onConnection: (c) => {
    const from = c.transport === 'tcp' ? ` from ${c.remoteAddress}:${c.remotePort}` : '';
    process.stdout.write(`ps:${index} accepted a connection over ${c.transport}${from}\n`);
  },
});
let link: Awaited<ReturnType<typeof joinCluster>> | undefined;
const leave = async (): Promise<void> => {
  service?.close();
  await link?.close();
  await server.close();
};
watchOwner({ onExit: leave });
link = await joinCluster({
  role: 'ps',
  index,
  port: server.port,
  ...(socketPath ? { socketPath } : {}),
  handler: (msg) => {
    switch (msg.type) {
      case MessageType.psJob:
        return startJob(msg, token, generation);
      case MessageType.psCheckpoint:
        return checkpoint(msg);
      case MessageType.psEndJob:
        return endJob();
      default:
        throw new PsError('PETAL_PS_UNKNOWN_MESSAGE', `ps:${index} takes no coordinator message ${msg.type}`);
    }
  },
  onLeave: (reason) => {
    process.stdout.write(`ps:${index} leaving: ${reason}\n`);
    void leave().finally(() => process.exit(0));
  },
});
process.stdout.write(
  `ps:${index} serving on ${host}:${server.port}${socketPath ? ` and ${socketPath}` : ''} (pid ${process.pid})\n`,
);
reportReady({ port: server.port });
