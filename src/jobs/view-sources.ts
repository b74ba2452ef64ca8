// Frame sources of `feat2go view`: random access to one labelled episode's
// frames, wherever they came from (a folder of images, a [T,H,W,3] uint8 .npy,
// a video). One opener per source kind, looked up in a registry, so another
// reader (a LeRobot dataset, …) adds its kind with `registerViewSource`
// without the server changing. Frames leave as encoded images (sharp for
// arrays and thumbnails, the original bytes for image files, ffmpeg for
// videos); a browser-playable video is also offered whole, for <video>.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { readNpyHeader } from '../io/npy.js';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, findOnPath, naturalSort } from '../io/episodes.js';

/** An encoded frame image. */
export interface FrameImage {
  data: Buffer;
  /** MIME type (`image/png`, `image/jpeg`). */
  type: string;
}

/** How {@link ViewFrames.image} should encode a frame. */
export interface FrameImageOptions {
  /** `'png'` (lossless, default) or `'jpeg'`. Image files are sent as they are unless resized. */
  format?: 'png' | 'jpeg';
  /** Resize to this width (height keeps the aspect ratio); a thumbnail. */
  width?: number;
}

/** Random access to one episode's frames (what the viewer's frame routes serve). */
export interface ViewFrames {
  /** The source kind, as recorded by the labeller (`'images'`, `'npy'`, `'video'`, …). */
  readonly kind: string;
  /** Number of frames. */
  readonly count: number;
  readonly width: number;
  readonly height: number;
  /** Frames per second when the source says (videos); undefined otherwise. */
  readonly fps?: number;
  /** Videos: presentation time of each frame in seconds from the start of the file (`count` entries). */
  readonly times?: readonly number[];
  /** Encodes frame `k` (0 ≤ k < count). */
  image(k: number, opts?: FrameImageOptions): Promise<FrameImage>;
  /** A file the browser can play itself (served whole, with HTTP Range), and its MIME type. */
  readonly video?: { file: string; type: string };
  /** Stops any work in flight (called when the server closes). */
  close?(): void;
}

/**
 * Opens the frames of a recorded source. `file` is the resolved path (the
 * record's relative path under the viewed folder, or its absolute path);
 * `record` is the episode's whole `source` object from summary.json, for
 * readers that recorded more (a dataset root, an episode index).
 */
export type ViewSourceOpener = (file: string, record: Readonly<Record<string, unknown>>) => Promise<ViewFrames>;

const OPENERS = new Map<string, ViewSourceOpener>();

/**
 * Registers how `feat2go view` opens the frames of episodes whose recorded
 * `source.kind` is `kind` (replacing an earlier opener of that kind). The
 * built-in kinds are `'images'`, `'npy'`, `'video'` and `'lerobot'`.
 *
 * @example
 * registerViewSource('my-format', async (file) => ({ kind: 'my-format', count, width, height, image: async (k) => ({ data: png(k), type: 'image/png' }) }));
 */
export function registerViewSource(kind: string, opener: ViewSourceOpener): void {
  if (typeof kind !== 'string' || kind === '') throw new TypeError(`Expected a non-empty string for kind but received ${JSON.stringify(kind)}`);
  if (typeof opener !== 'function') throw new TypeError(`Expected a function for opener but received ${typeof opener}`);
  OPENERS.set(kind, opener);
}

/** The opener registered for `kind`, if any. */
export function viewSourceOpener(kind: string): ViewSourceOpener | undefined {
  return OPENERS.get(kind);
}

/** Thrown for a frame index outside the episode (the server answers 404). */
export class FrameRangeError extends RangeError {}

/** @throws {FrameRangeError} when k is not a frame index of an episode of `count` frames */
export function checkFrame(k: number, count: number): void {
  if (!Number.isInteger(k) || k < 0 || k >= count) throw new FrameRangeError(`frame ${k} is outside the episode's ${count} frames`);
}

/** Encodes raw pixels (`[height, width, channels]` uint8) as PNG, or JPEG, resized to `opts.width` when smaller. */
export async function encodeRaw(rgb: Uint8Array, width: number, height: number, channels: 1 | 3 | 4, opts: FrameImageOptions = {}): Promise<FrameImage> {
  let img = sharp(rgb, { raw: { width, height, channels } });
  if (opts.width !== undefined && opts.width < width) img = img.resize({ width: opts.width });
  if (opts.format === 'jpeg') return { data: await img.jpeg({ quality: 90 }).toBuffer(), type: 'image/jpeg' };
  return { data: await img.png({ compressionLevel: 3 }).toBuffer(), type: 'image/png' };
}

// ---------------------------------------------------------------- npy

async function npyFrames(file: string): Promise<ViewFrames> {
  const h = readNpyHeader(file);
  if (h.dtype !== 'uint8' || h.shape.length !== 4 || ![1, 3, 4].includes(h.shape[3])) {
    throw new Error(`${file}: frames must be a uint8 array [T, H, W, 3] but it has dtype '${h.descr}' and shape (${h.shape.join(', ')})`);
  }
  const [T, H, W, C] = h.shape;
  const fb = H * W * C;
  return {
    kind: 'npy', count: T, width: W, height: H,
    async image(k, opts) {
      checkFrame(k, T);
      const fh = await open(file, 'r');
      try {
        const buf = new Uint8Array(fb);
        const { bytesRead } = await fh.read(buf, 0, fb, h.dataOffset + k * fb);
        if (bytesRead < fb) throw new Error(`${file}: file shrank while reading frame ${k}`);
        return await encodeRaw(buf, W, H, C as 1 | 3 | 4, opts);
      } finally {
        await fh.close();
      }
    },
  };
}

// ---------------------------------------------------------------- images

const IMAGE_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg' };

async function imageFrames(file: string): Promise<ViewFrames> {
  const st = await stat(file);
  const files = st.isDirectory()
    ? naturalSort((await readdir(file)).filter((n) => IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase()))).map((n) => path.join(file, n))
    : [file];
  if (files.length === 0) throw new Error(`${file}: no PNG or JPEG frames in this folder`);
  const meta = await sharp(files[0]).metadata();
  return {
    kind: 'images', count: files.length, width: meta.width ?? 0, height: meta.height ?? 0,
    async image(k, opts = {}) {
      checkFrame(k, files.length);
      const f = files[k];
      const type = IMAGE_TYPES[path.extname(f).toLowerCase()];
      if (opts.width === undefined && (opts.format === undefined || type === `image/${opts.format}`)) {
        const s = await stat(f);
        if (!s.isFile()) throw new Error(`${f}: not a regular file`);
        return { data: await fs.promises.readFile(f), type };
      }
      let img = sharp(f);
      if (opts.width !== undefined) img = img.resize({ width: opts.width, withoutEnlargement: true });
      return opts.format === 'jpeg' ? { data: await img.jpeg({ quality: 90 }).toBuffer(), type: 'image/jpeg' }
        : { data: await img.png({ compressionLevel: 3 }).toBuffer(), type: 'image/png' };
    },
  };
}

// ---------------------------------------------------------------- video

/** Containers a browser's <video> may play (it falls back to single frames when it cannot). */
const BROWSER_VIDEO: Record<string, string> = { '.mp4': 'video/mp4', '.m4v': 'video/mp4', '.mov': 'video/mp4', '.webm': 'video/webm', '.mkv': 'video/webm' };

/** The MIME type to offer `file` to a browser's <video> under, or undefined when browsers do not play its container. */
export function browserVideoType(file: string): string | undefined {
  return BROWSER_VIDEO[path.extname(file).toLowerCase()];
}

/** At most this many ffmpeg processes decode frames at a time. */
const FFMPEG_SLOTS = 2;
let ffmpegBusy = 0;
const ffmpegQueue: Array<() => void> = [];

/** Runs `fn` (which starts a decoder process) when fewer than two others run: a table of thumbnails starts no flood of ffmpeg processes. */
export async function withFfmpegSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (ffmpegBusy >= FFMPEG_SLOTS) await new Promise<void>((resolve) => ffmpegQueue.push(resolve));
  ffmpegBusy++;
  try {
    return await fn();
  } finally {
    ffmpegBusy--;
    ffmpegQueue.shift()?.();
  }
}

interface VideoProbe { width: number; height: number; fps: number | undefined; times: number[] }

function rate(s: unknown): number | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(String(s ?? ''));
  if (!m || Number(m[2]) === 0 || Number(m[1]) === 0) return undefined;
  return Number(m[1]) / Number(m[2]);
}

/**
 * Width, height, frame rate and every frame's presentation time (packet
 * timestamps in presentation order, from the container's start), read without
 * decoding.
 */
async function probeVideo(ffprobe: string, file: string): Promise<VideoProbe> {
  // Run off the event loop: a long video's packet list takes a while, and the server keeps answering meanwhile.
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate:format=start_time:packet=pts_time',
      '-of', 'json', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => { if (err.length < 4000) err += d.toString(); });
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: err }));
  });
  let j: { streams?: Array<Record<string, unknown>>; packets?: Array<{ pts_time?: string }>; format?: { start_time?: string } };
  try {
    j = JSON.parse(r.stdout ?? '') as typeof j;
  } catch {
    j = {};
  }
  const s = j.streams?.[0];
  if (r.status !== 0 || !s || !Number(s.width) || !Number(s.height)) {
    throw new Error(`${file}: cannot read video (${(r.stderr ?? '').trim().split('\n').pop() || 'no video stream'})`);
  }
  const fps = rate(s.avg_frame_rate) ?? rate(s.r_frame_rate);
  const start = Number(j.format?.start_time ?? 0) || 0;
  const pts = (j.packets ?? []).map((p) => Number(p.pts_time));
  let times: number[];
  if (pts.length > 0 && pts.every(Number.isFinite)) {
    times = pts.sort((a, b) => a - b).map((t) => Math.max(0, t - start));
  } else {
    const n = pts.length;
    times = Array.from({ length: n }, (_, i) => i / (fps ?? 25));
  }
  return { width: Number(s.width), height: Number(s.height), fps, times };
}

async function videoFrames(file: string, record: Readonly<Record<string, unknown>>): Promise<ViewFrames> {
  const ffmpeg = findOnPath('ffmpeg');
  const ffprobe = findOnPath('ffprobe');
  if (!ffmpeg || !ffprobe) throw new Error(`${file}: showing video frames needs ffmpeg and ffprobe on PATH (apt-get install ffmpeg)`);
  const st = await stat(file);
  if (!st.isFile()) throw new Error(`${file}: not a regular file`);
  const probe = await probeVideo(ffprobe, file);
  // The labeller's count of decoded frames is the episode's length; the packet count agrees for whole files.
  const recorded = typeof record.frames === 'number' && Number.isInteger(record.frames) && record.frames > 0 ? record.frames : undefined;
  const count = recorded ?? probe.times.length;
  const times = probe.times.slice(0, count);
  const step = probe.fps ? 1 / probe.fps : 0.04;
  while (times.length < count) times.push((times.length ? times[times.length - 1] : -step) + step);
  const running = new Set<ReturnType<typeof spawn>>();
  const ext = path.extname(file).toLowerCase();
  return {
    kind: 'video', count, width: probe.width, height: probe.height, times,
    ...(probe.fps !== undefined ? { fps: probe.fps } : {}),
    ...(BROWSER_VIDEO[ext] ? { video: { file, type: BROWSER_VIDEO[ext] } } : {}),
    image(k, opts = {}) {
      checkFrame(k, count);
      // Accurate input seek: ffmpeg decodes from the keyframe before and drops every frame
      // earlier than the seek point, halfway between frame k − 1 and frame k.
      const at = k === 0 ? 0 : (times[k - 1] + times[k]) / 2;
      const scale = opts.width !== undefined && opts.width < probe.width ? ['-vf', `scale=${opts.width}:-2`] : [];
      const codec = opts.format === 'jpeg' ? ['-c:v', 'mjpeg', '-q:v', '3'] : ['-c:v', 'png'];
      return withFfmpegSlot(() => new Promise<FrameImage>((resolve, reject) => {
        const proc = spawn(ffmpeg, ['-nostdin', '-v', 'error', '-ss', at.toFixed(6), '-i', file, ...scale, '-frames:v', '1', '-f', 'image2pipe', ...codec, 'pipe:1'],
          { stdio: ['ignore', 'pipe', 'pipe'] });
        running.add(proc);
        const out: Buffer[] = [];
        let err = '';
        proc.stdout.on('data', (d: Buffer) => out.push(d));
        proc.stderr.on('data', (d: Buffer) => { if (err.length < 2000) err += d.toString(); });
        proc.on('error', (e) => { running.delete(proc); reject(e); });
        proc.on('close', (code) => {
          running.delete(proc);
          const data = Buffer.concat(out);
          if (code === 0 && data.length > 0) resolve({ data, type: opts.format === 'jpeg' ? 'image/jpeg' : 'image/png' });
          else reject(new Error(`${file}: ffmpeg could not decode frame ${k} (exit ${code}${err.trim() ? `: ${err.trim().split('\n')[0]}` : ''})`));
        });
      }));
    },
    close() {
      for (const p of running) p.kill('SIGKILL');
    },
  };
}

registerViewSource('npy', (file) => npyFrames(file));
registerViewSource('images', (file) => imageFrames(file));
registerViewSource('video', (file, record) => videoFrames(file, record));
// LeRobot episodes: loaded on first use (the parquet reader is not needed otherwise).
registerViewSource('lerobot', async (file, record) => (await import('./view-lerobot.js')).lerobotFrames(file, record));

/** The frame source kind of a path when a summary has no `source` record (older outputs): by extension, folders are images. */
export function guessSourceKind(file: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (st.isDirectory()) return 'images';
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') {
    try {
      return readNpyHeader(file).dtype === 'uint8' ? 'npy' : 'features';
    } catch {
      return undefined;
    }
  }
  if (VIDEO_EXTENSIONS.includes(ext)) return 'video';
  if (IMAGE_EXTENSIONS.includes(ext)) return 'images';
  if (ext === '.safetensors') return 'features';
  return undefined;
}
