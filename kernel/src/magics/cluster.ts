// `%cluster up|down|status`: sugar over `cluster` from "petal".
import { PetalError } from '@petal/runtime';
import type { ClusterMode } from '../api/types.ts';
import { intFlag } from './flags.ts';
import type { LineMagic } from './registry.ts';

function mode(value: string | boolean | undefined): ClusterMode | undefined {
  if (value === undefined) return undefined;
  if (value === 'sync' || value === 'async' || (typeof value === 'string' && /^ssp:\d{1,6}$/.test(value)))
    return value as ClusterMode;
  throw new PetalError('PETAL_MAGIC_USAGE', `%cluster up --mode must be sync, async or ssp:K, not "${String(value)}"`, {
    fix: '%cluster up --mode ssp:2',
  });
}

export const clusterMagic: LineMagic = {
  name: 'cluster',
  summary: 'the parameter-server/worker cluster of this kernel',
  subcommands: {
    up: {
      summary: 'start PS and worker processes, all or nothing (they stop with %cluster down or the kernel)',
      flags: {
        ps: { type: 'string', help: '--ps N' },
        workers: { type: 'string', help: '--workers M' },
        mode: { type: 'string', help: '--mode sync|async|ssp:K' },
        'max-restarts': { type: 'string', help: '--max-restarts N (failed workers replaced, default 3)' },
      },
    },
    down: { summary: 'stop every task of the cluster' },
    status: { summary: 'tasks, states and heartbeats' },
  },
  async run(call, api) {
    if (call.subcommand === 'up') {
      const ps = intFlag('%cluster up', 'ps', call.flags.ps, 1, 1024);
      const workers = intFlag('%cluster up', 'workers', call.flags.workers, 1, 4095);
      const m = mode(call.flags.mode);
      const maxRestarts = intFlag('%cluster up', 'max-restarts', call.flags['max-restarts'], 0, 1000);
      return api.cluster.up({
        ...(ps === undefined ? {} : { ps }),
        ...(workers === undefined ? {} : { workers }),
        ...(m === undefined ? {} : { mode: m }),
        ...(maxRestarts === undefined ? {} : { maxRestarts }),
      });
    }
    if (call.subcommand === 'down') return (await api.cluster.down()) ?? 'no cluster was up';
    return api.cluster.status();
  },
};
