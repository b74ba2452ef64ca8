// Episodes in: frame sources that stream RGB frames in chunks from a folder of
// PNG/JPEG images (decoded by sharp), a `.npy` [T,H,W,3] uint8 array (read
// chunk by chunk from disk), an MP4/WebM video (ffmpeg to a raw rgb24 pipe),
// or frames already in memory. No source ever holds more than one chunk of
// decoded frames; decoding runs off the main thread (libuv pool / ffmpeg).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, delimiter, extname, join } from 'node:path';
import sharp from 'sharp';
import { readNpyHeader } from './npy.js';
import { fileKind, unreadableReason } from './common.js';
import { checkInt, checkOptions, rangeError, shapeStr, typeError } from '../core/validate.js';
import { checkSignal } from '../core/cancel.js';

/** A chunk of consecutive RGB frames, `[count, height, width, 3]` uint8, row-major. */
export interface FrameChunk {
  data: Uint8Array;
  count: number;
  height: number;
  width: number;
  /** Index of the chunk's first frame in the episode. */
  start: number;
  /**
   * Only from a source asked with {@link ChunkOptions.yuv420p}: `data` holds the frames as
   * decoded, planar YUV 4:2:0 (per frame W·H luma, then ⌈W/2⌉·⌈H/2⌉ Cb and as many Cr bytes),
   * and this says how they become RGB (the conversion ffmpeg would apply).
   */
  yuv420p?: { matrix: 601 | 709; fullRange: boolean };
}

/** Options of {@link FrameSource.chunks}. */
export interface ChunkOptions {
  /** Most frames per chunk (default 32). */
  chunkFrames?: number;
  /** When set, every frame is resized so its short side is `size`, then centre-cropped to `size × size`. */
  size?: number;
  /**
   * Videos: a partial decode (ffmpeg reports an error such as a truncated file, or fewer
   * frames decode than the container lists) is an error naming the file unless this is
   * true; then the frames that decoded are used and `onWarning` gets the message.
   */
  allowPartial?: boolean;
  /** Receives warnings (a partial decode allowed by `allowPartial`). Default: `process.emitWarning`. */
  onWarning?: (message: string) => void;
  /**
   * The consumer also takes YUV 4:2:0 chunks (see {@link FrameChunk.yuv420p}): a LeRobot video
   * may then hand out frames as decoded, saving the RGB conversion and half the bytes; other
   * sources ignore it. A YUV chunk's `data` is reused for the next chunk, so the consumer is
   * done with it before asking for the next. `encodeFrames` asks for them when the encoder
   * accepts them.
   */
  yuv420p?: boolean;
  /**
   * Stops the stream: checked before every chunk (LeRobot videos decoded in process also stop
   * at the next frame, and an ffmpeg child is killed); the generator then rejects with the
   * signal's reason (an `AbortError` unless the caller gave another).
   */
  signal?: AbortSignal;
}

/** A streaming source of one episode's frames. */
export interface FrameSource {
  /** File or folder the frames come from (or a name for in-memory frames); used in error messages. */
  readonly path: string;
  readonly kind: 'images' | 'npy' | 'video' | 'memory';
  /** Number of frames when known before decoding (images, npy, memory); `undefined` for video. */
  readonly length: number | undefined;
  /** Streams the frames in order, at most `chunkFrames` decoded frames at a time. */
  chunks(opts?: ChunkOptions): AsyncGenerator<FrameChunk>;
}

/** File extensions read as image frames (case-insensitive). */
export const IMAGE_EXTENSIONS = Object.freeze(['.png', '.jpg', '.jpeg']);
/** File extensions read as videos through ffmpeg (case-insensitive). */
export const VIDEO_EXTENSIONS = Object.freeze(['.mp4', '.webm', '.mkv', '.mov', '.avi']);

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Sorts file names naturally: digit runs compare as numbers (`frame_2` before `frame_10`). */
export function naturalSort(names: readonly string[]): string[] {
  return [...names].sort((a, b) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0));
}

interface ResolvedChunkOptions {
  chunkFrames: number;
  size: number | undefined;
  allowPartial: boolean;
  onWarning: (message: string) => void;
  signal: AbortSignal | undefined;
}

function chunkOpts(opts: ChunkOptions | undefined): ResolvedChunkOptions {
  const o = checkOptions(opts, 'opts', { chunkFrames: 1, size: 1, allowPartial: 1, onWarning: 1, yuv420p: 1, signal: 1 });
  if (o.allowPartial !== undefined && typeof o.allowPartial !== 'boolean') throw typeError('opts.allowPartial', 'a boolean', o.allowPartial);
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') throw typeError('opts.onWarning', 'a function', o.onWarning);
  return {
    chunkFrames: o.chunkFrames === undefined ? 32 : checkInt(o.chunkFrames, 'opts.chunkFrames', 1),
    size: o.size === undefined ? undefined : checkInt(o.size, 'opts.size', 1),
    allowPartial: o.allowPartial ?? false,
    onWarning: o.onWarning ?? ((m: string) => process.emitWarning(m, 'Feat2GoPartialVideo')),
    signal: checkSignal(o.signal, 'opts.signal'),
  };
}

/**
 * Short-side resize + centre crop of one RGB frame to `size × size`. Frames
 * already that size are returned as is; a frame whose short side already is
 * `size` is cropped without resampling; anything else goes through sharp
 * (`fit: 'cover'`, centre position, its default Lanczos-3 kernel).
 */
export async function resizeCropFrame(rgb: Uint8Array, width: number, height: number, size: number): Promise<Uint8Array> {
  if (width === size && height === size) return rgb;
  if (Math.min(width, height) === size) {
    const x0 = Math.floor((width - size) / 2);
    const y0 = Math.floor((height - size) / 2);
    const out = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      const src = ((y0 + y) * width + x0) * 3;
      out.set(rgb.subarray(src, src + size * 3), y * size * 3);
    }
    return out;
  }
  const buf = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

// ---------------------------------------------------------------- in memory

/**
 * Wraps frames already in memory, `[T, H, W, 3]` uint8, as a {@link FrameSource}
 * (chunks are zero-copy views unless resized).
 *
 * @param frames `{ data: Uint8Array, shape: [T, H, W, 3] }`
 * @param name label used in error messages
 */
export function framesFromArray(frames: { data: Uint8Array; shape: number[] }, name = 'frames'): FrameSource {
  if (frames === null || typeof frames !== 'object') throw typeError(name, 'frames { data: Uint8Array, shape: [T, H, W, 3] }', frames);
  if (!(frames.data instanceof Uint8Array)) throw typeError(`${name}.data`, 'a Uint8Array', frames.data);
  const s = frames.shape;
  if (!Array.isArray(s) || s.length !== 4 || s[3] !== 3 || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw rangeError(`${name}.shape`, '[T, H, W, 3] (RGB frames)', Array.isArray(s) ? shapeStr(s) : frames.shape);
  }
  const [T, H, W] = s;
  if (T === 0) throw new RangeError(`${name}: the episode has zero frames (shape ${shapeStr(s)})`);
  if (H === 0 || W === 0) throw rangeError(`${name}.shape`, 'frames of at least 1×1 pixel', shapeStr(s), true);
  if (frames.data.length < T * H * W * 3) {
    throw new RangeError(`Expected ${name}.data to hold at least ${T * H * W * 3} bytes for shape ${shapeStr(s)} but received ${frames.data.length}`);
  }
  return {
    path: name,
    kind: 'memory',
    length: T,
    chunks(opts) {
      const fb = H * W * 3;
      return rawChunks(T, H, W, opts, (start, count) => frames.data.subarray(start * fb, (start + count) * fb));
    },
  };
}

/**
 * Streams `[T, H, W, 3]` frames in chunks: `read(start, count)` gives each chunk's raw
 * bytes, which are resized/cropped when `opts.size` asks for it.
 */
async function* rawChunks(T: number, H: number, W: number, opts: ChunkOptions | undefined,
  read: (start: number, count: number) => Uint8Array | Promise<Uint8Array>): AsyncGenerator<FrameChunk> {
  const { chunkFrames, size, signal } = chunkOpts(opts);
  for (let start = 0; start < T; start += chunkFrames) {
    signal?.throwIfAborted();
    const count = Math.min(chunkFrames, T - start);
    const data = await read(start, count);
    if (size === undefined) yield { data, count, height: H, width: W, start };
    else yield { data: await resizeChunk(data, count, W, H, size), count, height: size, width: size, start };
  }
}

async function resizeChunk(data: Uint8Array, count: number, W: number, H: number, size: number): Promise<Uint8Array> {
  const fb = W * H * 3;
  const frames = await Promise.all(Array.from({ length: count }, (_, i) => resizeCropFrame(data.subarray(i * fb, (i + 1) * fb), W, H, size)));
  if (count === 1) return frames[0];
  const out = new Uint8Array(count * size * size * 3);
  frames.forEach((f, i) => out.set(f, i * size * size * 3));
  return out;
}

// ---------------------------------------------------------------- images

async function decodeImage(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    if (data.length !== info.width * info.height * 3) throw new Error(`decoded to ${data.length / (info.width * info.height * 3)} bytes per sample, expected 8-bit RGB`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw new Error(`${file}: cannot decode image (${(err as Error).message})`);
  }
}

async function imageFolder(dir: string): Promise<FrameSource> {
  const names = naturalSort((await readdir(dir)).filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase())));
  if (names.length === 0) throw new Error(`${dir}: no PNG or JPEG frames in this folder (zero-length episode)`);
  const files = names.map((n) => join(dir, n));
  // A frame name that is a named pipe or device would block the decoder's thread for good;
  // one that cannot be read (a dangling link) is named here, not left to a bare ENOENT.
  for (const f of files) {
    let st;
    try {
      st = await stat(f);
    } catch (err) {
      throw new Error(`${f}: ${unreadableReason(f, err)}`);
    }
    if (!st.isFile()) throw new Error(`${f}: ${fileKind(st)}, not a regular image file`);
  }
  return {
    path: dir,
    kind: 'images',
    length: files.length,
    async *chunks(opts) {
      const { chunkFrames, size, signal } = chunkOpts(opts);
      let first: { width: number; height: number; file: string } | undefined;
      for (let start = 0; start < files.length; start += chunkFrames) {
        signal?.throwIfAborted();
        const batch = files.slice(start, start + chunkFrames);
        const decoded = await Promise.all(batch.map(decodeImage));
        first ??= { width: decoded[0].width, height: decoded[0].height, file: batch[0] };
        for (let i = 0; i < decoded.length; i++) {
          const d = decoded[i];
          if (d.width !== first.width || d.height !== first.height) {
            throw new Error(`${batch[i]}: frame of ${d.width}×${d.height} pixels differs from the episode's first frame ` +
              `${basename(first.file)} (${first.width}×${first.height}); all frames of an episode must have one size`);
          }
        }
        const W = size ?? first.width;
        const H = size ?? first.height;
        const frames = size === undefined ? decoded.map((d) => d.data)
          : await Promise.all(decoded.map((d) => resizeCropFrame(d.data, d.width, d.height, size)));
        const out = new Uint8Array(frames.length * W * H * 3);
        frames.forEach((f, i) => out.set(f, i * W * H * 3));
        yield { data: out, count: frames.length, height: H, width: W, start };
      }
    },
  };
}

// ---------------------------------------------------------------- npy

/** Checks a `.npy` header (read by the io module) for `[T,H,W,3]` uint8 frames. */
function readNpyFramesHeader(file: string): { shape: [number, number, number, number]; dataOffset: number } {
  const h = readNpyHeader(file);
  if (h.dtype !== 'uint8') {
    const hint = h.dtype === 'float32' || h.dtype === 'float16' ? ' (a float array holds features: label it without --encoder)' : '';
    throw new Error(`${file}: frames must be uint8 ('|u1') but the array has dtype '${h.descr}'${hint}`);
  }
  const shape = h.shape;
  if (shape.length !== 4 || shape[3] !== 3) throw new Error(`${file}: frames must have shape [T, H, W, 3] but the array has shape ${shapeStr(shape)}`);
  if (shape[0] === 0) throw new Error(`${file}: the episode has zero frames (shape ${shapeStr(shape)})`);
  if (shape[1] === 0 || shape[2] === 0) throw new Error(`${file}: frames of zero size (shape ${shapeStr(shape)})`);
  return { shape: shape as [number, number, number, number], dataOffset: h.dataOffset };
}

async function npyEpisode(file: string): Promise<FrameSource> {
  const { shape, dataOffset } = readNpyFramesHeader(file);
  const [T, H, W] = shape;
  return {
    path: file,
    kind: 'npy',
    length: T,
    async *chunks(opts) {
      chunkOpts(opts); // bad options fail before the file is opened
      const fb = H * W * 3;
      const fh = await open(file, 'r');
      try {
        yield* rawChunks(T, H, W, opts, async (start, count) => {
          const buf = new Uint8Array(count * fb);
          const { bytesRead } = await fh.read(buf, 0, buf.length, dataOffset + start * fb);
          if (bytesRead < buf.length) throw new Error(`${file}: file shrank while reading frame ${start}`);
          return buf;
        });
      } finally {
        await fh.close();
      }
    },
  };
}

// ---------------------------------------------------------------- video

/** Full path of `tool` on PATH (honouring `env.PATH`), or undefined. */
export function findOnPath(tool: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

function requireTool(tool: string, file: string): string {
  const p = findOnPath(tool);
  if (!p) {
    throw new Error(`${file}: reading videos needs '${tool}' on PATH, but ${tool} was not found ` +
      `(install ffmpeg, e.g. 'apt-get install ffmpeg', or convert the video to a folder of PNG frames)`);
  }
  return p;
}

function probeVideo(ffprobe: string, file: string): { width: number; height: number; frames: number | undefined } {
  const r = spawnSync(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const m = /^(\d+),(\d+)(?:,(\d+))?/.exec((r.stdout ?? '').trim());
  if (r.status !== 0 || !m) {
    const why = (r.stderr ?? '').trim().split('\n').pop() || 'no video stream: the file has zero frames or is not a video';
    throw new Error(`${file}: cannot read video (${why})`);
  }
  // nb_frames is what the container lists (absent, 'N/A', for WebM/MKV).
  return { width: Number(m[1]), height: Number(m[2]), frames: m[3] === undefined ? undefined : Number(m[3]) };
}

/** ffmpeg's stderr reduced to distinct lines without the `[demuxer @ 0x…]` prefixes (first few). */
function ffmpegMessages(stderr: string, max = 3): string {
  const lines = [...new Set(stderr.split('\n').map((l) => l.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '').trim()).filter(Boolean))];
  return lines.slice(0, max).join('; ') + (lines.length > max ? `; … (${lines.length - max} more)` : '');
}

async function videoEpisode(file: string): Promise<FrameSource> {
  const ffmpeg = requireTool('ffmpeg', file);
  const ffprobe = requireTool('ffprobe', file);
  const dims = probeVideo(ffprobe, file);
  return {
    path: file,
    kind: 'video',
    length: undefined,
    async *chunks(opts) {
      const { chunkFrames, size, allowPartial, onWarning, signal } = chunkOpts(opts);
      signal?.throwIfAborted();
      const W = size ?? dims.width;
      const H = size ?? dims.height;
      const vf = size === undefined ? [] : ['-vf', `scale=${size}:${size}:force_original_aspect_ratio=increase:flags=lanczos,crop=${size}:${size}`];
      // Every decoded frame once (no duplication or dropping to a constant rate), so the
      // count can be compared with the container's; `-v error` keeps stderr empty for a
      // clean decode, so anything there is a decoding problem.
      const proc = spawn(ffmpeg, ['-nostdin', '-v', 'error', '-i', file, ...vf, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (d: string) => { if (stderr.length < 4000) stderr += d; });
      const exited = new Promise<number | null>((resolve, reject) => {
        proc.on('error', reject);
        proc.on('close', (code) => resolve(code));
      });
      const fb = W * H * 3;
      let buf = new Uint8Array(chunkFrames * fb);
      let fill = 0;
      let start = 0;
      let finished = false;
      try {
        for await (const piece of proc.stdout as AsyncIterable<Buffer>) {
          let off = 0;
          while (off < piece.length) {
            const n = Math.min(piece.length - off, buf.length - fill);
            buf.set(piece.subarray(off, off + n), fill);
            fill += n;
            off += n;
            if (fill === buf.length) {
              signal?.throwIfAborted(); // the finally below kills ffmpeg
              yield { data: buf, count: chunkFrames, height: H, width: W, start };
              start += chunkFrames;
              buf = new Uint8Array(chunkFrames * fb);
              fill = 0;
            }
          }
        }
        const code = await exited;
        const count = Math.floor(fill / fb);
        const decoded = start + count;
        if (code !== 0 && decoded === 0) throw new Error(`${file}: ffmpeg failed with exit code ${code}: ${stderr.trim() || 'no message'}`);
        if (decoded === 0) throw new Error(`${file}: the video has zero decodable frames (zero-length episode)`);
        // A partial decode: ffmpeg complained (a truncated file still exits 0), or fewer
        // frames came out than the container lists. Decided before the last chunk is
        // handed out, so a refused episode never completes.
        const short = dims.frames !== undefined && decoded < dims.frames;
        if (code !== 0 || stderr.trim() !== '' || short) {
          const what = `${file}: partial decode, the video is truncated or corrupt: decoded ${decoded}`
            + `${dims.frames !== undefined ? ` of ${dims.frames}` : ''} frames`
            + `${code !== 0 ? `, ffmpeg exit code ${code}` : ''}${stderr.trim() ? ` (ffmpeg: ${ffmpegMessages(stderr)})` : ''}`;
          if (!allowPartial) throw new Error(`${what}; pass allowPartial (CLI: --allow-partial) to use the frames that decode`);
          onWarning(`${what}; using the ${decoded} frames that decoded (allowPartial)`);
        }
        signal?.throwIfAborted();
        if (count > 0) yield { data: buf.subarray(0, count * fb), count, height: H, width: W, start };
        finished = true;
      } finally {
        if (!finished && proc.exitCode === null) proc.kill('SIGKILL');
      }
    },
  };
}

// ---------------------------------------------------------------- dispatch

/**
 * Opens one episode for streaming: a folder of PNG/JPEG frames (natural
 * order), a `.npy` `[T,H,W,3]` uint8 array, or a video (MP4/WebM/MKV/MOV/AVI,
 * needs `ffmpeg` and `ffprobe` on PATH). Headers and sizes are checked here;
 * frames are decoded only while iterating {@link FrameSource.chunks}.
 *
 * @throws {Error} naming the path and the problem (missing, empty folder, bad
 *   `.npy` header, zero frames, missing ffmpeg, unsupported extension)
 * @example
 * const src = await openEpisode('episodes/pick_cube_03');   // frame_0.png … frame_299.png
 * for await (const c of src.chunks({ chunkFrames: 64, size: 256 })) console.log(c.start, c.count);
 */
export async function openEpisode(path: string): Promise<FrameSource> {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path', 'a file or folder path', path);
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new Error(`${path}: ${unreadableReason(path, err)}`);
  }
  if (st.isDirectory()) return imageFolder(path);
  if (!st.isFile()) throw new Error(`${path}: ${fileKind(st)}, not a regular file or a folder of frames`);
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') return npyEpisode(path);
  if (VIDEO_EXTENSIONS.includes(ext)) return videoEpisode(path);
  if (IMAGE_EXTENSIONS.includes(ext)) {
    return framesFromDecoded(path, await decodeImage(path));
  }
  throw new Error(`${path}: unsupported episode type '${ext || '(no extension)'}'; expected a folder of PNG/JPEG frames, a .npy [T,H,W,3] uint8 array or a video (${VIDEO_EXTENSIONS.join(', ')})`);
}

function framesFromDecoded(path: string, d: { data: Uint8Array; width: number; height: number }): FrameSource {
  const src = framesFromArray({ data: d.data, shape: [1, d.height, d.width, 3] }, path);
  return { ...src, path, kind: 'images' };
}
