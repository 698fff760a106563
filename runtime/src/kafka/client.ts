// The one module that imports @platformatic/kafka. Everything else gets clients from here, already pointed at a
// broker and authenticated, so no code path can open an unauthenticated socket by forgetting an option.
import { createRequire } from 'node:module';
import type { Admin, Consumer, ConsumerOptions, Producer, ProducerOptions } from '@platformatic/kafka';
import { PetalError } from '../errors.ts';

type Library = typeof import('@platformatic/kafka');
let library: Library | undefined;

// Loading @platformatic/kafka costs ~0.7 s (it compiles its option schemas), so it is loaded on first use, not by
// everything that imports @petal/runtime (`petal kafka status`, the kernel before it touches Kafka).
function kafka(): Library {
  return (library ??= createRequire(import.meta.url)('@platformatic/kafka') as Library);
}

export type { Admin, Consumer, Producer } from '@platformatic/kafka';

/** Topic-level settings for `createTopic` (Kafka config names, e.g. `retention.ms`). */
export type TopicConfig = Record<string, string>;

/** SASL credentials for a Petal broker (PLAIN over loopback). */
export interface KafkaSasl {
  mechanism: 'PLAIN';
  username: string;
  password: string;
}

/** Where a broker is and how to authenticate to it: all a client factory needs. */
export interface KafkaConnection {
  /** `host:port` of the client listener. */
  bootstrap: string;
  sasl: KafkaSasl;
}

/** Options every factory accepts; connection details come from the `KafkaConnection`. */
export interface ClientOptions {
  clientId?: string;
  /** Per-request timeout in ms. */
  timeout?: number;
  /** Retries of a failed request (the library's default when absent). */
  retries?: number;
}

type Managed = 'bootstrapBrokers' | 'sasl' | 'clientId';

function baseOptions(connection: KafkaConnection, options: ClientOptions, role: string) {
  const { mechanism, username, password } = connection.sasl;
  return {
    clientId: options.clientId ?? `petal-${role}`,
    bootstrapBrokers: [connection.bootstrap],
    sasl: { mechanism, username, password },
    ...(options.timeout === undefined ? {} : { timeout: options.timeout, connectTimeout: options.timeout }),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
  };
}

/** An admin client for topics, groups and metadata. Close it when done. */
export function createAdmin(connection: KafkaConnection, options: ClientOptions = {}): Admin {
  const { Admin } = kafka();
  return new Admin(baseOptions(connection, options, 'admin'));
}

/** A producer; `options` carries serializers, acks, compression and the like. Close it when done. */
export function createProducer<K = Buffer, V = Buffer, HK = Buffer, HV = Buffer>(
  connection: KafkaConnection,
  options: ClientOptions & Omit<ProducerOptions<K, V, HK, HV>, Managed | 'timeout' | 'retries'> = {},
): Producer<K, V, HK, HV> {
  const { clientId, timeout, retries, ...rest } = options;
  const { Producer } = kafka();
  return new Producer<K, V, HK, HV>({
    ...rest,
    ...baseOptions(connection, { clientId, timeout, retries }, 'producer'),
  });
}

/** A consumer in group `groupId`; `options` carries deserializers, fetch sizes and group settings. */
export function createConsumer<K = Buffer, V = Buffer, HK = Buffer, HV = Buffer>(
  connection: KafkaConnection,
  options: ClientOptions & Omit<ConsumerOptions<K, V, HK, HV>, Managed | 'timeout' | 'retries'>,
): Consumer<K, V, HK, HV> {
  const { clientId, timeout, retries, ...rest } = options;
  const { Consumer } = kafka();
  return new Consumer<K, V, HK, HV>({
    ...rest,
    ...baseOptions(connection, { clientId, timeout, retries }, 'consumer'),
  } as ConsumerOptions<K, V, HK, HV>);
}

/**
 * Creates `topic` with `partitions` partitions (replication 1, the embedded broker has one node) and `config`.
 * Resolves false, creating nothing, when the topic already exists.
 */
export async function createTopic(
  admin: Admin,
  topic: string,
  partitions: number,
  config: TopicConfig = {},
): Promise<boolean> {
  const existing = await admin.listTopics();
  if (existing.includes(topic)) return false;
  await admin.createTopics({
    topics: [topic],
    partitions,
    replicas: 1,
    configs: Object.entries(config).map(([name, value]) => ({ name, value })),
  });
  return true;
}

/** The partition count of `topic`, or undefined when it does not exist. */
export async function topicPartitions(client: Admin | Consumer, topic: string): Promise<number | undefined> {
  try {
    const metadata = await client.metadata({ topics: [topic] });
    return metadata.topics.get(topic)?.partitionsCount;
  } catch (err) {
    if (/unknown topic|does not host this topic/i.test(errorMessages(err))) return undefined;
    throw err;
  }
}

/** The message of an error and of everything it wraps (the client nests causes in `errors`). */
export function errorMessages(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const nested = (err as { errors?: unknown[] }).errors ?? [];
  return [
    err.message,
    ...nested.map(errorMessages),
    ...(err.cause === undefined ? [] : [errorMessages(err.cause)]),
  ].join(' / ');
}

/**
 * Resolves once an authenticated metadata call lists at least one broker (a broker that is still fenced is not
 * listed, and could not yet host a topic). Retries until `timeoutMs` passes or `signal` aborts, then throws
 * PETAL_KAFKA_UNREACHABLE with the last client error as the cause.
 */
export async function waitForMetadata(
  connection: KafkaConnection,
  options: { timeoutMs: number; signal?: AbortSignal; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  while (!options.signal?.aborted) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const admin = createAdmin(connection, {
      clientId: 'petal-ready',
      timeout: Math.max(500, Math.min(5000, remaining)),
      retries: 0,
    });
    try {
      const metadata = await admin.metadata({ topics: [] });
      if (metadata.brokers.size > 0) return;
      last = new Error('the broker answered but lists no live broker yet');
    } catch (err) {
      last = err;
    } finally {
      await admin.close().catch(() => {});
    }
    await sleep(options.intervalMs ?? 200, options.signal);
  }
  if (options.signal?.aborted) throw options.signal.reason;
  throw new PetalError(
    'PETAL_KAFKA_UNREACHABLE',
    `no answer to a metadata call from Kafka at ${connection.bootstrap} within ${options.timeoutMs} ms`,
    {
      cause: last,
      retryable: true,
      fix: 'check that the broker is running (`petal kafka status`) and that the credentials match it',
      detail: { bootstrap: connection.bootstrap, lastError: last instanceof Error ? last.message : String(last) },
    },
  );
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
