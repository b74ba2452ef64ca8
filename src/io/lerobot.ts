// LeRobot datasets in: `meta/info.json`, parquet data and per-camera videos,
// in the v2.x layout (meta/episodes.jsonl, one data file and one video per
// episode) or the v3.0 layout (meta/episodes/chunk-*/file-*.parquet, many
// episodes per data file and per video). The layout is told by the files
// present; every path comes from info.json's templates.
//
// Files are trusted over metadata: an episode's frames are the rows of its
// data file that carry its episode_index (a metadata length that disagrees
// is a warning), and its video frames are found by timestamp. Whatever keeps
// one episode from being read (a missing file, a duplicate index, a corrupt
// parquet file) is kept as a problem of that episode, so the others can
// still be read.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { checkInt, checkOptions, typeError } from '../core/validate.js';
import { checkSignal } from '../core/cancel.js';
import { resizeCropFrame, type ChunkOptions, type FrameChunk, type FrameSource } from './episodes.js';
import { readParquetColumns, readParquetInfo, type ParquetInfo } from './parquet.js';
import { decodeAtTimestamps, probeVideoStream, resolveVideoDecoder, type VideoDecoderChoice, type VideoStreamInfo } from './lerobot-video.js';

/** lerobot's tolerance between a frame's timestamp and the video frame used for it (`tolerance_s`). */
export const LEROBOT_TOLERANCE_S = 1e-4;

/** A LeRobot dataset (or one of its episodes) that cannot be read: names the file and, when it concerns one, the episode. */
export class LeRobotError extends Error {
  readonly file: string;
  readonly episode: number | undefined;
  readonly reason: string;
  constructor(file: string, reason: string, episode?: number) {
    super(`${file}: ${episode !== undefined ? `episode ${episode}: ` : ''}${reason}`);
    this.name = 'LeRobotError';
    this.file = file;
    this.episode = episode;
    this.reason = reason;
  }
}

/** A camera of a LeRobot dataset: a `video` feature (mp4 files) or an `image` feature (PNG/JPEG bytes in the parquet data). */
export interface LeRobotCamera {
  key: string;
  kind: 'video' | 'image';
  /** `shape` from info.json (normally [height, width, channels]). */
  shape: number[];
  /** Video codec listed in info.json (`info["video.codec"]`), when listed. */
  codec?: string;
}

/** Where an episode's frames of one video camera are. */
export interface LeRobotVideoLocation {
  file: string;
  /** Seconds into the video where the episode starts (v3.0 `from_timestamp`; 0 in v2.x). */
  from: number;
  /** Seconds where it ends (v3.0 `to_timestamp`), when listed. */
  to?: number;
}

/** One episode as the metadata lists it. */
export interface LeRobotEpisode {
  /** `episode_index`. */
  index: number;
  /** Frames according to the metadata; the data rows are what is read. */
  length: number;
  /** The episode's task strings. */
  tasks: string[];
  /** Its first task string ('' when it has none): the value model's instruction. */
  task: string;
  /** The parquet file with its rows. */
  dataFile: string;
  /** Per video camera: the mp4 and the episode's place in it. */
  videos: Record<string, LeRobotVideoLocation>;
}

/** Something that keeps an episode (or, without `episode`, the whole dataset) from being read. */
export interface LeRobotProblem {
  file: string;
  episode?: number;
  /** Only this camera is affected (e.g. its video file is missing). */
  camera?: string;
  reason: string;
}

/** An episode's rows in its data file, as read from the file. */
export interface LeRobotRows {
  episode: number;
  file: string;
  /** Row numbers in the data file, in file order (frame k of the episode is row `rows[k]`). */
  rows: Int32Array;
  /** `timestamp` of each row (seconds from the episode's start). */
  timestamps: Float64Array;
  /** `frame_index` of each row (or 0..n−1 when the file has none). */
  frameIndex: Float64Array;
  /** `task_index` of each row, when the file has it. */
  taskIndex?: Int32Array;
}

/** A frame source for one episode and camera, with random access (see {@link LeRobotDataset.frames}). */
export interface LeRobotFrameSource extends FrameSource {
  readonly kind: 'video' | 'images';
  /** Frames in the episode: its rows in the data file. */
  readonly length: number;
  readonly episode: number;
  readonly camera: string;
  /** Video: time of each frame in the video file (`from_timestamp + timestamp`); images: the rows' timestamps. */
  readonly times: Float64Array;
  /** Frames `[start, start + count)` in chunks (`chunk.start` counts from the episode's first frame). */
  range(start: number, count: number, opts?: ChunkOptions): AsyncGenerator<FrameChunk>;
  /** Frame `k` as RGB `[height, width, 3]`. */
  frame(k: number, opts?: Pick<ChunkOptions, 'size'>): Promise<FrameChunk>;
}

/** Options of {@link openLeRobot}. */
export interface OpenLeRobotOptions {
  /** Receives warnings (metadata that disagrees with the files, a version string that disagrees with the layout…). Default: collected in `warnings` only. */
  onWarning?: (message: string) => void;
  /**
   * Which decoder reads the videos: 'libav' inside the process with FFmpeg's libraries, 'ffmpeg'
   * the ffmpeg CLI, 'auto' the first where {@link videoDecoderStatus} says it is available.
   * Default: the FEAT2GO_VIDEO_DECODER environment variable, else 'auto'.
   */
  decoder?: VideoDecoderChoice;
}

/** An opened LeRobot dataset (see {@link openLeRobot}). */
export interface LeRobotDataset {
  readonly root: string;
  /** `codebase_version` as info.json writes it ('' when absent). */
  readonly version: string;
  /** The layout found on disk: 'v2' (episodes.jsonl, a file per episode) or 'v3' (episodes parquet, shared files). */
  readonly layout: 'v2' | 'v3';
  /** meta/info.json as parsed. */
  readonly info: Readonly<Record<string, unknown>>;
  readonly fps: number;
  /** info.json `features`. */
  readonly features: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly cameras: readonly LeRobotCamera[];
  /** Episodes listed by the metadata, by index (duplicates left out: they are problems). */
  readonly episodes: readonly LeRobotEpisode[];
  /** Task strings by task_index. */
  readonly tasks: ReadonlyMap<number, string>;
  /** Episodes (or cameras of episodes) that cannot be read, found when opening. */
  readonly problems: readonly LeRobotProblem[];
  readonly warnings: readonly string[];
  /** The episode with this index. @throws {RangeError} when the metadata does not list it */
  episode(index: number): LeRobotEpisode;
  /**
   * The problem keeping `episode` (with `camera`) from being read, if one was found when opening.
   */
  problemOf(episode: number, camera?: string): LeRobotProblem | undefined;
  /** The episode's rows (timestamps, frame indices), read from its data file (decoded once per file and cached). */
  rows(episode: number): Promise<LeRobotRows>;
  /**
   * The episode's frames from `camera` (default: the only camera). Reads its rows first, so
   * `length` is exact. Video frames are matched by timestamp within {@link LEROBOT_TOLERANCE_S}.
   * @throws {LeRobotError} naming the file and episode (a missing file, no rows, fps that disagrees with the video…)
   */
  frames(episode: number, camera?: string): Promise<LeRobotFrameSource>;
  /**
   * What ffprobe says about the video of `episode` from `camera` (codec, size, frame rate), cached per file.
   * @throws {LeRobotError} naming the file and episode when the video is missing or unreadable
   */
  videoInfo(episode: number, camera: string): VideoStreamInfo;
  /** Drops cached data files and video probes. */
  close(): void;
}

// ---------------------------------------------------------------- templates

/**
 * Fills a Python format-string path template of info.json (`data_path`, `video_path`):
 * `{name}` and `{name:0Nd}` / `{name:d}` placeholders.
 * @throws {Error} naming the template when it uses a placeholder `values` lacks or a format it does not support
 */
export function formatTemplate(template: string, values: Readonly<Record<string, number | string | undefined>>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (_, name: string, spec: string | undefined) => {
    const v = values[name];
    if (v === undefined) throw new Error(`template '${template}' uses {${name}}, which is not known for this layout (known: ${Object.keys(values).filter((k) => values[k] !== undefined).join(', ')})`);
    if (spec === undefined || spec === '') return String(v);
    const m = /^(0?)(\d*)d$/.exec(spec);
    if (!m || typeof v !== 'number') throw new Error(`template '${template}': format '{${name}:${spec}}' is not supported (only {name}, {name:d} and {name:0Nd})`);
    const s = String(Math.abs(v));
    const width = m[2] ? Number(m[2]) : 0;
    return (v < 0 ? '-' : '') + (m[1] ? s.padStart(width - (v < 0 ? 1 : 0), '0') : s.padStart(width - (v < 0 ? 1 : 0), ' '));
  });
}

// ---------------------------------------------------------------- small readers

function readJson(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LeRobotError(file, `not valid JSON (${(err as Error).message})`);
  }
}

function readJsonl(file: string, problem: (line: number, reason: string) => void): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const v = JSON.parse(line) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      out.push(v as Record<string, unknown>);
    } catch (err) {
      problem(i + 1, (err as Error).message);
    }
  });
  return out;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Parquet files under `dir`, in path order. */
function parquetFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.parquet')) out.push(p);
    }
  };
  if (isDir(dir)) walk(dir);
  return out;
}

const toNum = (v: unknown): number | undefined => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : undefined);

function numberColumn(c: ArrayLike<unknown> | undefined, n: number): Float64Array | undefined {
  if (!c) return undefined;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = toNum(c[i]);
    out[i] = v === undefined ? NaN : v;
  }
  return out;
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (v && typeof v === 'object' && typeof (v as ArrayLike<unknown>).length === 'number') return Array.from(v as ArrayLike<unknown>, String);
  return [];
}

/**
 * Whether `dir` is (or looks like) a LeRobot dataset root: `'root'` when it has
 * meta/info.json; `'no-info'` when it has LeRobot metadata or data folders but no
 * meta/info.json (a broken download); undefined otherwise.
 */
export function lerobotRootKind(dir: string): 'root' | 'no-info' | undefined {
  if (isFile(path.join(dir, 'meta', 'info.json'))) return 'root';
  const meta = path.join(dir, 'meta');
  if (['episodes.jsonl', 'tasks.jsonl', 'tasks.parquet', 'episodes_stats.jsonl'].some((f) => isFile(path.join(meta, f))) || isDir(path.join(meta, 'episodes'))) return 'no-info';
  return undefined;
}

// ---------------------------------------------------------------- opening

interface DataFileCache { info: ParquetInfo; episode: Float64Array; frameIndex?: Float64Array; timestamp?: Float64Array; taskIndex?: Float64Array; rows: number }

/**
 * Opens a LeRobot dataset (v2.x or v3.0 layout) at `root`: reads meta/info.json, the
 * episode list and the tasks, and checks that the files its templates name exist. Data
 * files and videos are read only when an episode's rows or frames are asked for.
 *
 * @throws {LeRobotError} naming the file when the dataset as a whole cannot be read
 *   (no meta/info.json, no episode metadata, a corrupt episode metadata file)
 * @example
 * const ds = await openLeRobot('datasets/koch_pick_place');
 * console.log(ds.layout, ds.fps, ds.cameras.map((c) => c.key), ds.episodes.length);
 * const src = await ds.frames(0, 'observation.images.top');
 * for await (const chunk of src.chunks({ chunkFrames: 64 })) console.log(chunk.start, chunk.count);
 * const features = await encodeFrames(src, patchStatsEncoder());
 */
export async function openLeRobot(root: string, opts: OpenLeRobotOptions = {}): Promise<LeRobotDataset> {
  if (typeof root !== 'string' || root === '') throw typeError('root', 'the folder of a LeRobot dataset', root);
  checkOptions(opts, 'opts', { onWarning: 1, decoder: 1 });
  const decoder = resolveVideoDecoder(opts.decoder);
  const warnings: string[] = [];
  const warn = (m: string) => { warnings.push(m); opts.onWarning?.(m); };
  const infoFile = path.join(root, 'meta', 'info.json');
  if (!isFile(infoFile)) {
    throw new LeRobotError(infoFile, lerobotRootKind(root) === 'no-info'
      ? 'missing: the folder has LeRobot metadata but no meta/info.json (an incomplete download?), so its fps, features and path templates are unknown'
      : 'missing: not a LeRobot dataset (no meta/info.json)');
  }
  const info = readJson(infoFile) as Record<string, unknown>;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new LeRobotError(infoFile, 'not a JSON object');
  const fps = Number(info.fps);
  if (!(fps > 0)) throw new LeRobotError(infoFile, `'fps' must be a positive number but is ${JSON.stringify(info.fps)}`);
  const features = info.features as Record<string, Record<string, unknown>> | undefined;
  if (!features || typeof features !== 'object') throw new LeRobotError(infoFile, "no 'features' object");
  const dataPath = info.data_path;
  if (typeof dataPath !== 'string') throw new LeRobotError(infoFile, "no 'data_path' template");
  const videoPath = typeof info.video_path === 'string' ? info.video_path : undefined;
  const chunksSize = Number(info.chunks_size ?? 1000) > 0 ? Number(info.chunks_size ?? 1000) : 1000;
  const version = typeof info.codebase_version === 'string' ? info.codebase_version : '';

  const cameras: LeRobotCamera[] = [];
  for (const [key, f] of Object.entries(features)) {
    if (f?.dtype !== 'video' && f?.dtype !== 'image') continue;
    const vi = (f.info ?? f.video_info) as Record<string, unknown> | undefined;
    cameras.push({ key, kind: f.dtype, shape: Array.isArray(f.shape) ? f.shape.map(Number) : [], ...(typeof vi?.['video.codec'] === 'string' ? { codec: vi['video.codec'] } : {}) });
  }
  if (cameras.some((c) => c.kind === 'video') && videoPath === undefined) throw new LeRobotError(infoFile, "video features but no 'video_path' template");

  // The layout, by what is present.
  const meta = path.join(root, 'meta');
  const v3Files = parquetFilesUnder(path.join(meta, 'episodes'));
  const v2File = path.join(meta, 'episodes.jsonl');
  const hasV2 = isFile(v2File);
  let layout: 'v2' | 'v3';
  if (v3Files.length && hasV2) {
    layout = version.startsWith('v2') ? 'v2' : 'v3';
    warn(`${root}: both meta/episodes.jsonl (v2.x) and meta/episodes/*.parquet (v3.0) are present; using the ${layout === 'v2' ? 'v2.x' : 'v3.0'} files (codebase_version '${version}')`);
  } else if (v3Files.length) layout = 'v3';
  else if (hasV2) layout = 'v2';
  else throw new LeRobotError(path.join(meta, 'episodes'), 'no episode metadata: neither meta/episodes.jsonl (v2.x) nor meta/episodes/chunk-*/file-*.parquet (v3.0) is present');
  if (version && !version.startsWith(layout)) warn(`${infoFile}: codebase_version is '${version}' but the files are in the ${layout === 'v2' ? 'v2.x' : 'v3.0'} layout; reading them as such`);

  const problems: LeRobotProblem[] = [];
  const tasks = new Map<number, string>();
  const listed: Array<{ index: number; length: number; tasks: string[]; row: Record<string, unknown>; where: string }> = [];
  if (layout === 'v2') {
    const tasksFile = path.join(meta, 'tasks.jsonl');
    if (isFile(tasksFile)) {
      for (const t of readJsonl(tasksFile, (line, why) => warn(`${tasksFile}: line ${line} skipped (${why})`))) {
        const i = toNum(t.task_index);
        if (i !== undefined && typeof t.task === 'string') tasks.set(i, t.task);
      }
    } else warn(`${tasksFile}: missing; episodes keep the task strings listed in meta/episodes.jsonl`);
    readJsonl(v2File, (line, why) => problems.push({ file: v2File, reason: `line ${line} is not an episode (${why})` })).forEach((e, i) => {
      const index = toNum(e.episode_index);
      if (index === undefined || !Number.isInteger(index) || index < 0) {
        problems.push({ file: v2File, reason: `entry ${i + 1} has no valid episode_index (${JSON.stringify(e.episode_index)})` });
        return;
      }
      listed.push({ index, length: toNum(e.length) ?? NaN, tasks: strings(e.tasks), row: e, where: `${v2File}:${i + 1}` });
    });
  } else {
    const tasksFile = path.join(meta, 'tasks.parquet');
    if (isFile(tasksFile)) {
      try {
        const t = await readParquetColumns(tasksFile);
        const idx = t.columns.get('task_index');
        // pandas writes the task strings as the index (column 'task', or '__index_level_0__').
        const str = t.columns.get('task') ?? t.columns.get('__index_level_0__');
        if (idx && str) for (let r = 0; r < t.rows; r++) { const i = toNum(idx[r]); if (i !== undefined && typeof str[r] === 'string') tasks.set(i, str[r] as string); }
        else warn(`${tasksFile}: no task_index and task columns`);
      } catch (err) {
        warn(`${tasksFile}: ${(err as Error).message}; episodes keep the task strings listed in their metadata`);
      }
    } else warn(`${tasksFile}: missing; episodes keep the task strings listed in their metadata`);
    for (const file of v3Files) {
      let cols;
      try {
        const pinfo = await readParquetInfo(file);
        cols = await readParquetColumns(file, { columns: pinfo.columns.filter((c) => !c.startsWith('stats/')), info: pinfo });
      } catch (err) {
        throw new LeRobotError(file, `cannot read the episode metadata (${(err as Error).message.replace(`${file}: `, '')})`);
      }
      const names = [...cols.columns.keys()];
      for (let r = 0; r < cols.rows; r++) {
        const row: Record<string, unknown> = {};
        for (const n of names) row[n] = cols.columns.get(n)![r];
        const index = toNum(row.episode_index);
        if (index === undefined || !Number.isInteger(index) || index < 0) {
          problems.push({ file, reason: `row ${r} has no valid episode_index (${String(row.episode_index)})` });
          continue;
        }
        listed.push({ index, length: toNum(row.length) ?? NaN, tasks: strings(row.tasks), row, where: `${file} row ${r}` });
      }
    }
  }

  // Duplicates and gaps.
  const byIndex = new Map<number, typeof listed>();
  for (const e of listed) byIndex.set(e.index, [...(byIndex.get(e.index) ?? []), e]);
  const metaFile = layout === 'v2' ? v2File : path.join(meta, 'episodes');
  const episodes: LeRobotEpisode[] = [];
  const total = toNum(info.total_episodes);
  const maxIndex = Math.max(-1, ...byIndex.keys());
  const upto = Math.max(maxIndex, (total ?? 0) - 1);
  for (let i = 0; i <= upto; i++) {
    const entries = byIndex.get(i);
    if (!entries) {
      problems.push({ file: metaFile, episode: i, reason: `episode ${i} is not listed in the metadata (the indices ${i > maxIndex ? `stop at ${maxIndex} but total_episodes is ${total}` : 'have a gap'})` });
      continue;
    }
    if (entries.length > 1) {
      problems.push({ file: metaFile, episode: i, reason: `episode_index ${i} is listed ${entries.length} times (${entries.map((e) => e.where).join(', ')})` });
      continue;
    }
    const e = entries[0];
    const row = e.row;
    let taskList = e.tasks;
    if (taskList.length === 0 && typeof row.task_index !== 'undefined') {
      const t = tasks.get(toNum(row.task_index) ?? -1);
      if (t !== undefined) taskList = [t];
    }
    const chunk = layout === 'v3' ? toNum(row['data/chunk_index']) : undefined;
    const vals = {
      episode_index: i, episode_chunk: chunk ?? Math.floor(i / chunksSize), chunk_index: chunk ?? Math.floor(i / chunksSize),
      file_index: layout === 'v3' ? toNum(row['data/file_index']) : undefined,
    };
    let dataFile: string;
    try {
      dataFile = path.join(root, formatTemplate(dataPath, vals));
    } catch (err) {
      problems.push({ file: infoFile, episode: i, reason: (err as Error).message });
      continue;
    }
    const videos: Record<string, LeRobotVideoLocation> = {};
    for (const cam of cameras) {
      if (cam.kind !== 'video') continue;
      const k = `videos/${cam.key}/`;
      const vchunk = layout === 'v3' ? toNum(row[`${k}chunk_index`]) : undefined;
      try {
        const file = path.join(root, formatTemplate(videoPath!, {
          video_key: cam.key, episode_index: i, episode_chunk: vchunk ?? Math.floor(i / chunksSize), chunk_index: vchunk ?? Math.floor(i / chunksSize),
          file_index: layout === 'v3' ? toNum(row[`${k}file_index`]) : undefined,
        }));
        const from = layout === 'v3' ? toNum(row[`${k}from_timestamp`]) : 0;
        const to = layout === 'v3' ? toNum(row[`${k}to_timestamp`]) : undefined;
        videos[cam.key] = { file, from: from ?? 0, ...(to !== undefined ? { to } : {}) };
      } catch (err) {
        problems.push({ file: infoFile, episode: i, camera: cam.key, reason: (err as Error).message });
      }
    }
    episodes.push({ index: i, length: e.length, tasks: taskList, task: taskList[0] ?? '', dataFile, videos });
  }

  // Files the templates name, each checked once.
  const exists = new Map<string, boolean>();
  const has = (f: string) => { let v = exists.get(f); if (v === undefined) { v = isFile(f); exists.set(f, v); } return v; };
  for (const e of episodes) {
    if (!has(e.dataFile)) problems.push({ file: e.dataFile, episode: e.index, reason: `data file missing (named by data_path '${dataPath}')` });
    for (const [cam, v] of Object.entries(e.videos)) {
      if (!has(v.file)) problems.push({ file: v.file, episode: e.index, camera: cam, reason: `video file missing (named by video_path '${videoPath}')` });
    }
  }
  const totalFrames = toNum(info.total_frames);
  const sumLengths = episodes.reduce((a, e) => a + (Number.isFinite(e.length) ? e.length : 0), 0);
  if (totalFrames !== undefined && totalFrames !== sumLengths) warn(`${infoFile}: total_frames is ${totalFrames} but the listed episodes hold ${sumLengths} frames`);

  return makeDataset({ root, version, layout, info, fps, features, cameras, episodes, tasks, problems, warnings, warn, decoder });
}

interface DatasetParts {
  root: string; version: string; layout: 'v2' | 'v3'; info: Record<string, unknown>; fps: number;
  features: Record<string, Record<string, unknown>>; cameras: LeRobotCamera[]; episodes: LeRobotEpisode[];
  tasks: Map<number, string>; problems: LeRobotProblem[]; warnings: string[]; warn: (m: string) => void; decoder: VideoDecoderChoice;
}

function makeDataset(p: DatasetParts): LeRobotDataset {
  const byIndex = new Map(p.episodes.map((e) => [e.index, e]));
  const fileCache = new Map<string, Promise<DataFileCache>>();
  const probes = new Map<string, VideoStreamInfo>();
  const CACHE_FILES = 2;

  const loadFile = (file: string): Promise<DataFileCache> => {
    let c = fileCache.get(file);
    if (c) {
      fileCache.delete(file);
      fileCache.set(file, c); // most recently used last
      return c;
    }
    c = (async () => {
      const info = await readParquetInfo(file);
      if (!info.columns.includes('episode_index')) throw new Error(`${file}: no episode_index column (columns: ${info.columns.join(', ')})`);
      const want = ['episode_index', 'frame_index', 'timestamp', 'task_index'].filter((n) => info.columns.includes(n));
      const cols = await readParquetColumns(file, { columns: want, info });
      return {
        info, rows: cols.rows, episode: numberColumn(cols.columns.get('episode_index'), cols.rows)!,
        frameIndex: numberColumn(cols.columns.get('frame_index'), cols.rows), timestamp: numberColumn(cols.columns.get('timestamp'), cols.rows),
        taskIndex: numberColumn(cols.columns.get('task_index'), cols.rows),
      };
    })();
    fileCache.set(file, c);
    c.catch(() => fileCache.delete(file));
    while (fileCache.size > CACHE_FILES) fileCache.delete(fileCache.keys().next().value!);
    return c;
  };

  const episode = (index: number): LeRobotEpisode => {
    const e = byIndex.get(index);
    if (!e) throw new RangeError(`Expected an episode index listed by ${p.root} but received ${index} (it has ${p.episodes.length} readable episodes${p.episodes.length ? `, ${p.episodes[0].index}…${p.episodes[p.episodes.length - 1].index}` : ''})`);
    return e;
  };
  const problemOf = (index: number, camera?: string) => p.problems.find((x) => x.episode === index && (x.camera === undefined || x.camera === camera));

  const rows = async (index: number): Promise<LeRobotRows> => {
    const e = episode(index);
    const known = p.problems.find((x) => x.episode === index && x.camera === undefined);
    if (known) throw new LeRobotError(known.file, known.reason, index);
    let f: DataFileCache;
    try {
      f = await loadFile(e.dataFile);
    } catch (err) {
      throw new LeRobotError(e.dataFile, (err as Error).message.replace(`${e.dataFile}: `, ''), index);
    }
    const at: number[] = [];
    for (let r = 0; r < f.rows; r++) if (f.episode[r] === index) at.push(r);
    if (at.length === 0) {
      throw new LeRobotError(e.dataFile, `the data file has no rows with episode_index ${index} (the metadata lists ${e.length} frames there)`, index);
    }
    if (Number.isFinite(e.length) && e.length !== at.length) {
      p.warn(`${e.dataFile}: episode ${index}: the metadata says ${e.length} frames but the data file has ${at.length} rows; using the rows`);
    }
    const n = at.length;
    const timestamps = new Float64Array(n);
    const frameIndex = new Float64Array(n);
    if (!f.timestamp) p.warn(`${e.dataFile}: no timestamp column; episode ${index}'s frames are taken at frame_index / fps`);
    for (let k = 0; k < n; k++) {
      const r = at[k];
      frameIndex[k] = f.frameIndex ? f.frameIndex[r] : k;
      timestamps[k] = f.timestamp ? f.timestamp[r] : frameIndex[k] / p.fps;
    }
    for (let k = 0; k < n; k++) {
      if (!Number.isFinite(timestamps[k]) || (k > 0 && timestamps[k] < timestamps[k - 1])) {
        throw new LeRobotError(e.dataFile, `timestamp of row ${at[k]} (frame ${k}) is ${timestamps[k]}${k > 0 ? `, before the previous row's ${timestamps[k - 1]}` : ''}: frame times must be finite and non-decreasing`, index);
      }
    }
    return {
      episode: index, file: e.dataFile, rows: Int32Array.from(at), timestamps, frameIndex,
      ...(f.taskIndex ? { taskIndex: Int32Array.from(at, (r) => f.taskIndex![r]) } : {}),
    };
  };

  const probe = (file: string): VideoStreamInfo => {
    let v = probes.get(file);
    if (!v) { v = probeVideoStream(file); probes.set(file, v); }
    return v;
  };
  const pickCamera = (camera: string | undefined): LeRobotCamera => {
    if (camera === undefined) {
      if (p.cameras.length === 1) return p.cameras[0];
      throw new RangeError(p.cameras.length === 0
        ? `${p.root} has no camera (no video or image feature in meta/info.json)`
        : `Expected a camera for ${p.root}, which has ${p.cameras.length}: ${p.cameras.map((c) => c.key).join(', ')}`);
    }
    const c = p.cameras.find((x) => x.key === camera);
    if (!c) {
      throw new LeRobotError(path.join(p.root, 'meta', 'info.json'),
        `no camera '${camera}': the cameras are ${p.cameras.length ? p.cameras.map((x) => x.key).join(', ') : '(none: no video or image feature)'}`);
    }
    return c;
  };

  const frames = async (index: number, camera?: string): Promise<LeRobotFrameSource> => {
    const cam = pickCamera(camera);
    const e = episode(index);
    const known = problemOf(index, cam.key);
    if (known) throw new LeRobotError(known.file, known.reason, index);
    const r = await rows(index);
    const label = `episode ${index} (${cam.key})`;
    if (cam.kind === 'video') {
      const loc = e.videos[cam.key];
      const times = Float64Array.from(r.timestamps, (t) => loc.from + t);
      return videoSource(loc.file, p.fps, times, index, cam.key, label, p.warn, p.decoder);
    }
    return imageSource(e.dataFile, cam.key, r, index, label, p.root);
  };

  return {
    root: p.root, version: p.version, layout: p.layout, info: p.info, fps: p.fps, features: p.features, cameras: p.cameras,
    episodes: p.episodes, tasks: p.tasks, problems: p.problems, warnings: p.warnings,
    episode, problemOf, rows, frames,
    videoInfo(index, camera) {
      const cam = pickCamera(camera);
      const loc = episode(index).videos[cam.key];
      if (!loc) throw new LeRobotError(path.join(p.root, 'meta', 'info.json'), `camera '${cam.key}' is not a video`, index);
      try {
        return probe(loc.file);
      } catch (err) {
        throw new LeRobotError(loc.file, (err as Error).message.replace(`${loc.file}: `, ''), index);
      }
    },
    close() { fileCache.clear(); probes.clear(); },
  };
}

function chunkArgs(opts: ChunkOptions | undefined): { chunkFrames: number; size: number | undefined; yuv420p: boolean; signal: AbortSignal | undefined } {
  const o = checkOptions(opts, 'opts', { chunkFrames: 1, size: 1, allowPartial: 1, onWarning: 1, yuv420p: 1, signal: 1 });
  if (o.yuv420p !== undefined && typeof o.yuv420p !== 'boolean') throw typeError('opts.yuv420p', 'a boolean', o.yuv420p);
  return {
    chunkFrames: o.chunkFrames === undefined ? 32 : checkInt(o.chunkFrames, 'opts.chunkFrames', 1),
    size: o.size === undefined ? undefined : checkInt(o.size, 'opts.size', 1),
    yuv420p: o.yuv420p === true,
    signal: checkSignal(o.signal, 'opts.signal'),
  };
}

function checkRange(start: number, count: number, length: number): void {
  checkInt(start, 'start', 0, Math.max(0, length - 1));
  checkInt(count, 'count', 0, length - start);
}

function videoSource(file: string, fps: number, times: Float64Array, episode: number, camera: string, label: string, warn: (m: string) => void, decoder: VideoDecoderChoice): LeRobotFrameSource {
  const range = (start: number, count: number, opts?: ChunkOptions): AsyncGenerator<FrameChunk> => {
    checkRange(start, count, times.length);
    const { chunkFrames, size, yuv420p, signal } = chunkArgs(opts);
    return decodeAtTimestamps(file, times.subarray(start, start + count), {
      fps, chunkFrames, ...(size !== undefined ? { size } : {}), yuv420p, tolerance: LEROBOT_TOLERANCE_S, label, firstIndex: start,
      onWarning: opts?.onWarning ?? warn, decoder, ...(signal ? { signal } : {}),
    });
  };
  return {
    path: file, kind: 'video', length: times.length, episode, camera, times,
    range,
    chunks: (opts) => range(0, times.length, opts),
    frame: async (k, opts) => firstChunk(range(k, 1, { ...(opts?.size !== undefined ? { size: opts.size } : {}), chunkFrames: 1 })),
  };
}

async function firstChunk(g: AsyncGenerator<FrameChunk>): Promise<FrameChunk> {
  for await (const c of g) {
    await g.return(undefined);
    return c;
  }
  throw new Error('no frame decoded');
}

function imageSource(file: string, camera: string, r: LeRobotRows, episode: number, label: string, root: string): LeRobotFrameSource {
  const n = r.rows.length;
  const decode = async (value: unknown, k: number): Promise<{ data: Uint8Array; width: number; height: number }> => {
    let input: Uint8Array | string | undefined;
    if (value instanceof Uint8Array) input = value;
    else if (value && typeof value === 'object') {
      const v = value as { bytes?: unknown; path?: unknown };
      if (v.bytes instanceof Uint8Array && v.bytes.length > 0) input = v.bytes;
      else if (typeof v.path === 'string' && v.path) input = path.isAbsolute(v.path) ? v.path : path.join(root, v.path);
    }
    if (input === undefined) throw new LeRobotError(file, `${label}: row ${r.rows[k]} has no image bytes or path in column '${camera}'`, episode);
    try {
      const { data, info } = await sharp(input).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
    } catch (err) {
      throw new LeRobotError(file, `${label}: cannot decode the image of row ${r.rows[k]} (${(err as Error).message})`, episode);
    }
  };
  async function* range(start: number, count: number, opts?: ChunkOptions): AsyncGenerator<FrameChunk> {
    checkRange(start, count, n);
    const { chunkFrames, size, signal } = chunkArgs(opts);
    let first: { width: number; height: number } | undefined;
    for (let s = start; s < start + count; s += chunkFrames) {
      signal?.throwIfAborted();
      const c = Math.min(chunkFrames, start + count - s);
      const lo = r.rows[s];
      const hi = r.rows[s + c - 1] + 1;
      const col = (await readParquetColumns(file, { columns: [camera], rowStart: lo, rowEnd: hi })).columns.get(camera)!;
      const decoded = await Promise.all(Array.from({ length: c }, (_, i) => decode(col[r.rows[s + i] - lo], s + i)));
      first ??= { width: decoded[0].width, height: decoded[0].height };
      for (let i = 0; i < c; i++) {
        if (decoded[i].width !== first.width || decoded[i].height !== first.height) {
          throw new LeRobotError(file, `${label}: image of row ${r.rows[s + i]} is ${decoded[i].width}×${decoded[i].height}, not ${first.width}×${first.height} like the episode's first`, episode);
        }
      }
      const W = size ?? first.width;
      const H = size ?? first.height;
      const out = new Uint8Array(c * W * H * 3);
      for (let i = 0; i < c; i++) {
        const d = decoded[i];
        out.set(size === undefined ? d.data : await resizeCropFrame(d.data, d.width, d.height, size), i * W * H * 3);
      }
      yield { data: out, count: c, width: W, height: H, start: s };
    }
  }
  return {
    path: file, kind: 'images', length: n, episode, camera, times: r.timestamps,
    range,
    chunks: (opts) => range(0, n, opts),
    frame: async (k, opts) => firstChunk(range(k, 1, { ...(opts?.size !== undefined ? { size: opts.size } : {}), chunkFrames: 1 })),
  };
}
