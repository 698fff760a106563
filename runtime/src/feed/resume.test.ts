// Exact resume with the shuffle pool on, against a real broker: a feed resumed from any batch's position makes the
// very batches the first run made after that batch's group (same rows, same order), so a checkpointed epoch trains
// every id exactly once whatever the shuffle buffer; positions survive JSON.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tableFromArrays } from 'apache-arrow';
import { useTestBroker } from '../kafka/test-broker.ts';
import { loadTf } from '../tf/tf.ts';
import { feed } from './feed.ts';
import type { FeedOptions, FeedPosition } from './feed.ts';
import { stream } from './stream.ts';

const tf = loadTf();
const testBroker = useTestBroker('petal-feed-resume');
const N = 6000;

interface Run {
  batches: { epoch: number; ids: number[]; position: FeedPosition }[];
}

/** Every batch of a feed: its ids (read through a TensorFlow op, so the tensor itself is checked) and position. */
async function run(options: Omit<FeedOptions, 'connection'>): Promise<Run> {
  const f = feed({ connection: testBroker().connection, ...options });
  const batches: Run['batches'] = [];
  const before = tf.memory().numTensors;
  try {
    for await (const b of f) {
      const ids = Array.from(tf.tidy(() => b.xs.slice([0, 0], [b.rows, 1]).add(0).dataSync()));
      batches.push({ epoch: b.epoch, ids, position: JSON.parse(JSON.stringify(b.position)) as FeedPosition });
    }
  } finally {
    await f.close();
  }
  assert.equal(tf.memory().numTensors, before, 'the feed leaked tensors');
  return { batches };
}

/** Indexes of the last batch of each group (a group's batches share one position). */
function groupEnds(r: Run): number[] {
  const ends: number[] = [];
  r.batches.forEach((b, i) => {
    const next = r.batches[i + 1];
    if (!next || JSON.stringify(next.position) !== JSON.stringify(b.position)) ends.push(i);
  });
  return ends;
}

describe('resume', { timeout: 240_000 }, () => {
  let topic = '';

  test('a resumed feed repeats the first run batch for batch, shuffle on, every id once per epoch', async () => {
    const id = Int32Array.from({ length: N }, (_, i) => i);
    // ~128 rows per message, batches of 50, a pool of 320: groups end mid-message and carry 20 rows over.
    const summary = await stream(tableFromArrays({ id, x: Float32Array.from(id, (i) => i / 4) }), {
      connection: testBroker().connection,
      topic: 'resume',
      partitions: 3,
      messageBytes: 1024,
    });
    topic = summary.topic;
    const options = { topic, batchSize: 50, shuffleBuffer: 320, seed: 11, epochs: 2, features: { xs: ['id', 'x'] } };
    const first = await run(options);
    const ends = groupEnds(first);
    assert.ok(ends.length > 20, `${ends.length} groups`);
    assert.ok(
      first.batches.some((b) => (b.position.pending?.length ?? 0) > 0),
      'some positions hold pooled rows not yet delivered',
    );
    // Resume after a few groups of each epoch (and the last of epoch 0): the rest of the run, batch for batch.
    const epoch0 = ends.filter((i) => first.batches[i]!.epoch === 0);
    const picks = [
      epoch0[0]!,
      epoch0[3]!,
      epoch0.at(-2)!,
      ends.find((i) => first.batches[i]!.epoch === 1 && i > epoch0.at(-1)! + 5)!,
    ];
    for (const at of picks) {
      const resumed = await run({ ...options, resume: first.batches[at]!.position });
      assert.deepEqual(
        resumed.batches.map((b) => [b.epoch, b.ids]),
        first.batches.slice(at + 1).map((b) => [b.epoch, b.ids]),
        `resumed after batch ${at}`,
      );
    }
    // And the first run itself delivered every id once per epoch.
    for (const epoch of [0, 1]) {
      const seen = first.batches.filter((b) => b.epoch === epoch).flatMap((b) => b.ids);
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        Array.from(id),
      );
    }
    // Shuffled across partitions and messages, not in stream order.
    assert.notDeepEqual(
      first.batches[0]!.ids,
      first.batches[0]!.ids.toSorted((a, b) => a - b),
    );
  });

  test('a worker-style cursor (the group before, plus batches taken) trains each id exactly once', async () => {
    const options = { topic, batchSize: 64, shuffleBuffer: 500, seed: 4, features: { xs: ['id', 'x'] } };
    const first = await run(options);
    const ends = groupEnds(first);
    // Stop in the middle of a group: the cursor is the position of the group before and how many batches were taken.
    const group = Math.floor(ends.length / 2);
    const start = ends[group - 1]! + 1;
    const taken = Math.max(1, Math.floor((ends[group]! - start) / 2));
    const before = first.batches.slice(0, start + taken).flatMap((b) => b.ids);
    const resumed = await run({ ...options, resume: first.batches[start - 1]!.position });
    const after = resumed.batches.slice(taken).flatMap((b) => b.ids);
    const all = [...before, ...after].sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: N }, (_, i) => i),
      'every id exactly once across the stop',
    );
  });

  test('without shuffling a resume continues in order at the first row not delivered', async () => {
    const options = { topic, batchSize: 100, shuffleBuffer: 0, partitions: [1], features: { xs: ['id', 'x'] } };
    const first = await run(options);
    const at = groupEnds(first)[2]!;
    const resumed = await run({ ...options, resume: first.batches[at]!.position });
    assert.deepEqual(
      resumed.batches.flatMap((b) => b.ids),
      first.batches.slice(at + 1).flatMap((b) => b.ids),
    );
  });
});
