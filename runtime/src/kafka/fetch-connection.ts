// A Kafka connection for bulk reading: Fetch of one partition at a time, with the response read straight into
// memory the connection reuses. The client library reads a socket in 64 KiB chunks, each a fresh buffer, then joins
// a response's chunks into another; a feed reading a 36 MB topic churned ~72 MB of short-lived memory per pass that
// way, and V8 spent more time collecting it than the feed spent on its rows. Here each read lands in the response's
// own buffer (Node's `onread` with a buffer function), records are parsed in place, and the buffer goes back to the
// connection when the caller releases the fetch. It also answers where a topic's partitions are led (Metadata), so a
// reader needs no client of the library: that client's first metadata answer took 9-18 ms (connection, version
// and SASL rounds), this one's 2-4 ms with its SASL. Authenticated with SASL PLAIN like every Petal client; speaks
// the non-flexible protocol versions Kafka 4 serves (SaslHandshake v1, SaslAuthenticate v1, Fetch v11, Metadata v8).
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { PetalError } from '../errors.ts';
import { MAX_MESSAGE_BYTES } from './broker-config.ts';
import type { KafkaSasl } from './client.ts';
import { parseRecordBatches } from './record-batches.ts';
import type { FetchedRecord } from './record-batches.ts';

/** A fetch's records (views into the connection's memory) and the partition's end; `release()` once done. */
export interface RecordFetch {
  records: FetchedRecord[];
  highWatermark: bigint;
  /** Lets the connection reuse the memory the records view. Idempotent; read no record after it. */
  release(): void;
}

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: bigint;
  /** Bytes the broker may return (a first record batch larger than this still comes whole). */
  maxBytes: number;
  /** How long the broker may wait for new records before answering with none. */
  maxWaitTime: number;
}

/** A broker's client address. */
export interface BrokerAddress {
  host: string;
  port: number;
}

/** `host:port` as an address (the port after the last colon). */
export function brokerAddress(hostPort: string): BrokerAddress {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) };
}

/** Where a topic's partitions are: each partition's leader, by partition index (undefined while it has none). */
export interface TopicLayout {
  leaders: (BrokerAddress | undefined)[];
}

export interface FetchConnectionOptions extends BrokerAddress {
  sasl: KafkaSasl;
  clientId: string;
  /** How long a request may go unanswered beyond its own wait before the connection is dropped, ms. */
  timeoutMs: number;
}

const API_FETCH = 1;
const API_METADATA = 3;
const API_SASL_HANDSHAKE = 17;
const API_SASL_AUTHENTICATE = 36;
const SIZE_BYTES = 4;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
/** Response buffers kept for reuse: the one being read and the one its caller still holds. */
const KEPT_BUFFERS = 2;
const BUFFER_GRAIN = 1 << 20;
/** A response's size bound: the largest fetch Petal asks for, plus one record batch at the broker's size limit. */
const MAX_RESPONSE_BYTES = 2 * MAX_MESSAGE_BYTES + (1 << 20);

interface Pending {
  correlationId: number;
  resolve(body: Buffer, release: () => void): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** Whether the response body goes into reusable memory (fetches) or a buffer of its own. */
  reusable: boolean;
}

/**
 * A connection to a broker, authenticated as it opens. Requests may be made at once: they go out behind the
 * authentication (the broker answers in order), and fail with its error if it fails.
 */
export class FetchConnection {
  readonly #options: FetchConnectionOptions;
  readonly #socket: Socket;
  readonly #pending: Pending[] = [];
  readonly #free: Buffer[] = [];
  #nextId = 1;
  #closed: Error | undefined;
  // The response being read: its size prefix first, then its body (correlation id on).
  readonly #size = Buffer.alloc(SIZE_BYTES);
  #body: Buffer | undefined;
  #memory: Buffer | undefined;
  #got = 0;
  /** Settles once the broker has accepted the credentials (or refused them: the connection is failed then). */
  readonly authenticated: Promise<void>;

  constructor(options: FetchConnectionOptions) {
    this.#options = options;
    this.#socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: () => this.#landing(),
        callback: (n: number) => {
          this.#onRead(n);
          return true;
        },
      },
    });
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('the broker closed the connection')));
    this.authenticated = this.#authenticate();
    this.authenticated.catch((err: Error) => this.#fail(err));
  }

  /**
   * SASL PLAIN: the handshake names the mechanism, then one authenticate round carries the credentials. Both are sent
   * at once (the broker answers them in order): a connection is ready after one round trip, not two.
   */
  async #authenticate(): Promise<void> {
    const { sasl } = this.#options;
    const mechanism = Buffer.from(sasl.mechanism);
    const token = Buffer.from(`\0${sasl.username}\0${sasl.password}`);
    const handshake = this.#call(API_SASL_HANDSHAKE, 1, [int16(mechanism.length), mechanism]);
    const authenticate = this.#call(API_SASL_AUTHENTICATE, 1, [int32(token.length), token]);
    authenticate.catch(() => {});
    const handshakeError = (await handshake).readInt16BE(0);
    if (handshakeError !== 0) throw kafkaError('SASL handshake', handshakeError, this.#options);
    const auth = await authenticate;
    const authError = auth.readInt16BE(0);
    if (authError !== 0) {
      const length = auth.readInt16BE(2);
      const message = length > 0 ? auth.toString('utf8', 4, 4 + length) : '';
      throw kafkaError(`SASL authentication (${message})`, authError, this.#options, {
        retryable: false,
        fix: "use the broker's credentials (broker.connection, or `petal kafka status` for a running one)",
      });
    }
  }

  /** One partition's records from `offset` on. */
  async fetch(request: FetchRequest): Promise<RecordFetch> {
    const topic = Buffer.from(request.topic);
    const body = Buffer.alloc(4 * 4 + 1 + 4 * 2 + 4 + 2 + topic.length + 4 + 4 + 4 + 8 + 8 + 4 + 4 + 2);
    let at = 0;
    at = body.writeInt32BE(-1, at); // replica id: a consumer
    at = body.writeInt32BE(request.maxWaitTime, at);
    at = body.writeInt32BE(1, at); // min bytes
    at = body.writeInt32BE(request.maxBytes, at);
    at = body.writeInt8(0, at); // read uncommitted (stream() writes no transactions)
    at = body.writeInt32BE(0, at); // no fetch session
    at = body.writeInt32BE(-1, at);
    at = body.writeInt32BE(1, at); // one topic
    at = body.writeInt16BE(topic.length, at);
    at += topic.copy(body, at);
    at = body.writeInt32BE(1, at); // one partition
    at = body.writeInt32BE(request.partition, at);
    at = body.writeInt32BE(-1, at); // current leader epoch: unchecked
    at = body.writeBigInt64BE(request.offset, at);
    at = body.writeBigInt64BE(-1n, at); // log start offset (followers only)
    at = body.writeInt32BE(request.maxBytes, at);
    at = body.writeInt32BE(0, at); // no forgotten topics
    body.writeInt16BE(0, at); // rack id ""
    const { response, release } = await this.#request(API_FETCH, 11, [body], true, request.maxWaitTime);
    try {
      return { ...parseFetch(response, request, this.#options), release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Where `topic`'s partitions are led; undefined when the broker knows no such topic. */
  async layout(topic: string): Promise<TopicLayout | undefined> {
    const name = Buffer.from(topic);
    const body = Buffer.alloc(4 + 2 + name.length + 3);
    const at = body.writeInt16BE(name.length, body.writeInt32BE(1, 0)); // one topic
    name.copy(body, at);
    // After the name: no auto-creation, no authorized operations (three booleans, all false).
    return parseLayout(await this.#call(API_METADATA, 8, [body]), topic, this.#options);
  }

  close(): void {
    this.#fail(new Error('the fetch connection was closed'));
  }

  /** A request whose answer gets a buffer of its own (SASL, metadata: small, once per connection or topic). */
  #call(apiKey: number, version: number, body: Buffer[]): Promise<Buffer> {
    return this.#request(apiKey, version, body, false, 0).then(({ response }) => response);
  }

  #request(
    apiKey: number,
    version: number,
    body: Buffer[],
    reusable: boolean,
    waitMs: number,
  ): Promise<{ response: Buffer; release: () => void }> {
    if (this.#closed) return Promise.reject(this.#closed);
    const correlationId = this.#nextId++;
    const clientId = Buffer.from(this.#options.clientId);
    const header = Buffer.alloc(SIZE_BYTES + 2 + 2 + 4 + 2);
    const length = header.length - SIZE_BYTES + clientId.length + body.reduce((n, b) => n + b.length, 0);
    let at = header.writeInt32BE(length, 0);
    at = header.writeInt16BE(apiKey, at);
    at = header.writeInt16BE(version, at);
    at = header.writeInt32BE(correlationId, at);
    header.writeInt16BE(clientId.length, at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#fail(new Error(`no answer from the broker in ${this.#options.timeoutMs + waitMs} ms`)),
        this.#options.timeoutMs + waitMs,
      );
      this.#pending.push({
        correlationId,
        reusable,
        timer,
        reject,
        // The body after the correlation id.
        resolve: (response, release) => resolve({ response: response.subarray(4), release }),
      });
      this.#socket.write(Buffer.concat([header, clientId, ...body]));
    });
  }

  // Where the next socket read lands: the rest of the size prefix, else the rest of the body being read.
  #landing(): Uint8Array {
    return this.#body ? this.#body.subarray(this.#got) : this.#size.subarray(this.#got);
  }

  #onRead(n: number): void {
    this.#got += n;
    if (!this.#body) {
      if (this.#got < SIZE_BYTES) return;
      const size = this.#size.readInt32BE(0);
      if (size < 4 || size > MAX_RESPONSE_BYTES) {
        this.#fail(new Error(`a broker response of ${size} bytes (at most ${MAX_RESPONSE_BYTES} are read)`));
        return;
      }
      const reusable = this.#pending[0]?.reusable ?? false;
      this.#memory = reusable ? this.#takeMemory(size) : Buffer.allocUnsafe(size);
      this.#body = this.#memory.subarray(0, size);
      this.#got = 0;
      return;
    }
    if (this.#got < this.#body.length) return;
    const body = this.#body;
    const memory = this.#memory!;
    this.#body = this.#memory = undefined;
    this.#got = 0;
    const pending = this.#pending.shift();
    if (!pending || body.readInt32BE(0) !== pending.correlationId) {
      this.#fail(new Error('a broker response that answers no request'));
      return;
    }
    clearTimeout(pending.timer);
    let released = false;
    pending.resolve(body, () => {
      if (released) return;
      released = true;
      if (pending.reusable) this.#giveMemory(memory);
    });
  }

  #takeMemory(size: number): Buffer {
    const at = this.#free.findIndex((b) => b.length >= size);
    if (at >= 0) return this.#free.splice(at, 1)[0]!;
    // allocUnsafeSlow: its own ArrayBuffer, so the buffer's memory is freed with it and never pins a pool slab.
    return Buffer.allocUnsafeSlow(Math.ceil(size / BUFFER_GRAIN) * BUFFER_GRAIN);
  }

  #giveMemory(memory: Buffer): void {
    if (this.#closed) return;
    this.#free.push(memory);
    // Keep the largest: a partition's responses are alike, and a smaller one would only be replaced.
    if (this.#free.length > KEPT_BUFFERS) this.#free.sort((a, b) => b.length - a.length).pop();
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    this.#free.length = 0;
    this.#socket.destroy();
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n, 0);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function kafkaError(
  what: string,
  code: number,
  options: FetchConnectionOptions,
  more: { retryable?: boolean; fix?: string } = {},
): PetalError {
  return new PetalError('PETAL_KAFKA_ERROR', `${what} failed with Kafka error ${code}`, {
    detail: { host: options.host, port: options.port, code },
    retryable: more.retryable ?? true,
    fix: more.fix,
  });
}

/** Fetch v11's answer for the one partition asked about. */
function parseFetch(
  response: Buffer,
  request: FetchRequest,
  options: FetchConnectionOptions,
): { records: FetchedRecord[]; highWatermark: bigint } {
  const r = new FieldReader(response);
  r.int32(); // throttle time
  const error = r.int16();
  if (error !== 0) throw kafkaError('fetch', error, options);
  r.int32(); // session id
  for (let t = r.int32(); t > 0; t--) {
    r.string(); // topic name
    for (let p = r.int32(); p > 0; p--) {
      const partition = r.int32();
      const partitionError = r.int16();
      const highWatermark = r.int64();
      r.int64(); // last stable offset
      r.int64(); // log start offset
      r.skip(r.int32(), 16); // aborted transactions (-1: none)
      r.int32(); // preferred read replica
      const records = r.bytes(r.int32());
      if (partition !== request.partition) continue;
      if (partitionError !== 0) {
        throw kafkaError(`fetch of ${request.topic}[${request.partition}]`, partitionError, options);
      }
      return { records: parseRecordBatches(records, request.offset), highWatermark };
    }
  }
  return { records: [], highWatermark: request.offset };
}

/** Reads big-endian fields of a response in order. */
class FieldReader {
  #at = 0;
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  int8(): number {
    return this.#bytes.readInt8(this.#advance(1));
  }

  int16(): number {
    return this.#bytes.readInt16BE(this.#advance(2));
  }

  int32(): number {
    return this.#bytes.readInt32BE(this.#advance(4));
  }

  int64(): bigint {
    return this.#bytes.readBigInt64BE(this.#advance(8));
  }

  /** `length` bytes as a view (a null field, length -1, as none). */
  bytes(length: number): Buffer {
    const start = this.#advance(Math.max(0, length));
    return this.#bytes.subarray(start, this.#at);
  }

  /** A string (length -1: null, read as ''). */
  string(): string {
    return this.bytes(this.int16()).toString('utf8');
  }

  /** Skips `count` fields of `size` bytes each (count -1: a null array). */
  skip(count: number, size: number): void {
    this.#advance(Math.max(0, count) * size);
  }

  /** Moves past `n` bytes; returns where they start. */
  #advance(n: number): number {
    this.#at += n;
    return this.#at - n;
  }
}

/** Metadata v8's answer for one topic: its partitions' leaders. */
function parseLayout(response: Buffer, topic: string, options: FetchConnectionOptions): TopicLayout | undefined {
  const r = new FieldReader(response);
  r.int32(); // throttle time
  const brokers = new Map<number, BrokerAddress>();
  for (let b = r.int32(); b > 0; b--) {
    const id = r.int32();
    const host = r.string();
    const port = r.int32();
    r.string(); // rack
    brokers.set(id, { host, port });
  }
  r.string(); // cluster id
  r.int32(); // controller id
  for (let t = r.int32(); t > 0; t--) {
    const error = r.int16();
    const name = r.string();
    r.int8(); // is internal
    const leaders: (BrokerAddress | undefined)[] = [];
    for (let p = r.int32(); p > 0; p--) {
      r.int16(); // partition error: a partition without a leader shows as one
      const index = r.int32();
      const leader = r.int32();
      r.int32(); // leader epoch
      r.skip(r.int32(), 4); // replicas
      r.skip(r.int32(), 4); // in-sync replicas
      r.skip(r.int32(), 4); // offline replicas
      leaders[index] = brokers.get(leader);
    }
    r.int32(); // authorized operations
    if (name !== topic) continue;
    if (error === UNKNOWN_TOPIC_OR_PARTITION) return undefined;
    if (error !== 0) throw kafkaError(`metadata of ${topic}`, error, options);
    return { leaders };
  }
  return undefined;
}
