// The Jupyter kernelspec "TypeScript (Petal)": written into the venv's JupyterLab (sys-prefix), launching the
// kernel on the project's Node with `interrupt_mode: signal` (SIGINT interrupts a running cell).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { venvDir } from '@petal/runtime/locations';

export const KERNEL_NAME = 'petal';
export const DISPLAY_NAME = 'TypeScript (Petal)';

const kernelMain = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

export interface KernelspecOptions {
  /** Jupyter data prefix; the kernelspec goes to PREFIX/share/jupyter/kernels/petal. Default: the venv. */
  prefix?: string;
  /** Node binary the kernel runs on. Default: the one running now (the project's Node ≥ 22.22). */
  node?: string;
}

/** The kernel.json contents for this checkout. */
export function kernelspec(node: string = process.execPath): Record<string, unknown> {
  return {
    argv: [node, kernelMain, '--connection-file', '{connection_file}'],
    display_name: DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
    metadata: { debugger: false },
  };
}

/** Writes the kernelspec when missing or different; `changed` says whether it wrote. */
export function installKernelspec(options: KernelspecOptions = {}): {
  dir: string;
  displayName: string;
  changed: boolean;
} {
  const dir = join(options.prefix ?? venvDir(), 'share', 'jupyter', 'kernels', KERNEL_NAME);
  const file = join(dir, 'kernel.json');
  const text = `${JSON.stringify(kernelspec(options.node), null, 2)}\n`;
  if (existsSync(file) && readFileSync(file, 'utf8') === text)
    return { dir, displayName: DISPLAY_NAME, changed: false };
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  return { dir, displayName: DISPLAY_NAME, changed: true };
}
