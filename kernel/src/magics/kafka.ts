// `%kafka up|down|status`: sugar over `kafka` from "petal".
import { intFlag } from './flags.ts';
import type { LineMagic } from './registry.ts';

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
      const port = intFlag('%kafka up', 'port', call.flags.port, 0, 65535);
      const heapMb = intFlag('%kafka up', 'heap-mb', call.flags['heap-mb'], 128, 1 << 20);
      return api.kafka.up({ ...(port === undefined ? {} : { port }), ...(heapMb === undefined ? {} : { heapMb }) });
    }
    if (call.subcommand === 'down') return api.kafka.down();
    return api.kafka.status();
  },
};
