// Frames of a LeRobot video at given timestamps, as lerobot itself picks
// them: for each query time, the decoded frame whose presentation timestamp
// is nearest, which must lie within the tolerance (lerobot's 1e-4 s).
//
// ffmpeg seeks half a frame before the first query (input seeking: it decodes
// from the preceding keyframe and drops what comes before), decodes forward
// and is stopped once the last query is matched, so a shared v3.0 video is
// never decoded, or held, whole. The `showinfo` filter reports each output
// frame's own timestamp, so every frame handed out is matched by its
// timestamp, never by counting: a frame is never off by one.
//
// Frames cross the pipe as decoded where that is 8-bit YUV 4:2:0 (half the
// bytes of RGB) and are converted here, or by the built-in encoder as it
// encodes (docs/datasets.md, "Frames, by timestamp"); other formats are left
// to ffmpeg's conversion to rgb24.
//
// In-process decoding: where the core addon can load FFmpeg's own libraries
// (libavformat/libavcodec/libavutil, dlopen'ed: videoDecoderStatus), the same
// demuxer and decoder run inside the process (native/media/libav_decoder.h):
// the same seek and trim as `ffmpeg -ss`, each frame's time from the same
// best-effort timestamp, and 8-bit 4:2:0 frames written straight into host
// memory, so no process is started and nothing crosses a pipe. Frames that
// need ffmpeg's conversion (other formats, resizing with `size`) keep the CLI.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { hostArray } from '../core/host.js';
import { cancellable } from '../core/cancel.js';
import { native } from '../core/native.js';
import type { NativeVideoDecoder } from '../core/native-types.js';
import type { FrameChunk } from './episodes.js';
import { findOnPath } from './episodes.js';

/** What ffprobe says about a video's first video stream. */
export interface VideoStreamInfo {
  file: string;
  codec: string;
  width: number;
  height: number;
  /** Nominal frame rate (r_frame_rate), frames per second. */
  fps: number;
  /** Frames the container lists, when it does. */
  frames: number | undefined;
  /** Stream duration in seconds, when known. */
  duration: number | undefined;
}

function tool(name: string, file: string): string {
  const p = findOnPath(name);
  if (!p) throw new Error(`${file}: reading LeRobot videos needs '${name}' on PATH, but it was not found (install ffmpeg, e.g. 'apt-get install ffmpeg')`);
  return p;
}

function rate(s: string | undefined): number {
  const m = /^(\d+)\/(\d+)$/.exec(s ?? '');
  if (!m || Number(m[2]) === 0) return NaN;
  return Number(m[1]) / Number(m[2]);
}

/**
 * Probes a video's first video stream with ffprobe.
 * @throws {Error} naming the file when it is missing, has no video stream, or ffprobe fails
 */
export function probeVideoStream(file: string): VideoStreamInfo {
  const ffprobe = tool('ffprobe', file);
  const r = spawnSync(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_frames,duration', '-of', 'json', file], { encoding: 'utf8' });
  let s: Record<string, string | number> | undefined;
  try {
    s = (JSON.parse(r.stdout || '{}') as { streams?: Array<Record<string, string | number>> }).streams?.[0];
  } catch { /* handled below */ }
  if (r.status !== 0 || !s) {
    const why = (r.stderr ?? '').trim().split('\n').pop() || 'no video stream';
    throw new Error(`${file}: cannot read video (${why})`);
  }
  const frames = Number(s.nb_frames);
  const duration = Number(s.duration);
  return {
    file, codec: String(s.codec_name ?? '?'), width: Number(s.width), height: Number(s.height), fps: rate(String(s.r_frame_rate)),
    frames: Number.isFinite(frames) && frames > 0 ? frames : undefined, duration: Number.isFinite(duration) ? duration : undefined,
  };
}

/** Options of {@link decodeAtTimestamps}. */
export interface DecodeAtOptions {
  /** The frame rate the video must have (info.json's fps); a video whose own rate differs by more than 0.1 % is an error. */
  fps: number;
  /** Most frames per chunk. */
  chunkFrames: number;
  /** Short-side resize + centre crop to size × size (by ffmpeg, Lanczos), or native size. */
  size?: number;
  /** Largest allowed |frame time − query time| in seconds (lerobot: 1e-4). */
  tolerance: number;
  /** Names the episode in errors, e.g. 'episode 3 (observation.images.top)'. */
  label: string;
  /** Hand out YUV 4:2:0 chunks as decoded where the video has them ({@link FrameChunk.yuv420p}); default: RGB. */
  yuv420p?: boolean;
  /** Index given to the first query in the chunks' `start` (default 0). */
  firstIndex?: number;
  /** Receives decoder complaints that did not cost a frame. */
  onWarning?: (message: string) => void;
  /** Which decoder runs (see {@link VideoDecoderChoice}); default: FEAT2GO_VIDEO_DECODER, else 'auto'. */
  decoder?: VideoDecoderChoice;
  /** Stops decoding at the next frame — the in-process decoder's open, seek or read, or the ffmpeg CLI (killed) — and the generator rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Which decoder reads LeRobot videos: 'libav' decodes inside the process with FFmpeg's own
 * libraries (an error when {@link videoDecoderStatus} says they are unavailable), 'ffmpeg' runs
 * the ffmpeg CLI, 'auto' (the default) the first where available, else the second. Either way,
 * frames that only ffmpeg's conversion handles (formats other than 8-bit YUV 4:2:0, resizing)
 * go through the CLI.
 */
export type VideoDecoderChoice = 'auto' | 'libav' | 'ffmpeg';

/** Whether in-process video decoding is available (see {@link videoDecoderStatus}). */
export interface VideoDecoderStatus {
  available: boolean;
  /** Why not ('' when available). */
  reason: string;
  /** The FFmpeg libraries (sonames) the addon loads, or looked for. */
  libraries: string;
  /** Their versions as loaded ('' when not loaded). */
  versions: string;
}

let libavStatus: VideoDecoderStatus | undefined;

/**
 * Whether LeRobot videos can be decoded inside the process: the core addon loads FFmpeg's
 * libraries (libavformat, libavcodec, libavutil) at run time by the sonames of the headers it
 * was built against, and reports why not when they are missing, of other major versions, or
 * the addon was built without their headers. Where unavailable, videos are decoded by the
 * ffmpeg CLI. Checked once per process.
 *
 * @example
 * const s = videoDecoderStatus();
 * console.log(s.available ? `in process (${s.versions})` : `ffmpeg CLI: ${s.reason}`);
 */
export function videoDecoderStatus(): VideoDecoderStatus {
  if (!libavStatus) {
    const n = native() as Partial<ReturnType<typeof native>>;
    libavStatus = typeof n.systemLibavStatus === 'function'
      ? { ...n.systemLibavStatus(undefined, {}) }
      : { available: false, reason: 'the loaded addon has no in-process decoder (an older build)', libraries: '', versions: '' };
  }
  return { ...libavStatus };
}

/** Every {@link VideoDecoderChoice}, the default first. */
export const VIDEO_DECODERS: readonly VideoDecoderChoice[] = Object.freeze(['auto', 'libav', 'ffmpeg']);

/**
 * The decoder asked for: `value`, else the FEAT2GO_VIDEO_DECODER environment variable, else 'auto'.
 * @throws {RangeError} naming `name` for any other value
 */
export function resolveVideoDecoder(value: unknown, name = 'opts.decoder'): VideoDecoderChoice {
  if (value === undefined) {
    const env = process.env.FEAT2GO_VIDEO_DECODER;
    if (env === undefined || env === '') return 'auto';
    if (!VIDEO_DECODERS.includes(env as VideoDecoderChoice)) throw new RangeError(`Expected FEAT2GO_VIDEO_DECODER 'auto', 'libav' or 'ffmpeg' but received '${env}'`);
    return env as VideoDecoderChoice;
  }
  if (!VIDEO_DECODERS.includes(value as VideoDecoderChoice)) throw new RangeError(`Expected ${name} 'auto', 'libav' or 'ffmpeg' but received ${typeof value === 'string' ? `'${value}'` : String(value)}`);
  return value as VideoDecoderChoice;
}

const SHOWINFO = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] n:\s*\d+ pts:\s*(-?\d+) .*?fmt:(\S+) .* s:(\d+)x(\d+)/;
const COLOUR = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] color_range:(\S+) color_space:(\S+)/;
const TIMEBASE = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] config in time_base: (\d+)\/(\d+), frame_rate: (\d+)\/(\d+)/;
const PROBLEM = /\[(error|fatal|panic)\]\s*(.*)$/;

/**
 * How a frame's raw bytes from ffmpeg become RGB: 'rgb24' as they are (ffmpeg converted them), or
 * 'yuv420p' converted here (encoderYuvToRgb), as ffmpeg's swscale does by default: BT.709 when
 * the frames say so, else BT.601; full range for 'pc' frames and yuvj420p, else limited.
 */
type RawFormat = { kind: 'rgb24' } | { kind: 'yuv420p'; matrix: 601 | 709; fullRange: boolean };

/**
 * The raw format of frames ffmpeg reports as `fmt` with these colour properties and height, or
 * undefined when only ffmpeg should convert them (an odd height takes swscale's general path,
 * which interpolates chroma).
 */
function rawFormatOf(fmt: string, range: string | undefined, space: string | undefined, height: number): RawFormat | undefined {
  if (fmt === 'rgb24') return { kind: 'rgb24' };
  if ((fmt !== 'yuv420p' && fmt !== 'yuvj420p') || height % 2 !== 0) return undefined;
  const sp = space ?? 'unknown';
  const matrix = sp === 'bt709' ? 709 : sp === 'unknown' || sp === 'bt470bg' || sp === 'smpte170m' ? 601 : undefined;
  if (matrix === undefined) return undefined;
  const fullRange = fmt === 'yuvj420p' || range === 'pc';
  if (!fullRange && range !== undefined && range !== 'tv' && range !== 'unknown') return undefined;
  return { kind: 'yuv420p', matrix, fullRange };
}

/** Where ffmpeg's frame bytes are read from. */
interface ByteSource {
  /** Reads up to `length` bytes into `buf` at `offset`; resolves to the count, 0 at the end of the output. */
  read(buf: Uint8Array, offset: number, length: number): Promise<number>;
  /** Releases it (after the last read settled). */
  close(): void;
}

/** An OS pipe's read end, read with fs.read straight into the caller's buffer (a libuv worker blocks in read(2)). */
function fdSource(fd: number): ByteSource {
  let closed = false;
  return {
    read: (buf, offset, length) => new Promise((resolve, reject) => {
      fs.read(fd, buf, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)));
    }),
    close() {
      if (!closed) { closed = true; fs.close(fd, () => undefined); }
    },
  };
}

/** A child's stdout stream (where no OS pipe can be made), read in paused mode. */
function streamSource(stream: Readable): ByteSource {
  let rest: Buffer | undefined;
  let ended = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  stream.on('readable', () => wake?.());
  stream.on('end', () => { ended = true; wake?.(); });
  stream.on('error', (err) => { error = err; ended = true; wake?.(); });
  return {
    async read(buf, offset, length) {
      for (;;) {
        const b = rest ?? (stream.read() as Buffer | null);
        rest = undefined;
        if (b) {
          const n = Math.min(length, b.length);
          buf.set(n === b.length ? b : b.subarray(0, n), offset);
          if (n < b.length) rest = b.subarray(n);
          return n;
        }
        if (error) throw error;
        if (ended) return 0;
        await new Promise<void>((r) => { wake = r; });
      }
    },
    close() { stream.destroy(); },
  };
}

/**
 * One running ffmpeg that decodes a video from a seek point to raw frames (RGB, or YUV 4:2:0
 * converted here), each with its own timestamp (from showinfo). A pump reads ffmpeg's output
 * ahead into a ring of READ_AHEAD_FRAMES frames, so decoding overlaps encoding, and stops while the
 * ring is full, so ffmpeg waits (pipe backpressure) while nobody reads; a reader can be parked
 * between two episodes of a shared video and go on from where it stopped.
 */
class FrameReader {
  readonly proc: ChildProcessByStdio<null, Readable | null, Readable>;
  private readonly pts: number[] = [];
  /** The first frame's pixel format and colour range and space (showinfo). */
  private fmt: string | undefined;
  private colour: [string, string] | undefined;
  private tb: [number, number] | undefined;
  rate: number | undefined;
  private dims: [number, number] | undefined;
  readonly problems: string[] = [];
  private stderrDone = false;
  private wake: (() => void) | undefined;
  private readonly src: ByteSource;
  private ring = new Uint8Array(0);
  /** Bytes read into the ring, and taken out of it, since the start. */
  private tail = 0;
  private head = 0;
  private ended = false;
  private closed = false;
  private reading = false;
  private readError: Error | undefined;
  private wakeData: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  /** How raw frames become RGB (known from the first frame unless asked for). */
  format: RawFormat | undefined;
  /** Frames handed out so far. */
  k = 0;
  /** Time of the last frame handed out (NaN before the first). */
  lastTime = NaN;
  width = 0;
  height = 0;
  /** Raw bytes per frame. */
  frameBytes = 0;
  exited: Promise<number | null>;

  /**
   * @param pixFmt 'rgb24': ffmpeg converts every frame; undefined: ffmpeg hands out the decoder's
   *   own format (see {@link rawFormatOf}; with `size`, always rgb24).
   */
  constructor(readonly file: string, readonly ss: number, readonly size: number | undefined, pixFmt?: 'rgb24') {
    const ffmpeg = tool('ffmpeg', file);
    const asked = size !== undefined ? 'rgb24' : pixFmt;
    if (asked) this.format = { kind: 'rgb24' };
    const vf = ['showinfo=checksum=0', ...(size === undefined ? [] : [`scale=${size}:${size}:force_original_aspect_ratio=increase:flags=lanczos`, `crop=${size}:${size}`])].join(',');
    const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info', ...(ss > 0 ? ['-ss', ss.toFixed(6)] : []), '-copyts', '-noautorotate',
      '-i', file, '-map', '0:v:0', '-vf', vf, '-fps_mode', 'passthrough', '-f', 'rawvideo', ...(asked ? ['-pix_fmt', asked] : []), 'pipe:1'];
    const pipe = native().systemPipe(undefined, { size: PIPE_BYTES });
    try {
      this.proc = spawn(ffmpeg, args, { stdio: ['ignore', pipe ? pipe.writeFd : 'pipe', 'pipe'] }) as ChildProcessByStdio<null, Readable | null, Readable>;
    } finally {
      if (pipe) fs.closeSync(pipe.writeFd);
    }
    this.src = pipe ? fdSource(pipe.readFd) : streamSource(this.proc.stdout!);
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => { this.problems.push(err.message); resolve(null); });
      this.proc.on('close', (code) => resolve(code));
    });
    let partial = '';
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d: string) => {
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = SHOWINFO.exec(line);
        if (m) { this.pts.push(Number(m[1])); this.fmt ??= m[2]; this.dims ??= [Number(m[3]), Number(m[4])]; continue; }
        const c = COLOUR.exec(line);
        if (c) { this.colour ??= [c[1], c[2]]; continue; }
        const t = TIMEBASE.exec(line);
        if (t) { this.tb = [Number(t[1]), Number(t[2])]; this.rate = Number(t[4]) > 0 ? Number(t[3]) / Number(t[4]) : undefined; continue; }
        const p = PROBLEM.exec(line);
        if (p && this.problems.length < 5) this.problems.push(p[2].replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '').trim());
      }
      this.wake?.();
    });
    this.proc.stderr.on('end', () => { this.stderrDone = true; this.wake?.(); });
  }

  /** Reads ffmpeg's output into the ring while it has room (runs until the end, an error or close). */
  private async pump(): Promise<void> {
    const C = this.ring.length;
    try {
      while (!this.closed) {
        const free = C - (this.tail - this.head);
        if (free === 0) {
          await new Promise<void>((r) => { this.wakePump = r; });
          continue;
        }
        const at = this.tail % C;
        this.reading = true;
        const n = await this.src.read(this.ring, at, Math.min(free, C - at));
        this.reading = false;
        if (n === 0) break;
        this.tail += n;
        this.wakeData?.();
      }
    } catch (err) {
      this.readError = err as Error;
    } finally {
      this.reading = false;
      this.ended = true;
      this.src.close();
      this.wakeData?.();
    }
  }

  /** Waits until `bytes` are read ahead or the output ended. */
  private async fill(bytes: number): Promise<void> {
    while (this.tail - this.head < bytes && !this.ended) await new Promise<void>((r) => { this.wakeData = r; });
    if (this.readError) throw this.readError;
  }

  /** Moves `n` bytes (n ≤ what is read ahead) off the front of the ring into `dest` (or drops them). */
  private take(n: number, dest: Uint8Array | undefined): void {
    const C = this.ring.length;
    const at = this.head % C;
    const first = Math.min(n, C - at);
    if (dest) {
      dest.set(this.ring.subarray(at, at + first));
      if (first < n) dest.set(this.ring.subarray(0, n - first), first);
    }
    this.head += n;
    this.wakePump?.();
  }

  /** Seconds of decoded frame k (waits for showinfo's line). */
  private async timeOf(k: number, label: string): Promise<number> {
    while (this.pts.length <= k && !this.stderrDone) await new Promise<void>((r) => { this.wake = r; });
    if (this.pts.length <= k || !this.tb || !this.dims) throw new Error(`${this.file}: ${label}: ffmpeg did not report the timestamp of decoded frame ${k}${this.problems.length ? ` (ffmpeg: ${this.problems.join('; ')})` : ''}`);
    return (this.pts[k] * this.tb[0]) / this.tb[1];
  }

  /**
   * Waits for the first frame's description: its size and, where ffmpeg hands out the decoder's
   * own format, how it becomes RGB. Resolves to false when that format needs ffmpeg's conversion
   * (the caller starts a reader asking for rgb24), true otherwise (also at an empty output:
   * `next` then reports the end).
   */
  async start(label: string): Promise<boolean> {
    if (this.width !== 0) return true;
    while (this.pts.length === 0 && !this.stderrDone) await new Promise<void>((r) => { this.wake = r; });
    if (this.pts.length === 0) {
      this.ended = true;
      return true;
    }
    await this.timeOf(0, label);
    if (!this.format) {
      // The colour line follows the frame's line.
      while (!this.colour && !this.stderrDone) await new Promise<void>((r) => { this.wake = r; });
      this.format = rawFormatOf(this.fmt!, this.colour?.[0], this.colour?.[1], this.dims![1]);
      if (!this.format) return false;
    }
    this.width = this.size ?? this.dims![0];
    this.height = this.size ?? this.dims![1];
    const rgb = this.width * this.height * 3;
    this.frameBytes = this.format.kind === 'rgb24' ? rgb : yuv420pBytes(this.width, this.height);
    this.ring = new Uint8Array(Math.max(this.frameBytes, Math.min(READ_AHEAD_FRAMES * this.frameBytes, READ_AHEAD_BYTES)));
    void this.pump();
    return true;
  }

  /**
   * Reads the next decoded frame: its time is known first (from showinfo), then `place(time)`
   * says where its raw bytes ({@link frameBytes}) go, or returns undefined to drop them.
   * Resolves to the time, or undefined at the end of the video.
   */
  async next(label: string, place: (time: number) => Uint8Array | undefined): Promise<number | undefined> {
    if (this.width === 0) {
      await this.start(label);
      if (this.width === 0) return undefined;
    }
    const fb = this.frameBytes;
    await this.fill(fb);
    if (this.tail - this.head < fb) return undefined;
    const time = await this.timeOf(this.k++, label);
    this.take(fb, place(time));
    this.lastTime = time;
    return time;
  }

  /** Converts `n` raw frames to RGB `[n, height, width, 3]`. */
  toRgb(raw: Uint8Array, n: number, out: Uint8Array): void {
    const f = this.format!;
    if (f.kind === 'rgb24') out.set(raw.subarray(0, n * this.frameBytes));
    else native().encoderYuvToRgb({ yuv: raw.subarray(0, n * this.frameBytes) }, { n, W: this.width, H: this.height, matrix: f.matrix, fullRange: f.fullRange, threads: 0 }, { rgb: out });
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    this.closed = true;
    this.wakePump?.();
    // A read in flight ends (ffmpeg's end of the pipe closes with it) and the pump closes the source.
    if (!this.reading && this.ring.length === 0) this.src.close();
  }
}

/** Frames read ahead of the consumer (at most READ_AHEAD_BYTES), so that decoding overlaps encoding. */
const READ_AHEAD_FRAMES = 16;
const READ_AHEAD_BYTES = 16 << 20;
/** Capacity asked for ffmpeg's output pipe (Linux allows up to /proc/sys/fs/pipe-max-size, 1 MiB by default). */
const PIPE_BYTES = 1 << 20;

/** Videos whose frames only ffmpeg converts to RGB (the last 256 seen). */
const needsRgb = new Set<string>();

/** Remembers that `file` needs ffmpeg's RGB conversion (the 256 most recent files). */
function rememberNeedsRgb(file: string): void {
  needsRgb.add(file);
  while (needsRgb.size > 256) needsRgb.delete(needsRgb.values().next().value!);
}

/** Bytes of one packed yuv420p frame: W·H luma, then ⌈W/2⌉·⌈H/2⌉ Cb and as many Cr (as the decoder writes them). */
function yuv420pBytes(W: number, H: number): number {
  return W * H + 2 * Math.ceil(W / 2) * Math.ceil(H / 2);
}

/** At most one parked reader: a decode that ended mid-video, ready for the next episode of the same file. */
let parked: { reader: FrameReader; timer: NodeJS.Timeout } | undefined;
/** Largest forward gap (seconds) decoded through rather than seeking anew. */
const REUSE_GAP_S = 2;

function park(reader: FrameReader): void {
  unpark()?.kill();
  const timer = setTimeout(() => unpark()?.kill(), 3000);
  timer.unref();
  reader.proc.unref();
  (reader.proc.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (reader.proc.stderr as unknown as { unref?: () => void }).unref?.();
  parked = { reader, timer };
}

function unpark(): FrameReader | undefined {
  if (!parked) return undefined;
  clearTimeout(parked.timer);
  const r = parked.reader;
  parked = undefined;
  r.proc.ref();
  (r.proc.stdout as unknown as { ref?: () => void } | null)?.ref?.();
  (r.proc.stderr as unknown as { ref?: () => void }).ref?.();
  return r;
}


/** An in-process decoder of one file, positioned after the last frame it handed out. */
interface LibavReader {
  file: string;
  dec: NativeVideoDecoder;
  /** The video's frame rate (av_guess_frame_rate), NaN when unknown. */
  rate: number;
  /** Time of the last frame read (NaN before the first). */
  lastTime: number;
  /** The frames' format once known (after the first seek). */
  format: { kind: 'yuv420p'; matrix: 601 | 709; fullRange: boolean } | undefined;
  width: number;
  height: number;
  /** Problems reported so far (warned about once each). */
  warned: number;
}

/** At most one parked in-process decoder (the next episode of the same file goes on or seeks in it). */
let parkedLibav: { reader: LibavReader; timer: NodeJS.Timeout } | undefined;

function parkLibav(r: LibavReader): void {
  unparkLibav()?.dec.close();
  const timer = setTimeout(() => unparkLibav()?.dec.close(), 3000);
  timer.unref();
  parkedLibav = { reader: r, timer };
}

function unparkLibav(): LibavReader | undefined {
  if (!parkedLibav) return undefined;
  clearTimeout(parkedLibav.timer);
  const r = parkedLibav.reader;
  parkedLibav = undefined;
  return r;
}

/**
 * {@link decodeAtTimestamps} with the in-process decoder. Resolves to false, having handed out
 * nothing, when the video's frames need ffmpeg's conversion (the caller then runs the CLI, and
 * does so for this file from now on); true when every query was answered.
 */
async function* decodeLibav(file: string, times: ArrayLike<number>, opts: DecodeAtOptions): AsyncGenerator<FrameChunk, boolean> {
  const Q = times.length;
  const { chunkFrames, tolerance, label, fps } = opts;
  const first = opts.firstIndex ?? 0;
  let r = unparkLibav();
  if (r && r.file !== file) { r.dec.close(); r = undefined; }
  /** Closed at the end (an error, frames only ffmpeg converts) rather than parked. */
  let drop = false;
  let fresh = false;
  try {
    if (!r) {
      const { VideoDecoderNative } = native();
      const dec = new VideoDecoderNative({}, { file });
      r = { file, dec, rate: NaN, lastTime: NaN, format: undefined, width: 0, height: 0, warned: 0 };
      try {
        const info = await cancellable(opts.signal, (cancel) => dec.open({}, { cancel }));
        r.rate = info.fpsNum > 0 && info.fpsDen > 0 ? info.fpsNum / info.fpsDen : NaN;
      } catch (err) {
        if (opts.signal?.aborted && err === opts.signal.reason) throw err;
        throw new Error(`${file}: ${label}: ${(err as Error).message.replace(`${file}: `, '')}`);
      }
      fresh = true;
    }
    // Go on from where the last episode stopped when that is a little before the first query
    // (decoding through the gap), else seek as `ffmpeg -ss` would: half a frame early.
    const goOn = !fresh && r.lastTime < times[0] - tolerance && times[0] - r.lastTime <= REUSE_GAP_S;
    if (!goOn) {
      const dec = r.dec;
      const f = await cancellable(opts.signal, (cancel) => dec.seek({}, { time: times[0] - 0.5 / fps, cancel }));
      r.lastTime = NaN;
      if (f) {
        const raw = rawFormatOf(f.pixFmt, f.colorRange, f.colorSpace, f.height);
        if (!raw || raw.kind !== 'yuv420p') {
          rememberNeedsRgb(file);
          drop = true;
          return false;
        }
        if (r.format && (f.width !== r.width || f.height !== r.height)) throw new Error(`${file}: ${label}: the video changes frame size (${r.width}×${r.height} to ${f.width}×${f.height})`);
        r.format ??= raw;
        r.width = f.width;
        r.height = f.height;
      }
      if (fresh && f && Number.isFinite(r.rate) && !(Math.abs(r.rate - fps) <= 1e-3 * fps)) {
        throw new Error(`${file}: ${label}: the video runs at ${Number(r.rate.toFixed(4))} fps but meta/info.json says fps ${fps}`);
      }
    }
    const rd = r;
    const W = rd.width;
    const H = rd.height;
    const fb = yuv420pBytes(W, H);
    const asYuv = opts.yuv420p === true;
    let raw = new Uint8Array(0);
    let cap = 0;
    let outCount = 0;
    let outStart = first;
    let q = 0;
    let lastTime = rd.lastTime;
    let problems: string[] = [];
    const newChunk = (frames: number): void => {
      cap = frames;
      // Host memory: the decoder writes in place, and the encoders' async calls read it in place.
      if (raw.length < frames * fb) raw = hostArray(Uint8Array, Math.min(chunkFrames, Q) * fb, { zero: false });
    };
    /** The chunk so far: the YUV frames themselves (reused for the next chunk), or a fresh RGB array. */
    const chunk = (): FrameChunk => {
      const f = rd.format!;
      if (asYuv) return { data: raw.subarray(0, outCount * fb), count: outCount, width: W, height: H, start: outStart, yuv420p: { matrix: f.matrix, fullRange: f.fullRange } };
      const out = hostArray(Uint8Array, outCount * W * H * 3, { zero: false });
      native().encoderYuvToRgb({ yuv: raw.subarray(0, outCount * fb) }, { n: outCount, W, H, matrix: f.matrix, fullRange: f.fullRange, threads: 0 }, { rgb: out });
      return { data: out, count: outCount, width: W, height: H, start: outStart };
    };
    if (rd.format) newChunk(Math.min(chunkFrames, Q));
    while (q < Q && rd.format) {
      // The decoder writes the next frames into the free slots of the chunk: where each frame
      // answers the next query in turn (the usual case) it is already in place.
      const base = outCount;
      const want = Math.min(cap - outCount, Q - q);
      const data = raw.subarray(base * fb, (base + want) * fb);
      const got = await cancellable(opts.signal, (cancel) => rd.dec.read({}, { frames: want, frameBytes: fb, cancel }, { data }));
      problems = got.problems;
      if (got.count === 0) break;
      // Where the decoder now is (a consumer may stop at any chunk and the decoder be parked).
      rd.lastTime = got.times[got.count - 1];
      // Frames not placed yet lie in their slots (from `base`), or in `spill` once moved away.
      let spill: Uint8Array | undefined;
      let spillFrom = 0;
      const frameAt = (i: number): Uint8Array => (spill
        ? spill.subarray((i - spillFrom) * fb, (i - spillFrom + 1) * fb)
        : raw.subarray((base + i) * fb, (base + i + 1) * fb));
      for (let i = 0; i < got.count; i++) {
        const t = got.times[i];
        if (q < Q && times[q] < t - tolerance) {
          throw new Error(`${file}: ${label}: no video frame within ${tolerance} s of t = ${times[q]} s (frame ${first + q} of the query); ` +
            `the nearest decoded frames are at ${Number.isNaN(lastTime) ? '(none before)' : `${lastTime} s`} and ${t} s (timestamps disagree with the video, or frames are missing)`);
        }
        lastTime = t;
        let frame: Uint8Array | undefined;
        while (q < Q && Math.abs(times[q] - t) <= tolerance) {
          if (frame) {
            // A second query on the same frame gets a copy of it: first move the frames not placed yet out of the way.
            if (!spill && i + 1 < got.count) { spillFrom = i + 1; spill = raw.slice((base + i + 1) * fb, (base + got.count) * fb); }
          } else {
            frame = frameAt(i);
          }
          if (frame.buffer !== raw.buffer || frame.byteOffset !== raw.byteOffset + outCount * fb) raw.set(frame, outCount * fb);
          frame = raw.subarray(outCount * fb, (outCount + 1) * fb);
          outCount++;
          q++;
          if (outCount === cap) {
            const repeat = q < Q && Math.abs(times[q] - t) <= tolerance;
            const keep = repeat ? frame.slice() : undefined;
            const c = chunk();
            outStart += outCount;
            outCount = 0;
            yield c;
            newChunk(Math.min(chunkFrames, Math.max(1, Q - q)));
            frame = keep;
          }
        }
      }
    }
    const why = problems.length ? ` (libav: ${problems.join('; ')})` : '';
    if (q < Q) {
      throw new Error(`${file}: ${label}: the video is shorter than the episode: its last frame is at ${Number.isNaN(lastTime) ? '(none decoded)' : `${lastTime} s`}, ` +
        `but ${Q - q} of the ${Q} frames asked for lie at ${times[q]} s to ${times[Q - 1]} s${why}`);
    }
    if (outCount > 0) yield chunk();
    if (problems.length > rd.warned) {
      opts.onWarning?.(`${file}: ${label}: libav reported problems that did not cost a needed frame: ${problems.slice(rd.warned).join('; ')}`);
      rd.warned = problems.length;
    }
    return true;
  } catch (err) {
    drop = true;
    throw err;
  } finally {
    if (r) {
      if (drop) r.dec.close();
      else parkLibav(r);
    }
  }
}

/**
 * Streams the frames of `file` at the query times `times` (seconds, non-decreasing):
 * chunk frame i is the frame for query `firstIndex + i`. Two queries within the tolerance of
 * one frame get that frame twice. When the previous call decoded the same file up to a
 * little before `times[0]` (the next episode of a shared v3.0 video), its ffmpeg goes on
 * instead of a new one seeking.
 *
 * @throws {Error} naming the file and `label` when a query has no frame within the tolerance
 *   (the message gives the nearest frame times), when the video ends before the last query
 *   (shorter than its episode), when its frame rate is not `fps`, or when ffmpeg fails
 */
export async function* decodeAtTimestamps(file: string, times: ArrayLike<number>, opts: DecodeAtOptions): AsyncGenerator<FrameChunk> {
  const Q = times.length;
  if (Q === 0) return;
  for (let q = 1; q < Q; q++) {
    if (!(times[q] >= times[q - 1])) throw new Error(`${file}: ${opts.label}: frame times must not decrease, but query ${q} is at ${times[q]} s after ${times[q - 1]} s`);
  }
  const { chunkFrames, size, tolerance, label } = opts;
  const first = opts.firstIndex ?? 0;
  const fps = opts.fps;
  const choice = resolveVideoDecoder(opts.decoder);
  opts.signal?.throwIfAborted();
  if (choice !== 'ffmpeg' && size === undefined && !needsRgb.has(file)) {
    const status = videoDecoderStatus();
    if (choice === 'libav' && !status.available) throw new Error(`${file}: ${label}: in-process decoding (decoder 'libav') is unavailable: ${status.reason}`);
    if (status.available && (yield* decodeLibav(file, times, opts))) return;
  }
  let reader = unpark();
  if (reader && !(reader.file === file && reader.size === size && reader.lastTime < times[0] - tolerance && times[0] - reader.lastTime <= REUSE_GAP_S)) {
    reader.kill();
    reader = undefined;
  }
  const reused = reader !== undefined;
  if (!reader) {
    const ss = times[0] - 0.5 / fps;
    reader = new FrameReader(file, ss, size, needsRgb.has(file) ? 'rgb24' : undefined);
    // Frames in a format only ffmpeg converts (10-bit, 4:4:4, other matrices): decode again as
    // rgb24, and ask for rgb24 from the start in this file from now on.
    if (!(await reader.start(label).catch((err: unknown) => { reader!.kill(); throw err; }))) {
      reader.kill();
      rememberNeedsRgb(file);
      reader = new FrameReader(file, ss, size, 'rgb24');
    }
  }
  /**
   * The chunk handed out next, and the raw frames it is made from: RGB chunks are fresh arrays
   * (converted from a reused raw buffer, or the raw buffer itself when ffmpeg sends RGB); YUV
   * chunks ({@link DecodeAtOptions.yuv420p}) hand out the reused raw buffer itself.
   */
  let out = new Uint8Array(0);
  let raw = new Uint8Array(0);
  let cap = 0;
  let outCount = 0;
  let outStart = first;
  let q = 0;
  let lastTime = reader.lastTime;
  let finished = false;
  const r = reader;
  let rb = 0;
  let asYuv = false;
  const newChunk = (frames: number): void => {
    cap = frames;
    // Host memory: the encoders' async calls read the chunk in place (no copy on the event loop).
    if (!asYuv) out = hostArray(Uint8Array, frames * r.width * r.height * 3, { zero: false });
    if (r.format!.kind === 'rgb24') raw = out;
    else if (raw.length < frames * rb) raw = hostArray(Uint8Array, Math.min(chunkFrames, Q) * rb, { zero: false });
  };
  /** The chunk so far, as RGB or as the raw YUV frames. */
  const chunk = (): FrameChunk => {
    const f = r.format!;
    if (asYuv && f.kind === 'yuv420p') {
      return { data: raw.subarray(0, outCount * rb), count: outCount, width: r.width, height: r.height, start: outStart, yuv420p: { matrix: f.matrix, fullRange: f.fullRange } };
    }
    if (raw !== out) r.toRgb(raw, outCount, out);
    const n = outCount * r.width * r.height * 3;
    return { data: n === out.length ? out : out.subarray(0, n), count: outCount, width: r.width, height: r.height, start: outStart };
  };
  /** Where raw frame bytes at time t go: the next slot of the chunk when t matches query q, else dropped. */
  const place = (t: number): Uint8Array | undefined => {
    if (cap === 0) {
      rb = r.frameBytes;
      asYuv = opts.yuv420p === true && r.format!.kind === 'yuv420p';
      newChunk(Math.min(chunkFrames, Q));
    }
    if (q < Q && times[q] < t - tolerance) {
      throw new Error(`${file}: ${label}: no video frame within ${tolerance} s of t = ${times[q]} s (frame ${first + q} of the query); ` +
        `the nearest decoded frames are at ${Number.isNaN(lastTime) ? '(none before)' : `${lastTime} s`} and ${t} s (timestamps disagree with the video, or frames are missing)`);
    }
    return q < Q && Math.abs(times[q] - t) <= tolerance ? raw.subarray(outCount * rb, (outCount + 1) * rb) : undefined;
  };
  try {
    while (q < Q) {
      opts.signal?.throwIfAborted(); // the finally below kills ffmpeg
      const t = await reader.next(label, place);
      if (t === undefined) break;
      if (!reused && reader.k === 1 && reader.rate !== undefined && !(Math.abs(reader.rate - fps) <= 1e-3 * fps)) {
        throw new Error(`${file}: ${label}: the video runs at ${Number(reader.rate.toFixed(4))} fps but meta/info.json says fps ${fps}`);
      }
      lastTime = t;
      let frame: Uint8Array | undefined;
      while (q < Q && Math.abs(times[q] - t) <= tolerance) {
        // A second query on the same frame gets a copy of it.
        if (frame) raw.set(frame, outCount * rb);
        frame = raw.subarray(outCount * rb, (outCount + 1) * rb);
        outCount++;
        q++;
        if (outCount === cap) {
          const c = chunk();
          outStart += outCount;
          outCount = 0;
          yield c;
          newChunk(Math.min(chunkFrames, Math.max(1, Q - q)));
        }
      }
    }
    if (q < Q) {
      const code = await reader.exited;
      const problems = reader.problems;
      if (code !== 0 && reader.k === 0) throw new Error(`${file}: ${label}: ffmpeg failed (exit code ${code})${problems.length ? `: ${problems.join('; ')}` : ''}`);
      const why = problems.length ? ` (ffmpeg: ${problems.join('; ')})` : '';
      throw new Error(`${file}: ${label}: the video is shorter than the episode: its last frame is at ${Number.isNaN(lastTime) ? '(none decoded)' : `${lastTime} s`}, ` +
        `but ${Q - q} of the ${Q} frames asked for lie at ${times[q]} s to ${times[Q - 1]} s${why}`);
    }
    if (outCount > 0) yield chunk();
    finished = true;
    if (reader.problems.length) opts.onWarning?.(`${file}: ${label}: ffmpeg reported problems that did not cost a needed frame: ${reader.problems.join('; ')}`);
  } finally {
    if (finished && reader.proc.exitCode === null) park(reader);
    else reader.kill();
  }
}
