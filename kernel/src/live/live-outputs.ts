// The live outputs of one kernel and the comm target (PETAL_LIVE_TARGET) through which frontends follow them.
import type { OutputSink } from '../api/create-api.ts';
import type { CommManager } from '../comms.ts';
import { PETAL_LIVE_TARGET } from '../outputs/types.ts';
import type { PetalCards, PetalOutputKind } from '../outputs/types.ts';
import { LiveOutput } from './live-output.ts';

/** Starts live outputs and connects the comms frontends open to them. */
export class LiveOutputs {
  readonly #running = new Map<string, LiveOutput<PetalOutputKind>>();
  readonly #output: OutputSink;

  constructor(comms: CommManager, output: OutputSink) {
    this.#output = output;
    comms.registerTarget(PETAL_LIVE_TARGET, (comm, data) => {
      const live = typeof data.displayId === 'string' ? this.#running.get(data.displayId) : undefined;
      // Work that already ended left its final card in the notebook: nothing will come on this comm.
      if (live) live.attach(comm);
      else comm.close();
    });
  }

  /** Shows `card` below the running cell and keeps it live until its finish(). */
  start<K extends PetalOutputKind>(kind: K, card: PetalCards[K]): LiveOutput<K> {
    const live: LiveOutput<K> = new LiveOutput(kind, card, this.#output, () => this.#running.delete(live.displayId));
    this.#running.set(live.displayId, live as unknown as LiveOutput<PetalOutputKind>);
    return live;
  }
}
