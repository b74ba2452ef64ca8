// @ts-check
// The page's shared state: what the folder holds, the table's order and
// filters, the episodes selected for comparison, the chart toggles (kept in
// localStorage), the cached episode details, and the toast for errors.
import { getJson } from './util.js';

/**
 * @typedef {{ name: string, frames: number, stages: number, meanValue: number, finalValue: number | null,
 *   success?: boolean, task?: string, kind: string, hasFrames: boolean, thumbFrame: number, spark: number[] }} EpisodeRow
 * @typedef {{ min: string, max: string }} Range
 * @typedef {{
 *   index: any, episodes: EpisodeRow[], order: string[],
 *   sort: { key: string, dir: number },
 *   filters: { text: string, frames: Range, stages: Range, finalValue: Range, success: string },
 *   selected: Set<string>,
 *   show: { similarity: boolean, stepsToGo: boolean, annotations: boolean },
 *   details: Map<string, Promise<any>>,
 *   toast: (msg: string) => void,
 * }} State
 */

const stored = (() => {
  try {
    return JSON.parse(localStorage.getItem('feat2go-view') ?? '{}');
  } catch {
    return {};
  }
})();

/** @type {State} */
export const state = {
  index: null,
  episodes: [],
  order: [],
  sort: { key: 'name', dir: 1 },
  filters: { text: '', frames: { min: '', max: '' }, stages: { min: '', max: '' }, finalValue: { min: '', max: '' }, success: 'any' },
  selected: new Set(),
  show: { similarity: Boolean(stored.similarity), stepsToGo: Boolean(stored.stepsToGo), annotations: stored.annotations !== false },
  details: new Map(),
  toast,
};

/** Remembers the chart toggles across visits. */
export function saveShow() {
  try {
    localStorage.setItem('feat2go-view', JSON.stringify(state.show));
  } catch { /* private mode */ }
}

/** @param {string} msg */
function toast(msg) {
  const t = /** @type {HTMLElement} */ (document.getElementById('toast'));
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(Number(t.dataset.timer));
  t.dataset.timer = String(setTimeout(() => { t.hidden = true; }, 6000));
}

/**
 * The detail of an episode (cached).
 * @param {string} name
 * @returns {Promise<any>}
 */
export function episodeDetail(name) {
  let p = state.details.get(name);
  if (!p) {
    p = getJson(`/api/episodes/${encodeURIComponent(name)}`);
    p.catch(() => state.details.delete(name));
    state.details.set(name, p);
  }
  return p;
}

