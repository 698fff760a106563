// `petal-kernel` (also `petal kernel`): `install [--prefix DIR]` writes the kernelspec "TypeScript (Petal)", running
// on this Node, where setup does (this checkout's Jupyter data dir and the venv's), or only under DIR with --prefix.
// The kernel itself is main.ts, which Jupyter starts.
import { parseArgs } from 'node:util';
import { isPetalError } from '@petal/runtime';
import { prefixDataDir } from '@petal/runtime/locations';
import { installKernelspec, installKernelspecs } from './kernelspec.ts';

const USAGE = `usage: petal-kernel install [--prefix DIR]

  install    write the Jupyter kernelspec "TypeScript (Petal)" (interrupt_mode: signal), running on this Node,
             into this checkout's .petal/jupyter (which npm start, npm run demo and the tests put first on
             JUPYTER_PATH) and the project venv's JupyterLab, or only into DIR/share/jupyter/kernels with --prefix
`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'install') {
    process.stderr.write(`petal-kernel: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  let prefix: string | undefined;
  try {
    ({
      values: { prefix },
    } = parseArgs({ args: rest, options: { prefix: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    process.stderr.write(
      `petal-kernel install: ${(err as Error).message.split('\n')[0]}\n  valid flags: --prefix DIR\n`,
    );
    return 2;
  }
  const installs =
    prefix === undefined ? installKernelspecs() : [installKernelspec({ dataDir: prefixDataDir(prefix) })];
  for (const { dir, displayName, changed } of installs)
    process.stdout.write(`${changed ? 'Installed' : 'Already installed:'} the kernelspec "${displayName}" in ${dir}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`petal-kernel: ${isPetalError(err) ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exitCode = 1;
}
