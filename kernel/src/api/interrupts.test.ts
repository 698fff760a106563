import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interrupts } from './interrupts.ts';

test('an interrupt aborts the work running, resolves once it settled, and leaves later work a fresh signal', async () => {
  const interrupts = new Interrupts();
  assert.equal(interrupts.interrupt('nothing'), undefined, 'nothing ran: nothing to wait for');
  let ended = false;
  const job = interrupts.run(
    (signal) =>
      new Promise<string>((_, reject) =>
        signal.addEventListener('abort', () => {
          // winds down a little after the abort, as a training job does
          setTimeout(() => {
            ended = true;
            reject(new Error(`stopped: ${String(signal.reason)}`));
          }, 20);
        }),
      ),
  );
  const stopping = interrupts.interrupt('SIGINT');
  assert.ok(stopping);
  await stopping;
  assert.equal(ended, true, 'resolves only once the work has ended');
  await assert.rejects(job, /stopped: SIGINT/);
  let signal: AbortSignal | undefined;
  assert.equal(await interrupts.run(async (s) => ((signal = s), 'done')), 'done');
  assert.equal(signal?.aborted, false, 'work started after an interrupt gets a fresh signal');
  assert.equal(interrupts.interrupt('again'), undefined, 'settled work is forgotten');
});
