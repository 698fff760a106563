// Public surface of the model builders: MobileNet transfer models and the job spec of the transfer recipe.
export { transferModel, MOBILENET_V1_URL, localMobileNet, MOBILENET_V1_CUT, HEAD_LAYERS } from './mobilenet.ts';
export type { TransferModel, TransferModelOptions } from './mobilenet.ts';
export { transferJob, DEFAULT_AUGMENT } from './transfer-job.ts';
export type { TransferJobOptions } from './transfer-job.ts';
export { foldBatchNorm } from './fold-batch-norm.ts';
export { ModelError } from './errors.ts';
