// `%%stream NAME [--partitions P] [--fresh false]`: the cell's code runs as usual, and the value of its last expression
// (a DataFrame, an Arrow Table, records) goes through `stream` from "petal" to a topic remembered under NAME.
import { PetalError } from '@petal/runtime';
import type { StreamData } from '../api/types.ts';
import { boolFlag, intFlag } from './flags.ts';
import type { CellMagic } from './registry.ts';

export const streamMagic: CellMagic = {
  name: 'stream',
  summary: "stream the cell's value into Kafka",
  evaluatesBody: true,
  args: {
    summary: "run the cell, then stream its last expression's value to a new topic named NAME-<time>",
    positionals: { name: 'NAME', min: 1, max: 1 },
    flags: {
      partitions: { type: 'string', help: '--partitions P' },
      fresh: { type: 'string', help: '--fresh true|false' },
    },
  },
  run(call, _body, api, value) {
    const topic = call.positionals[0]!;
    if (typeof value !== 'object' || value === null) {
      throw new PetalError(
        'PETAL_MAGIC_USAGE',
        `%%stream ${topic}: the cell must end with the data to stream (a DataFrame, Arrow Table or records), not ${value === null ? 'null' : typeof value}`,
        { fix: 'end the cell with the table as an expression, e.g. `df` on its last line' },
      );
    }
    const partitions = intFlag(`%%stream ${topic}`, 'partitions', call.flags.partitions, 1, 1024);
    const fresh = boolFlag(`%%stream ${topic}`, 'fresh', call.flags.fresh);
    return api.stream(value as StreamData, {
      topic,
      ...(partitions === undefined ? {} : { partitions }),
      ...(fresh === undefined ? {} : { fresh }),
    });
  },
};
