// `%logs [TASK]`: sugar over `logs` from "petal".
import type { LineMagic } from './registry.ts';

export const logsMagic: LineMagic = {
  name: 'logs',
  summary: "the cluster tasks' last log lines",
  args: {
    summary: 'the last lines of every task, or of one (ps:0, worker:1)',
    positionals: { name: '[TASK]', min: 0, max: 1 },
  },
  run(call, api) {
    return api.logs(call.positionals[0]);
  },
};
