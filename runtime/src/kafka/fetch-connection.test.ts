// The bulk-read connection against a real broker: it reads exactly what a producer wrote, reuses a released
// response's memory and never one still held, refuses wrong credentials by name, and refuses compressed batches
// at once instead of retrying them.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { createAdmin, createProducer, createTopic } from './client.ts';
import { openFetchConnection } from './fetch-connection.ts';
import { PartitionFetcher } from './partition-fetcher.ts';
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
  const admin = createAdmin(connection);
  const fetcher = new PartitionFetcher(connection, { topic, partition: 1, clientId: 'test', metadata: admin });
  try {
    await use(fetcher);
  } finally {
    fetcher.close();
    await admin.close();
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

  test('wrong credentials are refused by name, and not retried as if the broker were away', async () => {
    const { connection } = testBroker();
    const [host, port] = connection.bootstrap.split(':');
    await assert.rejects(
      openFetchConnection({
        host: host!,
        port: Number(port),
        sasl: { ...connection.sasl, password: 'wrong' },
        clientId: 'test',
        timeoutMs: 5000,
      }),
      (err) => {
        assert.ok(isPetalError(err, 'PETAL_KAFKA_ERROR'), String(err));
        assert.match(err.message, /SASL authentication/);
        assert.equal(err.retryable, false);
        assert.ok(err.fix);
        return true;
      },
    );
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
      openFetchConnection({
        host: '127.0.0.1',
        port,
        sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' },
        clientId: 'test',
        timeoutMs: 5000,
      }),
      /a broker response of 2147483647 bytes \(at most \d+ are read\)/,
    );
  } finally {
    server.close();
  }
});
