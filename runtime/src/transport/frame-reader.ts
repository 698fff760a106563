// Turns socket chunks into frames. Bytes land in a reusable arena (one copy, no Buffer per frame); a frame with
// tensors is handed out as views into the arena, which is then *leased*: the reader never overwrites a leased
// region, and switches to a spare or fresh arena instead. When the consumer releases the frame, the arena returns
// to service. Headers are checked as soon as they arrive, so an oversize frame is refused before it is buffered.
// An ArenaSource may provide the arenas' memory: a parameter server has frames land in the memory its kernels
// compute in, where a pushed gradient is then used as it lies instead of being copied there first.
import { HEADER_BYTES, decodeFrame, readFrameHeader } from '../protocol/index.ts';
import type { Frame, FrameLimits } from '../protocol/index.ts';

const MIN_ARENA = 256 * 1024;

/** Memory lent to a frame reader for one arena; `give()` hands it back once no frame views it. */
export interface LentArena {
  bytes: Uint8Array;
  give(): void;
}

/** Where a frame reader takes its arenas' memory from (else it allocates its own). */
export interface ArenaSource {
  /** Memory of at least `bytes` (the whole of it is used), or undefined: the reader allocates its own then. */
  take(bytes: number): LentArena | undefined;
}

/** A decoded frame whose tensors may view the reader's arena; call `release()` once done with the tensors. */
export interface ReceivedFrame extends Frame {
  /** Lets the receive buffer be reused. Idempotent. Tensors must not be read after this. */
  release(): void;
}

class Arena {
  readonly bytes: Buffer;
  readonly #lent: LentArena | undefined;
  leases = 0;
  constructor(size: number, source: ArenaSource | undefined) {
    this.#lent = source?.take(size);
    // allocUnsafeSlow: its own ArrayBuffer at offset 0, so 8-aligned payloads give aligned typed-array views (a
    // source's memory must be 8-aligned too).
    this.bytes = this.#lent
      ? Buffer.from(this.#lent.bytes.buffer, this.#lent.bytes.byteOffset, this.#lent.bytes.byteLength)
      : Buffer.allocUnsafeSlow(size);
  }

  /** Out of the reader's use and viewed by no frame: lent memory goes back. */
  retire(): void {
    this.#lent?.give();
  }
}

const NOOP = (): void => {};

/** Incremental frame parser with a reusable receive arena. Throws ProtocolError from push() on a malformed frame. */
export class FrameReader {
  readonly #limits: FrameLimits;
  readonly #source: ArenaSource | undefined;
  #arena: Arena;
  #spare: Arena | undefined;
  #disposed = false;
  #start = 0; // first unconsumed byte
  #end = 0; // one past the last received byte
  #needed = HEADER_BYTES; // bytes from #start that make the next step possible (header, then whole frame)

  constructor(limits: FrameLimits, source?: ArenaSource) {
    this.#limits = limits;
    this.#source = source;
    this.#arena = new Arena(MIN_ARENA, source);
  }

  /** Done reading: arenas no frame views go back to their source now, the others once their frames are released. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const a of [this.#arena, this.#spare]) if (a && a.leases === 0) a.retire();
    this.#spare = undefined;
  }

  /** Bytes held but not yet part of a whole frame. */
  get bufferedBytes(): number {
    return this.#end - this.#start;
  }

  /** Appends a chunk and returns every frame it completes, in order. */
  push(chunk: Uint8Array): ReceivedFrame[] {
    const frames: ReceivedFrame[] = [];
    let at = 0;
    while (at < chunk.length) {
      const want = this.#needed - (this.#end - this.#start);
      const take = Math.min(want, chunk.length - at);
      this.#reserve(this.#needed);
      this.#arena.bytes.set(chunk.subarray(at, at + take), this.#end);
      this.#end += take;
      at += take;
      if (this.#end - this.#start < this.#needed) break;
      if (this.#needed === HEADER_BYTES) {
        const header = readFrameHeader(this.#arena.bytes, this.#start, this.#limits);
        if (header.frameBytes > HEADER_BYTES) {
          this.#needed = header.frameBytes;
          continue;
        }
      }
      frames.push(this.#takeFrame());
    }
    return frames;
  }

  #takeFrame(): ReceivedFrame {
    const arena = this.#arena;
    const bytes = arena.bytes.subarray(this.#start, this.#start + this.#needed);
    this.#start += this.#needed;
    this.#needed = HEADER_BYTES;
    const frame = decodeFrame(bytes, this.#limits);
    if (frame.tensors.length === 0) return Object.assign(frame, { release: NOOP });
    arena.leases++;
    let released = false;
    return Object.assign(frame, {
      release: (): void => {
        if (released) return;
        released = true;
        arena.leases--;
        if (arena.leases > 0) return;
        if (this.#disposed) arena.retire();
        else if (arena !== this.#arena) this.#keepSpare(arena);
      },
    });
  }

  // An arena out of service and free: kept as the spare when larger than the one there, else retired.
  #keepSpare(arena: Arena): void {
    const spare = this.#spare;
    if (spare && spare.bytes.length >= arena.bytes.length) return arena.retire();
    spare?.retire();
    this.#spare = arena;
  }

  // Makes room for `needed` bytes from #start, moving the partial frame to the front of this arena when nothing
  // there is leased, or into a spare or new arena (sized for the frame) when it is.
  #reserve(needed: number): void {
    const arena = this.#arena;
    if (this.#start === this.#end && arena.leases === 0) this.#start = this.#end = 0;
    if (this.#start + needed <= arena.bytes.length) return;
    const partial = this.#end - this.#start;
    if (arena.leases === 0 && needed <= arena.bytes.length) {
      arena.bytes.copyWithin(0, this.#start, this.#end);
    } else {
      const size = Math.max(MIN_ARENA, needed, arena.leases === 0 ? arena.bytes.length * 2 : 0);
      let next = this.#spare;
      if (next && next.leases === 0 && next.bytes.length >= size) this.#spare = undefined;
      else next = new Arena(Math.min(size, this.#limits.maxFrameBytes + HEADER_BYTES), this.#source);
      next.bytes.set(arena.bytes.subarray(this.#start, this.#end), 0);
      this.#arena = next;
      if (arena.leases === 0) this.#keepSpare(arena);
    }
    this.#start = 0;
    this.#end = partial;
  }
}
