// The kernel process Jupyter starts: `node kernel/src/main.ts --connection-file FILE` (see kernelspec.ts).
// SIGINT interrupts the running cell (interrupt_mode: signal); SIGTERM stops what the kernel started, then exits.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startIoWorker } from './kernel-info.ts';
import type { ConnectionInfo } from './wire.ts';

const { values } = parseArgs({ options: { 'connection-file': { type: 'string' } } });
const file = values['connection-file'];
if (!file) {
  process.stderr.write('usage: node kernel/src/main.ts --connection-file FILE\n');
  process.exit(2);
}
const stderr = process.stderr.write.bind(process.stderr);
const connection = JSON.parse(readFileSync(file, 'utf8')) as ConnectionInfo;
// The heartbeat and control sockets first: loading TypeScript takes a second or two, and clients are watching.
const worker = startIoWorker(connection);
// Until the kernel takes SIGINT over, an early interrupt must not kill the process.
const early = (): void => {};
process.on('SIGINT', early);
const { Kernel } = await import('./kernel.ts');
const kernel = new Kernel({ connection, worker });
process.off('SIGINT', early);
process.on('SIGINT', () => kernel.interrupt());
process.on('SIGTERM', () => void kernel.shutdown(0));
process.on('uncaughtException', (err) => kernel.reportUncaught(err));
process.on('unhandledRejection', (reason) => kernel.reportUncaught(reason));
try {
  await kernel.start();
} catch (err) {
  // Jupyter shows the kernel's stderr in its log; no cell ran.
  stderr(`petal kernel: ${(err as Error).message}\n`);
  process.exit(1);
}
