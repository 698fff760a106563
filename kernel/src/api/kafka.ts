// `kafka` of the "petal" module (and so `%kafka up|down|status`): the embedded broker through the runtime's broker
// API, the same functions `petal kafka` uses. A broker started here is attached to the kernel: it stops at shutdown.
import { readFileSync } from 'node:fs';
import {
  PetalError,
  brokerConnection,
  findRunningBroker,
  kafkaStatePaths,
  removeBrokerRecord,
  startBroker,
  stopBrokerProcess,
} from '@petal/runtime';
import type { Broker, RunningBroker } from '@petal/runtime';
import { DISPLAY, escapeHtml } from '../display.ts';
import type { Resources } from '../resources.ts';
import type { KafkaApi, KafkaConnectionInfo, KafkaStatus, KafkaUpOptions } from './types.ts';

/** What the kafka API needs from its surroundings. */
export interface KafkaApiOptions {
  resources: Resources;
  /** The environment `npm start` sets (PETAL_KAFKA_BOOTSTRAP, PETAL_KAFKA_CREDENTIALS). */
  env?: NodeJS.ProcessEnv;
  /** Where the broker lives; default the runtime's state dir. */
  paths?: { dataDir: string; logFile: string; recordFile: string };
}

const UP_KEYS = ['port', 'heapMb'];

/** A status value that shows as a small table in the notebook. */
function statusValue(status: Omit<KafkaStatus, never>): KafkaStatus {
  const rows = (): [string, string][] =>
    [
      ['state', status.state],
      ['bootstrap', status.bootstrap],
      ['pid', status.pid === undefined ? undefined : String(status.pid)],
      ['owner', status.owner],
      ['data dir', status.dataDir],
      ['log file', status.logFile],
    ].filter((r): r is [string, string] => r[1] !== undefined);
  const value = { ...status };
  Object.defineProperty(value, DISPLAY, {
    enumerable: false,
    value: () => ({
      'text/plain': [
        `kafka: ${status.state}${status.note ? ` (${status.note})` : ''}`,
        ...rows()
          .slice(1)
          .map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
      ].join('\n'),
      'text/html': `<table><caption style="text-align:left">Kafka ${escapeHtml(status.state)}${status.note ? ` — ${escapeHtml(status.note)}` : ''}</caption>${rows()
        .slice(1)
        .map(
          ([k, v]) =>
            `<tr><th style="text-align:left">${escapeHtml(k)}</th><td style="text-align:left"><code>${escapeHtml(v)}</code></td></tr>`,
        )
        .join('')}</table>`,
    }),
  });
  return value;
}

function checkUpOptions(options: unknown): KafkaUpOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null)
    throw new PetalError('PETAL_KAFKA_OPTIONS', 'kafka.up() takes an options object', {
      fix: `valid options: ${UP_KEYS.join(', ')}`,
    });
  for (const key of Object.keys(options)) {
    if (!UP_KEYS.includes(key))
      throw new PetalError('PETAL_KAFKA_OPTIONS', `kafka.up() option "${key}" is unknown`, {
        fix: `valid options: ${UP_KEYS.join(', ')}`,
      });
  }
  return options as KafkaUpOptions;
}

/** The `kafka` API object for one kernel. */
export function createKafkaApi(options: KafkaApiOptions): KafkaApi {
  const env = options.env ?? process.env;
  const paths = options.paths ?? kafkaStatePaths();
  let owned: { broker: Broker; forget: () => void } | undefined;

  const ownerOf = (running: RunningBroker): KafkaStatus['owner'] =>
    running.recorded
      ? 'petal kafka up'
      : running.bootstrap === env.PETAL_KAFKA_BOOTSTRAP
        ? 'npm start'
        : 'another process';

  const status = (): KafkaStatus => {
    if (owned) {
      const { bootstrap, pid, dataDir, logFile } = owned.broker;
      return statusValue({ state: 'up', bootstrap, pid, owner: 'kernel', dataDir, logFile });
    }
    const { running } = findRunningBroker(paths, { clean: false });
    if (running) {
      const { bootstrap, pid, dataDir, logFile } = running;
      return statusValue({ state: 'up', bootstrap, pid, owner: ownerOf(running), dataDir, logFile });
    }
    return statusValue({ state: 'down', dataDir: paths.dataDir, logFile: paths.logFile });
  };

  return {
    status,

    async up(upOptions?: KafkaUpOptions): Promise<KafkaStatus> {
      const { port, heapMb } = checkUpOptions(upOptions);
      const current = status();
      if (current.state === 'up') return statusValue({ ...current, note: 'already running' });
      findRunningBroker(paths, { clean: true }); // drops a stale record, as `petal kafka up` does
      const broker = await startBroker({
        dataDir: paths.dataDir,
        logFile: paths.logFile,
        detached: false,
        ...(port === undefined ? {} : { port }),
        ...(heapMb === undefined ? {} : { heapMb }),
      });
      const forget = options.resources.add({ name: `Kafka broker (pid ${broker.pid})`, stop: () => broker.stop() });
      owned = { broker, forget };
      return statusValue({ ...status(), note: 'started; it stops when this kernel shuts down' });
    },

    async down(): Promise<KafkaStatus> {
      if (owned) {
        const { broker, forget } = owned;
        await broker.stop();
        forget();
        owned = undefined;
        return statusValue({ ...status(), note: `stopped the broker (pid ${broker.pid})` });
      }
      const { running, stale } = findRunningBroker(paths, { clean: true });
      if (!running)
        return statusValue({
          ...status(),
          note: stale ? `removed the stale record of pid ${stale.pid}` : 'no broker was running',
        });
      if (!running.recorded) {
        throw new PetalError(
          'PETAL_KAFKA_NOT_OURS',
          `the Kafka broker at ${running.bootstrap} (pid ${running.pid}) belongs to ${ownerOf(running) === 'npm start' ? '`npm start`, which serves this notebook' : 'another Petal process'}; this kernel leaves it running`,
          {
            fix: 'stop it where it was started (Ctrl-C in the `npm start` terminal), or with `petal kafka down` in a terminal',
          },
        );
      }
      await stopBrokerProcess(running);
      removeBrokerRecord(paths.recordFile);
      return statusValue({ ...status(), note: `stopped the broker \`petal kafka up\` started (pid ${running.pid})` });
    },

    connection(): KafkaConnectionInfo {
      const current = status();
      if (current.state !== 'up' || current.bootstrap === undefined) {
        throw new PetalError('PETAL_KAFKA_DOWN', 'no Kafka broker is running', { fix: 'start one with `%kafka up`' });
      }
      if (owned) return owned.broker.connection;
      if (current.owner === 'npm start' && env.PETAL_KAFKA_CREDENTIALS) {
        const sasl = JSON.parse(readFileSync(env.PETAL_KAFKA_CREDENTIALS, 'utf8')) as KafkaConnectionInfo['sasl'];
        return { bootstrap: current.bootstrap, sasl };
      }
      return brokerConnection(current.dataDir, current.bootstrap);
    },
  };
}
