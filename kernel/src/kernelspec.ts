// The Jupyter kernelspec "TypeScript (Petal)", launching the kernel on the project's Node with
// `interrupt_mode: signal` (SIGINT interrupts a running cell). It goes into two Jupyter data dirs: this checkout's
// own, which every Petal launcher puts first on JUPYTER_PATH (locations' jupyterEnv), so a checkout always runs its
// own kernel; and the shared venv's, so the venv's `jupyter lab` run by hand finds a kernel too (the checkout that
// set up last).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkoutJupyterDir, venvJupyterDir } from '@petal/runtime/locations';

export const KERNEL_NAME = 'petal';
export const DISPLAY_NAME = 'TypeScript (Petal)';

const kernelMain = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

/** Where one kernelspec goes, and what it runs. */
export interface KernelspecOptions {
  /** Jupyter data dir (one JUPYTER_PATH entry); the kernelspec goes to DATA_DIR/kernels/petal. */
  dataDir: string;
  /** Node binary the kernel runs on. Default: the one running now (the project's Node ≥ 22.22). */
  node?: string;
}

/** What installKernelspec did. */
export interface KernelspecInstall {
  dir: string;
  displayName: string;
  changed: boolean;
}

/** The Jupyter data dirs setup writes the kernelspec into: this checkout's first, then the shared venv's. */
export function kernelspecDataDirs(): string[] {
  return [checkoutJupyterDir(), venvJupyterDir()];
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

/** Writes the kernelspec into one data dir when missing or different; `changed` says whether it wrote. */
export function installKernelspec(options: KernelspecOptions): KernelspecInstall {
  const dir = join(options.dataDir, 'kernels', KERNEL_NAME);
  const file = join(dir, 'kernel.json');
  const text = `${JSON.stringify(kernelspec(options.node), null, 2)}\n`;
  if (existsSync(file) && readFileSync(file, 'utf8') === text)
    return { dir, displayName: DISPLAY_NAME, changed: false };
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  return { dir, displayName: DISPLAY_NAME, changed: true };
}

/** Writes the kernelspec into every dir of kernelspecDataDirs(), as setup does. */
export function installKernelspecs(): KernelspecInstall[] {
  return kernelspecDataDirs().map((dataDir) => installKernelspec({ dataDir }));
}
