// The bulk-read connection against a real broker: it reads exactly what a producer wrote, reuses a released
// response's memory and never one still held, refuses wrong credentials by name, and refuses compressed batches
// at once instead of retrying them.
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { createAdmin, createProducer, createTopic } from './client.ts';
import { FetchConnection, brokerAddress } from './fetch-connection.ts';
import type { PartitionFetcher } from './partition-fetcher.ts';
import { TopicFetchers } from './topic-fetchers.ts';
import { useTestBroker } from './test-broker.ts';

const testBroker = useTestBroker('petal-fetch');

async function produce(topic: string, values: Buffer[], compression?: 'gzip'): Promise<void> {
  const { connection } = testBroker();
  const admin = createAdmin(connection);
  await createTopic(admin, topic, 2);
  await admin.close();
  const producer = createProducer(connection, { acks: -1, idempotent: true, ...(compression ? { compression } : {}) });
  try {
    // One send per value: a record batch each, so a small fetch limit returns one at a time.
    for (const [i, value] of values.entries()) {
      await producer.send({
        messages: [{ topic, partition: 1, value, headers: new Map([[Buffer.from('n'), Buffer.from(String(i))]]) }],
      });
    }
  } finally {
    await producer.close();
  }
}

/** Runs `use` with a fetcher of partition 1 of `topic`, closed after. */
async function withFetcher(topic: string, use: (fetcher: PartitionFetcher) => Promise<void>): Promise<void> {
  const { connection } = testBroker();
  const fetchers = new TopicFetchers(connection, { topic, clientId: 'test' });
  try {
    await use(fetchers.fetcher(1));
  } finally {
    fetchers.close();
  }
}

describe('fetch connection', { timeout: 60_000 }, () => {
  const values = [100, 70_000, 3, 1_500_000].map((n, i) => Buffer.alloc(n, i + 1));

  test('reads back what a producer wrote: offsets, values, headers and the partition end', async () => {
    await produce('fetch-read', values);
    await withFetcher('fetch-read', async (fetcher) => {
      const all = await fetcher.fetch({ offset: 0n, maxBytes: 8 << 20, maxWaitTime: 100 });
      assert.equal(all.highWatermark, 4n);
      assert.deepEqual(
        all.records.map((r) => r.offset),
        [0n, 1n, 2n, 3n],
      );
      all.records.forEach((r, i) => {
        assert.ok(r.value!.equals(values[i]!), `value ${i}`);
        assert.equal(r.value!.byteOffset % 8, 0);
        assert.equal(r.headers[0]![1]!.toString(), String(i));
      });
      all.release();
      // From an offset inside the log, with a limit smaller than a batch: exactly that one batch.
      const one = await fetcher.fetch({ offset: 3n, maxBytes: 1, maxWaitTime: 100 });
      assert.deepEqual(
        one.records.map((r) => r.offset),
        [3n],
      );
      one.release();
      // Past the end the broker waits its maxWaitTime and answers with nothing.
      const none = await fetcher.fetch({ offset: 4n, maxBytes: 1, maxWaitTime: 50 });
      assert.deepEqual(none.records, []);
      none.release();
    });
  });

  test('a released response lends its memory to the next; one still held is never written over', async () => {
    await withFetcher('fetch-read', async (fetcher) => {
      const ask = { offset: 3n, maxBytes: 1, maxWaitTime: 100 };
      const held = await fetcher.fetch(ask);
      const heldBytes = Buffer.from(held.records[0]!.value!);
      const second = await fetcher.fetch(ask);
      assert.notEqual(second.records[0]!.value!.buffer, held.records[0]!.value!.buffer, 'held memory is not lent');
      second.release();
      const third = await fetcher.fetch(ask);
      assert.equal(third.records[0]!.value!.buffer, second.records[0]!.value!.buffer, 'released memory is reused');
      third.release();
      assert.ok(held.records[0]!.value!.equals(heldBytes), 'the held response is intact');
      held.release();
      held.release(); // idempotent
    });
  });

  test("a topic's partitions and leaders come from the bootstrap broker; a missing topic or partition is named", async () => {
    const { connection } = testBroker();
    const fetchers = new TopicFetchers(connection, { topic: 'fetch-read', clientId: 'test' });
    const missing = new TopicFetchers(connection, { topic: 'fetch-none', clientId: 'test' });
    try {
      assert.equal(await fetchers.partitionCount(), 2);
      assert.equal(await missing.partitionCount(), undefined);
      await assert.rejects(fetchers.fetcher(2).fetch({ offset: 0n, maxBytes: 1, maxWaitTime: 50 }), (err) => {
        assert.ok(isPetalError(err, 'PETAL_KAFKA_NO_PARTITION'), String(err));
        assert.match(err.message, /topic fetch-read has no partition 2/);
        return true;
      });
    } finally {
      fetchers.close();
      missing.close();
    }
  });

  test('a connection opened to the bootstrap broker on the guess that it leads is closed when another leads', async () => {
    // The client bootstraps through a proxy: the broker names itself as the leader, so the fetcher's guessed
    // connection (to the proxy) must give way to one to the broker.
    const { connection } = testBroker();
    const broker = brokerAddress(connection.bootstrap);
    let opened = 0;
    let open = 0;
    const proxy = createServer((client) => {
      opened++;
      open++;
      const upstream = connect(broker);
      client.pipe(upstream).pipe(client);
      const done = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', done).on('error', done);
      upstream.on('close', done).on('error', done);
      client.once('close', () => open--);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxied = { ...connection, bootstrap: `127.0.0.1:${(proxy.address() as AddressInfo).port}` };
    const fetchers = new TopicFetchers(proxied, { topic: 'fetch-read', clientId: 'test' });
    try {
      const fetched = await fetchers.fetcher(1).fetch({ offset: 0n, maxBytes: 8 << 20, maxWaitTime: 100 });
      assert.ok(fetched.records[3]!.value!.equals(values[3]!));
      fetched.release();
      assert.equal(opened, 2, 'the metadata connection and the guess went through the proxy');
      while (open > 1) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(open, 1, 'only the metadata connection is still open there');
    } finally {
      fetchers.close();
      proxy.close();
    }
  });

  test('requests go out behind the authentication; with wrong credentials they fail with its error, by name', async () => {
    const { connection } = testBroker();
    const open = (password: string) =>
      new FetchConnection({
        ...brokerAddress(connection.bootstrap),
        sasl: { ...connection.sasl, password },
        clientId: 'test',
        timeoutMs: 5000,
      });
    const right = open(connection.sasl.password);
    try {
      // Asked before the broker has answered the credentials.
      assert.equal((await right.layout('fetch-read'))?.leaders.length, 2);
    } finally {
      right.close();
    }
    const wrong = open('wrong');
    const refused = (err: unknown) => {
      assert.ok(isPetalError(err, 'PETAL_KAFKA_ERROR'), String(err));
      assert.match(err.message, /SASL authentication/);
      assert.equal(err.retryable, false, 'not retried as if the broker were away');
      assert.ok(err.fix);
      return true;
    };
    await Promise.all([
      assert.rejects(wrong.layout('fetch-read'), refused),
      assert.rejects(
        wrong.fetch({ topic: 'fetch-read', partition: 1, offset: 0n, maxBytes: 1, maxWaitTime: 0 }),
        refused,
      ),
      assert.rejects(wrong.authenticated, refused),
    ]);
  });

  test('a compressed batch is refused at once, naming the topic, partition and offset', async () => {
    await produce('fetch-gzip', [Buffer.from('squeezed')], 'gzip');
    await withFetcher('fetch-gzip', async (fetcher) => {
      await assert.rejects(fetcher.fetch({ offset: 0n, maxBytes: 1 << 20, maxWaitTime: 100 }), (err) => {
        assert.ok(isPetalError(err, 'PETAL_KAFKA_UNREADABLE_BATCH'), String(err));
        assert.match(err.message, /fetch-gzip\[1\] holds a compressed record batch \(codec 1\)/);
        assert.equal(err.retryable, false);
        assert.equal(err.detail.offset, 0n);
        return true;
      });
    });
  });
});

test('a peer announcing an absurd response size is dropped with an error instead of allocated for', async () => {
  // Not a broker: it answers the SASL handshake with a size prefix of 2 GiB.
  const server = createServer((socket) =>
    socket.once('data', () => socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]))),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    await assert.rejects(
      new FetchConnection({
        host: '127.0.0.1',
        port,
        sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' },
        clientId: 'test',
        timeoutMs: 5000,
      }).authenticated,
      /a broker response of 2147483647 bytes \(at most \d+ are read\)/,
    );
  } finally {
    server.close();
  }
});
