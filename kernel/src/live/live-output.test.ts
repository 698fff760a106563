import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import type { OutputSink } from '../api/create-api.ts';
import type { Comm } from '../api/types.ts';
import { mimeBundle } from '../display.ts';
import type { StreamCard } from '../outputs/types.ts';
import { COMM_MS, LiveOutput, SNAPSHOT_MS } from './live-output.ts';

function card(rows: number): StreamCard {
  return { version: 1, topic: 't', state: 'streaming', rows, totalRows: 100, bytes: 0, elapsedMs: 0, partitions: [] };
}

function sink() {
  const shown: { data: Record<string, unknown>; id: string; update: boolean }[] = [];
  const output: OutputSink = {
    display: (value, id, update) => shown.push({ data: mimeBundle(value).data, id, update }),
    clear: () => {},
    write: () => {},
    executing: () => true,
  };
  return { output, shown };
}

function fakeComm() {
  const sent: Record<string, unknown>[] = [];
  let closed = false;
  const comm: Comm = {
    id: 'c',
    target: 'petal.live',
    get closed() {
      return closed;
    },
    send: (data = {}) => void sent.push(data),
    close: () => void (closed = true),
    onMsg: () => {},
    onClose: () => {},
  };
  return { comm, sent, isClosed: () => closed };
}

test('updates coalesce to the newest card: ~10 Hz on the comm, ~1 Hz as snapshots, then a final card without live', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const { output, shown } = sink();
    let ended = false;
    const live = new LiveOutput('stream', card(0), output, () => (ended = true));
    assert.equal(shown.length, 1);
    assert.deepEqual((shown[0]!.data['application/vnd.petal.stream+json'] as StreamCard).live, {
      displayId: live.displayId,
    });
    const { comm, sent, isClosed } = fakeComm();
    live.attach(comm);
    assert.equal(sent.length, 1, 'the current card at once');
    for (let rows = 1; rows <= 50; rows++) live.update(card(rows)); // a burst within one period
    mock.timers.tick(COMM_MS);
    assert.equal(sent.length, 2, 'one comm message for the burst');
    assert.equal((sent[1]!.card as StreamCard).rows, 50, 'the newest card');
    mock.timers.tick(SNAPSHOT_MS);
    const snapshots = shown.filter((s) => s.update);
    assert.equal(snapshots.length, 1, 'one snapshot for the burst');
    live.finish({ ...card(100), state: 'done' });
    live.update(card(7)); // after the end: ignored
    mock.timers.tick(10 * SNAPSHOT_MS);
    const last = shown.at(-1)!;
    assert.equal(last.update, true);
    const final = last.data['application/vnd.petal.stream+json'] as StreamCard;
    assert.equal(final.state, 'done');
    assert.equal('live' in final, false);
    assert.equal((sent.at(-1)!.card as StreamCard).state, 'done');
    assert.ok(isClosed() && ended && live.ended);
    assert.match(String(last.data['text/plain']), /t: done, 100 of 100 rows/);
  } finally {
    mock.timers.reset();
  }
});

test('a comm opened after the end is closed at once', () => {
  const { output } = sink();
  const live = new LiveOutput('stream', card(0), output, () => {});
  live.finish(card(1));
  const { comm, sent, isClosed } = fakeComm();
  live.attach(comm);
  assert.equal(sent.length, 0);
  assert.ok(isClosed());
});
