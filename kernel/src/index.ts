/** @petal/kernel: the TypeScript (Petal) Jupyter kernel. */
export { DISPLAY_NAME, KERNEL_NAME, installKernelspec, kernelspec } from './kernelspec.ts';
export type { KernelspecOptions } from './kernelspec.ts';
export { Kernel } from './kernel.ts';
export type { KernelOptions } from './kernel.ts';
export { MagicRegistry, builtinMagics } from './magics/index.ts';
export type { ArgsSpec, CellMagic, FlagSpec, LineMagic, MagicCall } from './magics/index.ts';
export type * from './api/types.ts';
