// One topic read over Petal's own connections, no client of the library: a connection to the bootstrap broker
// answers where the partitions are led, and a PartitionFetcher per partition reads from its leader.
import { PetalError } from '../errors.ts';
import type { KafkaConnection } from './client.ts';
import { FetchConnection, brokerAddress } from './fetch-connection.ts';
import type { BrokerAddress, TopicLayout } from './fetch-connection.ts';
import { PartitionFetcher } from './partition-fetcher.ts';

export interface TopicFetchersOptions {
  topic: string;
  /** Shows in the broker's request logs; a partition's fetcher adds `-p<partition>`. */
  clientId: string;
}

/** How long a request may go unanswered beyond its own wait before its connection is dropped, ms. */
const REQUEST_TIMEOUT_MS = 5000;

export class TopicFetchers {
  readonly topic: string;
  readonly #connection: KafkaConnection;
  readonly #options: TopicFetchersOptions;
  readonly #bootstrap: BrokerAddress;
  readonly #fetchers = new Map<number, PartitionFetcher>();
  #metadata: FetchConnection | undefined;
  #layout: Promise<TopicLayout | undefined> | undefined;

  constructor(connection: KafkaConnection, options: TopicFetchersOptions) {
    this.#connection = connection;
    this.#options = options;
    this.topic = options.topic;
    this.#bootstrap = brokerAddress(connection.bootstrap);
  }

  /** The topic's partition count; undefined when the topic does not exist. */
  async partitionCount(): Promise<number | undefined> {
    return (await this.#layoutOf(false))?.leaders.length;
  }

  /** The fetcher of `partition` (one per partition, its connection opened on first use). */
  fetcher(partition: number): PartitionFetcher {
    let fetcher = this.#fetchers.get(partition);
    if (!fetcher) {
      fetcher = new PartitionFetcher({
        topic: this.topic,
        partition,
        bootstrap: this.#bootstrap,
        leader: (fresh) => this.#leader(partition, fresh),
        open: (address) => this.#open(address, `${this.#options.clientId}-p${partition}`),
      });
      this.#fetchers.set(partition, fetcher);
    }
    return fetcher;
  }

  close(): void {
    for (const fetcher of this.#fetchers.values()) fetcher.close();
    this.#fetchers.clear();
    this.#metadata?.close();
    this.#metadata = this.#layout = undefined;
  }

  /** The topic's layout, asked again when `fresh`; a failed ask is not kept. */
  #layoutOf(fresh: boolean): Promise<TopicLayout | undefined> {
    if (fresh || !this.#layout) {
      const layout = (this.#layout = this.#askLayout());
      layout.catch(() => {
        if (this.#layout === layout) this.#layout = undefined;
      });
    }
    return this.#layout;
  }

  async #askLayout(): Promise<TopicLayout | undefined> {
    // Asked right behind the connection's authentication, without waiting for it.
    const connection = (this.#metadata ??= this.#open(this.#bootstrap, this.#options.clientId));
    try {
      return await connection.layout(this.topic);
    } catch (err) {
      // A broken connection (a broker restarting) is opened anew at the next ask.
      if (this.#metadata === connection) {
        this.#metadata = undefined;
        connection.close();
      }
      throw err;
    }
  }

  #open(address: BrokerAddress, clientId: string): FetchConnection {
    return new FetchConnection({ ...address, sasl: this.#connection.sasl, clientId, timeoutMs: REQUEST_TIMEOUT_MS });
  }

  async #leader(partition: number, fresh: boolean): Promise<BrokerAddress> {
    const leader = (await this.#layoutOf(fresh))?.leaders[partition];
    if (!leader) {
      throw new PetalError(
        'PETAL_KAFKA_NO_PARTITION',
        `topic ${this.topic} has no partition ${partition} with a leader`,
        {
          detail: { topic: this.topic, partition },
          fix: 'check the topic name and partition count (stream() returns both)',
          retryable: true,
        },
      );
    }
    return leader;
  }
}
