// Labels episodes with Feat2Go progress targets and writes the results: the
// shared code path of `feat2go label` (with or without --encoder) and
// `npm start`. An episode comes either as features in a file (.npy,
// .safetensors) or as frames (image folder, uint8 .npy, video) that an
// encoder turns into features first.
import fs from 'node:fs';
import path from 'node:path';
import { progressTargets, resolveProgressOptions } from '../core/progress.js';
import { randomBytes } from 'node:crypto';
import { ensureDir, removeStaleTemps, tempSibling, writeFileAtomic } from '../io/atomic.js';
import { FileFormatError, fileKind, jsonKind, readJsonObject, unreadableReason } from '../io/common.js';
import { readNpyFloat32, writeNpy } from '../io/npy.js';
import { readSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import { plotEpisodeSvg } from './plot.js';
import { checkOptions, type OptionKeys } from '../core/validate.js';
import { checkSignal } from '../core/cancel.js';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, openEpisode } from '../io/episodes.js';
import { encodeFrames, type FrameEncoder } from '../encoders/encoder.js';
import type { ProgressOptions, ProgressResult, ResolvedProgressOptions, Tensor } from '../core/types.js';
import { LeRobotError } from '../io/lerobot.js';
import { resolveVideoDecoder, type VideoDecoderChoice } from '../io/lerobot-video.js';
import { checkLeRobotOutput, writeLeRobotLabels, type LeRobotEpisodeLabels, type WriteLeRobotReport } from '../io/lerobot-write.js';
import { findLeRobotEpisodes, isLeRobotInput, perFrameLabels, type LeRobotEpisodeRef } from './lerobot-inputs.js';

/** Options of {@link labelPaths}: the progress options plus where to write. */
export interface LabelPathsOptions extends ProgressOptions {
  /**
   * The progress options as one object instead of the flat keys (`window`, …),
   * e.g. from resolveProgressOptions, which is then taken as it is, not
   * checked again (as the command line does). Not together with the flat keys.
   */
  progress?: ProgressOptions;
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
  /**
   * LeRobot dataset inputs (a folder with meta/info.json): the camera (video or image
   * feature) to encode. May be left out when a dataset has a single camera.
   */
  camera?: string;
  /** LeRobot dataset inputs: the episode_index values to label (default all). */
  episodes?: readonly number[];
  /** LeRobot inputs: which decoder reads their videos ('auto', 'libav' in process, 'ffmpeg' the CLI); default: FEAT2GO_VIDEO_DECODER, else 'auto'. */
  videoDecoder?: VideoDecoderChoice;
  /**
   * With one LeRobot dataset input: also write a copy of it at this path with the labels as
   * per-frame features `feat2go.progress`, `feat2go.stage` and `feat2go.similarity` (see
   * {@link writeLeRobotLabels}). Not with `shard`.
   */
  writeLeRobot?: string;
  /**
   * Stops the run: checked before each episode, between an episode's chunks (a LeRobot
   * video's in-process decoder stops at its next frame, an ffmpeg child is killed) and inside
   * its labelling; the promise then rejects with the signal's reason. Episodes finished before
   * stay written (each atomically); the summary and `writeLeRobot` are not written.
   */
  signal?: AbortSignal;
}

const LABEL_KEYS: OptionKeys<LabelPathsOptions> = {
  lambda: 1, window: 1, maxClusterFrames: 1, threshold: 1, segmenter: 1, threads: 1, progress: 1, out: 1, onProgress: 1, onFailure: 1,
  encoder: 1, onFrames: 1, allowPartial: 1, onWarning: 1, shard: 1, camera: 1, episodes: 1, writeLeRobot: 1, videoDecoder: 1, signal: 1,
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
  /** A LeRobot episode (kind 'frames'): its frames come from the dataset, not from `file`. */
  lerobot?: LeRobotEpisodeRef;
}

/**
 * Where a labelled episode came from, as recorded in summary.json and result.json:
 * what `feat2go view` reads to find the episode's frames.
 */
export interface EpisodeSourceRecord {
  /**
   * `'images'` (a folder of PNG/JPEG frames, or one image), `'npy'` (`[T,H,W,3]` uint8 frames),
   * `'video'`, `'lerobot'` (an episode of a LeRobot dataset) or `'features'` (a feature tensor: no
   * frames to show). Other readers add their own kinds.
   */
  kind: string;
  /** Absolute path of the file or folder (for `'lerobot'`, the dataset's root). */
  path: string;
  /** The same path relative to the output folder (`/`-separated): found again when both are moved together. */
  relative: string;
  /** Safetensors: the tensor's name. */
  tensor?: string;
  /** LeRobot episodes: the episode_index and the camera read. */
  episodeIndex?: number;
  camera?: string;
  /** Frame episodes: frames decoded. */
  frames?: number;
  /** Frame episodes: frames per labelled step (the encoder's tubelet; 1 for per-frame encoders). Step s shows frame s · framesPerStep. */
  framesPerStep?: number;
}

/** A labelled episode, as listed in summary.json. */
export interface LabelledEpisode {
  episode: string;
  file: string;
  tensor?: string;
  /** Where the episode came from (kind, absolute and relative path): how a viewer finds its frames. */
  source: EpisodeSourceRecord;
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
  /** LeRobot episodes: the dataset root, episode_index, camera and task strings (the first is the value model's instruction). */
  dataset?: string;
  episodeIndex?: number;
  camera?: string;
  task?: string;
  tasks?: string[];
}

/** A file (or a tensor in a file, or an episode of a LeRobot dataset) that was skipped, with a one-line reason. */
export interface LabelFailure {
  file: string;
  tensor?: string;
  /** LeRobot inputs: the episode_index concerned. */
  episode?: number;
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
  /** What `opts.writeLeRobot` wrote. */
  lerobot?: WriteLeRobotReport;
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
 * A symbolic link named like an episode (or a frame) whose target cannot be read goes to
 * `broken` with the reason, instead of being passed over in silence.
 */
function walk(dir: string, skip: string, found: string[], exts: readonly string[], imageFolders = false, broken: LabelFailure[] = [], roots?: string[]): void {
  if (roots && isLeRobotInput(dir)) {
    roots.push(dir);
    return;
  }
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
      if (path.resolve(p) !== skip) walk(p, skip, found, exts, imageFolders, broken, roots);
    } else if (isFile(e, p) && hasExt(e.name, exts)) {
      found.push(p);
    } else if (e.isSymbolicLink() && (hasExt(e.name, exts) || (imageFolders && hasExt(e.name, IMAGE_EXTENSIONS)))) {
      try {
        fs.statSync(p); // a link to a folder is not followed (no cycles); only an unreadable target is reported
      } catch (err) {
        broken.push({ file: p, reason: unreadableReason(p, err) });
      }
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
      d.failures.push({ file: input, reason: unreadableReason(input, err) });
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
    if (stat.isDirectory() && isLeRobotInput(input)) {
      failures.push({ file: input, reason: 'a LeRobot dataset holds frames, not features: label it with an encoder (--encoder builtin or an .onnx model)' });
      return;
    }
    if (stat.isDirectory()) {
      const found: string[] = [];
      const broken: LabelFailure[] = [];
      try {
        walk(input, skip, found, EXTENSIONS, false, broken);
      } catch (err) {
        failures.push({ file: input, reason: reasonOf(err) });
        return;
      }
      failures.push(...broken);
      if (found.length === 0 && broken.length === 0) failures.push({ file: input, reason: 'no .npy or .safetensors files found in this folder' });
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
export function findFrameEpisodes(inputs: readonly string[], skipDir?: string): { episodes: EpisodeSource[]; failures: LabelFailure[]; lerobot: string[] } {
  const lerobot: string[] = [];
  const found = discover(inputs, skipDir, (input, stat, { episodes, failures, unique, skip }) => {
    if (!stat.isDirectory()) {
      // A single file: an image, a .npy or a video, checked when it is opened.
      episodes.push({ name: unique(stemOf(path.basename(input), false)), file: input, kind: 'frames' });
      return;
    }
    const found: string[] = [];
    const roots: string[] = [];
    const broken: LabelFailure[] = [];
    try {
      walk(input, skip, found, FRAME_FILE_EXTENSIONS, true, broken, roots);
    } catch (err) {
      failures.push({ file: input, reason: reasonOf(err) });
      return;
    }
    lerobot.push(...roots);
    failures.push(...broken);
    if (found.length === 0 && roots.length === 0 && broken.length === 0) failures.push({ file: input, reason: 'no PNG or JPEG frames, .npy frame arrays or videos found in this folder' });
    for (const f of found) {
      const isDir = f === input || fs.statSync(f).isDirectory();
      const rel = f === input ? path.basename(path.resolve(input)) : path.relative(input, f);
      episodes.push({ name: unique(stemOf(rel, isDir)), file: f, kind: 'frames' });
    }
  });
  return { ...found, lerobot };
}

/**
 * Frame episodes of the inputs as {@link findFrameEpisodes} finds them, plus the episodes of
 * every LeRobot dataset among them (folders with meta/info.json; see {@link openLeRobot}),
 * named `episode_NNNNNN` by episode_index (under the dataset's folder name when there are
 * several inputs), read from `opts.camera`.
 *
 * @returns the episodes, the failures (naming the file and, for a dataset, the episode) and the datasets opened
 */
export async function findFrameInputs(inputs: readonly string[], opts: { skipDir?: string; camera?: string; episodes?: readonly number[]; onWarning?: (message: string) => void; videoDecoder?: VideoDecoderChoice } = {}): Promise<{ episodes: EpisodeSource[]; failures: LabelFailure[]; datasets: LeRobotEpisodeRef['dataset'][] }> {
  const found = findFrameEpisodes(inputs, opts.skipDir);
  if (found.lerobot.length === 0) return { episodes: found.episodes, failures: found.failures, datasets: [] };
  const lr = await findLeRobotEpisodes(found.lerobot, { ...(opts.camera !== undefined ? { camera: opts.camera } : {}), ...(opts.episodes ? { episodes: opts.episodes } : {}), ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), ...(opts.videoDecoder !== undefined ? { videoDecoder: opts.videoDecoder } : {}) },
    inputs.length > 1 || found.lerobot.length > 1 || found.episodes.length > 0);
  return {
    episodes: [...found.episodes, ...lr.episodes.map((e) => ({ name: e.name, file: e.file, kind: 'frames' as const, lerobot: e.ref }))],
    failures: [...found.failures, ...lr.failures],
    datasets: lr.datasets,
  };
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

/** The source record of an episode (paths absolute and relative to the output folder). */
function sourceRecord(src: EpisodeSource, out: string, kind: string, frames?: { frames: number; framesPerStep: number }): EpisodeSourceRecord {
  // A LeRobot episode is found again through its dataset: the root, the episode_index and the camera.
  const l = src.lerobot;
  const abs = path.resolve(l ? l.dataset.root : src.file);
  const relative = path.relative(path.resolve(out), abs).split(path.sep).join('/');
  return {
    kind: l ? 'lerobot' : kind, path: abs, relative, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}),
    ...(l ? { episodeIndex: l.episode, camera: l.camera } : {}), ...frames,
  };
}

/** The files of an episode's folder (what {@link removeStaleTemps} may find in a leftover temporary one). */
const EPISODE_FILES = ['values.npy', 'similarity.npy', 'segments.npy', 'segments.json', 'result.json', 'plot.svg'];

/**
 * Writes an episode's folder whole: its files go into a hidden temporary folder next to
 * `dir`, which then replaces `dir` by rename, so a kill leaves the old folder, the new
 * one or no folder, never one with only some of its files. (An earlier `dir` is moved
 * aside first and removed after; a leftover `.name.<host>~<pid>.*.tmp|old` folder is never
 * an output, and a later run writing into the same folder removes it once its process is
 * gone: see {@link removeStaleTemps}.)
 */
function writeFolderAtomic(dir: string, write: (tmp: string) => void, cleaned?: Set<string>): void {
  const parent = path.dirname(dir);
  ensureDir(parent);
  if (cleaned && !cleaned.has(parent)) {
    cleaned.add(parent);
    removeStaleTemps(parent, { folderFiles: EPISODE_FILES });
  }
  const tag = randomBytes(6).toString('hex');
  const tmp = tempSibling(dir, 'tmp', tag);
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
    old = tempSibling(dir, 'old', tag);
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

function writeEpisode(dir: string, src: EpisodeSource, source: EpisodeSourceRecord, shape: number[], r: ProgressResult, ms: number, options: LabelReport['options'], enc?: EncodeInfo, warnings?: string[], cleaned?: Set<string>): LabelledEpisode {
  writeFolderAtomic(dir, (tmp) => writeEpisodeFiles(tmp, src, source, shape, r, ms, options, enc, warnings), cleaned);
  return episodeEntry(dir, src, source, shape, r, ms, enc, warnings);
}

/** The LeRobot facts of an episode for its outputs. */
function lerobotFields(src: EpisodeSource): Pick<LabelledEpisode, 'dataset' | 'episodeIndex' | 'camera' | 'task' | 'tasks'> {
  const l = src.lerobot;
  return l ? { dataset: l.dataset.root, episodeIndex: l.episode, camera: l.camera, task: l.task, tasks: l.tasks } : {};
}

function episodeEntry(dir: string, src: EpisodeSource, source: EpisodeSourceRecord, shape: number[], r: ProgressResult, ms: number, enc?: EncodeInfo, warnings?: string[]): LabelledEpisode {
  const T = r.values.length;
  let sum = 0;
  for (let i = 0; i < T; i++) sum += r.values[i];
  const meanValue = T ? sum / T : 0;
  return {
    episode: src.name, file: src.file, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}), source, shape, frames: T, stages: r.segments.length,
    meanValue, ms, ...enc, dir, ...(warnings?.length ? { warnings } : {}), ...lerobotFields(src),
  };
}

function writeEpisodeFiles(dir: string, src: EpisodeSource, source: EpisodeSourceRecord, shape: number[], r: ProgressResult, ms: number, options: LabelReport['options'], enc?: EncodeInfo, warnings?: string[]): void {
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
    episode: src.name, file: src.file, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}), source,
    shape, options, frames: T, stages: K, meanValue, ms, ...enc, ...(warnings?.length ? { warnings } : {}), ...lerobotFields(src),
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
    for (const f of report.failures) out.push(`- ${f.file}${f.tensor !== undefined ? ` [${f.tensor}]` : ''}${f.episode !== undefined ? ` [episode ${f.episode}]` : ''}: ${f.reason}`);
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
  const { out, onProgress, onFailure, encoder, onFrames, allowPartial, onWarning, shard, camera, episodes: episodeList, writeLeRobot, videoDecoder, signal, progress, ...progressOpts } = opts;
  if (progress !== undefined && Object.keys(progressOpts).length > 0) {
    throw new TypeError(`Expected the progress options either as opts.progress or flat (opts.${Object.keys(progressOpts)[0]}), not both`);
  }
  if (camera !== undefined && (typeof camera !== 'string' || camera === '')) throw new TypeError(`Expected a camera (feature key) string for opts.camera but received ${JSON.stringify(camera)}`);
  if (episodeList !== undefined && (!Array.isArray(episodeList) || episodeList.some((e) => !Number.isSafeInteger(e) || e < 0))) {
    throw new TypeError(`Expected an array of episode indices (integers ≥ 0) for opts.episodes but received ${JSON.stringify(episodeList)}`);
  }
  if (writeLeRobot !== undefined && (typeof writeLeRobot !== 'string' || writeLeRobot === '')) throw new TypeError(`Expected an output folder path for opts.writeLeRobot but received ${JSON.stringify(writeLeRobot)}`);
  if (videoDecoder !== undefined) resolveVideoDecoder(videoDecoder, 'opts.videoDecoder');
  checkSignal(signal, 'opts.signal');
  signal?.throwIfAborted();
  if (writeLeRobot !== undefined && shard !== undefined) throw new RangeError('Expected opts.writeLeRobot without opts.shard (one process must write the whole dataset) but received both');
  if (writeLeRobot !== undefined && !encoder) throw new RangeError('Expected opts.encoder with opts.writeLeRobot (LeRobot datasets hold frames) but received none');
  if (allowPartial !== undefined && typeof allowPartial !== 'boolean') throw new TypeError(`Expected a boolean for opts.allowPartial but received ${typeof allowPartial}`);
  if (onWarning !== undefined && typeof onWarning !== 'function') throw new TypeError(`Expected a function for opts.onWarning but received ${typeof onWarning}`);
  if (shard !== undefined) checkShard(shard);
  if (encoder !== undefined && (encoder === null || typeof encoder !== 'object' || typeof encoder.begin !== 'function')) {
    throw new TypeError(`Expected a FrameEncoder (patchStatsEncoder() or OnnxVisualEncoder) for opts.encoder but received ${encoder === null ? 'null' : typeof encoder}`);
  }
  // Bad options fail the call once, up front; every episode then runs with the
  // resolved options, which progressTargets takes as they are.
  const options = progress === undefined ? resolveProgressOptions(progressOpts) : resolveProgressOptions(progress, 'opts.progress');
  const found = encoder
    ? await findFrameInputs(inputs, { skipDir: out, ...(camera !== undefined ? { camera } : {}), ...(episodeList ? { episodes: episodeList } : {}), ...(onWarning ? { onWarning: (m: string) => onWarning(m, '') } : {}), ...(videoDecoder !== undefined ? { videoDecoder } : {}) })
    : { ...findEpisodes(inputs, out), datasets: [] };
  if (writeLeRobot !== undefined && found.datasets.length > 1) {
    throw new RangeError(`Expected one LeRobot dataset among the inputs with opts.writeLeRobot but received ${found.datasets.length} (${found.datasets.map((d) => d.root).join(', ')})`);
  }
  if (writeLeRobot !== undefined && found.datasets.length === 1) checkLeRobotOutput(found.datasets[0].root, writeLeRobot, 'opts.writeLeRobot');
  const lerobotLabels = new Map<number, LeRobotEpisodeLabels>();
  // Positions in discovery order, kept so that merged shards list episodes as one run would.
  const sourceOrder = new Map(found.episodes.map((e, i) => [e, i]));
  const failureOrder = new Map(found.failures.map((f, i) => [f, i]));
  const sources = shard ? shardOf(found.episodes, shard, (e) => e.name) : found.episodes;
  const failures = shard ? shardOf(found.failures, shard, (f) => `${f.file}\0${f.tensor ?? ''}${f.episode !== undefined ? `\0${f.episode}` : ''}`) : found.failures;
  const findFailures = failures.length;
  failures.forEach((f) => onFailure?.(f));
  ensureDir(out);
  // leftovers of an interrupted earlier run (temporary episode folders, summary files) in the folders written to
  const cleaned = new Set<string>([path.dirname(path.join(out, 'x'))]);
  removeStaleTemps(out, { folderFiles: EPISODE_FILES });
  const episodes: LabelledEpisode[] = [];
  const episodeOrder: number[] = [];
  let done = 0;
  for (const src of sources) {
    signal?.throwIfAborted();
    try {
      let features: Tensor;
      let enc: EncodeInfo | undefined;
      let source: EpisodeSourceRecord;
      const warnings: string[] = [];
      if (src.kind === 'frames') {
        if (!encoder) throw new Error('a frame episode needs opts.encoder');
        const index = done;
        let framesIn = 0;
        const t = performance.now();
        const frames = src.lerobot ? await src.lerobot.dataset.frames(src.lerobot.episode, src.lerobot.camera) : await openEpisode(src.file);
        features = await encodeFrames(frames, encoder, {
          onProgress: (d, total) => { framesIn = d; onFrames?.(d, total, src.name, index, sources.length); },
          allowPartial: allowPartial ?? false,
          onWarning: (m) => { warnings.push(m); onWarning?.(m, src.name); },
          ...(signal ? { signal } : {}),
        });
        enc = { encoder: encoder.name, framesIn, encodeMs: performance.now() - t };
        source = sourceRecord(src, out, frames.kind, { frames: framesIn, framesPerStep: encoder.tubelet ?? 1 });
      } else {
        features = loadEpisode(src);
        source = sourceRecord(src, out, 'features');
      }
      const t0 = performance.now();
      const r = await progressTargets(features, signal ? { ...options, signal } : options);
      const ms = performance.now() - t0;
      const cap = capWarning(r);
      if (cap) { warnings.push(cap); onWarning?.(cap, src.name); }
      if (src.lerobot && writeLeRobot !== undefined) {
        lerobotLabels.set(src.lerobot.episode, perFrameLabels(r, enc!.framesIn, (encoder as { tubelet?: number } | undefined)?.tubelet ?? 1));
      }
      episodes.push(writeEpisode(path.join(out, ...src.name.split('/')), src, source, features.shape, r, ms, options, enc, warnings, cleaned));
      episodeOrder.push(sourceOrder.get(src)!);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err; // cancelled: not an episode's failure
      const lr = err instanceof LeRobotError ? err : undefined;
      const file = lr ? lr.file : src.file;
      const f: LabelFailure = {
        file, ...(src.tensor !== undefined ? { tensor: src.tensor } : {}), ...(src.lerobot ? { episode: src.lerobot.episode } : {}),
        reason: lr ? lr.reason : reasonOf(err, src.file),
      };
      failures.push(f);
      failureOrder.set(f, sourceOrder.get(src)!);
      onFailure?.(f);
    }
    done++; // not inside the optional call: its arguments are not evaluated without onProgress
    onProgress?.(done, sources.length, src.name);
  }
  let lerobot: WriteLeRobotReport | undefined;
  if (writeLeRobot !== undefined && found.datasets.length === 1 && lerobotLabels.size > 0) {
    try {
      lerobot = await writeLeRobotLabels(found.datasets[0], writeLeRobot, lerobotLabels);
    } catch (err) {
      const f: LabelFailure = err instanceof LeRobotError ? { file: err.file, reason: err.reason } : { file: writeLeRobot, reason: reasonOf(err) };
      failures.push(f);
      failureOrder.set(f, found.episodes.length);
      onFailure?.(f);
    }
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
  writeFileAtomic(summary.json, `${JSON.stringify({ options, ...enc, episodes, failures, ...(lerobot ? { lerobot } : {}) }, null, 2)}\n`);
  writeFileAtomic(summary.md, `# feat2go labels\n\n${formatSummaryTable({ episodes, failures, ...enc })}`);
  return { out, options, episodes, failures, summary, ...enc, ...(lerobot ? { lerobot } : {}) };
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

/** Missing shards named in the error (the rest are counted). */
const MISSING_SHOWN = 5;
const MANIFEST_NAME = /^shard-(\d+)-of-(\d+)\.json$/;

/**
 * Reads and checks one shard manifest: a regular file (a named pipe is refused, never
 * opened for a blocking read) holding the JSON object {@link labelPaths} writes, whose
 * shard matches the file's name. Everything merge relies on is checked here, so a
 * truncated, empty, `null` or hand-edited manifest is an error naming the file and the
 * field, never a TypeError from deep inside the merge.
 * @throws {FileFormatError} naming the file and what is wrong
 */
export function readShardManifest(file: string): ShardManifest {
  const bad = (why: string): never => { throw new FileFormatError(file, 'shard manifest', why); };
  const m = readJsonObject(file, 'shard manifest');
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const kind = jsonKind;
  if (m.format !== 'feat2go-label-shard') bad(`expected "format": "feat2go-label-shard" but received ${JSON.stringify(m.format) ?? 'no format'}`);
  const int = (v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      bad(`expected ${field} to be an integer in [${min}, ${max}] but received ${JSON.stringify(v) ?? 'nothing'}`);
    }
    return v as number;
  };
  const str = (v: unknown, field: string): string => (typeof v === 'string' ? v : bad(`expected ${field} to be a string but received ${kind(v)}`));
  const arr = (v: unknown, field: string): unknown[] => (Array.isArray(v) ? v : bad(`expected ${field} to be an array but received ${kind(v)}`));
  const obj = (v: unknown, field: string): Record<string, unknown> => (isObj(v) ? v : bad(`expected ${field} to be an object but received ${kind(v)}`));
  const shard = obj(m.shard, 'shard');
  const count = int(shard.count, 'shard.count', 1);
  const index = int(shard.index, 'shard.index', 0, count - 1);
  const named = MANIFEST_NAME.exec(path.basename(file));
  if (named && (Number(named[1]) !== index || Number(named[2]) !== count)) {
    bad(`its name says shard ${named[1]}/${named[2]} but it holds shard ${index}/${count} (renamed?)`);
  }
  const total = obj(m.total, 'total');
  const totalEpisodes = int(total.episodes, 'total.episodes', 0);
  const totalFind = int(total.findFailures, 'total.findFailures', 0);
  obj(m.options, 'options');
  if (m.encoder !== undefined) str(m.encoder, 'encoder');
  const assigned = arr(m.assigned, 'assigned').map((v, i) => str(v, `assigned[${i}]`));
  if (assigned.length > totalEpisodes) bad(`assigned lists ${assigned.length} episodes but total.episodes is ${totalEpisodes}`);
  const assignedSet = new Set(assigned);
  if (assignedSet.size !== assigned.length) bad(`assigned lists episode '${assigned.find((a, i) => assigned.indexOf(a) !== i)}' twice`);
  const seen = new Set<string>();
  arr(m.episodes, 'episodes').forEach((v, i) => {
    const e = obj(v, `episodes[${i}]`);
    const name = str(e.episode, `episodes[${i}].episode`);
    if (!assignedSet.has(name)) bad(`episodes[${i}] is '${name}', which is not among this shard's assigned episodes`);
    if (seen.has(name)) bad(`episodes lists '${name}' twice`);
    seen.add(name);
    int(e.order, `episodes[${i}].order`, 0, totalEpisodes - 1);
    str(e.file, `episodes[${i}].file`);
    str(e.dir, `episodes[${i}].dir`);
    arr(e.shape, `episodes[${i}].shape`).forEach((d, k) => int(d, `episodes[${i}].shape[${k}]`, 0));
    int(e.frames, `episodes[${i}].frames`, 0);
    int(e.stages, `episodes[${i}].stages`, 0);
    for (const k of ['meanValue', 'ms'] as const) if (typeof e[k] !== 'number') bad(`expected episodes[${i}].${k} to be a number but received ${kind(e[k])}`);
    if (e.tensor !== undefined) str(e.tensor, `episodes[${i}].tensor`);
  });
  let labelFailures = 0;
  arr(m.failures, 'failures').forEach((v, i) => {
    const f = obj(v, `failures[${i}]`);
    str(f.file, `failures[${i}].file`);
    str(f.reason, `failures[${i}].reason`);
    if (f.tensor !== undefined) str(f.tensor, `failures[${i}].tensor`);
    if (f.stage === 'label') { labelFailures++; int(f.order, `failures[${i}].order`, 0, totalEpisodes - 1); }
    else if (f.stage === 'find') int(f.order, `failures[${i}].order`, 0, totalFind - 1);
    else bad(`expected failures[${i}].stage to be "find" or "label" but received ${JSON.stringify(f.stage) ?? 'nothing'}`);
  });
  if (seen.size + labelFailures !== assigned.length) {
    bad(`${assigned.length} episodes assigned but ${seen.size} labelled and ${labelFailures} failed (an interrupted or edited shard? label it again)`);
  }
  return m as unknown as ShardManifest;
}

/** The shard manifests (shard-I-of-N.json) in `dir`, sorted by name. */
function manifestsIn(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir}: no such folder` : code === 'ENOTDIR' ? `${dir}: not a folder (give the folders holding shard-I-of-N.json manifests)` : `${dir}: cannot list the folder (${code ?? (err as Error).message})`);
  }
  return names.filter((n) => MANIFEST_NAME.test(n)).sort().map((n) => path.join(dir, n));
}

/**
 * Combines the shard manifests found in `dirs` into one summary.json /
 * summary.md in `out` (default: the first dir), listing episodes as one
 * unsharded run would. Refuses, with a message naming the shards, manifests
 * of different shard counts, inputs or options, a shard present twice or
 * missing, and an episode claimed (assigned, labelled or failed) by two
 * shards; a manifest that is not one (empty, truncated, edited, a named pipe)
 * is refused naming the file (see {@link readShardManifest}). Work and messages
 * stay small whatever the shard count says. `out` is created as {@link ensureDir} does.
 * @throws {Error} on any of the above
 */
export function mergeSummaries(dirs: readonly string[], out?: string): MergeReport {
  if (!Array.isArray(dirs) || dirs.length === 0 || dirs.some((d) => typeof d !== 'string')) throw new TypeError('Expected a non-empty array of folder paths for dirs');
  if (out !== undefined && (typeof out !== 'string' || out === '')) throw new TypeError(`Expected a folder path string for out but received ${JSON.stringify(out)}`);
  const found: Array<{ file: string; m: ShardManifest }> = [];
  const seenFiles = new Set<string>();
  for (const dir of dirs) {
    for (const file of manifestsIn(dir)) {
      let real: string;
      try { real = fs.realpathSync(file); } catch { real = path.resolve(file); }
      if (seenFiles.has(real)) continue; // the same folder given twice
      seenFiles.add(real);
      found.push({ file, m: readShardManifest(file) });
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
  if (byIndex.size < count) {
    // count can be anything a manifest says: name a few missing shards, count the rest
    const missing: number[] = [];
    for (let i = 0; missing.length < MISSING_SHOWN && i < count; i++) if (!byIndex.has(i)) missing.push(i);
    const n = count - byIndex.size;
    const files = found.slice(0, MISSING_SHOWN).map((f) => f.file).join(', ') + (found.length > MISSING_SHOWN ? `, … (${found.length} in all)` : '');
    throw new Error(`missing shard${n > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')}${n > missing.length ? `, … (${n} of ${count} missing)` : ''}: ` +
      `label ${n > 1 ? 'them' : 'it'} with \`feat2go label --shard ${missing[0]}/${count} …\` (found ${files})`);
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
  // every position of the whole run is taken once: an episode listed by two shards (or twice) is refused
  const orders = new Map<string, number>();
  for (const f of found) {
    const claim = (key: string, what: string) => {
      const o = orders.get(key);
      if (o !== undefined) throw new Error(`overlapping shards: ${what} is claimed by shard ${o}/${count} and shard ${f.m.shard.index}/${count} (${f.file})`);
      orders.set(key, f.m.shard.index);
    };
    for (const e of f.m.episodes) claim(`e${e.order}`, `episode #${e.order} ('${e.episode}')`);
    for (const x of f.m.failures) claim(`${x.stage === 'find' ? 'f' : 'e'}${x.order}`, x.stage === 'find' ? `input failure #${x.order} (${x.file})` : `episode #${x.order} (${x.file}${x.tensor !== undefined ? ` [${x.tensor}]` : ''})`);
  }
  const findFailures = found.reduce((n, f) => n + f.m.failures.filter((x) => x.stage === 'find').length, 0);
  if (findFailures !== found[0].m.total.findFailures) {
    throw new Error(`the shards list ${findFailures} unreadable inputs but the inputs have ${found[0].m.total.findFailures}: were they labelled from the same inputs?`);
  }
  found.sort((a, b) => a.m.shard.index - b.m.shard.index);
  const episodes = found.flatMap((f) => f.m.episodes).sort((a, b) => a.order - b.order).map(({ order: _o, ...e }) => e);
  const all = found.flatMap((f) => f.m.failures);
  const failures = [...all.filter((f) => f.stage === 'find').sort((a, b) => a.order - b.order),
    ...all.filter((f) => f.stage === 'label').sort((a, b) => a.order - b.order)].map(({ stage: _s, order: _o, ...f }) => f);
  const dest = out ?? dirs[0];
  ensureDir(dest);
  removeStaleTemps(dest); // a summary file left half-written by an interrupted earlier merge
  const { options } = found[0].m;
  const enc = found[0].m.encoder !== undefined ? { encoder: found[0].m.encoder } : {};
  const summary = { json: path.join(dest, 'summary.json'), md: path.join(dest, 'summary.md') };
  writeFileAtomic(summary.json, `${JSON.stringify({ options, ...enc, episodes, failures }, null, 2)}\n`);
  writeFileAtomic(summary.md, `# feat2go labels\n\n${formatSummaryTable({ episodes, failures, ...enc })}`);
  return { out: dest, options, ...enc, episodes, failures, summary, manifests: found.map((f) => f.file) };
}
