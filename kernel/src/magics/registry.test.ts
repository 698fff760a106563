import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPetalError } from '@petal/runtime';
import { builtinMagics } from './index.ts';
import { splitArgs } from './registry.ts';

const registry = builtinMagics();

function rejects(line: string, code: string, hint: RegExp): void {
  assert.throws(
    () => registry.parseLine(line),
    (err: unknown) => isPetalError(err, code) && hint.test(err.message),
  );
}

test('parses subcommands, flags and positionals', () => {
  const { call } = registry.parseLine('%kafka up --port 9092 --heap-mb=512');
  assert.deepEqual(call, {
    name: 'kafka',
    subcommand: 'up',
    flags: { port: '9092', 'heap-mb': '512' },
    positionals: [],
  });
  assert.deepEqual(registry.parseLine('npm install a@1 "b c"').call.positionals, ['a@1', 'b c']);
});

test('an unknown magic, subcommand or flag lists the valid ones', () => {
  rejects('%nope', 'PETAL_MAGIC_UNKNOWN', /%cluster, %help, %kafka, %logs, %npm, %train; cell magics: %%stream/);
  rejects('%kafka sideways', 'PETAL_MAGIC_USAGE', /%kafka up, %kafka down, %kafka status/);
  rejects('%kafka up --prt 1', 'PETAL_MAGIC_USAGE', /--port N, --heap-mb N/);
  rejects('%kafka status extra', 'PETAL_MAGIC_USAGE', /unexpected argument "extra"/);
  rejects('%npm install', 'PETAL_MAGIC_USAGE', /PKG\.\.\./);
  rejects('%cluster up --gpus 2', 'PETAL_MAGIC_USAGE', /--ps N, --workers M, --mode sync\|async\|ssp:K/);
  rejects('%train opts --lr 1', 'PETAL_MAGIC_USAGE', /--epochs N, --batch-size B/);
  rejects('%train --epochs 2', 'PETAL_MAGIC_USAGE', /%train EXPR/);
  assert.throws(
    () => registry.parseCell('%%stream topic --parts 2'),
    (err: unknown) => isPetalError(err, 'PETAL_MAGIC_USAGE') && /--partitions P/.test(err.message),
  );
  assert.throws(
    () => registry.parseCell('%%nope topic'),
    (err: unknown) => isPetalError(err, 'PETAL_MAGIC_UNKNOWN') && /%%stream/.test(err.message),
  );
});

test('an expression magic takes the code before its flags as EXPR', () => {
  const { call } = registry.parseLine('%train { ...opts, seed: 1 } --epochs 3 --batch-size=16');
  assert.equal(call.expression, '{ ...opts, seed: 1 }');
  assert.deepEqual(call.flags, { epochs: '3', 'batch-size': '16' });
  assert.equal(registry.parseLine('%train opts').call.expression, 'opts');
});

test('a cell magic parses its first line', () => {
  const { magic, call } = registry.parseCell('%%stream blobs --partitions 4 --fresh false');
  assert.equal(magic.evaluatesBody, true);
  assert.deepEqual(call.positionals, ['blobs']);
  assert.deepEqual(call.flags, { partitions: '4', fresh: 'false' });
});

test('completes magic names, subcommands and flags', () => {
  assert.deepEqual(registry.complete('%ka'), { start: 0, matches: ['%kafka'] });
  assert.deepEqual(registry.complete('%kafka s').matches, ['status']);
  assert.deepEqual(registry.complete('%kafka up --h'), { start: 10, matches: ['--heap-mb'] });
});

test('help names every magic and its flags', () => {
  const help = registry.help();
  for (const text of ['%help', '%kafka up', '--port N', '%npm install PKG...', '%train EXPR', '%%stream NAME'])
    assert.ok(help.includes(text), text);
  assert.match(registry.help('kafka'), /%kafka down/);
});

test('splits arguments like a shell', () => {
  assert.deepEqual(splitArgs(`a "b \\" c" 'd e' f`), ['a', 'b " c', 'd e', 'f']);
});
