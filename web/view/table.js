// @ts-check
// The episode table: sortable columns, filters (name/task, length, stages,
// final value, success), a V(t) sparkline and a thumbnail per row, and
// checkboxes that choose the episodes the compare view overlays. Its
// filtered, sorted order is also the order ↑ ↓ walk in the episode view.
import { el, svg, fmt, episodeUrl, setChildren } from './util.js';

/** @typedef {import('./state.js').State} State */
/** @typedef {import('./state.js').EpisodeRow} EpisodeRow */

/** Columns: key, header, how to sort, whether numeric. */
const COLUMNS = [
  { key: 'name', label: 'Episode', num: false },
  { key: 'frames', label: 'Steps', num: true, title: 'Labelled steps T (one per frame for per-frame encoders)' },
  { key: 'stages', label: 'Stages', num: true },
  { key: 'meanValue', label: 'Mean V', num: true, title: 'Mean of V(t) over the episode' },
  { key: 'finalValue', label: 'Final V', num: true, title: 'V at the last step' },
  { key: 'success', label: 'Success', num: false },
  { key: 'task', label: 'Task', num: false },
  { key: 'kind', label: 'Source', num: false, title: 'Where the frames come from' },
];

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/**
 * @param {string} s
 * @returns {number | null}
 */
function num(s) {
  if (s.trim() === '') return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/**
 * Recomputes `state.order` from the filters and the sort.
 * @param {State} state
 */
export function applyTable(state) {
  const f = state.filters;
  const text = f.text.trim().toLowerCase();
  /** @param {number | null} v @param {{ min: string, max: string }} r */
  const inRange = (v, r) => {
    const lo = num(r.min);
    const hi = num(r.max);
    if (lo === null && hi === null) return true;
    if (v === null || v === undefined || Number.isNaN(v)) return false;
    return (lo === null || v >= lo) && (hi === null || v <= hi);
  };
  const rows = state.episodes.filter((e) => (!text || e.name.toLowerCase().includes(text) || (e.task ?? '').toLowerCase().includes(text))
    && inRange(e.frames, f.frames) && inRange(e.stages, f.stages) && inRange(e.finalValue, f.finalValue)
    && (f.success === 'any' || (f.success === 'unknown' ? e.success === undefined : e.success === (f.success === 'yes'))));
  const { key, dir } = state.sort;
  rows.sort((a, b) => {
    const x = /** @type {any} */ (a)[key];
    const y = /** @type {any} */ (b)[key];
    if (x === y) return collator.compare(a.name, b.name);
    if (x === undefined || x === null) return 1;
    if (y === undefined || y === null) return -1;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : typeof x === 'boolean' ? Number(x) - Number(y) : collator.compare(String(x), String(y));
    return c * dir;
  });
  state.order = rows.map((r) => r.name);
}

/**
 * A small V(t) line.
 * @param {number[]} values
 */
function sparkline(values) {
  const W = 120;
  const H = 26;
  if (values.length < 2) return svg('svg', { class: 'spark', width: W, height: H });
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * (W - 2) + 1).toFixed(1)},${(H - 2 - v * (H - 4)).toFixed(1)}`).join(' ');
  return svg('svg', { class: 'spark', width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'aria-hidden': 'true' },
    svg('line', { x1: 1, x2: W - 1, y1: H - 2, y2: 2, class: 'spark-ref' }),
    svg('polyline', { points: pts }));
}

/**
 * Mounts the table view.
 * @param {HTMLElement} main
 * @param {State} state
 */
export function mountTable(main, state) {
  const hasSuccess = state.episodes.some((e) => e.success !== undefined);
  const hasTask = state.episodes.some((e) => e.task !== undefined);
  const cols = COLUMNS.filter((c) => (c.key !== 'success' || hasSuccess) && (c.key !== 'task' || hasTask));
  const f = state.filters;

  /**
   * @param {string} label
   * @param {{ min: string, max: string }} range
   * @param {string} step
   * @param {string} id
   */
  const rangeInput = (label, range, step, id) => el('label.range', null, label,
    el('input', { type: 'number', step, placeholder: 'min', value: range.min, 'aria-label': `${label} min`, id: `${id}-min`, oninput: (/** @type {Event} */ e) => { range.min = /** @type {HTMLInputElement} */ (e.target).value; refresh(); } }),
    '–',
    el('input', { type: 'number', step, placeholder: 'max', value: range.max, 'aria-label': `${label} max`, id: `${id}-max`, oninput: (/** @type {Event} */ e) => { range.max = /** @type {HTMLInputElement} */ (e.target).value; refresh(); } }));

  const search = /** @type {HTMLInputElement} */ (el('input#filter-text', {
    type: 'search', placeholder: hasTask ? 'Filter by name or task' : 'Filter by name', value: f.text,
    oninput: () => { f.text = search.value; refresh(); },
  }));
  const success = hasSuccess ? el('label.range', null, 'Success ', el('select#filter-success', {
    onchange: (/** @type {Event} */ e) => { f.success = /** @type {HTMLSelectElement} */ (e.target).value; refresh(); },
  }, ...['any', 'yes', 'no', 'unknown'].map((v) => el('option', { value: v, selected: f.success === v }, v)))) : null;
  const count = el('span.count');
  const compareBtn = /** @type {HTMLButtonElement} */ (el('button#compare-selected', { type: 'button', onclick: () => { location.hash = `#/compare?${[...state.selected].map((n) => `e=${encodeURIComponent(n)}`).join('&')}`; } }));
  const reset = el('button.subtle', {
    type: 'button',
    onclick: () => {
      state.filters = { text: '', frames: { min: '', max: '' }, stages: { min: '', max: '' }, finalValue: { min: '', max: '' }, success: 'any' };
      applyTable(state);
      mountTable(main, state);
    },
  }, 'Reset filters');
  const filters = el('div.filters', null, search,
    rangeInput('Steps', f.frames, '1', 'filter-frames'), rangeInput('Stages', f.stages, '1', 'filter-stages'),
    rangeInput('Final V', f.finalValue, '0.01', 'filter-final'), success, reset);
  const thead = el('thead');
  const tbody = el('tbody');
  const table = el('table.episodes#episode-table', null, thead, tbody);
  const failures = state.index.failures?.length ? el('details.failures', null,
    el('summary', null, `${state.index.failures.length} input${state.index.failures.length === 1 ? ' was' : 's were'} skipped when labelling`),
    el('ul', null, ...state.index.failures.map((/** @type {any} */ x) => el('li', null, el('code', null, String(x.file ?? '')), x.tensor ? ` [${x.tensor}]` : '', `: ${x.reason ?? ''}`)))) : null;
  const hint = el('p.hint', null, 'Click a row to open the episode · tick rows to compare them · ',
    el('kbd', null, '↑'), ' ', el('kbd', null, '↓'), ' in an episode walk this order');
  setChildren(main, el('section.table-view', null,
    el('div.toolbar', null, filters, el('div.actions', null, count, compareBtn)), failures,
    state.episodes.length ? el('div.table-wrap', null, table) : el('p.empty', null, 'This folder lists no episodes.'), hint));

  function head() {
    const all = /** @type {HTMLInputElement} */ (el('input', {
      type: 'checkbox', 'aria-label': 'Select all shown',
      onchange: () => {
        for (const n of state.order) { if (all.checked) state.selected.add(n); else state.selected.delete(n); }
        body();
      },
    }));
    all.checked = state.order.length > 0 && state.order.every((n) => state.selected.has(n));
    setChildren(thead, el('tr', null, el('th.sel', null, all),
      ...cols.map((c) => {
        const active = state.sort.key === c.key;
        return el(`th.sortable${c.num ? '.num' : ''}`, {
          title: c.title, 'aria-sort': active ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none', dataset: { key: c.key },
          onclick: () => { state.sort = { key: c.key, dir: active ? -state.sort.dir : c.num ? -1 : 1 }; refresh(); },
        }, c.label, el('span.arrow', null, active ? (state.sort.dir > 0 ? '▲' : '▼') : ''));
      }),
      el('th', null, 'V(t)'), el('th', null, '')));
  }

  function body() {
    const byName = new Map(state.episodes.map((e) => [e.name, e]));
    const rows = state.order.map((name) => {
      const e = /** @type {EpisodeRow} */ (byName.get(name));
      const box = /** @type {HTMLInputElement} */ (el('input', {
        type: 'checkbox', 'aria-label': `Select ${name}`, checked: state.selected.has(name),
        onclick: (/** @type {Event} */ ev) => ev.stopPropagation(),
        onchange: () => { if (box.checked) state.selected.add(name); else state.selected.delete(name); summary(); head(); },
      }));
      const open = () => { location.hash = `#/episode/${encodeURIComponent(name)}`; };
      /** @type {Record<string, Node | string>} */
      const cells = {
        name: el('a', { href: `#/episode/${encodeURIComponent(name)}` }, name),
        frames: String(e.frames), stages: String(e.stages), meanValue: fmt(e.meanValue), finalValue: fmt(e.finalValue),
        success: e.success === undefined ? '—' : el(`span.badge.${e.success ? 'ok' : 'fail'}`, null, e.success ? 'yes' : 'no'),
        task: e.task ?? '—', kind: el('span.kind', null, e.kind),
      };
      const thumb = e.hasFrames ? el('img.thumb', { src: episodeUrl(name, `/frames/${e.thumbFrame}?w=72&format=jpeg`), alt: '', loading: 'lazy' }) : el('span.thumb.none');
      return el('tr', { tabindex: 0, dataset: { name }, onclick: open, onkeydown: (/** @type {KeyboardEvent} */ ev) => { if (ev.key === 'Enter') open(); } },
        el('td.sel', null, box), ...cols.map((c) => el(`td${c.num ? '.num' : ''}`, null, cells[c.key])), el('td.spark-cell', null, sparkline(e.spark)), el('td.thumb-cell', null, thumb));
    });
    setChildren(tbody, ...rows);
    summary();
  }

  function summary() {
    count.textContent = `${state.order.length} of ${state.episodes.length} episode${state.episodes.length === 1 ? '' : 's'}`;
    const n = state.selected.size;
    compareBtn.textContent = n ? `Compare ${n} selected` : 'Compare';
    compareBtn.title = n ? '' : 'Without a selection, compares the first shown episodes';
  }

  function refresh() {
    applyTable(state);
    head();
    body();
  }

  refresh();
  return { unmount() { /* nothing runs in the background */ } };
}
