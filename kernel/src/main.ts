// The kernel process Jupyter starts: `node kernel/src/main.ts --connection-file FILE`.
// For now it runs tslab's own kernel on the project's Node; Petal's message handler replaces it next.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'connection-file': { type: 'string' } } });
const configPath = values['connection-file'];
if (!configPath) {
  process.stderr.write('usage: petal-kernel --connection-file FILE\n');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const tslab = require('tslab/dist/main.js') as {
  startKernel(options: { configPath: string; enableFindLocal: boolean }): void;
};
tslab.startKernel({ configPath, enableFindLocal: false });
