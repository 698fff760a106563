// The JupyterLab plugin: only wiring. The renderers and the live comm live in the library modules.
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { Kernel } from '@jupyterlab/services';
import type { Widget } from '@lumino/widgets';
import { createPetalRendererFactory, PETAL_RENDERER_RANK } from './renderer-factory.ts';

/** The parts of a NotebookPanel the plugin uses (typed here so the build needs no @jupyterlab/notebook). */
interface NotebookPanelLike extends Widget {
  readonly content: { readonly rendermime: IRenderMimeRegistry };
  readonly sessionContext: {
    readonly session: { readonly kernel: Kernel.IKernelConnection | null } | null;
    readonly ready: Promise<void>;
  };
}

/**
 * Each notebook gets a Petal factory bound to its own session in its own rendermime registry (JupyterLab clones the
 * registry per notebook), so a live output opens its comm to the kernel the notebook runs now, as ipywidgets does.
 */
function bindToNotebook(panel: NotebookPanelLike): void {
  const { sessionContext } = panel;
  const factory = createPetalRendererFactory({
    current: () => sessionContext.session?.kernel,
    ready: sessionContext.ready,
  });
  panel.content.rendermime.addFactory(factory, PETAL_RENDERER_RANK);
}

/** Renders Petal's outputs: static cards everywhere, live cards in notebooks with a running kernel. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: '@petal/labextension:renderers',
  description: "Renders Petal's cluster, stream, training, gallery and log outputs, live over a kernel comm.",
  autoStart: true,
  requires: [IRenderMimeRegistry],
  activate(app: JupyterFrontEnd, rendermime: IRenderMimeRegistry): void {
    rendermime.addFactory(createPetalRendererFactory(), PETAL_RENDERER_RANK);
    app.docRegistry.addWidgetExtension('Notebook', { createNew: (panel: NotebookPanelLike) => bindToNotebook(panel) });
  },
};

export default plugin;
