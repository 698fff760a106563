// The frontend end of a live output: a comm to the kernel's PETAL_LIVE_TARGET that carries LiveUpdates for one
// display id until the kernel closes it or the output goes away.
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { PETAL_LIVE_TARGET, type LiveUpdate, type PetalOutputKind } from '@petal/kernel/outputs';

/** What a live channel tells its output. */
export interface LiveChannelHandlers<K extends PetalOutputKind> {
  /** A newer card for the output. */
  update(card: LiveUpdate<K>['card']): void;
  /** The kernel closed the comm (work done, kernel restarted, no such display): the last card stays. */
  ended(): void;
}

/** A comm opened for one live output; `dispose()` closes it, once. */
export class LiveChannel<K extends PetalOutputKind> {
  readonly #comm: Kernel.IComm;
  #disposed = false;

  /** Opens the comm; throws when the kernel cannot take a comm (e.g. it is dead or disposed). */
  constructor(kernel: Kernel.IKernelConnection, kind: K, displayId: string, handlers: LiveChannelHandlers<K>) {
    this.#comm = kernel.createComm(PETAL_LIVE_TARGET);
    this.#comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
      const update = msg.content.data as Partial<LiveUpdate> | undefined;
      // A message for another kind or without a card is ignored rather than drawn as the wrong card.
      if (update?.kind === kind && update.card !== undefined && this.#disposed === false)
        handlers.update(update.card as LiveUpdate<K>['card']);
    };
    this.#comm.onClose = () => {
      if (this.#disposed) return;
      this.#disposed = true;
      handlers.ended();
    };
    this.#comm.open({ displayId });
  }

  /** The comm's id, as the kernel sees it. */
  get commId(): string {
    return this.#comm.commId;
  }

  /** True once closed, from either side. */
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Closes the comm unless the kernel already did; safe to call again. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    // The kernel may have gone (or closed the comm) meanwhile; then there is nothing left to close.
    if (!this.#comm.isDisposed) {
      try {
        this.#comm.close();
      } catch {
        // the kernel connection is disposed: its comms are gone with it
      }
    }
  }
}
