// One live output: a card shown once with a display id, then kept current two ways while its work runs — LiveUpdates
// on every comm a frontend opened for it (at most every COMM_MS, coalesced: only the newest card goes), and
// update_display_data snapshots (at most every SNAPSHOT_MS) — and finished with a last snapshot without `live`.
import type { OutputSink } from '../api/create-api.ts';
import type { Comm } from '../api/types.ts';
import { cardValue } from '../outputs/card-bundle.ts';
import type { LiveUpdate, PetalCards, PetalOutputKind } from '../outputs/types.ts';

/** Comm updates at most this often (~10 Hz). */
export const COMM_MS = 100;
/** update_display_data snapshots at most this often (~1 Hz). */
export const SNAPSHOT_MS = 1000;

/** A frontend can hold a few views of one output; more are refused so a misbehaving one cannot grow this. */
const MAX_COMMS = 8;

let outputs = 0;

/** A card the kernel keeps current until finish(). */
export class LiveOutput<K extends PetalOutputKind> {
  readonly kind: K;
  readonly displayId = `petal-live-${process.pid}-${++outputs}`;
  readonly #output: OutputSink;
  readonly #onEnd: () => void;
  readonly #comms = new Set<Comm>();
  #card: PetalCards[K];
  #sent = { comm: 0, snapshot: 0 };
  #timers: { comm?: NodeJS.Timeout; snapshot?: NodeJS.Timeout } = {};
  #ended = false;

  constructor(kind: K, card: PetalCards[K], output: OutputSink, onEnd: () => void) {
    this.kind = kind;
    this.#output = output;
    this.#onEnd = onEnd;
    this.#card = { ...card, live: { displayId: this.displayId } };
    this.#sent.snapshot = Date.now();
    output.display(cardValue(kind, this.#card), this.displayId, false);
  }

  /** The card as last set. */
  get card(): PetalCards[K] {
    return this.#card;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A frontend's comm for this output: it gets the current card now and every update after. */
  attach(comm: Comm): void {
    if (this.#ended || this.#comms.size >= MAX_COMMS) {
      comm.close();
      return;
    }
    this.#comms.add(comm);
    comm.onClose(() => this.#comms.delete(comm));
    comm.send(this.#message());
  }

  /** Replaces the card; frontends see it within COMM_MS, snapshots within SNAPSHOT_MS. */
  update(card: PetalCards[K]): void {
    if (this.#ended) return;
    this.#card = { ...card, live: { displayId: this.displayId } };
    this.#schedule('comm', COMM_MS, () => {
      for (const comm of this.#comms) comm.send(this.#message());
    });
    this.#schedule('snapshot', SNAPSHOT_MS, () =>
      this.#output.display(cardValue(this.kind, this.#card), this.displayId, true),
    );
  }

  /** The last card: sent on every comm (then closed) and as the final snapshot, with `live` removed. Idempotent. */
  finish(card: PetalCards[K]): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timers.comm);
    clearTimeout(this.#timers.snapshot);
    const { live: _live, ...final } = card;
    this.#card = final as PetalCards[K];
    for (const comm of this.#comms) {
      comm.send(this.#message());
      comm.close();
    }
    this.#comms.clear();
    this.#output.display(cardValue(this.kind, this.#card), this.displayId, true);
    this.#onEnd();
  }

  #message(): Record<string, unknown> {
    return { kind: this.kind, card: this.#card } satisfies LiveUpdate<K> as unknown as Record<string, unknown>;
  }

  /** Runs `send` now if the last one is `periodMs` old, else once when it will be (later calls coalesce). */
  #schedule(which: 'comm' | 'snapshot', periodMs: number, send: () => void): void {
    if (this.#timers[which]) return;
    const wait = Math.max(0, this.#sent[which] + periodMs - Date.now());
    this.#timers[which] = setTimeout(() => {
      this.#timers[which] = undefined;
      this.#sent[which] = Date.now();
      send();
    }, wait);
  }
}
