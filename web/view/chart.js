// @ts-check
// SVG charts: the episode chart (V(t) over stage bands, with a playhead that
// follows clicks and drags) and a plain line chart (compare view, experiment).
import { svg, clamp } from './util.js';

/** Stage band colours (classes s0 … s7 in style.css), repeating. */
const STAGE_COLOURS = 8;

/**
 * "Nice" tick values covering [lo, hi], about `n` of them.
 * @param {number} lo @param {number} hi @param {number} n
 * @returns {number[]}
 */
export function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

/**
 * @typedef {{ start: number, end: number }} Segment
 * @typedef {{ start: number, end: number, name?: string }} Annotation
 * @typedef {{
 *   values: number[], similarity: number[], stepsToGo: number[], segments: Segment[],
 *   annotations?: Annotation[], show: { similarity: boolean, stepsToGo: boolean, annotations: boolean },
 *   onSeek: (t: number) => void, onHover?: (t: number | null) => void,
 * }} EpisodeChartOptions
 */

/**
 * The episode chart: stage bands (labelled), V(t) and optionally S(t) and the
 * Steps-To-Go line, a playhead. Step t occupies the cell [t, t + 1) of the x
 * axis and its point sits in the cell's middle, so the bands tile the plot.
 * Click or drag anywhere on it to seek.
 * @param {HTMLElement} host
 * @param {EpisodeChartOptions} o
 */
export function episodeChart(host, o) {
  const T = o.values.length;
  const hasAnn = Boolean(o.annotations && o.annotations.length);
  /** @type {SVGSVGElement} */
  let root;
  let geom = { left: 46, top: 28, width: 100, height: 100 };
  let playT = 0;
  /** @type {SVGElement} */ let playLine;
  /** @type {SVGElement} */ let playDot;
  /** @type {SVGElement} */ let hoverLine;
  let dragging = false;
  /** @type {(t: number) => void} */
  let place = () => {};

  const X = (/** @type {number} */ t) => geom.left + (t / T) * geom.width;
  const Xc = (/** @type {number} */ t) => X(t + 0.5);

  function yDomain() {
    let lo = 0;
    if (o.show.similarity) for (const v of o.similarity) if (v < lo) lo = v;
    return { lo: lo < 0 ? Math.floor(lo * 4) / 4 : 0, hi: 1 };
  }

  function render() {
    const W = Math.max(320, host.clientWidth);
    const annH = hasAnn && o.show.annotations ? 22 : 0;
    const H = 280 + annH;
    geom = { left: 46, top: 28, width: W - 46 - 16, height: H - 28 - 40 - annH };
    const { lo, hi } = yDomain();
    const Y = (/** @type {number} */ v) => geom.top + geom.height - ((clamp(v, lo, hi) - lo) / (hi - lo)) * geom.height;
    root = /** @type {SVGSVGElement} */ (svg('svg', { class: 'chart episode-chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'V(t) with stage bands' }));
    const bands = svg('g', { class: 'bands' });
    o.segments.forEach((s, k) => {
      const x0 = X(s.start);
      const x1 = X(s.end + 1);
      bands.appendChild(svg('rect', {
        class: `band s${k % STAGE_COLOURS}`, x: x0, y: geom.top, width: Math.max(0, x1 - x0), height: geom.height,
        'data-stage': k, 'data-start': s.start, 'data-end': s.end,
      }));
      const w = x1 - x0;
      const label = w > 64 ? `stage ${k + 1}` : w > 14 ? String(k + 1) : '';
      if (label) bands.appendChild(svg('text', { class: 'band-label', x: (x0 + x1) / 2, y: geom.top - 8, 'text-anchor': 'middle' }, label));
      if (k > 0) bands.appendChild(svg('line', { class: 'band-edge', x1: x0, x2: x0, y1: geom.top, y2: geom.top + geom.height }));
    });
    root.appendChild(bands);
    // Axes and grid.
    const grid = svg('g', { class: 'grid' });
    for (const v of ticks(lo, hi, 4)) {
      grid.appendChild(svg('line', { x1: geom.left, x2: geom.left + geom.width, y1: Y(v), y2: Y(v) }));
      grid.appendChild(svg('text', { class: 'tick', x: geom.left - 6, y: Y(v) + 4, 'text-anchor': 'end' }, String(v)));
    }
    for (const t of ticks(0, T - 1, Math.max(2, Math.floor(geom.width / 80)))) {
      if (!Number.isInteger(t)) continue;
      grid.appendChild(svg('line', { class: 'xtick', x1: Xc(t), x2: Xc(t), y1: geom.top + geom.height, y2: geom.top + geom.height + 4 }));
      grid.appendChild(svg('text', { class: 'tick', x: Xc(t), y: geom.top + geom.height + 16, 'text-anchor': 'middle' }, String(t)));
    }
    grid.appendChild(svg('text', { class: 'axis-label', x: geom.left + geom.width / 2, y: geom.top + geom.height + 32 + annH, 'text-anchor': 'middle' }, 'step t'));
    root.appendChild(grid);
    root.appendChild(svg('rect', { class: 'plot-area', x: geom.left, y: geom.top, width: geom.width, height: geom.height }));
    /** @param {number[]} ys @param {string} cls */
    const line = (ys, cls) => svg('polyline', { class: cls, points: ys.map((v, t) => `${Xc(t).toFixed(2)},${Y(v).toFixed(2)}`).join(' ') });
    if (o.show.stepsToGo) root.appendChild(line(o.stepsToGo, 'series steps-to-go'));
    if (o.show.similarity) root.appendChild(line(o.similarity, 'series similarity'));
    root.appendChild(line(o.values, 'series value'));
    if (annH && o.annotations) {
      const y0 = geom.top + geom.height + 22;
      const ann = svg('g', { class: 'annotations' });
      o.annotations.forEach((a, k) => {
        const x0 = X(clamp(a.start, 0, T));
        const x1 = X(clamp(a.end + 1, 0, T));
        ann.appendChild(svg('rect', { class: `ann ann-${k % 2}`, x: x0, y: y0, width: Math.max(0, x1 - x0), height: 14 }));
        if (x1 - x0 > 34) ann.appendChild(svg('text', { class: 'ann-label', x: (x0 + x1) / 2, y: y0 + 11, 'text-anchor': 'middle' }, a.name ?? String(k + 1)));
      });
      ann.appendChild(svg('text', { class: 'tick', x: geom.left - 6, y: y0 + 11, 'text-anchor': 'end' }, 'true'));
      root.appendChild(ann);
    }
    hoverLine = svg('line', { class: 'hover-line', y1: geom.top, y2: geom.top + geom.height, visibility: 'hidden' });
    playLine = svg('line', { class: 'playhead', y1: geom.top - 2, y2: geom.top + geom.height + 2 });
    playDot = svg('circle', { class: 'playhead-dot', r: 4.5 });
    root.append(hoverLine, playLine, playDot);
    root.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      dragging = true;
      root.setPointerCapture(e.pointerId);
      o.onSeek(tAt(e.clientX));
      e.preventDefault();
    });
    root.addEventListener('pointermove', (e) => {
      const t = tAt(e.clientX);
      if (dragging) o.onSeek(t);
      hoverLine.setAttribute('x1', String(Xc(t)));
      hoverLine.setAttribute('x2', String(Xc(t)));
      hoverLine.setAttribute('visibility', 'visible');
      o.onHover?.(t);
    });
    const stop = () => { dragging = false; };
    root.addEventListener('pointerup', stop);
    root.addEventListener('pointercancel', stop);
    root.addEventListener('pointerleave', () => { hoverLine.setAttribute('visibility', 'hidden'); o.onHover?.(null); });
    host.replaceChildren(root);
    place = (t) => {
      playLine.setAttribute('x1', String(Xc(t)));
      playLine.setAttribute('x2', String(Xc(t)));
      playDot.setAttribute('cx', String(Xc(t)));
      playDot.setAttribute('cy', String(Y(o.values[t])));
    };
    place(playT);
  }

  /** @param {number} clientX */
  function tAt(clientX) {
    const r = root.getBoundingClientRect();
    const x = clientX - r.left - geom.left;
    return clamp(Math.floor((x / geom.width) * T), 0, T - 1);
  }

  render();
  const ro = new ResizeObserver(() => { if (Math.abs(host.clientWidth - Number(root.getAttribute('width'))) > 1) render(); });
  ro.observe(host);
  return {
    /** Moves the playhead to step t. @param {number} t */
    setTime(t) {
      playT = t;
      place(t);
    },
    render,
    destroy: () => ro.disconnect(),
  };
}

/**
 * @typedef {{ name: string, color: string, points: Array<[number, number]>, band?: Array<[number, number, number]>, dash?: boolean, step?: boolean, width?: number, id?: string }} Series
 * @typedef {{
 *   series: Series[], xDomain: [number, number], yDomain: [number, number], xLabel: string, yLabel?: string,
 *   height?: number, xFormat?: (x: number) => string, onHover?: (x: number | null) => void, onClick?: (x: number) => void,
 *   reference?: Array<[number, number]>,
 * }} LineChartOptions
 */

/**
 * A line chart with optional ± bands, a hover line, re-rendered when its host resizes.
 * @param {HTMLElement} host
 * @param {LineChartOptions} o
 */
export function lineChart(host, o) {
  /** @type {SVGSVGElement} */
  let root;
  let hover = /** @type {SVGElement | null} */ (null);
  const render = () => {
    const W = Math.max(280, host.clientWidth);
    const H = o.height ?? 260;
    const g = { left: 46, top: 12, width: W - 46 - 14, height: H - 12 - 40 };
    const [x0, x1] = o.xDomain;
    const [y0, y1] = o.yDomain;
    const X = (/** @type {number} */ x) => g.left + ((x - x0) / (x1 - x0 || 1)) * g.width;
    const Y = (/** @type {number} */ y) => g.top + g.height - ((clamp(y, y0, y1) - y0) / (y1 - y0 || 1)) * g.height;
    root = /** @type {SVGSVGElement} */ (svg('svg', { class: 'chart line-chart', width: W, height: H, viewBox: `0 0 ${W} ${H}` }));
    const grid = svg('g', { class: 'grid' });
    for (const v of ticks(y0, y1, 4)) {
      grid.appendChild(svg('line', { x1: g.left, x2: g.left + g.width, y1: Y(v), y2: Y(v) }));
      grid.appendChild(svg('text', { class: 'tick', x: g.left - 6, y: Y(v) + 4, 'text-anchor': 'end' }, String(v)));
    }
    for (const v of ticks(x0, x1, Math.max(2, Math.floor(g.width / 90)))) {
      grid.appendChild(svg('text', { class: 'tick', x: X(v), y: g.top + g.height + 16, 'text-anchor': 'middle' }, o.xFormat ? o.xFormat(v) : String(v)));
    }
    grid.appendChild(svg('text', { class: 'axis-label', x: g.left + g.width / 2, y: g.top + g.height + 33, 'text-anchor': 'middle' }, o.xLabel));
    if (o.yLabel) grid.appendChild(svg('text', { class: 'axis-label', x: 12, y: g.top + g.height / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${g.top + g.height / 2})` }, o.yLabel));
    root.appendChild(grid);
    root.appendChild(svg('rect', { class: 'plot-frame', x: g.left, y: g.top, width: g.width, height: g.height }));
    if (o.reference) root.appendChild(svg('polyline', { class: 'series reference', points: o.reference.map(([x, y]) => `${X(x)},${Y(y)}`).join(' ') }));
    for (const s of o.series) {
      if (s.band && s.band.length > 1) {
        const up = s.band.map(([x, , hi]) => `${X(x).toFixed(1)},${Y(hi).toFixed(1)}`);
        const dn = s.band.map(([x, lo]) => `${X(x).toFixed(1)},${Y(lo).toFixed(1)}`).reverse();
        root.appendChild(svg('polygon', { class: 'band-fill', points: [...up, ...dn].join(' '), fill: s.color }));
      }
      const pts = [];
      s.points.forEach(([x, y], i) => {
        if (s.step && i > 0) pts.push(`${X(x).toFixed(1)},${Y(s.points[i - 1][1]).toFixed(1)}`);
        pts.push(`${X(x).toFixed(1)},${Y(y).toFixed(1)}`);
      });
      root.appendChild(svg('polyline', {
        class: `series${s.dash ? ' dashed' : ''}`, points: pts.join(' '), stroke: s.color, 'stroke-width': s.width ?? 2, 'data-series': s.id ?? s.name,
      }));
    }
    hover = svg('line', { class: 'hover-line', y1: g.top, y2: g.top + g.height, visibility: 'hidden' });
    root.appendChild(hover);
    const xAt = (/** @type {number} */ clientX) => {
      const r = root.getBoundingClientRect();
      return clamp(x0 + ((clientX - r.left - g.left) / g.width) * (x1 - x0), Math.min(x0, x1), Math.max(x0, x1));
    };
    root.addEventListener('pointermove', (e) => {
      const x = xAt(e.clientX);
      hover?.setAttribute('x1', String(X(x)));
      hover?.setAttribute('x2', String(X(x)));
      hover?.setAttribute('visibility', 'visible');
      o.onHover?.(x);
    });
    root.addEventListener('pointerleave', () => { hover?.setAttribute('visibility', 'hidden'); o.onHover?.(null); });
    if (o.onClick) root.addEventListener('click', (e) => o.onClick?.(xAt(e.clientX)));
    host.replaceChildren(root);
  };
  render();
  const ro = new ResizeObserver(() => { if (Math.abs(host.clientWidth - Number(root.getAttribute('width'))) > 1) render(); });
  ro.observe(host);
  return { destroy: () => ro.disconnect(), render };
}
