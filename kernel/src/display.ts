// Rich output: the `Symbol.for("Jupyter.display")` convention (as in Deno's kernel). A value with a method under that
// symbol returns a MIME bundle such as { "text/html": "…" }; everything gets a text/plain fallback.
import { inspect } from 'node:util';

/** The symbol whose method returns a value's MIME bundle. */
export const DISPLAY = Symbol.for('Jupyter.display');

/** A MIME bundle with its metadata, as display_data and execute_result carry them. */
export interface Bundle {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** How `value` shows in a notebook. */
export function mimeBundle(value: unknown): Bundle {
  const method =
    value !== null && (typeof value === 'object' || typeof value === 'function')
      ? (value as Record<symbol, unknown>)[DISPLAY]
      : undefined;
  if (typeof method === 'function') {
    const data = method.call(value) as unknown;
    if (data !== null && typeof data === 'object') {
      const bundle = { ...(data as Record<string, unknown>) };
      bundle['text/plain'] ??= plain(value);
      return { data: bundle, metadata: {} };
    }
  }
  return { data: { 'text/plain': plain(value) }, metadata: {} };
}

function plain(value: unknown): string {
  return inspect(value, { depth: 4, colors: false, maxArrayLength: 100 });
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `value` (copied) showing as `text` alone: for results whose rich view is a live card already shown above. */
/** Marks a value whose output is already below the cell (a display handle, a gallery): as the last expression of
 * a cell it gets no execute_result, as IPython's display() returns None. */
export const SHOWN = Symbol.for('petal.shown');

/** `value`, marked as already shown (see SHOWN). */
export function shown<T extends object>(value: T): T {
  return Object.defineProperty(value, SHOWN, { enumerable: false, value: true });
}

/** True for a value marked by shown(). */
export function isShown(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SHOWN] === true;
}

export function withText<T extends object>(value: T, text: string): T {
  return Object.defineProperty({ ...value }, DISPLAY, { enumerable: false, value: () => ({ 'text/plain': text }) });
}
