// SVG plot of one labelled episode: the similarity of each frame to its
// stage's subgoal, the progress value V(t), and the stages as shaded bands
// with boundary lines. Plain SVG 1.1 text, no dependencies.
import type { Boundary, Segment } from '../core/types.js';
import { checkOptions } from '../core/validate.js';

/** What {@link plotEpisodeSvg} draws. */
export interface EpisodePlotInput {
  /** Title (e.g. the episode name). */
  title: string;
  /** Optional second line under the title. */
  subtitle?: string;
  /** `[T]` similarity of each frame to its stage's subgoal. */
  similarity: ArrayLike<number>;
  /** `[T]` progress values V(t). */
  values: ArrayLike<number>;
  /** Stages in temporal order (inclusive frame ranges). */
  segments: readonly Segment[];
  /** Optional: what placed each boundary (a result's `boundaries`); each boundary line is then labelled with its rule. */
  boundaries?: readonly Boundary[];
}

const COLORS = { similarity: '#1f77b4', value: '#d95f02', band: '#eef1f6', boundary: '#7a8699', grid: '#e3e6eb', axis: '#333', text: '#222' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 2 : 1).replace(/0+$/, '').replace(/\.$/, '');
}

/** A 1-2-5 step giving about `target` ticks over `span`. */
function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/**
 * Renders one labelled episode as a standalone SVG document: similarity to the
 * subgoal (blue, one line per stage) and progress value (orange) against the frame index,
 * stages as alternating shaded bands numbered at the bottom, dashed lines at stage boundaries
 * (labelled with the rule that placed each when `boundaries` is given), axes with ticks and
 * labels, a legend and a title.
 *
 * @param input curves and stages of one episode (see {@link EpisodePlotInput})
 * @param opts `width`, `height` in pixels (default 960 × 440)
 * @returns the SVG text
 * @example
 * writeFileAtomic('plot.svg', plotEpisodeSvg({ title: 'episode-000', ...progressTargetsSync(features) }));
 */
export function plotEpisodeSvg(input: EpisodePlotInput, opts: { width?: number; height?: number } = {}): string {
  const o = checkOptions(opts, 'opts', { width: 1, height: 1 });
  const W = o.width ?? 960;
  const H = o.height ?? 440;
  const { similarity: sim, values, segments } = input;
  const T = Math.max(sim.length, values.length);
  const m = { left: 70, right: 24, top: input.subtitle ? 74 : 58, bottom: 58 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  // y range: [min(0, data), max(1, data)] rounded out to 0.1.
  let lo = 0;
  let hi = 1;
  for (const a of [sim, values]) for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) { lo = Math.min(lo, a[i]); hi = Math.max(hi, a[i]); }
  lo = Math.floor(lo * 10 + 1e-9) / 10;
  hi = Math.ceil(hi * 10 - 1e-9) / 10;
  const x0 = -0.5;
  const x1 = Math.max(T - 0.5, 0.5);
  const X = (f: number) => m.left + ((f - x0) / (x1 - x0)) * pw;
  const Y = (v: number) => m.top + (1 - (v - lo) / (hi - lo)) * ph;
  const r = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.left}" y="26" font-size="17" font-weight="bold" fill="${COLORS.text}">${esc(input.title)}</text>`);
  if (input.subtitle) out.push(`<text x="${m.left}" y="46" fill="#555">${esc(input.subtitle)}</text>`);
  // Stage bands, numbers and boundaries.
  segments.forEach((s, k) => {
    const a = X(s.start - 0.5);
    const b = X(s.end + 0.5);
    if (k % 2 === 0) out.push(`<rect x="${r(a)}" y="${m.top}" width="${r(b - a)}" height="${ph}" fill="${COLORS.band}"/>`);
    if (b - a >= 14) out.push(`<text x="${r((a + b) / 2)}" y="${m.top + ph - 7}" text-anchor="middle" font-size="11" fill="#667">${k + 1}</text>`);
    if (k > 0) {
      const rule = input.boundaries?.find((c) => c.frame === s.start)?.rule;
      const tip = `<title>stage ${k + 1} starts at frame ${s.start}${rule ? ` (${rule})` : ''}</title>`;
      out.push(`<line x1="${r(a)}" y1="${m.top}" x2="${r(a)}" y2="${m.top + ph}" stroke="${COLORS.boundary}" stroke-width="1" stroke-dasharray="4 3">${tip}</line>`);
      if (rule) out.push(`<text x="${r(a + 3)}" y="${m.top + 12}" font-size="10" fill="#556">${esc(rule)}</text>`);
    }
  });
  // Grid and y ticks.
  const ys = niceStep(hi - lo, 7);
  for (let v = Math.ceil(lo / ys - 1e-9) * ys; v <= hi + 1e-9; v += ys) {
    const y = r(Y(v));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="${COLORS.grid}" stroke-width="1"/>`);
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" dy="4" text-anchor="end" fill="${COLORS.text}">${fmt(Math.round(v * 1000) / 1000)}</text>`);
  }
  // x ticks.
  const xs = Math.max(1, niceStep(Math.max(1, T - 1), 10));
  for (let f = 0; f <= T - 1; f += xs) {
    const x = r(X(f));
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 20}" text-anchor="middle" fill="${COLORS.text}">${f}</text>`);
  }
  // Axes and labels.
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="${COLORS.axis}" stroke-width="1"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle" fill="${COLORS.text}">frame t</text>`);
  out.push(`<text transform="translate(20 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="${COLORS.text}">similarity / progress value</text>`);
  // Curves.
  const line = (a: ArrayLike<number>, color: string, width: number, name: string, from = 0, to = a.length - 1) => {
    const pts: string[] = [];
    for (let i = Math.max(0, from); i <= Math.min(to, a.length - 1); i++) if (Number.isFinite(a[i])) pts.push(`${r(X(i))},${r(Y(a[i]))}`);
    if (pts.length === 0) return;
    if (pts.length === 1) {
      const [cx, cy] = pts[0].split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"><title>${name}</title></circle>`);
    } else {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round" points="${pts.join(' ')}"><title>${name}</title></polyline>`);
    }
  };
  // Similarity is relative to each stage's own subgoal: one line per stage, not joined across boundaries.
  if (segments.length) for (const s of segments) line(sim, COLORS.similarity, 1.6, 'similarity to the stage subgoal', s.start, s.end);
  else line(sim, COLORS.similarity, 1.6, 'similarity to the stage subgoal');
  line(values, COLORS.value, 2.4, 'progress value V(t)');
  // Legend (top right, above the plot).
  const items: Array<[string, string, string]> = [
    ['similarity to subgoal s(t)', COLORS.similarity, 'line'],
    ['progress value V(t)', COLORS.value, 'line'],
    [`stage boundary (${segments.length} stage${segments.length === 1 ? '' : 's'})`, COLORS.boundary, 'dash'],
  ];
  const widths = items.map(([t]) => 34 + t.length * 7.2);
  let lx = W - m.right - widths.reduce((a, b) => a + b, 0);
  const ly = m.top - 12;
  items.forEach(([label, color, kind], k) => {
    out.push(kind === 'dash'
      ? `<line x1="${r(lx)}" y1="${ly}" x2="${r(lx + 22)}" y2="${ly}" stroke="${color}" stroke-width="1.5" stroke-dasharray="4 3"/>`
      : `<line x1="${r(lx)}" y1="${ly}" x2="${r(lx + 22)}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${r(lx + 28)}" y="${ly + 4}" fill="${COLORS.text}" font-size="12">${esc(label)}</text>`);
    lx += widths[k];
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
