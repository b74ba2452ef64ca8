// @ts-check
// Small helpers shared by the views: element creation, number formats,
// fetching JSON, colours.

/**
 * Creates an element: `el('div.a.b', { title: 'x', onclick }, child, 'text')`.
 * Attributes starting with `on` become listeners; `dataset` and `class` are understood.
 * @param {string} spec tag with optional `.class` and `#id` parts
 * @param {Record<string, any> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(spec, attrs, ...children) {
  const tag = /^[a-z0-9]*/i.exec(spec)?.[0] || 'div';
  const node = document.createElement(tag);
  for (const [, sigil, name] of spec.slice(tag.length).matchAll(/([.#])([^.#]+)/g)) {
    if (sigil === '#') node.id = name;
    else node.classList.add(name);
  }
  applyAttrs(node, attrs);
  append(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs, ...children) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  applyAttrs(node, attrs);
  append(node, children);
  return node;
}

/**
 * @param {Element} node
 * @param {Record<string, any> | null | undefined} attrs
 */
function applyAttrs(node, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(/** @type {HTMLElement} */ (node).dataset, v);
    else if (k === 'class') node.setAttribute('class', String(v));
    else node.setAttribute(k, v === true ? '' : String(v));
  }
}

/**
 * @param {Node} node
 * @param {Array<Node | string | number | null | undefined | false>} children
 */
function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/**
 * Replaces the children of `node`.
 * @param {Element} node
 * @param {...(Node | string | null | undefined | false)} children
 */
export function setChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/**
 * A number with `digits` decimals, or an em dash when it is missing.
 * @param {number | null | undefined} v
 * @param {number} [digits]
 */
export function fmt(v, digits = 3) {
  return v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits);
}

/**
 * Fetches JSON, throwing an Error with the server's message on a failure.
 * @param {string} url
 * @returns {Promise<any>}
 */
export async function getJson(url) {
  const res = await fetch(url);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (j && j.error) msg = j.error;
    } catch { /* not JSON */ }
    throw new Error(`${url}: ${msg}`);
  }
  return res.json();
}

/** Colours for series (colour-blind friendly, Okabe–Ito first). */
export const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#7a6fbe', '#999933', '#882255', '#44aa99', '#117733', '#aa4499'];

/**
 * The URL of an episode's API resource.
 * @param {string} name
 * @param {string} [rest]
 */
export function episodeUrl(name, rest = '') {
  return `/api/episodes/${encodeURIComponent(name)}${rest}`;
}

/**
 * Clamps v to [lo, hi].
 * @param {number} v @param {number} lo @param {number} hi
 */
export function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}
