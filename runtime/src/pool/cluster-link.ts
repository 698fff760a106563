// The task side of the coordinator link: what a PS or worker entry calls to join its cluster. The coordinator's
// address, the cluster token and the generation arrive in the environment (never argv, which `ps` shows anyone):
// `PETAL_COORDINATOR` (host:port), `PETAL_CLUSTER_TOKEN`, `PETAL_GENERATION`. The link registers, heartbeats, and
// exits the task when the coordinator says `shutdown` or its connection drops (an owner gone, however it died).
// The coordinator bumps the generation when it replaces a failed task: the link follows it (a newer stamp from the
// coordinator is adopted, and stamped on what the task sends from then on) and refuses older ones.
import { hostname } from 'node:os';
import { PetalError } from '../errors.ts';
import { MessageType } from '../protocol/index.ts';
import { connect, machineId } from '../transport/index.ts';
import type { Connection, Handler } from '../transport/index.ts';

/** What a task tells the coordinator about itself. */
export interface TaskRegistration {
  role: string;
  index: number;
  host: string;
  /** Where it serves (a PS), if anywhere. */
  port?: number;
  /** Its Unix socket too (a PS on a loopback pool): for peers whose `machine` equals this one's. */
  socketPath?: string;
  /** Which machine it runs on (transport's machineId(): host, boot, mount namespace); absent where unknown. */
  machine?: string;
  pid: number;
  /** Devices it was given (`cpu`, `gpu:0`, …). */
  devices: string[];
}

/** What a heartbeat may tell the coordinator besides "alive". */
export interface HeartbeatNews {
  /**
   * This task may not heartbeat for up to this long (a long synchronous step such as loading TensorFlow blocks its
   * event loop): not to be failed as silent meanwhile. 0 ends such a warning.
   */
  quietMs?: number;
  /** The devices it found once it looked (registration says `cpu` before TensorFlow is loaded). */
  devices?: string[];
}

/** A joined task's link to its coordinator. */
export interface ClusterLink {
  readonly connection: Connection;
  /** The newest generation heard from the coordinator (starts at `PETAL_GENERATION`). */
  readonly generation: number;
  readonly token: string;
  /** Sends a heartbeat now, carrying news (see HeartbeatNews); resolves once the coordinator heard it. */
  heartbeat(news: HeartbeatNews): Promise<void>;
  /** Stops heartbeats and closes the connection; idempotent. */
  close(): Promise<void>;
}

/** The cluster settings a task reads from its environment; throws PETAL_TASK_ENV naming a missing one. */
export function clusterEnv(env: NodeJS.ProcessEnv = process.env): {
  host: string;
  port: number;
  token: string;
  generation: number;
} {
  const need = (name: string): string => {
    const value = env[name];
    if (!value)
      throw new PetalError('PETAL_TASK_ENV', `${name} is not set`, {
        fix: 'start cluster tasks through startCluster() (or `petal cluster up`), which sets it',
      });
    return value;
  };
  const [host, port] = need('PETAL_COORDINATOR').split(/:(?=\d+$)/);
  const generation = Number(need('PETAL_GENERATION'));
  if (!host || !Number.isInteger(Number(port)) || !Number.isInteger(generation))
    throw new PetalError('PETAL_TASK_ENV', 'PETAL_COORDINATOR must be host:port and PETAL_GENERATION an integer', {
      fix: 'let startCluster() set them',
    });
  return { host, port: Number(port), token: need('PETAL_CLUSTER_TOKEN'), generation };
}

/**
 * Connects to the coordinator, registers and starts heartbeats. `handler` answers the coordinator's requests;
 * `shutdown`, a lost connection or a stale generation end the task through `onLeave` (which should exit).
 */
export async function joinCluster(options: {
  role: string;
  index: number;
  port?: number;
  socketPath?: string;
  devices?: string[];
  handler: Handler;
  onLeave: (reason: string) => void;
  env?: NodeJS.ProcessEnv;
}): Promise<ClusterLink> {
  const cfg = clusterEnv(options.env);
  let closing = false;
  let generation = cfg.generation;
  const follow = (newer: number, connection: Connection): void => {
    if (newer <= generation) return;
    generation = newer;
    connection.generation = newer;
  };
  const handler: Handler = (msg, connection) => {
    if (msg.generation < generation) {
      throw new PetalError('PETAL_TASK_STALE', `generation ${msg.generation} is older than this task's ${generation}`);
    }
    follow(msg.generation, connection);
    if (msg.type === MessageType.shutdown) {
      closing = true;
      options.onLeave('the coordinator asked this task to stop');
      return undefined;
    }
    return options.handler(msg, connection);
  };
  const connection = await connect({
    host: cfg.host,
    port: cfg.port,
    token: cfg.token,
    generation: cfg.generation,
    handler,
    // A worker's job is one long request; its answer may take the whole run.
    maxConcurrentHandlers: 16,
  });
  void connection.closed.then(() => {
    if (!closing) options.onLeave('the connection to the coordinator was lost');
  });
  const registration: TaskRegistration = {
    role: options.role,
    index: options.index,
    host: process.env['PETAL_HOST'] ?? hostname(),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.socketPath === undefined ? {} : { socketPath: options.socketPath }),
    ...(machineId() === undefined ? {} : { machine: machineId() }),
    pid: process.pid,
    devices: options.devices ?? ['cpu'],
  };
  const answer = await connection.request({ type: MessageType.register, meta: registration });
  const { heartbeatMs } = answer.meta as { heartbeatMs: number };
  follow(answer.generation, connection);
  const timer = setInterval(() => {
    connection
      .request({ type: MessageType.heartbeat }, { timeoutMs: heartbeatMs * 4 })
      .then((r) => follow(r.generation, connection))
      .catch(() => {
        // a lost connection is seen through `closed`; a slow answer is the coordinator's to judge
      });
  }, heartbeatMs);
  timer.unref();
  let closed: Promise<void> | undefined;
  return {
    connection,
    get generation() {
      return generation;
    },
    token: cfg.token,
    async heartbeat(news) {
      const r = await connection.request({ type: MessageType.heartbeat, meta: news });
      follow(r.generation, connection);
    },
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(timer);
        await connection.close();
      })();
      return closed;
    },
  };
}
