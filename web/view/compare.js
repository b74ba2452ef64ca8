// @ts-check
// V(t) of several episodes on normalised time t / (T − 1), with the
// Steps-To-Go diagonal and the mean of the selection; hovering lists every
// episode's value at that point, clicking a name opens the episode.
import { el, fmt, setChildren, PALETTE } from './util.js';
import { lineChart } from './chart.js';
import { episodeDetail } from './state.js';

/** @typedef {import('./state.js').State} State */

/** Most episodes drawn at once (beyond this the chart is unreadable). */
const MAX = 24;

/**
 * V of an episode at normalised time u ∈ [0, 1] (nearest step).
 * @param {number[]} values @param {number} u
 */
function valueAt(values, u) {
  return values[Math.round(u * (values.length - 1))];
}

/**
 * Mounts the compare view.
 * @param {HTMLElement} main
 * @param {State} state
 */
export function mountCompare(main, state) {
  let alive = true;
  if (state.selected.size === 0) for (const n of state.order.slice(0, 8)) state.selected.add(n);
  const list = el('ul.compare-list#compare-list');
  const chartHost = el('div.chart-host#compare-chart');
  const readout = el('div.compare-readout#compare-readout');
  let showRef = true;
  let showMean = false;
  const opt = (/** @type {string} */ label, /** @type {boolean} */ on, /** @type {(v: boolean) => void} */ set) => {
    const box = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', checked: on }));
    box.addEventListener('change', () => { set(box.checked); draw(); });
    return el('label.toggle', null, box, label);
  };
  setChildren(main, el('section.compare-view', null,
    el('div.compare-side', null,
      el('div.compare-buttons', null,
        el('button.subtle', { type: 'button', onclick: () => { for (const n of state.order.slice(0, MAX)) state.selected.add(n); refresh(); } }, 'All shown'),
        el('button.subtle', { type: 'button', onclick: () => { state.selected.clear(); refresh(); } }, 'None')),
      list),
    el('div.compare-main', null,
      el('div.legend', null, opt('Steps-To-Go diagonal', showRef, (v) => { showRef = v; }), opt('Mean of the selection', showMean, (v) => { showMean = v; })),
      chartHost, readout,
      el('p.hint', null, 'Time is normalised per episode (step / (T − 1)); tick episodes on the left, click a name to open it.'))));

  /** @type {Map<string, number[]>} */
  const values = new Map();
  /** @type {{ destroy: () => void } | null} */
  let chart = null;

  function colours() {
    /** @type {Map<string, string>} */
    const c = new Map();
    [...state.selected].forEach((n, i) => c.set(n, PALETTE[i % PALETTE.length]));
    return c;
  }

  function refresh() {
    const c = colours();
    const names = state.order.length ? state.order : state.episodes.map((e) => e.name);
    const extra = [...state.selected].filter((n) => !names.includes(n));
    setChildren(list, ...[...extra, ...names].map((n) => {
      const box = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', checked: state.selected.has(n), 'aria-label': `Compare ${n}` }));
      box.addEventListener('change', () => {
        if (box.checked) state.selected.add(n); else state.selected.delete(n);
        refresh();
      });
      return el('li', { dataset: { name: n } }, box, el('span.swatch-dot', { dataset: { colour: c.get(n) ?? '' } }),
        el('a', { href: `#/episode/${encodeURIComponent(n)}` }, n));
    }));
    for (const dot of list.querySelectorAll('.swatch-dot')) {
      const col = /** @type {HTMLElement} */ (dot).dataset.colour;
      /** @type {HTMLElement} */ (dot).style.background = col || 'transparent';
      /** @type {HTMLElement} */ (dot).style.borderColor = col || 'var(--line)';
    }
    load();
  }

  async function load() {
    const want = [...state.selected].slice(0, MAX);
    await Promise.all(want.filter((n) => !values.has(n)).map(async (n) => {
      try {
        values.set(n, (await episodeDetail(n)).values);
      } catch (err) {
        state.toast(/** @type {Error} */ (err).message);
      }
    }));
    if (alive) draw();
  }

  function draw() {
    chart?.destroy();
    const c = colours();
    const names = [...state.selected].slice(0, MAX).filter((n) => values.has(n));
    /** @type {import('./chart.js').Series[]} */
    const series = names.map((n) => {
      const v = /** @type {number[]} */ (values.get(n));
      return { name: n, id: n, color: /** @type {string} */ (c.get(n)), points: v.map((y, i) => /** @type {[number, number]} */ ([v.length > 1 ? i / (v.length - 1) : 0, y])), width: 1.6 };
    });
    if (showMean && names.length > 1) {
      const pts = Array.from({ length: 101 }, (_, i) => {
        const u = i / 100;
        const ys = names.map((n) => valueAt(/** @type {number[]} */ (values.get(n)), u));
        return /** @type {[number, number]} */ ([u, ys.reduce((a, b) => a + b, 0) / ys.length]);
      });
      series.push({ name: 'mean', id: 'mean', color: '#111827', points: pts, width: 3, dash: true });
    }
    chart = lineChart(chartHost, {
      series, xDomain: [0, 1], yDomain: [0, 1], xLabel: 'normalised time t / (T − 1)', yLabel: 'V(t)', height: 380,
      reference: showRef ? [[0, 0], [1, 1]] : undefined,
      onHover: (u) => {
        if (u === null) { showReadout(null); return; }
        showReadout(u);
      },
    });
    showReadout(null);
  }

  /** @param {number | null} u */
  function showReadout(u) {
    const c = colours();
    const names = [...state.selected].slice(0, MAX).filter((n) => values.has(n));
    if (names.length === 0) { setChildren(readout, el('p.empty', null, 'Tick episodes on the left to draw them.')); return; }
    const rows = names.map((n) => {
      const v = /** @type {number[]} */ (values.get(n));
      const sw = el('span.swatch-line');
      /** @type {HTMLElement} */ (sw).style.background = /** @type {string} */ (c.get(n));
      return el('tr', null, el('td', null, sw, el('a', { href: `#/episode/${encodeURIComponent(n)}` }, n)),
        el('td.num', null, String(v.length)), el('td.num', null, u === null ? fmt(v[v.length - 1]) : fmt(valueAt(v, u))));
    });
    setChildren(readout, el('table.compare-table', null,
      el('thead', null, el('tr', null, el('th', null, 'Episode'), el('th.num', null, 'Steps'), el('th.num', null, u === null ? 'Final V' : `V at ${(u * 100).toFixed(0)} %`))),
      el('tbody', null, ...rows)),
    state.selected.size > MAX ? el('p.hint', null, `Only the first ${MAX} selected episodes are drawn.`) : null);
  }

  refresh();
  return { unmount() { alive = false; chart?.destroy(); } };
}
