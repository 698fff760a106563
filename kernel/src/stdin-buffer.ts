// The shared buffer a blocked prompt() waits on: int32 state, int32 byte length, then the UTF-8 answer.
export const INPUT_WAITING = 0;
export const INPUT_VALUE = 1;
export const INPUT_CANCELLED = 2;
const HEADER_BYTES = 8;
/** The longest answer prompt() can return, in UTF-8 bytes. */
export const INPUT_MAX_BYTES = 1 << 20;

export function createInputBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + INPUT_MAX_BYTES);
}

/** Fills the buffer and wakes the waiting thread. */
export function writeInput(buffer: SharedArrayBuffer, state: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8').subarray(0, INPUT_MAX_BYTES);
  new Uint8Array(buffer, HEADER_BYTES).set(bytes);
  const header = new Int32Array(buffer, 0, 2);
  Atomics.store(header, 1, bytes.length);
  Atomics.store(header, 0, state);
  Atomics.notify(header, 0);
}

/**
 * Blocks until the buffer is filled. Waits in short slices so SIGINT (breakOnSigint) can still end the cell.
 * Returns the state and the answer.
 */
export function waitForInput(buffer: SharedArrayBuffer): { state: number; value: string } {
  const header = new Int32Array(buffer, 0, 2);
  while (Atomics.load(header, 0) === INPUT_WAITING) Atomics.wait(header, 0, INPUT_WAITING, 50);
  const length = Atomics.load(header, 1);
  return { state: Atomics.load(header, 0), value: Buffer.from(buffer, HEADER_BYTES, length).toString('utf8') };
}
