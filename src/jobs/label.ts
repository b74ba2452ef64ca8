// Labels episodes with Feat2Go progress targets and writes the results: the
// shared code path of `feat2go label` (with or without --encoder) and
// `npm start`. An episode comes either as features in a file (.npy,
// .safetensors) or as frames (image folder, uint8 .npy, video) that an
// encoder turns into features first.
import fs from 'node:fs';
import path from 'node:path';
import { progressTargets, resolveProgressOptions } from '../core/progress.js';
import { randomBytes } from 'node:crypto';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import { FileFormatError, fileKind } from '../io/common.js';
import { readNpyFloat32, writeNpy } from '../io/npy.js';
import { readSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import { plotEpisodeSvg } from './plot.js';
import { checkOptions, type OptionKeys } from '../core/validate.js';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from '../io/episodes.js';
import { encodeFrames, type FrameEncoder } from '../encoders/encoder.js';
import type { ProgressOptions, ProgressResult, ResolvedProgressOptions, Tensor } from '../core/types.js';

/** Options of {@link labelPaths}: the progress options plus where to write. */
export interface LabelPathsOptions extends ProgressOptions {
  /** Output folder (created if missing). */
  out: string;
  /** Called after each episode, labelled or failed. */
  onProgress?: (done: number, total: number, episode: string) => void;
  /** Called for each file or tensor that is skipped. */
  onFailure?: (failure: LabelFailure) => void;
  /**
   * When given, the inputs are frame episodes (folders of PNG/JPEG frames, `[T,H,W,3]` uint8
   * `.npy` files, videos; see {@link findFrameEpisodes}), each encoded by this encoder into
   * features before labelling.
   */
  encoder?: FrameEncoder;
  /** With an encoder: called after every chunk of frames (frames done, total when known, episode, its index, episodes in all). */
  onFrames?: (framesDone: number, framesTotal: number | undefined, episode: string, index: number, episodes: number) => void;
  /**
   * Label only shard `index` of `count` (see {@link shardOf}): every process
   * given the same inputs agrees on the split without talking. Writes
   * `shard-<index>-of-<count>.json` (a manifest; {@link mergeSummaries}
   * combines them) and `.md` instead of summary.json / summary.md.
   */
  shard?: { index: number; count: number };
  /**
   * With an encoder: label a video that decodes only partly (truncated or corrupt: ffmpeg
   * reports errors, or fewer frames decode than the container lists) from the frames that
   * decode, with a warning, instead of skipping it as a failure. Default false.
   */
  allowPartial?: boolean;
  /**
   * Receives warnings with the episode's output name: an allowed partial decode, and
   * {@link CAP_WARNING} where `maxClusterFrames` placed most of an episode's stage
   * boundaries. They are also kept in the episode's `warnings`.
   */
  onWarning?: (message: string, episode: string) => void;
}

const LABEL_KEYS: OptionKeys<LabelPathsOptions> = {
  lambda: 1, window: 1, maxClusterFrames: 1, threshold: 1, segmenter: 1, threads: 1, out: 1, onProgress: 1, onFailure: 1, encoder: 1, onFrames: 1,
  allowPartial: 1, onWarning: 1, shard: 1,
};

/**
 * The warning of an episode whose stage boundaries were placed mostly (more than half
 * of them) by the `maxClusterFrames` cap: its stages are then a clock, not the task's.
 */
export const CAP_WARNING = 'stages were cut by --max-cluster-frames, not by the data';

/** {@link CAP_WARNING} when the cap placed more than half of the boundaries, else undefined. */
export function capWarning(r: Pick<ProgressResult, 'boundaries'>): string | undefined {
  const caps = r.boundaries.filter((b) => b.rule === 'cap').length;
  return caps * 2 > r.boundaries.length ? `${CAP_WARNING} (${caps} of ${r.boundaries.length} boundaries)` : undefined;
}

/** One episode found in the inputs. */
export interface EpisodeSource {
  /** Output name (relative path under the output folder, `/`-separated). */
  name: string;
  /** File it comes from. */
  file: string;
  /** Tensor name inside a safetensors file. */
  tensor?: string;
  /** `'features'` (default): a `[T,N,D]` tensor read from `file`; `'frames'`: frames encoded by an encoder. */
  kind?: 'features' | 'frames';
}

/** A labelled episode, as listed in summary.json. */
export interface LabelledEpisode {
  episode: string;
  file: string;
  tensor?: string;
  /** `[T, N, D]` of the features. */
  shape: number[];
  frames: number;
  stages: number;
  meanValue: number;
  /** Milliseconds spent in progressTargets (reading and writing not included). */
  ms: number;
  /** Frame episodes: the encoder's name. */
  encoder?: string;
  /** Frame episodes: frames decoded (features have one step per frame, or per tubelet for video models). */
  framesIn?: number;
  /** Frame episodes: milliseconds spent decoding and encoding. */
  encodeMs?: number;
  /** Folder with this episode's outputs. */
  dir: string;
  /** Warnings while reading the episode (e.g. a partial video decode allowed by `allowPartial`). */
  warnings?: string[];
}

/** A file (or a tensor in a file) that was skipped, with a one-line reason. */
export interface LabelFailure {
  file: string;
  tensor?: string;
  reason: string;
}

/** Everything {@link labelPaths} did. */
export interface LabelReport {
  out: string;
  /** The options every episode ran with (`threshold` only with the `'paper'` segmenter). */
  options: ResolvedProgressOptions;
  episodes: LabelledEpisode[];
  failures: LabelFailure[];
  /** summary.json and summary.md paths. */
  summary: { json: string; md: string };
  /** Name of the encoder when the inputs were frame episodes. */
  encoder?: string;
  /** The shard labelled, when opts.shard was given (summary then names the shard's manifest). */
  shard?: { index: number; count: number };
}

const EXTENSIONS = ['.npy', '.safetensors'];

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** One line saying why `err` happened; a leading `<file>: ` (already in the failure line) is dropped. */
export function reasonOf(err: unknown, file?: string): string {
  if (err instanceof FileFormatError && (file === undefined || err.file === file)) return oneLine(err.reason);
  if (err && typeof err === 'object' && 'code' in err && typeof (err as NodeJS.ErrnoException).code === 'string') {
    const e = err as NodeJS.ErrnoException;
    return oneLine(`${e.code}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}`);
  }
  const msg = oneLine(err instanceof Error ? err.message : String(err));
  return file !== undefined && msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg;
}

/** Whether a symbolic link points to a regular file (links to folders are not followed: no cycles). */
function isFileTarget(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

const hasExt = (name: string, exts: readonly string[]) => exts.includes(path.extname(name).toLowerCase());

/**
 * Collects episode paths under `dir` in name order: files with one of `exts`, and — when
 * `imageFolders` — folders holding PNG/JPEG frames (taken whole, not searched further).
 */
function walk(dir: string, skip: string, found: string[], exts: readonly string[], imageFolders = false): void {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // A folder of feat2go outputs (an earlier run's `<name>/`): its values.npy etc. are not episodes.
  const names = new Set(entries.map((e) => e.name));
  if (names.has('result.json') && names.has('values.npy') && names.has('segments.npy')) return;
  const isFile = (e: fs.Dirent, p: string) => e.isFile() || (e.isSymbolicLink() && isFileTarget(p));
  if (imageFolders && entries.some((e) => hasExt(e.name, IMAGE_EXTENSIONS) && isFile(e, path.join(dir, e.name)))) {
    found.push(dir);
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (path.resolve(p) !== skip) walk(p, skip, found, exts, imageFolders);
    } else if (isFile(e, p) && hasExt(e.name, exts)) {
      found.push(p);
    }
  }
}

/** Hands out unique output names (`name`, `name-2`, …). */
function uniqueNames(): (base: string) => string {
  const used = new Set<string>();
  return (base) => {
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
    used.add(name);
    return name;
  };
}

/** The output name of a path found under an input: its relative path without extension, made safe. */
function stemOf(rel: string, isDir: boolean): string {
  const base = isDir ? rel : rel.slice(0, rel.length - path.extname(rel).length);
  return base.split(path.sep).filter((x) => x !== '' && x !== '.').map(safeName).join('/') || '_';
}

/** What an input visitor of {@link discover} adds to. */
interface Discovery {
  episodes: EpisodeSource[];
  failures: LabelFailure[];
  /** Makes an output name unique among the episodes found. */
  unique: (base: string) => string;
  /** Resolved folder not to search ('' for none). */
  skip: string;
}

/** Runs `visit` on every input that exists (a missing one becomes a failure) and collects what it finds. */
function discover(inputs: readonly string[], skipDir: string | undefined, visit: (input: string, stat: fs.Stats, d: Discovery) => void): { episodes: EpisodeSource[]; failures: LabelFailure[] } {
  const d: Discovery = { episodes: [], failures: [], unique: uniqueNames(), skip: skipDir ? path.resolve(skipDir) : '' };
  for (const input of inputs) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(input);
    } catch (err) {
      d.failures.push({ file: input, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : reasonOf(err) });
      continue;
    }
    // A named pipe, socket or device is refused here: reading one would block or never end.
    if (!stat.isFile() && !stat.isDirectory()) {
      d.failures.push({ file: input, reason: `${fileKind(stat)}, not a regular file or a folder` });
      continue;
    }
    visit(input, stat, d);
  }
  return { episodes: d.episodes, failures: d.failures };
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || '_';
}

/**
 * Finds the episodes in files and folders: each `.npy` file is one episode; each rank-3
 * float tensor in a `.safetensors` file is one. Folders are searched recursively (hidden
 * folders, node_modules, `skipDir` and earlier feat2go output folders — those holding
 * result.json, values.npy and segments.npy — excluded), in name order.
 *
 * @returns the episodes and the inputs that could not be used, each with a one-line reason
 */
export function findEpisodes(inputs: readonly string[], skipDir?: string): { episodes: EpisodeSource[]; failures: LabelFailure[] } {
  return discover(inputs, skipDir, (input, stat, { episodes, failures, unique, skip }) => {
    let files: Array<{ file: string; rel: string }>;
    if (stat.isDirectory()) {
      const found: string[] = [];
      try {
        walk(input, skip, found, EXTENSIONS);
      } catch (err) {
        failures.push({ file: input, reason: reasonOf(err) });
        return;
      }
      if (found.length === 0) failures.push({ file: input, reason: 'no .npy or .safetensors files found in this folder' });
      files = found.map((f) => ({ file: f, rel: path.relative(input, f) }));
    } else {
      if (!EXTENSIONS.includes(path.extname(input).toLowerCase())) {
        failures.push({ file: input, reason: 'not a .npy or .safetensors file' });
        return;
      }
      files = [{ file: input, rel: path.basename(input) }];
    }
    for (const { file, rel } of files) {
      const stem = stemOf(rel, false);
      if (path.extname(file).toLowerCase() === '.npy') {
        episodes.push({ name: unique(stem), file });
        continue;
      }
      try {
        const h = readSafetensorsHeader(file);
        const rank3 = h.tensors.filter((t) => t.shape.length === 3);
        if (rank3.length === 0) {
          failures.push({ file, reason: `no [T,N,D] (rank-3) tensors among its ${h.tensors.length} tensors` });
          continue;
        }
        for (const t of rank3) {
          if (!['F32', 'F16', 'BF16'].includes(t.dtype)) {
            failures.push({ file, tensor: t.name, reason: `tensor '${t.name}' has dtype ${t.dtype}; only F32, F16 and BF16 can be labelled` });
            continue;
          }
          episodes.push({ name: unique(`${stem}/${safeName(t.name)}`), file, tensor: t.name });
        }
      } catch (err) {
        failures.push({ file, reason: reasonOf(err) });
      }
    }
  });
}

const FRAME_FILE_EXTENSIONS = ['.npy', ...VIDEO_EXTENSIONS];

/**
 * Finds frame episodes in files and folders: a folder holding PNG/JPEG frames is one
 * episode; otherwise a folder is searched recursively (as {@link findEpisodes} does) for
 * such folders, `[T,H,W,3]` uint8 `.npy` files and videos (.mp4, .webm, .mkv, .mov, .avi).
 * A file given directly is one episode. Contents are checked only when encoding.
 *
 * @returns the episodes (`kind: 'frames'`) and the inputs that could not be used, each with a one-line reason
 * @example
 * const { episodes } = findFrameEpisodes(['recordings/']); // recordings/ep_000/frame_0.png … → one episode per folder
 */
export function findFrameEpisodes(inputs: readonly string[], skipDir?: string): { episodes: EpisodeSource[]; failures: LabelFailure[] } {
  return discover(inputs, skipDir, (input, stat, { episodes, failures, unique, skip }) => {
    if (!stat.isDirectory()) {
      // A single file: an image, a .npy or a video, checked when it is opened.
      episodes.push({ name: unique(stemOf(path.basename(input), false)), file: input, kind: 'frames' });
      return;
    }
    const found: string[] = [];
    try {
      walk(input, skip, found, FRAME_FILE_EXTENSIONS, true);
    } catch (err) {
      failures.push({ file: input, reason: reasonOf(err) });
      return;
    }
    if (found.length === 0) failures.push({ file: input, reason: 'no PNG or JPEG frames, .npy frame arrays or videos found in this folder' });
    for (const f of found) {
      const isDir = f === input || fs.statSync(f).isDirectory();
      const rel = f === input ? path.basename(path.resolve(input)) : path.relative(input, f);
      episodes.push({ name: unique(stemOf(rel, isDir)), file: f, kind: 'frames' });
    }
  });
}

function loadEpisode(src: EpisodeSource): Tensor {
  if (src.tensor === undefined) {
    // Shared memory: progressTargets then reads it in place rather than copying it first.
    const t = readNpyFloat32(src.file, undefined, { shared: true });
    if (t.shape.length !== 3) throw new FileFormatError(src.file, 'episode', `expected a [T,N,D] (rank-3) array but its shape is (${t.shape.join(', ')})`);
    return t;
  }
  const t = readSafetensors(src.file, { names: [src.tensor] }).get(src.tensor)!;
  return { data: t.data, shape: t.shape };
}

/** Float32 values as JSON numbers with 9 significant digits (enough to round-trip float32 exactly). */
function f32Json(a: Float32Array): number[] {
  return Array.from(a, (v) => Number(v.toPrecision(9)));
}

/** How a frame episode was encoded (for outputs and plots). */
interface EncodeInfo { encoder: string; framesIn: number; encodeMs: number }

/**
 * Writes an episode's folder whole: its files go into a hidden temporary folder next to
 * `dir`, which then replaces `dir` by rename, so a kill leaves the old folder, the new
 * one or no folder, never one with only some of its files. (An earlier `dir` is moved
 * aside first and removed after; a leftover `.name.*.tmp` folder is never an output.)
 */
function writeFolderAtomic(dir: string, write: (tmp: string) => void): void {
  const parent = path.dirname(dir);
  ensureDir(parent);
  const tag = `${process.pid}.${randomBytes(6).toString('hex')}`;
  const tmp = path.join(parent, `.${path.basename(dir)}.${tag}.tmp`);
  fs.mkdirSync(tmp);
  try {
    write(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  let old: string | undefined;
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTDIR') {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    old = path.join(parent, `.${path.basename(dir)}.${tag}.old`);
    try {
      fs.renameSync(dir, old);
      fs.renameSync(tmp, dir);
    } catch (err2) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err2;
    }
  }
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

function writeEpisode(dir: string, src: EpisodeSource, shape: number[], r: ProgressResult, ms: number, options: LabelReport['options'], enc?: EncodeInfo, warnings?: string[]): LabelledEpisode {
  writeFolderAtomic(dir, (tmp) => writeEpisodeFiles(tmp, src, shape, r, ms, options, enc, warnings));
  return episodeEntry(dir, src, shape, r, ms, enc, warnings);
}

function episodeEntry(dir: string, src: EpisodeSource, shape: number[], r: ProgressResult, ms: number, enc?: EncodeInfo, warnings?: string[]): LabelledEpisode {
  const T = r.values.length;
  let sum = 0;
  for (let i = 0; i < T; i++) sum += r.values[i];
  const meanValue = T ? sum / T : 0;
  return {
    episode: src.name, file: src.file, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}), shape, frames: T, stages: r.segments.length,
    meanValue, ms, ...enc, dir, ...(warnings?.length ? { warnings } : {}),
  };
}

function writeEpisodeFiles(dir: string, src: EpisodeSource, shape: number[], r: ProgressResult, ms: number, options: LabelReport['options'], enc?: EncodeInfo, warnings?: string[]): void {
  const T = r.values.length;
  const K = r.segments.length;
  const seg = new Int32Array(2 * K);
  r.segments.forEach((s, k) => { seg[2 * k] = s.start; seg[2 * k + 1] = s.end; });
  let sum = 0;
  for (let i = 0; i < T; i++) sum += r.values[i];
  const meanValue = T ? sum / T : 0;
  writeNpy(path.join(dir, 'values.npy'), { data: r.values, shape: [T] });
  writeNpy(path.join(dir, 'similarity.npy'), { data: r.similarity, shape: [T] });
  writeNpy(path.join(dir, 'segments.npy'), { data: seg, shape: [K, 2] });
  writeFileAtomic(path.join(dir, 'segments.json'), `${JSON.stringify(r.segments)}\n`);
  const result = {
    episode: src.name, file: src.file, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}),
    shape, options, frames: T, stages: K, meanValue, ms, ...enc, ...(warnings?.length ? { warnings } : {}),
    segments: r.segments, boundaries: r.boundaries, values: f32Json(r.values), similarity: f32Json(r.similarity),
  };
  writeFileAtomic(path.join(dir, 'result.json'), `${JSON.stringify(result)}\n`);
  writeFileAtomic(path.join(dir, 'plot.svg'), plotEpisodeSvg({
    title: src.name,
    subtitle: `${enc ? `${enc.framesIn} frames → ${enc.encoder.replace(/^.*[/\\]/, '')} → ` : ''}[${shape.join(' × ')}] · ${K} stage${K === 1 ? '' : 's'} · mean value ${meanValue.toFixed(3)} · ${optionsLine(options)}`,
    similarity: r.similarity, values: r.values, segments: r.segments, boundaries: r.boundaries,
  }));
}

/** The options in a plot's subtitle: `paper rule, window 5, max 50/stage, τ 0.01, λ 1` or `motion segmenter, window 5, λ 1`. */
function optionsLine(o: ResolvedProgressOptions): string {
  const cap = o.maxClusterFrames ? `, max ${o.maxClusterFrames}/stage` : '';
  return o.segmenter === 'paper'
    ? `paper rule, window ${o.window}${cap}, τ ${o.threshold}, λ ${o.lambda}`
    : `motion segmenter, window ${o.window}${cap}, λ ${o.lambda}`;
}

/** The summary table as Markdown (episode, frames, stages, mean value, time). */
export function formatSummaryTable(report: Pick<LabelReport, 'episodes' | 'failures' | 'encoder'>): string {
  const encoded = report.encoder !== undefined || report.episodes.some((e) => e.encodeMs !== undefined);
  const rows = report.episodes.map((e) => [e.episode, String(e.frames), String(e.stages), e.meanValue.toFixed(3), e.ms.toFixed(1),
    ...(encoded ? [e.encodeMs === undefined ? '' : e.encodeMs.toFixed(1)] : [])]);
  const head = ['episode', encoded ? 'steps' : 'frames', 'stages', 'mean value', 'time (ms)', ...(encoded ? ['encode (ms)'] : [])];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => `| ${cells.map((s, c) => (c === 0 ? s.padEnd(w[c]) : s.padStart(w[c]))).join(' | ')} |`;
  const out = [line(head), `|${w.map((n, c) => (c === 0 ? `${'-'.repeat(n + 1)}-` : `${'-'.repeat(n + 1)}:`)).join('|')}|`, ...rows.map(line)];
  if (report.failures.length) {
    out.push('', `Skipped (${report.failures.length}):`, '');
    for (const f of report.failures) out.push(`- ${f.file}${f.tensor !== undefined ? ` [${f.tensor}]` : ''}: ${f.reason}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Labels every episode in `inputs` (files or folders of `.npy` / `.safetensors`; with
 * `opts.encoder`, frame episodes found by {@link findFrameEpisodes}, each encoded first) with
 * {@link progressTargets}, one episode at a time on the whole thread pool, and writes for
 * each episode `<out>/<name>/`: `values.npy` `[T]`, `similarity.npy` `[T]`, `segments.npy`
 * `[K,2]` int32, `segments.json`, `result.json` (everything) and `plot.svg`; then
 * `<out>/summary.json` and `<out>/summary.md`. Every file is written atomically.
 * A file that cannot be read, encoded or labelled is skipped and listed in `failures`.
 *
 * @throws {TypeError|RangeError} on bad options (before anything is read or written)
 * @example
 * const report = await labelPaths(['episodes/'], { out: 'labels', window: 5 });
 * console.log(formatSummaryTable(report));
 * // frames: image folders, uint8 .npy, videos
 * await labelPaths(['recordings/'], { out: 'labels', encoder: patchStatsEncoder(), ...SCENE_PROGRESS_OPTIONS });
 */
export async function labelPaths(inputs: readonly string[], opts: LabelPathsOptions): Promise<LabelReport> {
  if (opts === null || typeof opts !== 'object' || typeof opts.out !== 'string' || opts.out === '') {
    throw new TypeError(`Expected an options object with an output folder string for opts.out but received ${opts === null || typeof opts !== 'object' ? String(opts) : typeof opts.out}`);
  }
  if (!Array.isArray(inputs) || inputs.some((i) => typeof i !== 'string')) throw new TypeError('Expected an array of file or folder paths for inputs');
  checkOptions(opts, 'opts', LABEL_KEYS);
  const { out, onProgress, onFailure, encoder, onFrames, allowPartial, onWarning, shard, ...progressOpts } = opts;
  if (allowPartial !== undefined && typeof allowPartial !== 'boolean') throw new TypeError(`Expected a boolean for opts.allowPartial but received ${typeof allowPartial}`);
  if (onWarning !== undefined && typeof onWarning !== 'function') throw new TypeError(`Expected a function for opts.onWarning but received ${typeof onWarning}`);
  if (shard !== undefined) checkShard(shard);
  if (encoder !== undefined && (encoder === null || typeof encoder !== 'object' || typeof encoder.begin !== 'function')) {
    throw new TypeError(`Expected a FrameEncoder (patchStatsEncoder() or OnnxVisualEncoder) for opts.encoder but received ${encoder === null ? 'null' : typeof encoder}`);
  }
  // Bad options fail the call once, up front; every episode then runs with the resolved options.
  const options = resolveProgressOptions(progressOpts);
  const found = encoder ? findFrameEpisodes(inputs, out) : findEpisodes(inputs, out);
  // Positions in discovery order, kept so that merged shards list episodes as one run would.
  const sourceOrder = new Map(found.episodes.map((e, i) => [e, i]));
  const failureOrder = new Map(found.failures.map((f, i) => [f, i]));
  const sources = shard ? shardOf(found.episodes, shard, (e) => e.name) : found.episodes;
  const failures = shard ? shardOf(found.failures, shard, (f) => `${f.file}\0${f.tensor ?? ''}`) : found.failures;
  const findFailures = failures.length;
  failures.forEach((f) => onFailure?.(f));
  ensureDir(out);
  const episodes: LabelledEpisode[] = [];
  const episodeOrder: number[] = [];
  let done = 0;
  for (const src of sources) {
    try {
      let features: Tensor;
      let enc: EncodeInfo | undefined;
      const warnings: string[] = [];
      if (src.kind === 'frames') {
        if (!encoder) throw new Error('a frame episode needs opts.encoder');
        const index = done;
        let framesIn = 0;
        const t = performance.now();
        features = await encodeFrames(src.file, encoder, {
          onProgress: (d, total) => { framesIn = d; onFrames?.(d, total, src.name, index, sources.length); },
          allowPartial: allowPartial ?? false,
          onWarning: (m) => { warnings.push(m); onWarning?.(m, src.name); },
        });
        enc = { encoder: encoder.name, framesIn, encodeMs: performance.now() - t };
      } else {
        features = loadEpisode(src);
      }
      const t0 = performance.now();
      const r = await progressTargets(features, options);
      const ms = performance.now() - t0;
      const cap = capWarning(r);
      if (cap) { warnings.push(cap); onWarning?.(cap, src.name); }
      episodes.push(writeEpisode(path.join(out, ...src.name.split('/')), src, features.shape, r, ms, options, enc, warnings));
      episodeOrder.push(sourceOrder.get(src)!);
    } catch (err) {
      const f: LabelFailure = { file: src.file, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}), reason: reasonOf(err, src.file) };
      failures.push(f);
      failureOrder.set(f, sourceOrder.get(src)!);
      onFailure?.(f);
    }
    onProgress?.(++done, sources.length, src.name);
  }
  const enc = encoder ? { encoder: encoder.name } : {};
  if (shard) {
    const base = path.join(out, `shard-${shard.index}-of-${shard.count}`);
    const summary = { json: `${base}.json`, md: `${base}.md` };
    const manifest: ShardManifest = {
      format: 'feat2go-label-shard', shard, total: { episodes: found.episodes.length, findFailures: found.failures.length },
      assigned: sources.map((s) => s.name), options, ...enc,
      episodes: episodes.map((e, i) => ({ order: episodeOrder[i], ...e })),
      failures: failures.map((f, i) => ({ stage: i < findFailures ? 'find' as const : 'label' as const, order: failureOrder.get(f)!, ...f })),
    };
    writeFileAtomic(summary.json, `${JSON.stringify(manifest, null, 2)}\n`);
    writeFileAtomic(summary.md, `# feat2go labels (shard ${shard.index}/${shard.count})\n\n${formatSummaryTable({ episodes, failures, ...enc })}`);
    return { out, options, episodes, failures, summary, ...enc, shard };
  }
  const summary = { json: path.join(out, 'summary.json'), md: path.join(out, 'summary.md') };
  writeFileAtomic(summary.json, `${JSON.stringify({ options, ...enc, episodes, failures }, null, 2)}\n`);
  writeFileAtomic(summary.md, `# feat2go labels\n\n${formatSummaryTable({ episodes, failures, ...enc })}`);
  return { out, options, episodes, failures, summary, ...enc };
}

// ---- shards ----

/** The manifest a shard writes (`shard-<index>-of-<count>.json`). */
export interface ShardManifest {
  format: 'feat2go-label-shard';
  shard: { index: number; count: number };
  /** What the whole input holds (every shard must agree). */
  total: { episodes: number; findFailures: number };
  /** Names of the episodes this shard was given. */
  assigned: string[];
  options: LabelReport['options'];
  encoder?: string;
  /** Labelled episodes with their position in the whole run's discovery order. */
  episodes: Array<LabelledEpisode & { order: number }>;
  /** Failures: 'find' (unreadable input, in discovery order) or 'label' (an assigned episode that failed). */
  failures: Array<LabelFailure & { stage: 'find' | 'label'; order: number }>;
}

function checkShard(s: unknown): { index: number; count: number } {
  const o = s as { index?: unknown; count?: unknown };
  if (!o || typeof o !== 'object' || !Number.isInteger(o.count) || (o.count as number) < 1 || !Number.isInteger(o.index) ||
    (o.index as number) < 0 || (o.index as number) >= (o.count as number)) {
    throw new RangeError(`Expected opts.shard = { index, count } with 0 ≤ index < count but received ${JSON.stringify(s)}`);
  }
  return { index: o.index as number, count: o.count as number };
}

/**
 * Shard `index` of `count` of `items`: sorted by `key` (code-unit order), the
 * items at positions index, index + count, index + 2·count …, returned in
 * their original order. Deterministic and stable for the same inputs, so
 * independent processes agree; shard sizes differ by at most one.
 */
export function shardOf<T>(items: readonly T[], shard: { index: number; count: number }, key: (item: T) => string): T[] {
  const { index, count } = checkShard(shard);
  const sorted = items.map((item, i) => ({ k: key(item), i })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i));
  const mine = new Set(sorted.filter((_, p) => p % count === index).map((x) => x.i));
  return items.filter((_, i) => mine.has(i));
}

/** Result of {@link mergeSummaries}. */
export interface MergeReport {
  out: string;
  options: LabelReport['options'];
  encoder?: string;
  episodes: LabelledEpisode[];
  failures: LabelFailure[];
  summary: { json: string; md: string };
  /** Manifests merged, in shard order. */
  manifests: string[];
}

/**
 * Combines the shard manifests found in `dirs` into one summary.json /
 * summary.md in `out` (default: the first dir), listing episodes as one
 * unsharded run would. Refuses, with a message naming the shards, manifests
 * of different shard counts, inputs or options, a shard present twice or
 * missing, and episodes claimed by two shards.
 * @throws {Error} on any of the above
 */
export function mergeSummaries(dirs: readonly string[], out?: string): MergeReport {
  if (!Array.isArray(dirs) || dirs.length === 0 || dirs.some((d) => typeof d !== 'string')) throw new TypeError('Expected a non-empty array of folder paths for dirs');
  const found: Array<{ file: string; m: ShardManifest }> = [];
  for (const dir of dirs) {
    const names = fs.readdirSync(dir).filter((n) => /^shard-\d+-of-\d+\.json$/.test(n)).sort();
    for (const n of names) {
      const file = path.join(dir, n);
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as ShardManifest;
      if (m.format !== 'feat2go-label-shard') throw new Error(`${file} is not a feat2go label shard manifest`);
      found.push({ file, m });
    }
  }
  if (found.length === 0) throw new Error(`no shard manifests (shard-I-of-N.json) in ${dirs.join(', ')}: label with --shard I/N first`);
  const count = found[0].m.shard.count;
  const other = found.find((f) => f.m.shard.count !== count);
  if (other) throw new Error(`shards of different splits: ${found[0].file} is one of ${count}, ${other.file} one of ${other.m.shard.count}`);
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const f of found) {
    if (!same(f.m.total, found[0].m.total) || !same(f.m.options, found[0].m.options) || f.m.encoder !== found[0].m.encoder) {
      throw new Error(`shards of different runs: ${f.file} and ${found[0].file} differ in their inputs (episodes found), options or encoder`);
    }
  }
  const byIndex = new Map<number, string>();
  for (const f of found) {
    const prev = byIndex.get(f.m.shard.index);
    if (prev) throw new Error(`overlapping shards: shard ${f.m.shard.index}/${count} appears twice (${prev} and ${f.file})`);
    byIndex.set(f.m.shard.index, f.file);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length) {
    throw new Error(`missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')}: ` +
      `label ${missing.length > 1 ? 'them' : 'it'} with \`feat2go label --shard ${missing[0]}/${count} …\` (found ${found.map((f) => f.file).join(', ')})`);
  }
  const owner = new Map<string, number>();
  for (const f of found) {
    for (const name of f.m.assigned) {
      const o = owner.get(name);
      if (o !== undefined) throw new Error(`overlapping shards: episode '${name}' is in shard ${o}/${count} and shard ${f.m.shard.index}/${count}`);
      owner.set(name, f.m.shard.index);
    }
  }
  if (owner.size !== found[0].m.total.episodes) {
    throw new Error(`the shards hold ${owner.size} episodes but the inputs have ${found[0].m.total.episodes}: were they labelled from the same inputs?`);
  }
  found.sort((a, b) => a.m.shard.index - b.m.shard.index);
  const episodes = found.flatMap((f) => f.m.episodes).sort((a, b) => a.order - b.order).map(({ order: _o, ...e }) => e);
  const all = found.flatMap((f) => f.m.failures);
  const failures = [...all.filter((f) => f.stage === 'find').sort((a, b) => a.order - b.order),
    ...all.filter((f) => f.stage === 'label').sort((a, b) => a.order - b.order)].map(({ stage: _s, order: _o, ...f }) => f);
  const dest = out ?? dirs[0];
  fs.mkdirSync(dest, { recursive: true });
  const { options } = found[0].m;
  const enc = found[0].m.encoder !== undefined ? { encoder: found[0].m.encoder } : {};
  const summary = { json: path.join(dest, 'summary.json'), md: path.join(dest, 'summary.md') };
  writeFileAtomic(summary.json, `${JSON.stringify({ options, ...enc, episodes, failures }, null, 2)}\n`);
  writeFileAtomic(summary.md, `# feat2go labels\n\n${formatSummaryTable({ episodes, failures, ...enc })}`);
  return { out: dest, options, ...enc, episodes, failures, summary, manifests: found.map((f) => f.file) };
}
