// `%train EXPR [--epochs N] [--batch-size B]`: sugar over `train` from "petal"; EXPR is evaluated in the cell's scope
// and must give train options, which the flags override.
import { PetalError } from '@petal/runtime';
import type { TrainOptions } from '../api/types.ts';
import { intFlag } from './flags.ts';
import type { LineMagic } from './registry.ts';

export const trainMagic: LineMagic = {
  name: 'train',
  summary: 'train a model on the running cluster, with live metrics',
  expression: 'EXPR',
  args: {
    summary: 'train with the options EXPR evaluates to ({ model, optimizer, loss, feeds, batchSize, epochs, … })',
    flags: {
      epochs: { type: 'string', help: '--epochs N' },
      'batch-size': { type: 'string', help: '--batch-size B' },
    },
  },
  run(call, api, value) {
    if (typeof value !== 'object' || value === null) {
      throw new PetalError(
        'PETAL_MAGIC_USAGE',
        `%train ${call.expression ?? ''}: the expression must give train options, not ${value === null ? 'null' : typeof value}`,
        {
          fix: 'const opts = { model, optimizer: "adam", loss: "categoricalCrossentropy", feeds: { train: "NAME" }, batchSize: 32, epochs: 5 }; then %train opts',
        },
      );
    }
    const epochs = intFlag('%train', 'epochs', call.flags.epochs, 1, 1_000_000);
    const batchSize = intFlag('%train', 'batch-size', call.flags['batch-size'], 1, 1_000_000);
    return api.train({
      ...(value as TrainOptions),
      ...(epochs === undefined ? {} : { epochs }),
      ...(batchSize === undefined ? {} : { batchSize }),
    });
  },
};
