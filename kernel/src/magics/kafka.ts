// `%kafka up|down|status`: sugar over `kafka` from "petal".
import { PetalError } from '@petal/runtime';
import type { LineMagic } from './registry.ts';

function integer(value: string | boolean | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new PetalError(
      'PETAL_MAGIC_USAGE',
      `%kafka up --${flag} must be an integer from ${min} to ${max}, not "${String(value)}"`,
      {
        fix: `%kafka up --${flag} N`,
      },
    );
  }
  return n;
}

export const kafkaMagic: LineMagic = {
  name: 'kafka',
  summary: 'the embedded Kafka broker',
  subcommands: {
    up: {
      summary: 'start the broker unless one runs (it stops when this kernel shuts down)',
      flags: {
        port: { type: 'string', help: '--port N' },
        'heap-mb': { type: 'string', help: '--heap-mb N' },
      },
    },
    down: { summary: 'stop the broker this kernel (or `petal kafka up`) started' },
    status: { summary: 'address, pid, owner, data dir and log of the broker' },
  },
  async run(call, api) {
    if (call.subcommand === 'up') {
      const port = integer(call.flags.port, 'port', 0, 65535);
      const heapMb = integer(call.flags['heap-mb'], 'heap-mb', 128, 1 << 20);
      return api.kafka.up({ ...(port === undefined ? {} : { port }), ...(heapMb === undefined ? {} : { heapMb }) });
    }
    if (call.subcommand === 'down') return api.kafka.down();
    return api.kafka.status();
  },
};
