// `petal kafka up|down|status`: a detached broker under `stateDir()/kafka/` that outlives the command, found
// again through its record (broker.json).
import { parseArgs } from 'node:util';
import { PetalError } from '../errors.ts';
import {
  brokersOnDataDir,
  findRunningBroker,
  kafkaStatePaths,
  recordOf,
  removeBrokerRecord,
  startBroker,
  stopBrokerProcess,
  writeBrokerRecord,
} from '../kafka/index.ts';
import type { RunningBroker } from '../kafka/index.ts';
import type { Command } from './petal.ts';

/** Exit status of `status` when no broker runs (0 means it runs). */
export const EXIT_DOWN = 3;

const USAGE = `usage: petal kafka up [--port N] [--heap-mb N]
       petal kafka down
       petal kafka status [--json]

  up       start the embedded Kafka broker in the background (no-op when it runs)
  down     stop it and wait until its port is free
  status   print its address, pid, data dir and log (exit 0 up, ${EXIT_DOWN} down)
`;

interface Flag {
  type: 'string' | 'boolean';
  help: string;
}

const FLAGS: Record<string, Record<string, Flag>> = {
  up: {
    port: { type: 'string', help: '--port N (client port; default: a free one)' },
    'heap-mb': { type: 'string', help: '--heap-mb N (JVM heap; default 1024)' },
  },
  down: {},
  status: { json: { type: 'boolean', help: '--json' } },
};

/** `petal kafka SUBCOMMAND [FLAGS]`. */
export const kafkaCommand: Command = async (argv) => {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const flags = FLAGS[sub];
  if (!flags) {
    process.stderr.write(`petal kafka: unknown subcommand "${sub}"\n\n${USAGE}`);
    return 2;
  }
  const values = parseFlags(sub, flags, rest);
  if (values === undefined) return 2;
  if (sub === 'up') return up(values);
  if (sub === 'down') return down();
  return status(values.json === true);
};

function parseFlags(
  sub: string,
  flags: Record<string, Flag>,
  args: string[],
): Record<string, string | boolean | undefined> | undefined {
  const options = Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { type: f.type }]));
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    const valid = Object.values(flags).map((f) => f.help);
    process.stderr.write(
      `petal kafka ${sub}: ${(err as Error).message.split('\n')[0]}\n  valid flags: ${valid.length > 0 ? valid.join(', ') : 'none'}\n`,
    );
    return undefined;
  }
}

function integerFlag(value: string | boolean | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new PetalError(
      'PETAL_CLI_FLAG',
      `--${name} must be an integer from ${min} to ${max}, not "${String(value)}"`,
      {
        fix: `petal kafka up --${name} N`,
      },
    );
  }
  return n;
}

/** A broker running on the state dir: the recorded one, or one nobody recorded (`npm start`'s, or an orphan). */
const UNRECORDED =
  'not started by `petal kafka up`: it belongs to another Petal process (`npm start`) or to an interrupted `up`';

async function up(values: Record<string, string | boolean | undefined>): Promise<number> {
  const port = integerFlag(values.port, 'port', 0, 65535);
  const heapMb = integerFlag(values['heap-mb'], 'heap-mb', 128, 1 << 20);
  const paths = kafkaStatePaths();
  const { running, stale } = findRunningBroker(paths, { clean: true });
  if (running) {
    process.stdout.write(`Kafka is already running at ${running.bootstrap} (pid ${running.pid})\n${details(running)}`);
    return 0;
  }
  if (stale)
    process.stderr.write(`petal kafka: removed the record of broker pid ${stale.pid}, which is no longer running\n`);
  process.stderr.write('petal kafka: starting the broker (a few seconds)\n');
  // The broker is detached from its first moment; interrupted before the record exists, nothing would find it.
  const interrupt = (): void => {
    for (const { pid } of brokersOnDataDir(paths.dataDir)) process.kill(pid, 'SIGKILL');
    process.stderr.write('petal kafka: interrupted; the half-started broker was killed\n');
    process.exit(130);
  };
  process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
  try {
    const broker = await startBroker({
      dataDir: paths.dataDir,
      logFile: paths.logFile,
      detached: true,
      ...(port === undefined ? {} : { port }),
      ...(heapMb === undefined ? {} : { heapMb }),
    });
    const record = recordOf(broker);
    writeBrokerRecord(paths.recordFile, record);
    process.stdout.write(
      `Kafka is up at ${record.bootstrap} (pid ${record.pid})\n${details({ ...record, recorded: true })}`,
    );
    return 0;
  } finally {
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
  }
}

async function down(): Promise<number> {
  const paths = kafkaStatePaths();
  const { running, stale } = findRunningBroker(paths, { clean: true });
  if (!running) {
    process.stdout.write(
      `No Kafka broker is running${stale ? ` (removed the stale record of pid ${stale.pid})` : ''}.\n`,
    );
    return 0;
  }
  process.stderr.write(
    `petal kafka: stopping the broker (pid ${running.pid})${running.recorded ? '' : `, ${UNRECORDED}`}\n`,
  );
  await stopBrokerProcess(running);
  removeBrokerRecord(paths.recordFile);
  process.stdout.write(`Stopped the Kafka broker (pid ${running.pid}); ${running.bootstrap} is free.\n`);
  return 0;
}

function status(json: boolean): number {
  const paths = kafkaStatePaths();
  const { running, stale } = findRunningBroker(paths, { clean: false });
  if (json) {
    const shown = running
      ? { state: 'up', ...running }
      : { state: 'down', dataDir: paths.dataDir, logFile: paths.logFile };
    process.stdout.write(`${JSON.stringify(shown)}\n`);
  } else if (running) {
    process.stdout.write(
      `kafka: up\n  bootstrap    ${running.bootstrap}\n  pid          ${running.pid}\n${details(running)}`,
    );
  } else {
    const note = stale ? `  (the record of pid ${stale.pid} is stale: that process is gone)\n` : '';
    process.stdout.write(`kafka: down\n${note}  data dir     ${paths.dataDir}\n  log file     ${paths.logFile}\n`);
  }
  return running ? 0 : EXIT_DOWN;
}

function details(running: RunningBroker): string {
  const started = running.recorded ? `  started at   ${running.startedAt}\n` : `  note         ${UNRECORDED}\n`;
  return `  data dir     ${running.dataDir}\n  log file     ${running.logFile}\n${started}`;
}
