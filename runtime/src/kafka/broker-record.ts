// The record of a detached broker (`petal kafka up`), so later processes can find it, report it and stop it.
// The record holds no secret: clients read the password from the broker's credentials file in its data dir.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stateDir } from '../env/locations.ts';
import { brokerProcessAlive } from './broker.ts';
import type { Broker } from './broker.ts';
import { writePrivateFile } from './broker-config.ts';

/** What `petal kafka up` remembers about the broker it left running. */
export interface BrokerRecord {
  pid: number;
  port: number;
  controllerPort: number;
  bootstrap: string;
  dataDir: string;
  logFile: string;
  /** ISO 8601. */
  startedAt: string;
}

/** Where the shared broker lives: `stateDir()/kafka/` holds its data, its log and its record. */
export function kafkaStatePaths(base: string = stateDir()): { dataDir: string; logFile: string; recordFile: string } {
  const dir = join(base, 'kafka');
  return { dataDir: dir, logFile: join(dir, 'broker.log'), recordFile: join(dir, 'broker.json') };
}

/** The record of a running `broker`, stamped now. */
export function recordOf(broker: Broker): BrokerRecord {
  const { pid, port, controllerPort, bootstrap, dataDir, logFile } = broker;
  return { pid, port, controllerPort, bootstrap, dataDir, logFile, startedAt: new Date().toISOString() };
}

/** The record in `file`; undefined when there is none or it is not a record (a half-written one is no record). */
export function readBrokerRecord(file: string): BrokerRecord | undefined {
  let value: Partial<BrokerRecord>;
  try {
    value = JSON.parse(readFileSync(file, 'utf8')) as Partial<BrokerRecord>;
  } catch {
    return undefined;
  }
  const ok =
    typeof value.pid === 'number' &&
    typeof value.port === 'number' &&
    typeof value.controllerPort === 'number' &&
    typeof value.bootstrap === 'string' &&
    typeof value.dataDir === 'string' &&
    typeof value.logFile === 'string' &&
    typeof value.startedAt === 'string';
  return ok ? (value as BrokerRecord) : undefined;
}

/** Writes the record atomically, so a reader never sees half of it. */
export function writeBrokerRecord(file: string, record: BrokerRecord): void {
  mkdirSync(dirname(file), { recursive: true });
  writePrivateFile(file, `${JSON.stringify(record, null, 2)}\n`);
}

/** Deletes the record; nothing to do when it is gone. */
export function removeBrokerRecord(file: string): void {
  rmSync(file, { force: true });
}

/** True while the record's JVM still runs (its pid, running this record's config, not a reused pid). */
export function recordAlive(record: BrokerRecord): boolean {
  return brokerProcessAlive(record.pid, record.dataDir);
}
