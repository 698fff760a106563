// The petal CLI, the composition root: the only place in the runtime that prints or attaches loggers.
// `petal COMMAND ...`; each command lives in its own module and is loaded only when used.
import { spawn } from 'node:child_process';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PetalError, isPetalError } from '../errors.ts';

/** A CLI command: runs with its own argv and returns the process exit code. */
export type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  doctor: {
    summary: 'check every piece Petal needs; --json for machines',
    load: async () => (await import('./doctor-command.ts')).doctorCommand,
  },
  kafka: {
    summary: 'up | down | status of the embedded Kafka broker',
    load: async () => (await import('./kafka-command.ts')).kafkaCommand,
  },
  cluster: {
    summary: 'up | status | down of a PS/worker cluster kept in the background',
    load: async () => (await import('./cluster-command.ts')).clusterCommand,
  },
  train: {
    summary: 'train JOB.json on a fresh cluster, printing progress',
    load: async () => (await import('./train-command.ts')).trainCommand,
  },
  kernel: {
    summary: 'install the Jupyter kernel "TypeScript (Petal)" (runs `petal-kernel`)',
    load: async () => forwardTo('petal-kernel'),
  },
};

/**
 * Runs another executable with the rest of argv, as git runs its subcommands: the runtime knows nothing of Jupyter,
 * so `petal kernel ...` is `petal-kernel ...` from the kernel package. It is looked up as npm would: the
 * `node_modules/.bin` folders above this file first, then PATH.
 */
function forwardTo(executable: string): Command {
  const bins: string[] = [];
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir))
    bins.push(join(dir, 'node_modules', '.bin'));
  const PATH = [...bins, process.env.PATH ?? ''].join(delimiter);
  return (argv) =>
    new Promise((resolve, reject) => {
      const child = spawn(executable, argv, { stdio: 'inherit', env: { ...process.env, PATH } });
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? new PetalError('PETAL_CLI_MISSING', `\`${executable}\` is not on PATH`, {
                fix: `run it through npm (\`npx petal ...\`), or install the package that provides ${executable}`,
              })
            : err,
        ),
      );
      child.once('exit', (code) => resolve(code ?? 1));
    });
}

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: petal COMMAND [ARGS]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`petal: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // One place turns any error into what a person reads: the message (with its fix line), no stack for ours.
  process.stderr.write(
    `petal: ${isPetalError(err) ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
}
