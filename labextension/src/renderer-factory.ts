// The rendermime factory for Petal's MIME types. The plugin registers one without a kernel globally (static views)
// and one bound to each notebook's session, so live outputs reach that notebook's kernel (as ipywidgets does).
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { kindOfMime, PETAL_MIME_TYPES } from './mime.ts';
import { PetalOutput, type KernelSource } from './petal-output.ts';

/** Ahead of text/html (50) and text/plain (120), the fallbacks in every Petal bundle. */
export const PETAL_RENDERER_RANK = 40;

const noKernel: KernelSource = { current: () => undefined };

/** A renderer factory for Petal outputs; `kernel` names the kernel live outputs open their comm to. */
export function createPetalRendererFactory(kernel: KernelSource = noKernel): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: PETAL_MIME_TYPES,
    defaultRank: PETAL_RENDERER_RANK,
    createRenderer(options: IRenderMime.IRendererOptions): IRenderMime.IRenderer {
      const kind = kindOfMime(options.mimeType);
      if (kind === undefined) throw new TypeError(`${options.mimeType} is not a Petal MIME type`);
      return new PetalOutput(kind, options.mimeType, kernel);
    },
  };
}
