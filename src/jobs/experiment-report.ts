// Files of an experiment run: the JSON, the tables as Markdown, SVG plots
// (success over training per variant, value curves against the true stage)
// and one PNG contact sheet per split (a row of frames per method). The files
// are written as a set: into a hidden folder beside --out, renamed over it
// whole, so an interrupted run leaves the previous set or the new one, never
// a mix.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import { fileKind } from '../io/common.js';
import { EXPERIMENT_SPLITS, type ExperimentSplit } from './experiment-config.js';
import {
  formatExperimentTable, formatPairedTable, formatValueModelTable, type ExperimentJson, type ExperimentResult,
} from './experiment-summary.js';

const PALETTE = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The JSON of a result with exactly the documented top-level keys. */
export function experimentJson(r: ExperimentJson): ExperimentJson {
  return {
    config: r.config, seeds: r.seeds, rows: r.rows, paired: r.paired, gate: r.gate, base: r.base, valueModels: r.valueModels, timings: r.timings, notes: r.notes,
  };
}

interface Series { name: string; color: string; mean: number[]; lo?: number[]; hi?: number[]; dash?: boolean; step?: boolean; markers?: boolean }

/** A line plot (optionally with bands) as an SVG fragment inside the box (x0, y0, w, h); y in [0, 1]. */
function panel(x0: number, y0: number, w: number, h: number, title: string, series: Series[], xLabel: string, yLabel: string): string {
  const n = Math.max(2, ...series.map((s) => s.mean.length));
  const X = (i: number) => x0 + (i / (n - 1)) * w;
  const Y = (v: number) => y0 + h - Math.max(0, Math.min(1, v)) * h;
  const out: string[] = [];
  out.push(`<text x="${x0}" y="${y0 - 8}" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e3e6eb"/>`);
    out.push(`<text x="${x0 - 6}" y="${Y(v) + 4}" font-size="10" text-anchor="end">${v}</text>`);
  }
  const ticks = Math.min(n - 1, 8);
  for (let k = 0; k <= ticks; k++) {
    const i = Math.round((k * (n - 1)) / ticks);
    out.push(`<text x="${X(i)}" y="${y0 + h + 14}" font-size="10" text-anchor="middle">${i}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 30}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text x="${x0 - 34}" y="${y0 + h / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${x0 - 34} ${y0 + h / 2})">${esc(yLabel)}</text>`);
  for (const s of series) {
    if (s.lo && s.hi && s.mean.length > 1) {
      const up = s.hi.map((v, i) => `${X(i).toFixed(1)},${Y(v).toFixed(1)}`);
      const dn = s.lo.map((v, i) => `${X(i).toFixed(1)},${Y(v).toFixed(1)}`).reverse();
      out.push(`<polygon points="${[...up, ...dn].join(' ')}" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const pts: string[] = [];
    s.mean.forEach((v, i) => {
      if (s.step && i > 0) pts.push(`${X(i).toFixed(1)},${Y(s.mean[i - 1]).toFixed(1)}`);
      pts.push(`${X(i).toFixed(1)},${Y(v).toFixed(1)}`);
    });
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5 3"' : ''}/>`);
    if (s.markers) for (const [i, v] of s.mean.entries()) out.push(`<circle cx="${X(i).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
  }
  return out.join('\n');
}

function legend(x: number, y: number, items: Array<{ name: string; color: string; dash?: boolean }>): string {
  return items.map((it, k) => `<line x1="${x}" x2="${x + 22}" y1="${y + k * 16}" y2="${y + k * 16}" stroke="${it.color}" stroke-width="2"${it.dash ? ' stroke-dasharray="5 3"' : ''}/>` +
    `<text x="${x + 28}" y="${y + k * 16 + 4}" font-size="11">${esc(it.name)}</text>`).join('\n');
}

function svgDoc(w: number, h: number, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

/**
 * Training-rollout success rate per update for each RL variant: the mean over
 * seeds with a band of ± one standard deviation (none with one seed); one
 * panel per algorithm.
 */
export function successCurvesSvg(r: Pick<ExperimentResult, 'curves' | 'seeds'>): string {
  const algos = [...new Set(Object.keys(r.curves).map((k) => k.split(' ')[0]))];
  const W = 460; const H = 240; const pad = 70;
  const parts: string[] = [];
  algos.forEach((algo, a) => {
    const names = Object.keys(r.curves).filter((k) => k.startsWith(`${algo} `));
    const series = names.map((name, k): Series => {
      const runs = r.curves[name];
      const len = Math.min(...runs.map((c) => c.length));
      const mean: number[] = []; const lo: number[] = []; const hi: number[] = [];
      for (let i = 0; i < len; i++) {
        const xs = runs.map((c) => c[i]);
        const m = xs.reduce((p, q) => p + q, 0) / xs.length;
        const sd = xs.length > 1 ? Math.sqrt(xs.reduce((p, q) => p + (q - m) ** 2, 0) / (xs.length - 1)) : 0;
        mean.push(m); lo.push(m - sd); hi.push(m + sd);
      }
      return { name, color: PALETTE[k], mean, markers: true, ...(runs.length > 1 ? { lo, hi } : {}) };
    });
    const x0 = pad + a * (W + pad + 150); const y0 = 40;
    parts.push(panel(x0, y0, W, H, `${algo}: success of training rollouts (in-distribution)`, series, 'update', 'success rate'));
    parts.push(legend(x0 + W + 14, y0 + 10, series));
  });
  parts.push(`<text x="${pad}" y="${H + 100}" font-size="11">Mean over ${r.seeds.length} seed(s)${r.seeds.length > 1 ? ', band = ± 1 s.d.' : ''}; stochastic policy, ${''}the rollouts each update trains on.</text>`);
  return svgDoc(algos.length * (W + pad + 150) + 20, H + 120, parts.join('\n'));
}

/** Value curves of a few held-out episodes: both heads' predictions and the true stage / (numStages − 1). */
export function valueCurvesSvg(r: Pick<ExperimentResult, 'valueProbe' | 'numStages'>, maxEpisodes = 6): string {
  const eps = r.valueProbe.curves.slice(0, maxEpisodes);
  const W = 300; const H = 170; const cols = 3; const padX = 60; const padY = 60;
  const parts: string[] = [];
  eps.forEach((e, k) => {
    const x0 = padX + (k % cols) * (W + padX); const y0 = padY + Math.floor(k / cols) * (H + padY);
    const series: Series[] = [
      { name: 'Feat2Go head', color: PALETTE[0], mean: e.feat2go },
      { name: 'Steps-To-Go head', color: PALETTE[1], mean: e.stepsToGo },
      { name: 'true stage', color: '#333', mean: e.stage.map((s) => s / (r.numStages - 1)), dash: true, step: true },
      ...(e.progress ? [{ name: 'true progress', color: PALETTE[2], mean: e.progress, dash: true }] : []),
    ].filter((x) => x.mean.length > 0);
    parts.push(panel(x0, y0, W, H, `held-out episode ${k + 1} (${e.success ? 'success' : `failed at stage ${e.stage[e.stage.length - 1]}`})`, series, 'frame', 'value'));
  });
  const rows = Math.max(1, Math.ceil(eps.length / cols));
  parts.push(legend(padX, rows * (H + padY) + 30, [
    { name: 'Feat2Go head', color: PALETTE[0] }, { name: 'Steps-To-Go head', color: PALETTE[1] }, { name: `true stage / ${r.numStages - 1}`, color: '#333', dash: true },
    ...(eps.some((e) => e.progress) ? [{ name: 'true progress (oracle)', color: PALETTE[2], dash: true }] : []),
  ]));
  return svgDoc(cols * (W + padX) + 20, rows * (H + padY) + 90, parts.join('\n'));
}

/**
 * A PNG contact sheet of one split: a row per method (evaluation episode 0 of
 * the first seed), `cols` frames picked evenly from its start to its end.
 */
export async function contactSheetPng(r: Pick<ExperimentResult, 'episodes'>, split: ExperimentSplit, cols = 10): Promise<Buffer> {
  const names = Object.keys(r.episodes);
  const first = r.episodes[names[0]][split];
  const [, S] = first.shape;
  const gap = 2;
  const sw = cols * S + (cols + 1) * gap;
  const sh = names.length * (S + gap) + gap;
  const sheet = new Uint8Array(sw * sh * 3).fill(255);
  names.forEach((name, row) => {
    const ep = r.episodes[name][split];
    const T = ep.shape[0];
    for (let k = 0; k < cols; k++) {
      const t = Math.round((k * (T - 1)) / (cols - 1));
      const x0 = gap + k * (S + gap); const y0 = gap + row * (S + gap);
      for (let y = 0; y < S; y++) {
        const src = (t * S + y) * S * 3;
        sheet.set(ep.data.subarray(src, src + S * 3), ((y0 + y) * sw + x0) * 3);
      }
    }
  });
  return sharp(sheet, { raw: { width: sw, height: sh, channels: 3 } }).png().toBuffer();
}

/** Markdown: the notes, the Table-1-shaped table, the paired differences, the base's rates, the value models, hyperparameters, timings. */
export function experimentMarkdown(r: ExperimentResult, commandLine?: string): string {
  const b = r.base;
  const p = (x: number) => `${(x * 100).toFixed(1)} %`;
  const lines = [
    '# feat2go experiment', '',
    ...(commandLine ? [`Command: \`${commandLine}\``, ''] : []),
    ...r.notes.map((n) => `> ${n}`), ...(r.notes.length ? [''] : []),
    '## Success rates', '', formatExperimentTable(r).trimEnd(), '',
    ...(r.paired.length ? ['## Paired differences', '', formatPairedTable(r).trimEnd(), ''] : []),
    '## The base policy', '',
    `- deterministic success: ${EXPERIMENT_SPLITS.map((s) => `${s} ${p(b.deterministic[s])}`).join(', ')};`,
    `- sampled success in the first RL rollouts: ${Object.entries(b.sampledSuccess).map(([a, v]) => `${a.toUpperCase()} ${p(v)}`).join(', ') || 'n/a'}; on the probe's held-out states: ${p(b.probeSuccess)};`,
    `- demonstrations that succeeded: ${p(b.demoSuccess)}.`, '',
    '## Value models', '', formatValueModelTable(r).trimEnd(), '',
    '## Settings (the same for every reward variant)', '', '```json', JSON.stringify(r.config, null, 2), '```', '',
    '## Timings (s, summed over seeds)', '', Object.entries(r.timings).map(([k, v]) => `- ${k}: ${v}`).join('\n'), '',
  ];
  return lines.join('\n');
}

/** File names of an experiment's output set (contact sheets: one per split). */
export const EXPERIMENT_OUTPUT_FILES: readonly string[] = Object.freeze([
  'results.json', 'results.md', 'details.json', 'success-over-training.svg', 'value-curves.svg', ...EXPERIMENT_SPLITS.map((s) => `contact-${s}.png`),
]);

const STAGING = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-f]+$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Checks, before any work, that `dir` can receive an output set: its parent
 * is (or can be made) a folder this process can write in, and `dir` is absent
 * or a folder holding only names of the set (`allowed`; the set replaces the
 * folder whole, so nothing else may be in it). Creates the parent.
 * @throws {Error} `<dir>: exists and is a file, not a folder`, `<dir>: holds files that are not experiment outputs (…)`, `<dir>: cannot create folder …`
 */
export function checkExperimentOutputDir(dir: string, allowed: readonly string[] = EXPERIMENT_OUTPUT_FILES): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`Expected a folder path string for dir but received ${typeof dir}`);
  const abs = path.resolve(dir);
  let st: fs.Stats | undefined;
  try { st = fs.statSync(abs); } catch { /* absent: created by the rename */ }
  if (st && !st.isDirectory()) throw new Error(`${dir}: exists and is ${fileKind(st)}, not a folder`);
  if (st) {
    const foreign = fs.readdirSync(abs).filter((f) => !allowed.includes(f));
    if (foreign.length) throw new Error(`${dir}: holds files that are not experiment outputs (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); the output set replaces the folder whole, so give a new or empty folder`);
  }
  const parent = path.dirname(abs);
  ensureDir(parent);
  try {
    fs.accessSync(parent, fs.constants.W_OK);
  } catch (err) {
    throw new Error(`${dir}: cannot write in ${parent} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * Writes `entries` into `dir` as one set: the files go to a hidden folder
 * beside `dir` (`.<name>.tmp-<pid>-<hex>`), which then replaces `dir` by
 * renames; an interruption leaves the previous set or the new one (and a
 * hidden folder that the next write removes), never a mix. `onFile` is called
 * after each file is staged. Returns the paths written.
 * @throws {Error} as {@link checkExperimentOutputDir}; the previous set is then untouched
 */
export function writeFileSet(dir: string, entries: ReadonlyArray<readonly [string, string | Buffer]>, allowed: readonly string[], onFile?: (name: string) => void): string[] {
  checkExperimentOutputDir(dir, allowed);
  const abs = path.resolve(dir);
  const parent = path.dirname(abs); const base = path.basename(abs);
  for (const f of fs.readdirSync(parent)) { // leftovers of writes that were killed
    const m = STAGING.exec(f);
    if (m && m[1] === base && !alive(Number(m[3]))) fs.rmSync(path.join(parent, f), { recursive: true, force: true });
  }
  const tag = () => `${process.pid}-${randomBytes(4).toString('hex')}`;
  const stage = path.join(parent, `.${base}.tmp-${tag()}`);
  fs.mkdirSync(stage);
  try {
    for (const [name, data] of entries) {
      writeFileAtomic(path.join(stage, name), data);
      onFile?.(name);
    }
    if (fs.existsSync(abs)) {
      const old = path.join(parent, `.${base}.old-${tag()}`);
      fs.renameSync(abs, old);
      fs.renameSync(stage, abs);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(stage, abs);
    }
  } catch (err) {
    fs.rmSync(stage, { recursive: true, force: true });
    throw err;
  }
  return entries.map(([n]) => path.join(dir, n));
}

/**
 * Writes every output of a run into `dir` as one set ({@link writeFileSet}):
 * an interrupted run leaves the previous set or the new one, never a mix.
 * Returns the written paths.
 */
export async function writeExperimentOutputs(r: ExperimentResult, dir: string, commandLine?: string, onFile?: (name: string) => void): Promise<string[]> {
  checkExperimentOutputDir(dir);
  const entries: Array<[string, string | Buffer]> = [
    ['results.json', `${JSON.stringify(experimentJson(r), null, 2)}\n`],
    ['results.md', experimentMarkdown(r, commandLine)],
    // valueCurves: the held-out episodes value-curves.svg draws (and a few more), for `feat2go view`.
    ['details.json', `${JSON.stringify({
      seeds: r.seeds, curves: r.curves, perSeed: r.perSeed, valueProbe: r.valueProbe.perSeed, numStages: r.numStages,
      valueCurves: r.valueProbe.curves.slice(0, 12).map((c) => ({
        success: c.success, stage: c.stage, feat2go: c.feat2go.map((v) => Number(v.toFixed(4))), stepsToGo: c.stepsToGo.map((v) => Number(v.toFixed(4))),
      })),
    })}\n`],
  ];
  if (Object.keys(r.curves).length) entries.push(['success-over-training.svg', successCurvesSvg(r)]);
  if (r.valueProbe.curves.length) entries.push(['value-curves.svg', valueCurvesSvg(r)]);
  if (Object.keys(r.episodes).length) for (const split of EXPERIMENT_SPLITS) entries.push([`contact-${split}.png`, await contactSheetPng(r, split)]);
  return writeFileSet(dir, entries, EXPERIMENT_OUTPUT_FILES, onFile);
}
