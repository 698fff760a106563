// Fetches of one partition over a FetchConnection to its leader: the connection opens on the first fetch and, once
// it fails (a broker restarting), is opened again on the next, after a fresh look at who leads the partition.
// Callers retry failed fetches on their own schedule; this only never reuses a broken connection.
import { PetalError } from '../errors.ts';
import type { BrokerAddress, FetchConnection, FetchRequest, RecordFetch } from './fetch-connection.ts';
import { UnreadableBatchError } from './record-batches.ts';

export type { FetchRequest, RecordFetch } from './fetch-connection.ts';
export type { FetchedRecord } from './record-batches.ts';

export interface PartitionFetcherOptions {
  topic: string;
  partition: number;
  /** The broker the client bootstraps from. */
  bootstrap: BrokerAddress;
  /** The partition's leader, looked up again when `fresh` (after a failed connection). */
  leader(fresh: boolean): Promise<BrokerAddress>;
  /** A connection to a broker, for this partition's fetches (they may go out before it has authenticated). */
  open(address: BrokerAddress): FetchConnection;
}

export class PartitionFetcher {
  readonly topic: string;
  readonly partition: number;
  readonly #options: PartitionFetcherOptions;
  #open: Promise<FetchConnection> | undefined;
  #failed = false;
  #closed = false;

  constructor(options: PartitionFetcherOptions) {
    this.#options = options;
    this.topic = options.topic;
    this.partition = options.partition;
  }

  /** Opens the connection ahead of the first fetch (a failure shows at that fetch). */
  open(): void {
    if (this.#closed || this.#open) return;
    const open = (this.#open = this.#connect());
    open.catch(() => {});
  }

  /** Records of the partition from `offset` on. */
  async fetch(request: Omit<FetchRequest, 'topic' | 'partition'>): Promise<RecordFetch> {
    if (this.#closed) throw new Error('the partition fetcher is closed');
    this.open();
    const open = this.#open!;
    try {
      return await (await open).fetch({ ...request, topic: this.topic, partition: this.partition });
    } catch (err) {
      if (err instanceof UnreadableBatchError) {
        throw new PetalError('PETAL_KAFKA_UNREADABLE_BATCH', `${this.topic}[${this.partition}] holds ${err.message}`, {
          detail: { topic: this.topic, partition: this.partition, offset: request.offset },
          fix: 'read topics written by stream(), which writes record batches uncompressed',
        });
      }
      // The next fetch opens a new connection; a broken one answers nothing again.
      if (this.#open === open) {
        this.#open = undefined;
        this.#failed = true;
        closeWhenOpen(open);
      }
      throw err;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#open) closeWhenOpen(this.#open);
    this.#open = undefined;
  }

  async #connect(): Promise<FetchConnection> {
    const { bootstrap, open } = this.#options;
    const leader = this.#options.leader(this.#failed);
    // The broker the client bootstraps from leads most partitions (Petal's own broker is the only one): the
    // connection to it authenticates while the leader is looked up, and serves if it is the leader.
    const guess = this.#failed ? undefined : open(bootstrap);
    let address: BrokerAddress;
    try {
      address = await leader;
    } catch (err) {
      guess?.close();
      throw err;
    }
    if (guess && address.host === bootstrap.host && address.port === bootstrap.port) return guess;
    guess?.close();
    return open(address);
  }
}

function closeWhenOpen(open: Promise<FetchConnection>): void {
  open.then(
    (c) => c.close(),
    () => {},
  );
}
