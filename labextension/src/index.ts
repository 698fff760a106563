/**
 * @petal/labextension: JupyterLab 4 renderers for Petal's outputs. Each output kind has its own MIME type
 * (`application/vnd.petal.cluster+json`, …, see `@petal/kernel/outputs`) with text/plain fallbacks for other
 * frontends. The plugin (plugin.ts) only wires these into JupyterLab.
 */
export { PETAL_MIME_PREFIX, PETAL_MIME_TYPES, kindOfMime, petalMimeType } from './mime.ts';
export { asCard, renderCard } from './render-card.ts';
export { renderClusterCard } from './cards/cluster-card.ts';
export { renderStreamCard } from './cards/stream-card.ts';
export { renderTrainCard } from './cards/train-card.ts';
export { renderTrainChart } from './cards/train-chart.ts';
export { renderEpochTable } from './cards/epoch-table.ts';
export { mistakesFirst, renderGalleryCard } from './cards/gallery-card.ts';
export { renderLogsCard } from './cards/logs-card.ts';
export { LiveChannel, type LiveChannelHandlers } from './live-channel.ts';
export { PetalOutput, type KernelSource, type LiveState } from './petal-output.ts';
export { createPetalRendererFactory, PETAL_RENDERER_RANK } from './renderer-factory.ts';
