// Lines from byte chunks (UTF-8 kept whole, CRLF, bounded length) and the bounded ring of the last lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, LogRing, MAX_LINE_CHARS } from './log-lines.ts';
import type { LogLine } from './log-lines.ts';

test('splits chunks into lines, keeping UTF-8 whole and cutting overlong lines', () => {
  const lines: string[] = [];
  const splitter = new LineSplitter((text) => lines.push(text));
  const bytes = Buffer.from('a\r\nłódź\n\nlast');
  for (const byte of bytes) splitter.write(Buffer.from([byte]));
  splitter.write('x'.repeat(MAX_LINE_CHARS + 5));
  splitter.end();
  assert.deepEqual(lines, ['a', 'łódź', '', 'last' + 'x'.repeat(MAX_LINE_CHARS - 4), 'x'.repeat(9)]);
});

test('the ring keeps the last N lines in order and fans out to subscribers', () => {
  const ring = new LogRing(3);
  const seen: string[] = [];
  const unsubscribe = ring.subscribe((line) => seen.push(line.text));
  ring.subscribe(() => {
    throw new Error('a broken subscriber');
  });
  const line = (text: string): LogLine => ({ task: 'ps:0', stream: 'stdout', text, time: 0 });
  for (const text of ['1', '2', '3', '4', '5']) ring.push(line(text));
  unsubscribe();
  ring.push(line('6'));
  assert.deepEqual(
    ring.tail().map((l) => l.text),
    ['4', '5', '6'],
  );
  assert.deepEqual(
    ring.tail(2).map((l) => l.text),
    ['5', '6'],
  );
  assert.deepEqual(seen, ['1', '2', '3', '4', '5']);
});
