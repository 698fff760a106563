// Work a cell starts that an interrupt must stop, not just stop awaiting: a stream or a training job runs on after
// its cell is gone, and keeps the cluster busy. Each piece of work gets the signal current when it starts; an
// interrupt aborts it and the kernel waits for that work to wind down before it ends the cell another way.

/** Abortable work in flight (streams, training jobs), and the interrupt that stops it. */
export class Interrupts {
  #controller = new AbortController();
  readonly #running = new Set<Promise<void>>();

  /** Runs `work` with the current signal, which the next interrupt aborts. */
  run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const promise = work(this.#controller.signal);
    // Forgotten in the first reaction to the work's end, before whoever awaits the work goes on.
    const forget = (): void => void this.#running.delete(settled);
    const settled: Promise<void> = promise.then(forget, forget);
    this.#running.add(settled);
    return promise;
  }

  /**
   * Aborts everything running with `reason`; resolves once all of it has settled. Undefined when nothing ran (the
   * signal is kept: nothing heard it).
   */
  interrupt(reason: unknown): Promise<void> | undefined {
    if (this.#running.size === 0) return undefined;
    const running = [...this.#running];
    this.#controller.abort(reason);
    this.#controller = new AbortController();
    return Promise.all(running).then(() => undefined);
  }
}
