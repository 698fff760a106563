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
  rejects('%nope', 'PETAL_MAGIC_UNKNOWN', /%help, %kafka, %npm/);
  rejects('%kafka sideways', 'PETAL_MAGIC_USAGE', /%kafka up, %kafka down, %kafka status/);
  rejects('%kafka up --prt 1', 'PETAL_MAGIC_USAGE', /--port N, --heap-mb N/);
  rejects('%kafka status extra', 'PETAL_MAGIC_USAGE', /unexpected argument "extra"/);
  rejects('%npm install', 'PETAL_MAGIC_USAGE', /PKG\.\.\./);
  assert.throws(
    () => registry.parseCell('%%stream topic'),
    (err: unknown) => isPetalError(err, 'PETAL_MAGIC_UNKNOWN'),
  );
});

test('completes magic names, subcommands and flags', () => {
  assert.deepEqual(registry.complete('%ka'), { start: 0, matches: ['%kafka'] });
  assert.deepEqual(registry.complete('%kafka s').matches, ['status']);
  assert.deepEqual(registry.complete('%kafka up --h'), { start: 10, matches: ['--heap-mb'] });
});

test('help names every magic and its flags', () => {
  const help = registry.help();
  for (const text of ['%help', '%kafka up', '--port N', '%npm install PKG...']) assert.ok(help.includes(text), text);
  assert.match(registry.help('kafka'), /%kafka down/);
});

test('splits arguments like a shell', () => {
  assert.deepEqual(splitArgs(`a "b \\" c" 'd e' f`), ['a', 'b " c', 'd e', 'f']);
});
