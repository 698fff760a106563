// Public surface of the worker: the training loop, its PS client and model step, and the in-process cluster.
export { WorkerError } from './errors.ts';
export { connectPs } from './ps-client.ts';
export type { GradientStream, PsClient, PsClientOptions, PsEndpoint, Pulled } from './ps-client.ts';
export { createTrainStep } from './train-step.ts';
export type { TrainStep, TrainStepOptions, BatchResult } from './train-step.ts';
export { runWorker } from './worker.ts';
export type { WorkerOptions, WorkerResult, StepMetrics, EpochMetrics } from './worker.ts';
export { trainLocalCluster } from './train-local-cluster.ts';
export type { LocalClusterOptions, TrainResult } from './train-local-cluster.ts';
