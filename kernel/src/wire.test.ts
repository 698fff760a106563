import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { Wire, WireError } from './wire.ts';

test('signs the four dicts only: binary buffers are not signed', () => {
  const wire = new Wire('secret');
  const frames = wire.message('comm_msg', { comm_id: 'c', data: {} }, {}, { buffers: [new Uint8Array([1, 2, 3])] });
  const at = frames.findIndex((f) => f.toString() === '<IDS|MSG>');
  const hmac = createHmac('sha256', 'secret');
  for (const part of frames.slice(at + 2, at + 6)) hmac.update(part);
  assert.equal(frames[at + 1]!.toString(), hmac.digest('hex'));
  const decoded = new Wire('secret').decode(frames);
  assert.deepEqual([...decoded.buffers[0]!], [1, 2, 3]);
  assert.equal(decoded.header.msg_type, 'comm_msg');
});

test('rejects a wrong signature, a replay and a missing delimiter', () => {
  const frames = new Wire('secret').message('kernel_info_request', {});
  assert.throws(() => new Wire('other').decode(frames), WireError);
  const receiver = new Wire('secret');
  receiver.decode(frames);
  assert.throws(() => receiver.decode(frames), /replayed/);
  assert.throws(() => receiver.decode(frames.slice(1)), /delimiter/);
});

test('an empty key means no signing', () => {
  const frames = new Wire('').message('kernel_info_request', {}, {}, { idents: [Buffer.from('id')] });
  const msg = new Wire('').decode(frames);
  assert.deepEqual(msg.idents, [Buffer.from('id')]);
});
