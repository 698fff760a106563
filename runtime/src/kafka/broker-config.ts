// What a broker's data dir holds and the files Petal writes there: server.properties, the log4j2 config, the
// SASL credentials. Kafka's own storage sits in `store/` beneath it, so Petal's files never mix with Kafka's.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PetalError } from '../errors.ts';
import type { KafkaSasl } from './client.ts';

/** Where each of a broker's files lives inside its data dir. */
export interface BrokerLayout {
  dataDir: string;
  /** Kafka's `log.dirs`: topic partitions and the KRaft metadata log. */
  storeDir: string;
  serverProperties: string;
  log4jProperties: string;
  /** `{ mechanism, username, password }`, mode 0600: what a client needs to connect. */
  credentialsFile: string;
}

/** The file layout of the broker whose data dir is `dataDir` (an absolute path). */
export function brokerLayout(dataDir: string): BrokerLayout {
  return {
    dataDir,
    storeDir: join(dataDir, 'store'),
    serverProperties: join(dataDir, 'server.properties'),
    log4jProperties: join(dataDir, 'log4j2.properties'),
    credentialsFile: join(dataDir, 'credentials.json'),
  };
}

/** Broker messages may be this large: an Arrow record batch of a few thousand images is several MiB. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const USERNAME = 'petal';

/**
 * The broker's credentials: read from `file` when a previous start left them (a restarted broker keeps its
 * clients' credentials valid), otherwise a fresh random password written with mode 0600.
 */
export function loadOrCreateCredentials(file: string): KafkaSasl {
  if (existsSync(file)) {
    const parsed = readCredentials(file);
    if (parsed) return parsed;
  }
  const sasl: KafkaSasl = { mechanism: 'PLAIN', username: USERNAME, password: randomBytes(24).toString('base64url') };
  writePrivateFile(file, `${JSON.stringify(sasl, null, 2)}\n`);
  return sasl;
}

/** The credentials stored in `file`, or undefined when it is missing or not a credentials file. */
export function readCredentials(file: string): KafkaSasl | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<KafkaSasl>;
    if (
      value.mechanism === 'PLAIN' &&
      typeof value.username === 'string' &&
      typeof value.password === 'string' &&
      /^[\w-]+$/.test(value.password)
    ) {
      return { mechanism: 'PLAIN', username: value.username, password: value.password };
    }
  } catch {
    // Missing or corrupt: the caller decides (a new broker writes fresh credentials).
  }
  return undefined;
}

/** Writes `text` to `file` readable by its owner only, replacing it atomically. */
export function writePrivateFile(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, file);
}

/** Creates the data dir (owner-only: it holds the password and the training data). */
export function prepareDataDir(layout: BrokerLayout): void {
  try {
    mkdirSync(layout.storeDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new PetalError('PETAL_KAFKA_DATA_DIR', `cannot create the Kafka data dir ${layout.dataDir}`, {
      cause: err,
      fix: 'choose a writable dataDir (the CLI uses $PETAL_STATE_DIR/kafka)',
    });
  }
}

/** True once `kafka-storage format` has run on the store (it leaves meta.properties). */
export function storeFormatted(layout: BrokerLayout): boolean {
  return existsSync(join(layout.storeDir, 'meta.properties'));
}

/** A random KRaft cluster id: 16 bytes in URL-safe base64, never starting with '-' (the CLI would read a flag). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Inputs of server.properties. */
export interface ServerConfig {
  port: number;
  controllerPort: number;
  host: string;
  storeDir: string;
  sasl: KafkaSasl;
}

/**
 * server.properties for a single combined broker+controller. Both listeners are SASL_PLAINTEXT on the loopback:
 * the client listener for everyone, the controller listener for the broker half talking to the controller half.
 */
export function serverProperties(config: ServerConfig): string {
  const { port, controllerPort, host, sasl } = config;
  const jaas =
    'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
    `username="${sasl.username}" password="${sasl.password}" user_${sasl.username}="${sasl.password}";`;
  const entries: [string, string | number][] = [
    ['process.roles', 'broker,controller'],
    ['node.id', 1],
    // Static voters: no `--standalone` at format time, and a restart on other ports still finds its quorum.
    ['controller.quorum.voters', `1@${host}:${controllerPort}`],
    ['listeners', `CLIENT://${host}:${port},CONTROLLER://${host}:${controllerPort}`],
    ['advertised.listeners', `CLIENT://${host}:${port}`],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'CLIENT'],
    ['listener.security.protocol.map', 'CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT'],
    ['sasl.enabled.mechanisms', 'PLAIN'],
    ['sasl.mechanism.inter.broker.protocol', 'PLAIN'],
    ['sasl.mechanism.controller.protocol', 'PLAIN'],
    // The same JAAS entry is the server's user list and the login the broker itself uses on that listener.
    ['listener.name.client.plain.sasl.jaas.config', jaas],
    ['listener.name.controller.plain.sasl.jaas.config', jaas],
    ['log.dirs', config.storeDir],
    // One node: every internal topic must live with one replica, and one partition each starts fastest.
    ['default.replication.factor', 1],
    ['min.insync.replicas', 1],
    ['offsets.topic.replication.factor', 1],
    ['offsets.topic.num.partitions', 1],
    ['transaction.state.log.replication.factor', 1],
    ['transaction.state.log.min.isr', 1],
    ['transaction.state.log.num.partitions', 1],
    ['share.coordinator.state.topic.replication.factor', 1],
    ['share.coordinator.state.topic.min.isr', 1],
    ['share.coordinator.state.topic.num.partitions', 1],
    // Workers of a run join their groups together; Kafka's 3 s default would stall every epoch start.
    ['group.initial.rebalance.delay.ms', 0],
    // Arrow batches are multi-MiB; the fetch and request caps must stay above the message cap.
    ['message.max.bytes', MAX_MESSAGE_BYTES],
    ['replica.fetch.max.bytes', MAX_MESSAGE_BYTES],
    ['fetch.max.bytes', 2 * MAX_MESSAGE_BYTES],
    ['socket.request.max.bytes', 2 * MAX_MESSAGE_BYTES],
    // Sized for a laptop or a 2-core VM rather than a dedicated server.
    ['num.network.threads', 2],
    ['num.io.threads', 4],
  ];
  return `# Written by Petal at every start; edits here are overwritten.\n${entries.map(([k, v]) => `${k}=${escapeValue(String(v))}`).join('\n')}\n`;
}

/** The ports server.properties in `layout` names, or undefined when there is no such file (never started). */
export function configuredPorts(layout: BrokerLayout): { port: number; controllerPort: number } | undefined {
  let text: string;
  try {
    text = readFileSync(layout.serverProperties, 'utf8');
  } catch {
    return undefined;
  }
  const port = /^listeners=.*CLIENT:\/\/[^:,]+:(\d+)/m.exec(text)?.[1];
  const controllerPort = /^listeners=.*CONTROLLER:\/\/[^:,]+:(\d+)/m.exec(text)?.[1];
  return port && controllerPort ? { port: Number(port), controllerPort: Number(controllerPort) } : undefined;
}

function escapeValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

/**
 * log4j2 config: INFO to stdout (which the launcher sends to the log file), minus the config dumps that would
 * fill a thousand lines per start and push the cause of a failure out of the tail Petal reports.
 */
export function log4jProperties(): string {
  return [
    'status = warn',
    'appender.out.type = Console',
    'appender.out.name = OUT',
    'appender.out.layout.type = PatternLayout',
    'appender.out.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.out.ref = OUT',
    'logger.config.name = org.apache.kafka.common.config',
    'logger.config.level = WARN',
    'logger.kafkaconfig.name = kafka.server.KafkaConfig',
    'logger.kafkaconfig.level = WARN',
    '',
  ].join('\n');
}
