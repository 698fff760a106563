// Run by close.test.ts in a child process: uses a server and a client, closes both, and must then let the process
// exit on its own. Prints the resources still active after close (expected: none).
import { connect } from './client.ts';
import { listen } from './server.ts';
import { createClusterToken } from './token.ts';

const token = createClusterToken();
const server = await listen({ token, handler: (m) => ({ type: m.type, meta: 'pong' }) });
const client = await connect({ port: server.port, token });
await client.request({ type: 1 });
await client.request({ type: 1 }, { timeoutMs: 60_000 });
await client.send({ type: 2 });
await Promise.all([client.close(), client.close()]);
await server.close();
await server.close();
// A closed handle leaves the list one loop turn after its close callback.
await new Promise((r) => setTimeout(r, 20));
// stdio pipes (to the parent) are the only handles expected.
const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
process.stdout.write(`${JSON.stringify(left)}\n`);
