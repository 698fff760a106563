/** @petal/kernel: the TypeScript (Petal) Jupyter kernel. */
export { DISPLAY_NAME, KERNEL_NAME, installKernelspec, kernelspec } from './kernelspec.ts';
export type { KernelspecOptions } from './kernelspec.ts';
