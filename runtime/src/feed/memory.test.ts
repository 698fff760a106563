// A stream far larger than the process may hold: 500 MB of float32 vectors, generated chunk by chunk, streamed and
// fed in child processes whose peak RSS (VmHWM) must stay well below the data size.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { useTestBroker } from '../kafka/test-broker.ts';

// Large enough that holding the data would show: growth stays near the fixed buffers (fetches, shuffle pool), ~140 MB.
const MEGABYTES = 500;
const child = join(import.meta.dirname, 'testing', 'memory-child.ts');
const testBroker = useTestBroker('petal-feed-memory');

interface ChildResult {
  peakKiB: number;
  baselineKiB: number;
  rows: number;
  bytes?: number;
  once?: boolean;
}

async function run(mode: 'stream' | 'feed', topic: string): Promise<ChildResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [child, mode, JSON.stringify(testBroker().connection), topic, String(MEGABYTES)],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
}

test(`${MEGABYTES} MB streamed and fed with bounded peak RSS`, { timeout: 300_000 }, async (t) => {
  const topic = `big-${Date.now()}`;
  const streamed = await run('stream', topic);
  const fed = await run('feed', topic);
  const dataMB = streamed.bytes! / 1e6;
  const mb = (kib: number) => Math.round(kib / 1024);
  t.diagnostic(
    `data ${dataMB.toFixed(0)} MB (${streamed.rows} rows); stream peak ${mb(streamed.peakKiB)} MB ` +
      `(start-up ${mb(streamed.baselineKiB)} MB); feed peak ${mb(fed.peakKiB)} MB (start-up ${mb(fed.baselineKiB)} MB)`,
  );
  assert.ok(dataMB >= MEGABYTES * 0.99, `streamed only ${dataMB} MB`);
  assert.equal(fed.rows, streamed.rows);
  assert.ok(fed.once, 'a row was lost or repeated');
  // Growth over start-up (TensorFlow and the Kafka client loaded) is what the data costs: under half its size.
  for (const [name, r] of [
    ['stream', streamed],
    ['feed', fed],
  ] as const) {
    const grewMB = (r.peakKiB - r.baselineKiB) / 1024;
    assert.ok(grewMB < dataMB / 2, `${name} grew ${grewMB.toFixed(0)} MB for ${dataMB.toFixed(0)} MB of data`);
  }
});
