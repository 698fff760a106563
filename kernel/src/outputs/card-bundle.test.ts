import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mimeBundle } from '../display.ts';
import { cardBundle, cardValue } from './card-bundle.ts';
import { PETAL_MIME } from './types.ts';
import type { ClusterCard, GalleryCard, TrainCard } from './types.ts';

const cluster: ClusterCard = {
  version: 1,
  state: 'running',
  generation: 7,
  mode: 'sync',
  pool: 'local',
  coordinator: { host: '127.0.0.1', port: 4000 },
  tasks: [
    {
      id: 'ps:0',
      role: 'ps',
      index: 0,
      host: '127.0.0.1',
      port: 4001,
      pid: 11,
      devices: ['cpu'],
      state: 'up',
      heartbeatAgeMs: 120,
    },
    {
      id: 'worker:0',
      role: 'worker',
      index: 0,
      host: '127.0.0.1',
      pid: 12,
      devices: ['cpu'],
      state: 'failed',
      heartbeatAgeMs: 6000,
      failure: 'exited <1>',
    },
  ],
};

test('every card carries its MIME type, a text/plain and an HTML fallback', () => {
  const data = cardBundle('cluster', cluster);
  assert.deepEqual(data[PETAL_MIME.cluster], cluster);
  assert.match(String(data['text/plain']), /cluster running: 1 PS, 1 workers/);
  assert.match(String(data['text/plain']), /worker:0\s+failed/);
  assert.match(String(data['text/html']), /<table>.*<td style="text-align:left">exited &#60;1&#62;<\/td>/s);
});

test('a card value shows as its bundle and stays a plain card to code', () => {
  const value = cardValue('cluster', cluster);
  assert.deepEqual(JSON.parse(JSON.stringify(value)), cluster);
  assert.deepEqual(Object.keys(mimeBundle(value).data).sort(), [PETAL_MIME.cluster, 'text/html', 'text/plain']);
});

test('training shows a sparkline and its epochs; a gallery only data-URL images', () => {
  const train: TrainCard = {
    version: 1,
    job: 'm #1',
    state: 'done',
    mode: 'sync',
    workers: 2,
    epochs: 1,
    step: 2,
    steps: [
      { step: 1, epoch: 0, loss: 1, metrics: {}, examplesPerSec: 10 },
      { step: 2, epoch: 0, loss: 0.5, metrics: {}, examplesPerSec: 10 },
    ],
    epochPoints: [
      {
        epoch: 0,
        loss: 0.5,
        metrics: { accuracy: 0.9 },
        validation: { loss: 0.4, metrics: { accuracy: 0.93 } },
        examplesPerSec: 20,
        computeMs: 1,
        exchangeMs: 1,
        waitMs: 1,
        inputMs: 1,
      },
    ],
    elapsedMs: 5,
    modelPath: '/m/model.json',
  };
  const data = cardBundle('train', train);
  assert.match(String(data['text/html']), /<svg[^>]*>.*<polyline/s);
  assert.match(
    String(data['text/plain']),
    /epoch 0: loss 0\.5000, accuracy 0\.9000; validation loss 0\.4000, accuracy 0\.9300/,
  );
  const gallery: GalleryCard = {
    version: 1,
    classes: ['cat', 'dog'],
    items: [
      { src: 'data:image/png;base64,AAAA', label: 'cat', probabilities: [0.8, 0.2] },
      { src: 'javascript:alert(1)', label: 'dog' },
    ],
    confusion: [
      [1, 0],
      [0, 1],
    ],
  };
  const html = String(cardBundle('gallery', gallery)['text/html']);
  assert.match(html, /<img src="data:image\/png;base64,AAAA"/);
  assert.doesNotMatch(html, /javascript:/);
  assert.match(String(cardBundle('gallery', gallery)['text/plain']), /0: label cat, cat 80%/);
});
