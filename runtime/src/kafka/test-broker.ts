// For test files: one real broker in a temp dir, started before the file's tests and stopped after them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startBroker } from './broker.ts';
import type { Broker } from './broker.ts';

/** Registers before/after hooks for a broker shared by this file's tests; call the result inside a test. */
export function useTestBroker(prefix: string): () => Broker {
  let broker: Broker | undefined;
  let dir: string | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    broker = await startBroker({ dataDir: join(dir, 'kafka'), logFile: join(dir, 'kafka', 'broker.log') });
  });
  after(async () => {
    try {
      await broker?.stop();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
  return () => {
    if (!broker) throw new Error('the test broker is not started yet: call this inside a test');
    return broker;
  };
}
