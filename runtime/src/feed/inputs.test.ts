// What goes in and comes out besides plain Arrow tables: a nodejs-polars DataFrame and an Arquero table (the real
// packages), real flower JPEGs in a binary column decoded and resized (Binary, LargeBinary, and the BinaryView
// nodejs-polars writes), vector columns (FixedSizeList, List, polars' LargeList) as [batch, n] tensors, and a
// corrupt JPEG under both decode policies.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  Binary,
  FixedSizeList,
  Field,
  Float32,
  Int32,
  LargeBinary,
  Table,
  Type,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
} from 'apache-arrow';
import * as aq from 'arquero';
import pl from 'nodejs-polars';
import { isPetalError } from '../errors.ts';
import { useTestBroker } from '../kafka/test-broker.ts';
import { loadTf } from '../tf/tf.ts';
import { feed } from './feed.ts';
import type { FeedOptions } from './feed.ts';
import { stream } from './stream.ts';

const tf = loadTf();
const FLOWERS = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'data', 'flowers');
const testBroker = useTestBroker('petal-feed-inputs');

/** Feeds `topic` whole and returns every row's xs values (row-major) and the feed's stats. */
async function readAll(options: Omit<FeedOptions, 'connection'>) {
  const f = feed({ connection: testBroker().connection, ...options });
  const rows: number[][] = [];
  const shapes: number[][] = [];
  try {
    for await (const batch of f) {
      shapes.push(batch.xs.shape);
      const width = batch.xs.size / batch.rows;
      const values = batch.xs.dataSync();
      for (let i = 0; i < batch.rows; i++) rows.push(Array.from(values.subarray(i * width, (i + 1) * width)));
    }
  } finally {
    await f.close();
  }
  return { rows, shapes, stats: f.stats() };
}

/** An Arrow table of JPEG file bytes (`image`) and class indices (`label`). */
function imageTable(files: Uint8Array[]): Table {
  const offsets = new Int32Array(files.length + 1);
  files.forEach((f, i) => (offsets[i + 1] = offsets[i]! + f.byteLength));
  const data = new Uint8Array(offsets[files.length]!);
  files.forEach((f, i) => data.set(f, offsets[i]!));
  const labels = Int32Array.from(files, (_, i) => i % 5);
  return new Table({
    image: makeVector(makeData({ type: new Binary(), length: files.length, valueOffsets: offsets, data })),
    label: makeVector(makeData({ type: new Int32(), length: files.length, data: labels })),
  });
}

/** The same files as a LargeBinary column (64-bit offsets). */
function largeImageTable(files: Uint8Array[]): Table {
  const small = imageTable(files);
  const binary = small.getChild('image')!.data[0]!;
  const valueOffsets = BigInt64Array.from(binary.valueOffsets as Int32Array, BigInt);
  const image = makeData({ type: new LargeBinary(), length: files.length, valueOffsets, data: binary.values });
  return new Table({ image: makeVector(image), label: small.getChild('label')! });
}

/** Each image's mean pixel as TensorFlow decodes and resizes it: what the feed must reproduce per row. */
function expectedMeans(files: Uint8Array[], size: number): number[] {
  return files.map((file) =>
    tf.tidy(() => {
      const image = tf.node.decodeImage(file, 3, 'int32', false) as import('@tensorflow/tfjs-node').Tensor3D;
      return tf.image.resizeBilinear(image, [size, size]).div(255).mean().dataSync()[0]!;
    }),
  );
}

function flowerFiles(count: number): Buffer[] {
  const classes = readdirSync(FLOWERS, { withFileTypes: true }).filter((d) => d.isDirectory());
  return Array.from({ length: count }, (_, i) => {
    const folder = join(FLOWERS, classes[i % classes.length]!.name);
    const file = readdirSync(folder).filter((f) => f.endsWith('.jpg'))[i]!;
    return readFileSync(join(folder, file));
  });
}

describe('inputs', { timeout: 120_000 }, () => {
  const N = 20_000;

  test('a nodejs-polars DataFrame streams and feeds every row once, labels through the vocabulary', async () => {
    const id = Array.from({ length: N }, (_, i) => i);
    const df = pl.DataFrame({ id, x: id.map((i) => i * 0.25), kind: id.map((i) => (i % 3 === 0 ? 'a' : 'b')) });
    const summary = await stream(df, {
      connection: testBroker().connection,
      topic: 'polars',
      partitions: 4,
      messageBytes: 32 * 1024,
      features: { xs: ['id', 'x', 'kind'] },
    });
    assert.equal(summary.rows, N);
    assert.deepEqual(summary.vocabularies, { kind: ['a', 'b'] });
    const { rows } = await readAll({ topic: summary.topic, batchSize: 512 });
    const seen = new Uint8Array(N);
    for (const [rowId, x, a, b] of rows) {
      seen[rowId!]!++;
      assert.equal(x, rowId! * 0.25);
      assert.deepEqual([a, b], rowId! % 3 === 0 ? [1, 0] : [0, 1]);
    }
    assert.ok(
      seen.every((c) => c === 1),
      'an id was lost or repeated',
    );
  });

  test('rows ordered by class stream with a warning saying how to shuffle them; the shuffles it names clear it', async () => {
    // 5 classes one after another, as photos read folder by folder come.
    const label = Array.from(
      { length: N },
      (_, i) => ['daisy', 'rose', 'tulip', 'iris', 'lily'][Math.floor((i * 5) / N)]!,
    );
    const df = pl.DataFrame({ x: label.map((_, i) => i * 0.5), label });
    const options = {
      connection: testBroker().connection,
      partitions: 4,
      messageBytes: 32 * 1024,
      features: { xs: 'x', ys: { column: 'label', kind: 'onehot' as const, depth: 5 } },
    };
    const ordered = await stream(df, { ...options, topic: 'by-class' });
    assert.equal(ordered.warnings.length, 1);
    assert.match(ordered.warnings[0]!, /ordered by label \(5 runs of one value over 20000 rows\)/);
    assert.match(ordered.warnings[0]!, /df\.sample\(\{ frac: 1, shuffle: true \}\)/);
    const polars = await stream(df.sample({ frac: 1, shuffle: true, seed: 1 }), {
      ...options,
      topic: 'polars-shuffled',
    });
    assert.deepEqual(polars.warnings, []);
    const arquero = aq.table({ x: label.map((_, i) => i * 0.5), label });
    const sampled = await stream(arquero.sample(arquero.numRows(), { shuffle: true }), {
      ...options,
      topic: 'arquero-shuffled',
    });
    assert.deepEqual(sampled.warnings, []);
    // Without a feature spec every string column is taken for a label; a spec without labels names none.
    const { features: _, ...noSpec } = options;
    assert.equal((await stream(df, { ...noSpec, topic: 'no-spec' })).warnings.length, 1);
    assert.deepEqual((await stream(df, { ...options, features: { xs: 'x' }, topic: 'no-label' })).warnings, []);
  });

  test('an Arquero table streams and feeds every row once', async () => {
    const id = Float64Array.from({ length: N }, (_, i) => i);
    const table = aq.table({ id, y: Array.from(id, (i) => i % 7) });
    const summary = await stream(table, {
      connection: testBroker().connection,
      topic: 'arquero',
      partitions: 3,
      messageBytes: 32 * 1024,
    });
    assert.equal(summary.rows, N);
    const { rows } = await readAll({
      topic: summary.topic,
      batchSize: 1000,
      features: { xs: 'id', ys: { column: 'y', kind: 'label', depth: 7 } },
    });
    const ids = rows.map((r) => r[0]!).sort((a, b) => a - b);
    assert.deepEqual(ids, Array.from(id));
  });

  test('a binary JPEG column of real flower photos decodes and resizes to the requested shape', async () => {
    const files = flowerFiles(10);
    const summary = await stream(imageTable(files), {
      connection: testBroker().connection,
      topic: 'flowers',
      partitions: 2,
      features: {
        xs: { column: 'image', kind: 'image', height: 40, width: 56 },
        ys: { column: 'label', kind: 'onehot', depth: 5 },
      },
    });
    const before = tf.memory().numTensors;
    const f = feed({ connection: testBroker().connection, topic: summary.topic, batchSize: 4 });
    let rows = 0;
    for await (const batch of f) {
      assert.deepEqual(batch.xs.shape.slice(1), [40, 56, 3]);
      assert.deepEqual(batch.ys!.shape, [batch.rows, 5]);
      const [min, max, mean] = tf.tidy(() =>
        [batch.xs.min(), batch.xs.max(), batch.xs.mean()].map((t) => t.dataSync()[0]!),
      );
      assert.ok(min! >= 0 && max! <= 1 && max! > 0.5 && mean! > 0.05, `pixel range ${min}…${max}, mean ${mean}`);
      rows += batch.rows;
    }
    await f.close();
    assert.equal(rows, 10);
    assert.equal(tf.memory().numTensors, before, 'the feed leaked tensors');
  });

  test("a corrupt JPEG fails naming topic, partition and row; 'skip' counts and reports it", async () => {
    const files: Uint8Array[] = flowerFiles(6);
    // Starts like a JPEG (so stream()'s signature check passes) and then is not one.
    files[3] = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 200 }, (_, i) => i % 251)]);
    const summary = await stream(imageTable(files), {
      connection: testBroker().connection,
      topic: 'corrupt',
      partitions: 1,
      features: {
        xs: { column: 'image', kind: 'image', height: 32, width: 32 },
        ys: { column: 'label', kind: 'label', depth: 5 },
      },
    });
    await assert.rejects(readAll({ topic: summary.topic, batchSize: 2 }), (err: unknown) => {
      assert.ok(isPetalError(err, 'PETAL_FEED_IMAGE'), String(err));
      assert.match(err.message, new RegExp(`topic ${summary.topic}, column "image", partition 0, offset \\d+, row 3`));
      assert.match(err.fix ?? '', /onDecodeError: 'skip'/);
      return true;
    });
    const reported: unknown[] = [];
    const listener = (message: unknown) => reported.push(message);
    subscribe('petal:feed:skipped', listener);
    try {
      const { rows, stats } = await readAll({ topic: summary.topic, batchSize: 2, onDecodeError: 'skip' });
      assert.equal(rows.length, 5);
      assert.equal(stats.skipped, 1);
      assert.equal(stats.rows, 5);
    } finally {
      unsubscribe('petal:feed:skipped', listener);
    }
    assert.equal(reported.length, 1);
    assert.deepEqual((reported[0] as { partition: number; rows: number }).rows, 1);
  });

  test('binary image columns as LargeBinary and as nodejs-polars BinaryView stream and decode row for row', async () => {
    const files = flowerFiles(12);
    const want = expectedMeans(files, 24);
    // nodejs-polars keeps binary columns as BinaryView and writes them so; stream() slices the table into messages.
    const df = pl.readIPC(Buffer.from(tableToIPC(imageTable(files), 'file')));
    const frame = tableFromIPC(df.writeIPC({ compression: 'uncompressed' }));
    assert.equal(frame.schema.fields[0]!.type.typeId, Type.BinaryView, 'polars wrote a BinaryView column');
    for (const [label, data] of [
      ['polars', df],
      ['large', largeImageTable(files)],
    ] as const) {
      const summary = await stream(data, {
        connection: testBroker().connection,
        topic: `binary-${label}`,
        partitions: 1,
        // A few images per message, so the column is sliced.
        messageBytes: 40 * 1024,
        features: {
          xs: { column: 'image', kind: 'image', height: 24, width: 24 },
          ys: { column: 'label', kind: 'label', depth: 5 },
        },
      });
      assert.ok(summary.batches > 2, `${label}: ${summary.batches} messages`);
      const f = feed({ connection: testBroker().connection, topic: summary.topic, batchSize: 5, shuffleBuffer: 0 });
      const means: number[] = [];
      const labels: number[] = [];
      for await (const batch of f) {
        assert.deepEqual(batch.xs.shape, [batch.rows, 24, 24, 3]);
        means.push(...tf.tidy(() => batch.xs.mean([1, 2, 3]).dataSync()));
        labels.push(...batch.ys!.dataSync());
      }
      await f.close();
      assert.deepEqual(
        labels,
        files.map((_, i) => i % 5),
        `${label}: labels in order`,
      );
      means.forEach((m, i) =>
        assert.ok(Math.abs(m - want[i]!) < 1e-5, `${label} row ${i}: mean ${m}, want ${want[i]}`),
      );
    }
  });

  test('vector columns (FixedSizeList, List, polars LargeList) feed as [batch, n] tensors; ragged lists fail', async () => {
    const n = 3000;
    const id = Int32Array.from({ length: n }, (_, i) => i);
    const values = Float32Array.from({ length: n * 3 }, (_, k) => Math.floor(k / 3) * 10 + (k % 3));
    const type = new FixedSizeList(3, new Field('item', new Float32()));
    const fixed = new Table({
      id: makeVector(makeData({ type: new Int32(), length: n, data: id })),
      v: makeVector(
        makeData({ type, length: n, child: makeData({ type: new Float32(), length: n * 3, data: values }) }),
      ),
      label: makeVector(makeData({ type: new Int32(), length: n, data: Int32Array.from(id, (i) => i % 4) })),
    });
    const records = Array.from(id, (i) => ({ id: i, v: [i * 10, i * 10 + 1, i * 10 + 2], label: i % 4 }));
    const polars = pl.DataFrame({
      id: Array.from(id),
      v: records.map((r) => r.v),
      label: records.map((r) => r.label),
    });
    const features = { xs: ['v', 'id'], ys: { column: 'label', kind: 'onehot' as const, depth: 4 } };
    for (const [label, data] of [
      ['fixed', fixed],
      ['list', records],
      ['polars', polars],
    ] as const) {
      const summary = await stream(data, {
        connection: testBroker().connection,
        topic: `vectors-${label}`,
        partitions: 2,
        messageBytes: 8 * 1024,
        features,
      });
      // The feed takes the spec stored with the topic.
      const f = feed({ connection: testBroker().connection, topic: summary.topic, batchSize: 256, seed: 1 });
      const seen = new Uint8Array(n);
      for await (const batch of f) {
        assert.deepEqual(batch.xs.shape, [batch.rows, 4], label);
        assert.deepEqual(batch.ys!.shape, [batch.rows, 4], label);
        // Through a TensorFlow op: the tensor itself holds the rows, not only the array it was made from.
        const [xs, ys] = tf.tidy(() => [batch.xs.add(0).dataSync(), batch.ys!.argMax(1).dataSync()]);
        for (let r = 0; r < batch.rows; r++) {
          const rowId = xs[r * 4 + 3]!;
          assert.deepEqual(Array.from(xs.subarray(r * 4, r * 4 + 3)), [rowId * 10, rowId * 10 + 1, rowId * 10 + 2]);
          assert.equal(ys[r], rowId % 4);
          seen[rowId]!++;
        }
      }
      await f.close();
      assert.ok(
        seen.every((c) => c === 1),
        `${label}: an id was lost or repeated`,
      );
    }
    // Streamed without a spec, a ragged list column is only found by the feed: an error naming column and row.
    const ragged = await stream([{ v: [1, 2] }, { v: [3, 4] }, { v: [5, 6, 7] }], {
      connection: testBroker().connection,
      topic: 'ragged',
      partitions: 1,
    });
    await assert.rejects(readAll({ topic: ragged.topic, batchSize: 2, features: { xs: 'v' } }), (err: unknown) => {
      assert.ok(isPetalError(err, 'PETAL_FEED_RAGGED'), String(err));
      assert.match(err.message, /column "v", row 2/);
      return true;
    });
  });
});
