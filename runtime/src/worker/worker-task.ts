// The worker task: the entry a pool runs for `worker:N`. It joins the coordinator and reports ready at once
// (TensorFlow, Arrow and the Kafka client load on the first job, not on the start path: TensorFlow after telling the
// coordinator its heartbeats may pause), then runs what the coordinator sends: `prepareJob` (chief: build the model,
// answer its plan and initial values) and `workerJob` (runWorker with the options it carries, metrics streamed back
// as they happen, the result as the answer). After a rollback the same task takes the next `workerJob`.
import { joinCluster, reportReady, watchOwner } from '../pool/index.ts';
import type { ClusterLink } from '../pool/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { IncomingMessage, OutgoingMessage } from '../transport/index.ts';
import { WorkerError } from './errors.ts';
import type { WorkerOptions } from './worker.ts';

/** What `workerJob` carries: runWorker's options without the token (the task has it) and callbacks. */
export type WorkerJobMeta = Omit<WorkerOptions, 'token' | 'onStep' | 'onEpoch' | 'signal'>;

const index = Number(process.env['PETAL_TASK_INDEX'] ?? '0');
/** Loading libtensorflow blocks the event loop (no heartbeats) for seconds on a busy machine; a minute is plenty. */
const TF_LOAD_QUIET_MS = 60_000;
const controller = new AbortController();
let link: ClusterLink | undefined;
let tfLoaded: Promise<void> | undefined;

/**
 * Loads TensorFlow once, having warned the coordinator (the silence is not a hung task), then tells it the devices
 * TensorFlow sees: the binding says only whether it computes on a GPU, not the GPUs' names.
 */
function loadTensorFlow(): Promise<void> {
  tfLoaded ??= (async () => {
    await link?.heartbeat({ quietMs: TF_LOAD_QUIET_MS });
    const { loadTf } = await import('../tf/tf.ts');
    const tf = loadTf();
    const gpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
    await link?.heartbeat({ quietMs: 0, devices: gpu ? ['/cpu:0', '/gpu:0'] : ['/cpu:0'] });
  })();
  return tfLoaded;
}

async function prepare(msg: IncomingMessage): Promise<OutgoingMessage> {
  await loadTensorFlow();
  const [{ validateJobSpec }, { prepareModel }] = await Promise.all([
    import('../job/index.ts'),
    import('./prepare-model.ts'),
  ]);
  const spec = validateJobSpec((msg.meta as { spec: unknown }).spec);
  const { variables, values, plan } = await prepareModel(spec);
  const names = variables.map((v) => v.name);
  return {
    type: MessageType.prepareJob,
    meta: { plan, names },
    tensors: names.map((name) => {
      const data = values.get(name)!;
      return { dtype: 'float32', shape: [data.length], data };
    }),
  };
}

async function work(msg: IncomingMessage): Promise<OutgoingMessage> {
  await loadTensorFlow();
  const { runWorker } = await import('./worker.ts');
  const meta = msg.meta as WorkerJobMeta;
  const send = (kind: 'step' | 'epoch', metrics: unknown): void => {
    link?.connection.send({ type: MessageType.metrics, meta: { kind, metrics } }).catch(() => {});
  };
  const result = await runWorker({
    ...meta,
    token: link!.token,
    onStep: (m) => send('step', m),
    onEpoch: (m) => send('epoch', m),
    signal: controller.signal,
  });
  return { type: MessageType.workerJob, meta: result };
}

const leave = async (): Promise<void> => {
  controller.abort(new WorkerError('PETAL_WORKER_ABORTED', `worker:${index} is leaving`));
  await link?.close();
};
watchOwner({ onExit: leave });
link = await joinCluster({
  role: 'worker',
  index,
  handler: (msg) => {
    if (msg.type === MessageType.prepareJob) return prepare(msg);
    if (msg.type === MessageType.workerJob) return work(msg);
    throw new WorkerError('PETAL_WORKER_MESSAGE', `worker:${index} takes no coordinator message ${msg.type}`);
  },
  onLeave: (reason) => {
    process.stdout.write(`worker:${index} leaving: ${reason}\n`);
    void leave().finally(() => process.exit(0));
  },
});
process.stdout.write(`worker:${index} joined (pid ${process.pid})\n`);
reportReady({});
