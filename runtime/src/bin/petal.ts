// The petal CLI, the composition root: the only place in the runtime that prints or attaches loggers.
// `petal COMMAND ...`; each command lives in its own module and is loaded only when used.
import { isPetalError } from '../errors.ts';

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
};

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
