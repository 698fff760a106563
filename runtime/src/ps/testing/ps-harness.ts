// One parameter server per test over real sockets, and clients of it, all closed after the file's tests (newest
// first): the setup parameter-server.test.ts and sync-parts.test.ts share.
import { after } from 'node:test';
import { connect, createClusterToken } from '../../transport/index.ts';
import type { Connection } from '../../transport/index.ts';
import type { OptimizerConfig } from '../optimizers.ts';
import { startParameterServer } from '../parameter-server.ts';
import type { ParameterServer, PsMode } from '../parameter-server.ts';
import type { ShardPlan } from '../shard-plan.ts';

/** `start` a PS 0 of `plan` holding `values`, for workers `a` and `b` unless told; `client` connects to it. */
export function psHarness(plan: ShardPlan, values: Map<string, Float32Array>) {
  const token = createClusterToken();
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const o of open.reverse()) await o.close();
  });
  return {
    token,
    async start(mode: PsMode, optimizer: OptimizerConfig, workers = ['a', 'b']): Promise<ParameterServer> {
      const ps = await startParameterServer({ token, plan, psIndex: 0, optimizer, mode, workers, values });
      open.push(ps);
      return ps;
    },
    async client(ps: ParameterServer): Promise<Connection> {
      const c = await connect({ port: ps.port, token });
      open.push(c);
      return c;
    },
  };
}
