// The renderer of one Petal output: draws the card of its MIME bundle and, while the card is live and a kernel is
// there, redraws on each LiveUpdate from the kernel. Without a kernel (a reopened notebook) the saved card stays.
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import type { Kernel } from '@jupyterlab/services';
import type { PetalCards, PetalOutputKind } from '@petal/kernel/outputs';
import { Widget } from '@lumino/widgets';
import { LiveChannel } from './live-channel.ts';
import { asCard, renderCard } from './render-card.ts';

/** How a renderer reaches the kernel of its notebook. */
export interface KernelSource {
  /** The kernel now, if any. */
  current(): Kernel.IKernelConnection | null | undefined;
  /**
   * Resolves once the notebook's session is up. Outputs render before that when a notebook opens, so a live card
   * drawn without a kernel tries once more then: a page reloaded mid-run follows the run again.
   */
  readonly ready?: Promise<void>;
}

/**
 * Where the output stands, on the node as `data-live` (for people's CSS and for tests): `open` while updates
 * flow, `ended` once the kernel closed the comm, `offline` when the card is live but no kernel could be reached,
 * `none` for a finished card.
 */
export type LiveState = 'open' | 'ended' | 'offline' | 'none';

/** A Petal output in a notebook: one card, kept current over a live comm. */
export class PetalOutput<K extends PetalOutputKind> extends Widget implements IRenderMime.IRenderer {
  readonly #kind: K;
  readonly #mimeType: string;
  readonly #kernel: KernelSource;
  #channel: { displayId: string; channel: LiveChannel<K> } | undefined;
  /** The display id the latest card asks to follow. */
  #wanted: string | undefined;
  #retried = false;

  constructor(kind: K, mimeType: string, kernel: KernelSource) {
    super();
    this.#kind = kind;
    this.#mimeType = mimeType;
    this.#kernel = kernel;
    this.addClass('petal-output');
    this.#setLive('none');
  }

  /** Draws the bundle's card; called again with each `update_display_data` snapshot. */
  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this.#mimeType];
    this.#draw(data);
    this.#follow(asCard(this.#kind, data)?.live?.displayId);
    return Promise.resolve();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.#channel?.channel.dispose();
    this.#channel = undefined;
    super.dispose();
  }

  #draw(data: unknown): void {
    this.node.replaceChildren(renderCard(this.#kind, data));
  }

  #setLive(state: LiveState): void {
    this.node.dataset.live = state;
  }

  /** Keeps one comm open for the display id the latest snapshot names; none once the card is final. */
  #follow(displayId: string | undefined): void {
    this.#wanted = displayId;
    if (this.#channel !== undefined && this.#channel.displayId === displayId && !this.#channel.channel.isDisposed)
      return;
    this.#channel?.channel.dispose();
    this.#channel = undefined;
    if (displayId === undefined) return this.#setLive('none');
    const kernel = this.#kernel.current();
    if (!kernel || kernel.isDisposed || kernel.status === 'dead') {
      this.#setLive('offline');
      return this.#retryWhenReady(displayId);
    }
    try {
      const channel = new LiveChannel(kernel, this.#kind, displayId, {
        update: (card: PetalCards[K]) => this.#draw(card),
        ended: () => this.#setLive('ended'),
      });
      this.#channel = { displayId, channel };
      this.#setLive('open');
    } catch {
      // The connection refused a comm (shutting down): the snapshot stays, as with no kernel at all.
      this.#setLive('offline');
    }
  }

  /** One more try once the session is up, if the card still asks for the same display (once: no retry loop). */
  #retryWhenReady(displayId: string): void {
    const ready = this.#kernel.ready;
    if (ready === undefined || this.#retried) return;
    this.#retried = true;
    ready.then(
      () => {
        if (!this.isDisposed && this.#wanted === displayId && this.#channel === undefined) this.#follow(displayId);
      },
      () => {}, // the session failed to start: the card stays offline
    );
  }
}
