// Finding the broker that runs on a state dir, whoever started it: the one `petal kafka up` recorded, or one nobody
// recorded (`npm start`'s, a kernel's, or an interrupted `up`). Shared by every front end that reports or stops it.
import { brokersOnDataDir } from './broker.ts';
import { readBrokerRecord, recordAlive, removeBrokerRecord } from './broker-record.ts';
import type { BrokerRecord } from './broker-record.ts';

/** A broker running on the state dir. */
export interface RunningBroker {
  pid: number;
  bootstrap: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
  /** Set for a recorded broker. */
  startedAt?: string;
  /** true: `petal kafka up` started it and left its record; false: another process owns it. */
  recorded: boolean;
}

/**
 * The broker running on `paths.dataDir`, if any. A record whose process is gone (a crash, a reboot) is returned as
 * `stale` so the caller can tell the user, and deleted when `clean` is set.
 */
export function findRunningBroker(
  paths: { dataDir: string; logFile: string; recordFile: string },
  options: { clean: boolean },
): { running: RunningBroker | undefined; stale: BrokerRecord | undefined } {
  const record = readBrokerRecord(paths.recordFile);
  if (record && recordAlive(record)) return { running: { ...record, recorded: true }, stale: undefined };
  if (record && options.clean) removeBrokerRecord(paths.recordFile);
  const [other] = brokersOnDataDir(paths.dataDir);
  const running = other && {
    ...other,
    bootstrap: `127.0.0.1:${other.port}`,
    dataDir: paths.dataDir,
    logFile: paths.logFile,
    recorded: false,
  };
  return { running, stale: record };
}
