// Tiny DOM builders. Card data comes from kernel output that may be untrusted, so text is only ever set as text
// nodes and attributes, never parsed as HTML.

/** What an element may hold: nodes, text, or nothing (skipped, so optional parts read naturally). */
export type Child = Node | string | number | false | null | undefined;

/** Attributes of an element: `class` and the rest; `undefined`/`false` leave one out. */
export type Attrs = Record<string, string | number | boolean | undefined>;

function fill<E extends Element>(el: E, attrs: Attrs, children: Child[]): E {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
  return el;
}

/** An HTML element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  return fill(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes and children. */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** A horizontal bar filled to `fraction` (clamped to 0–1), labelled for screen readers and tooltips. */
export function bar(fraction: number, label: string, cls = ''): HTMLElement {
  const pct = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0)) * 100;
  return h(
    'div',
    { class: `petal-bar ${cls}`.trim(), role: 'progressbar', 'aria-valuenow': Math.round(pct), title: label },
    h('div', { class: 'petal-bar-fill', style: `width:${pct.toFixed(1)}%` }),
  );
}

/** A card's header: a title, a state badge and `label value` facts. */
export function header(title: string, state: string | undefined, facts: [string, string][]): HTMLElement {
  return h(
    'div',
    { class: 'petal-header' },
    h('span', { class: 'petal-title' }, title),
    state !== undefined && h('span', { class: 'petal-badge', 'data-state': state }, state),
    ...facts.map(([label, value]) =>
      h('span', { class: 'petal-fact' }, h('span', { class: 'petal-fact-label' }, label), ' ', value),
    ),
  );
}
