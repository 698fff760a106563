// The worker task: the entry a pool runs for `worker:N`. It joins the coordinator and reports ready at once
// (TensorFlow, Arrow and the Kafka client load on the first job, not on the start path), then runs what the
// coordinator sends: `prepareJob` (chief: build the model, answer its plan and initial values) and `workerJob`
// (runWorker with the options it carries, metrics streamed back as they happen, the result as the answer).
import { joinCluster, reportReady, watchOwner } from '../pool/index.ts';
import type { ClusterLink } from '../pool/index.ts';
import { MessageType } from '../protocol/index.ts';
import type { IncomingMessage, OutgoingMessage } from '../transport/index.ts';
import { WorkerError } from './errors.ts';
import type { WorkerOptions } from './worker.ts';

/** What `workerJob` carries: runWorker's options without the token (the task has it) and callbacks. */
export type WorkerJobMeta = Omit<WorkerOptions, 'token' | 'onStep' | 'onEpoch' | 'signal'>;

const index = Number(process.env['PETAL_TASK_INDEX'] ?? '0');
const controller = new AbortController();
let link: ClusterLink | undefined;

async function prepare(msg: IncomingMessage): Promise<OutgoingMessage> {
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
