// `%help [MAGIC]`: sugar over `help` from "petal".
import type { LineMagic } from './registry.ts';

export const helpMagic: LineMagic = {
  name: 'help',
  summary: 'the magics and their flags',
  args: { summary: 'list every magic, or one', positionals: { name: '[MAGIC]', min: 0, max: 1 } },
  run(call, api) {
    return api.help(call.positionals[0]);
  },
};
