// @ts-check
// The experiment tab: the success table (mean ± 95 % CI per split, the best
// mean of each column in bold), the value-model table, the training curves
// (success of the training rollouts per update, mean ± 1 s.d. over seeds),
// the value curves of held-out episodes, and the contact sheets.
import { el, fmt, getJson, setChildren, PALETTE } from './util.js';
import { lineChart } from './chart.js';

/** @typedef {import('./state.js').State} State */

const SPLITS = [['id', 'ID'], ['vision', 'Vision'], ['semantic', 'Semantic'], ['execution', 'Execution'], ['oodAvg', 'OOD avg']];

/**
 * Mounts the experiment view.
 * @param {HTMLElement} main
 * @param {State} _state (unused: the tab reads only the experiment)
 */
export function mountExperiment(main, _state) {
  let alive = true;
  /** @type {Array<{ destroy: () => void }>} */
  const charts = [];
  setChildren(main, el('section.experiment-view', null, el('p.loading', null, 'Loading the experiment…')));
  getJson('/api/experiment').then((x) => { if (alive) render(x); }, (err) => {
    if (alive) setChildren(main, el('p.error', null, err.message));
  });

  /** @param {any} x */
  function render(x) {
    const r = x.results;
    const cfg = r.config ?? {};
    const file = (/** @type {string} */ n) => x.files.find((/** @type {any} */ f) => f.name === n);
    const section = el('section.experiment-view');
    const pct = (/** @type {number | null | undefined} */ v) => (v === null || v === undefined ? '—' : (v * 100).toFixed(1));
    // Success table.
    const best = Object.fromEntries(SPLITS.map(([k]) => [k, Math.max(...r.rows.map((/** @type {any} */ row) => row.success[k]))]));
    const table = el('table.results#results-table', null,
      el('thead', null, el('tr', null, el('th', null, 'Method'), ...SPLITS.map(([, label]) => el('th.num', null, label)))),
      el('tbody', null, ...r.rows.map((/** @type {any} */ row, i) => el(`tr${i > 0 && row.algo !== r.rows[i - 1].algo ? '.group' : ''}`, null,
        el('td', null, row.method),
        ...SPLITS.map(([k]) => el(`td.num${row.success[k] === best[k] && best[k] > 0 ? '.best' : ''}`, null, pct(row.success[k]),
          row.ci?.[k] !== null && row.ci?.[k] !== undefined ? el('span.ci', null, ` ± ${pct(row.ci[k])}`) : ''))))));
    const seeds = Array.isArray(r.seeds) ? r.seeds : [];
    const meta = el('p.meta', null, `Preset ${cfg.preset ?? '?'} · ${seeds.length} seed${seeds.length === 1 ? '' : 's'} (${seeds.join(', ')})`,
      r.timings?.total !== undefined ? ` · ${Number(r.timings.total).toFixed(0)} s` : '',
      ' · success rate in %, mean ± 95 % CI over seeds (Student t); bold: the best mean of each column.');
    const vm = el('table.results.small#value-model-table', null,
      el('thead', null, el('tr', null, el('th', null, 'Value target'), el('th.num', null, 'Spearman'))),
      el('tbody', null, ...(r.valueModels ?? []).map((/** @type {any} */ v) => el('tr', null, el('td', null, v.target === 'feat2go' ? 'Feat2Go' : 'Steps-To-Go'), el('td.num', null, fmt(v.spearman))))));
    section.append(el('h2', null, 'Experiment'), meta, table,
      el('h3', null, 'Value models'), el('p.meta', null, 'Spearman correlation of the last-frame value with the stage reached, on failed held-out episodes.'), vm);

    // Training curves.
    const curves = x.details?.curves ?? {};
    const algos = [...new Set(Object.keys(curves).map((k) => k.split(' ')[0]))];
    if (algos.length) {
      const grid = el('div.chart-grid');
      section.append(el('h3', null, 'Training curves'), el('p.meta', null, 'Success of the training rollouts per update (stochastic policy, in-distribution), mean over seeds with ± 1 s.d.'), grid);
      for (const algo of algos) {
        const names = Object.keys(curves).filter((k) => k.startsWith(`${algo} `));
        const legendItems = [];
        /** @type {import('./chart.js').Series[]} */
        const series = names.map((n, i) => {
          const runs = /** @type {number[][]} */ (curves[n]);
          const len = Math.min(...runs.map((c) => c.length));
          const mean = [];
          const band = [];
          for (let u = 0; u < len; u++) {
            const xs = runs.map((c) => c[u]);
            const m = xs.reduce((a, b) => a + b, 0) / xs.length;
            const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
            mean.push(/** @type {[number, number]} */ ([u, m]));
            band.push(/** @type {[number, number, number]} */ ([u, m - sd, m + sd]));
          }
          legendItems.push({ name: n, color: PALETTE[i] });
          return { name: n, color: PALETTE[i], points: mean, ...(runs.length > 1 ? { band } : {}) };
        });
        const host = el('div.chart-host');
        const hov = el('span.hover-readout');
        grid.append(el('figure.panel', null, el('figcaption', null, algo, hov), host, legendOf(legendItems)));
        const n = Math.max(...series.map((s) => s.points.length));
        charts.push(lineChart(host, {
          series, xDomain: [0, Math.max(1, n - 1)], yDomain: [0, 1], xLabel: 'update', yLabel: 'success rate', height: 260,
          onHover: (u) => {
            if (u === null) { hov.textContent = ''; return; }
            const i = Math.round(u);
            hov.textContent = ` · update ${i}: ${series.map((s) => `${s.name.replace(`${algo} `, '')} ${fmt(s.points[i]?.[1], 2)}`).join(', ')}`;
          },
        }));
      }
    }

    // Value curves.
    const vc = x.details?.valueCurves;
    if (Array.isArray(vc) && vc.length) {
      const stages = Number(x.details.numStages) || Math.max(2, ...vc.flatMap((/** @type {any} */ c) => c.stage)) + 1;
      const grid = el('div.chart-grid.small');
      section.append(el('h3', null, 'Value curves'), el('p.meta', null, `Both value heads on held-out episodes, against the true stage / ${stages - 1} (dashed).`), grid);
      vc.slice(0, 6).forEach((/** @type {any} */ c, k) => {
        const host = el('div.chart-host');
        grid.append(el('figure.panel', null, el('figcaption', null, `held-out episode ${k + 1} · ${c.success ? 'success' : `failed at stage ${c.stage[c.stage.length - 1]}`}`), host));
        /** @param {number[]} ys */
        const pts = (ys) => ys.map((y, i) => /** @type {[number, number]} */ ([i, y]));
        charts.push(lineChart(host, {
          series: [
            { name: 'Feat2Go head', color: PALETTE[0], points: pts(c.feat2go) },
            { name: 'Steps-To-Go head', color: PALETTE[1], points: pts(c.stepsToGo) },
            { name: 'true stage', color: '#374151', points: pts(c.stage.map((/** @type {number} */ s) => s / (stages - 1))), dash: true, step: true, width: 1.5 },
          ],
          xDomain: [0, Math.max(1, c.feat2go.length - 1)], yDomain: [0, 1], xLabel: 'frame', height: 200,
        }));
      });
      section.append(legendOf([{ name: 'Feat2Go head', color: PALETTE[0] }, { name: 'Steps-To-Go head', color: PALETTE[1] }, { name: 'true stage', color: '#374151', dash: true }]));
    } else if (file('value-curves.svg')) {
      section.append(el('h3', null, 'Value curves'), el('img.figure', { src: file('value-curves.svg').url, alt: 'value curves' }));
    }

    // Contact sheets.
    const sheets = x.files.filter((/** @type {any} */ f) => /^contact-.*\.png$/.test(f.name));
    if (sheets.length) {
      const order = ['id', 'vision', 'semantic', 'execution'];
      sheets.sort((/** @type {any} */ a, /** @type {any} */ b) => order.indexOf(a.name.slice(8, -4)) - order.indexOf(b.name.slice(8, -4)));
      const methods = r.rows.map((/** @type {any} */ row) => row.method);
      section.append(el('h3', null, 'Contact sheets'),
        el('p.meta', null, 'First evaluation episode of the first seed, one row per method, frames from start to end.'),
        el('div.sheets', null, ...sheets.map((/** @type {any} */ f) => el('figure.sheet', null, el('figcaption', null, f.name.slice(8, -4)),
          el('div.sheet-body', null, el('div.row-labels', null, ...methods.map((/** @type {string} */ m) => el('span', null, m))),
            el('img', { src: f.url, alt: f.name, loading: 'lazy' }))))));
    }

    const links = x.files.filter((/** @type {any} */ f) => /\.(md|svg)$/.test(f.name));
    section.append(el('h3', null, 'Files'), el('p.files', null, ...links.flatMap((/** @type {any} */ f, i) => [i ? ' · ' : '', el('a', { href: f.url, target: '_blank' }, f.name)])),
      el('details.config', null, el('summary', null, 'Configuration'), el('pre', null, JSON.stringify(cfg, null, 2))));
    setChildren(main, section);
    main.dataset.ready = 'true';
  }

  return {
    unmount() {
      alive = false;
      delete main.dataset.ready;
      for (const c of charts) c.destroy();
    },
  };
}

/**
 * @param {Array<{ name: string, color: string, dash?: boolean }>} items
 */
function legendOf(items) {
  return el('div.legend', null, ...items.map((it) => {
    const sw = el(`span.swatch-line${it.dash ? '.dashed' : ''}`);
    sw.style.background = it.dash ? 'transparent' : it.color;
    sw.style.borderColor = it.color;
    return el('span.toggle.fixed', null, sw, it.name);
  }));
}
