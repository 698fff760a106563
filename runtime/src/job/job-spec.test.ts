import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '../errors.ts';
import { layerTrainable, toOptimizerConfig, validateJobSpec } from './job-spec.ts';

const topology = { class_name: 'Sequential', config: { name: 's', layers: [] } };
function spec(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: { topology },
    compile: {
      optimizer: { name: 'adam', learningRate: 0.01 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    },
    feeds: { train: { topic: 't' }, validation: { topic: 'v' } },
    batchSize: 32,
    epochs: 2,
    mode: 'sync',
    ps: 1,
    workers: 2,
    ...over,
  };
}
function rejects(json: unknown, path: string, pattern?: RegExp): void {
  assert.throws(
    () => validateJobSpec(json),
    (e: unknown) =>
      isPetalError(e, 'PETAL_JOB_SPEC') &&
      e.detail.path === path &&
      e.message.startsWith(path) &&
      (pattern ? pattern.test(e.message) : true),
    `expected an error naming ${path}`,
  );
}

test('a full spec passes and survives a JSON round trip', () => {
  const s = spec({
    model: { topology, initialWeights: '/tmp/w', trainable: [{ pattern: 'conv*', trainable: false }] },
    mode: 'ssp:3',
    checkpoint: { dir: '/tmp/ck', everySteps: 100, keep: 2 },
    seed: 7,
  });
  assert.deepEqual(validateJobSpec(JSON.parse(JSON.stringify(s))), s);
  assert.equal(
    validateJobSpec(spec({ compile: { optimizer: { name: 'sgd', learningRate: 0.1 }, loss: 'mse' } })).ps,
    1,
  );
});

test('errors name the field path, with a hint', () => {
  rejects(spec({ extra: 1 }), 'job.extra', /is not an option/);
  rejects({ ...spec(), model: undefined }, 'job.model', /is required/);
  rejects(spec({ mode: 'ssp' }), 'job.mode', /ssp:K/);
  rejects(spec({ batchSize: 0 }), 'job.batchSize', /integer/);
  rejects(spec({ workers: 1.5 }), 'job.workers');
  rejects(spec({ model: { topology: { layers: [] } } }), 'job.model.topology', /Keras topology/);
  rejects(spec({ model: { topology, trainable: [{ pattern: 'x' }] } }), 'job.model.trainable[0].trainable');
  rejects(
    spec({ compile: { optimizer: { name: 'adam' }, loss: 'hinge' } }),
    'job.compile.loss',
    /categoricalCrossentropy/,
  );
  rejects(
    spec({ compile: { optimizer: { name: 'adam' }, loss: 'mse', metrics: ['accuracy', 'f1'] } }),
    'job.compile.metrics[1]',
  );
  rejects(spec({ compile: { optimizer: { name: 'adagrad' }, loss: 'mse' } }), 'job.compile.optimizer.name');
  rejects(
    spec({ compile: { optimizer: { name: 'sgd' }, loss: 'mse' } }),
    'job.compile.optimizer.learningRate',
    /required/,
  );
  rejects(
    spec({ compile: { optimizer: { name: 'adam', beta1: 2 }, loss: 'mse' } }),
    'job.compile.optimizer.beta1',
    /\[0, 1\]/,
  );
  rejects(spec({ compile: { optimizer: { name: 'adam', lr: 1 }, loss: 'mse' } }), 'job.compile.optimizer.lr');
  rejects(
    spec({ compile: { optimizer: { name: 'adam', schedule: { name: 'cosineDecay', decaySteps: 0 } }, loss: 'mse' } }),
    'job.compile.optimizer.schedule.decaySteps',
  );
  rejects(spec({ feeds: { validation: { topic: 'v' } } }), 'job.feeds.train', /required/);
  rejects(spec({ feeds: { train: { topic: 't', partitions: [1] } } }), 'job.feeds.train.partitions');
  rejects(spec({ checkpoint: { dir: '/tmp' } }), 'job.checkpoint.everySteps', /required/);
});

test('optimizer specs map onto the PS optimizer configs', () => {
  assert.deepEqual(toOptimizerConfig({ name: 'momentum', learningRate: 0.1, momentum: 0.9 }), {
    type: 'momentum',
    learningRate: 0.1,
    momentum: 0.9,
  });
  assert.deepEqual(toOptimizerConfig({ name: 'rmsprop', learningRate: 0.01, centered: true }), {
    type: 'rmsprop',
    learningRate: 0.01,
    centered: true,
  });
});

test('trainable rules: last match wins, * matches any run', () => {
  const rules = [
    { pattern: 'conv*', trainable: false },
    { pattern: 'conv_pw_13*', trainable: true },
  ];
  assert.equal(layerTrainable('conv_pw_1', true, rules), false);
  assert.equal(layerTrainable('conv_pw_13_relu', true, rules), true);
  assert.equal(layerTrainable('dense', true, rules), true);
  assert.equal(layerTrainable('dense', false, rules), false);
  assert.equal(layerTrainable('a.b', true, [{ pattern: 'a.b', trainable: false }]), false);
  assert.equal(layerTrainable('axb', true, [{ pattern: 'a.b', trainable: false }]), true);
});
