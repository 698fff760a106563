/**
 * @petal/labextension: JupyterLab 4 renderers for Petal's outputs. Each output kind has its own MIME type
 * under this prefix (`application/vnd.petal.cluster+json`, …) with text/plain fallbacks for other frontends.
 */
export const PETAL_MIME_PREFIX = 'application/vnd.petal.';

/** The MIME type of one Petal output kind, e.g. `petalMimeType('cluster')`. */
export function petalMimeType(kind: string): string {
  return `${PETAL_MIME_PREFIX}${kind}+json`;
}
