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
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
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
  /** Index given to the first query in the chunks' `start` (default 0). */
  firstIndex?: number;
  /** Receives decoder complaints that did not cost a frame. */
  onWarning?: (message: string) => void;
}

const SHOWINFO = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] n:\s*\d+ pts:\s*(-?\d+) .* s:(\d+)x(\d+)/;
const TIMEBASE = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] config in time_base: (\d+)\/(\d+), frame_rate: (\d+)\/(\d+)/;
const PROBLEM = /\[(error|fatal|panic)\]\s*(.*)$/;

/**
 * One running ffmpeg that decodes a video from a seek point to raw RGB frames, each with its
 * own timestamp (from showinfo). Frames are pulled one at a time, so ffmpeg waits (pipe
 * backpressure) while nobody reads; a reader can be parked between two episodes of a shared
 * video and go on from where it stopped.
 */
class FrameReader {
  readonly proc: ChildProcessByStdio<null, Readable, Readable>;
  private readonly pts: number[] = [];
  private tb: [number, number] | undefined;
  rate: number | undefined;
  private dims: [number, number] | undefined;
  readonly problems: string[] = [];
  private stderrDone = false;
  private wake: (() => void) | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;
  private readError: Error | undefined;
  private wakeData: (() => void) | undefined;
  /** Bytes read ahead of the consumer before ffmpeg is paused (decoding overlaps encoding): 16 frames, at most 16 MiB. */
  private readAhead = 1 << 20;
  /** Frames handed out so far. */
  k = 0;
  /** Time of the last frame handed out (NaN before the first). */
  lastTime = NaN;
  width = 0;
  height = 0;
  exited: Promise<number | null>;

  constructor(readonly file: string, readonly ss: number, readonly size: number | undefined) {
    const ffmpeg = tool('ffmpeg', file);
    const vf = ['showinfo=checksum=0', ...(size === undefined ? [] : [`scale=${size}:${size}:force_original_aspect_ratio=increase:flags=lanczos`, `crop=${size}:${size}`])].join(',');
    const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info', ...(ss > 0 ? ['-ss', ss.toFixed(6)] : []), '-copyts', '-noautorotate',
      '-i', file, '-map', '0:v:0', '-vf', vf, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
    this.proc = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
        if (m) { this.pts.push(Number(m[1])); this.dims ??= [Number(m[2]), Number(m[3])]; continue; }
        const t = TIMEBASE.exec(line);
        if (t) { this.tb = [Number(t[1]), Number(t[2])]; this.rate = Number(t[4]) > 0 ? Number(t[3]) / Number(t[4]) : undefined; continue; }
        const p = PROBLEM.exec(line);
        if (p && this.problems.length < 5) this.problems.push(p[2].replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '').trim());
      }
      this.wake?.();
    });
    this.proc.stderr.on('end', () => { this.stderrDone = true; this.wake?.(); });
    // Read ahead in flowing mode, up to readAhead bytes, so that ffmpeg keeps decoding while
    // the frames already read are encoded; paused beyond that (backpressure).
    this.proc.stdout.on('data', (d: Buffer) => {
      this.pending.push(d);
      this.pendingBytes += d.length;
      if (this.pendingBytes > this.readAhead) this.proc.stdout.pause();
      this.wakeData?.();
    });
    this.proc.stdout.on('end', () => { this.ended = true; this.wakeData?.(); });
    this.proc.stdout.on('error', (err) => { this.readError = err; this.ended = true; this.wakeData?.(); });
  }

  /** Waits until `bytes` are read ahead or the output ended. */
  private async fill(bytes: number): Promise<void> {
    while (this.pendingBytes < bytes && !this.ended) {
      if (this.proc.stdout.isPaused()) this.proc.stdout.resume();
      await new Promise<void>((r) => { this.wakeData = r; });
    }
    if (this.readError) throw this.readError;
  }

  /** Moves `n` bytes (n ≤ pendingBytes) off the front of the read-ahead queue into `dest` (or drops them). */
  private take(n: number, dest: Uint8Array | undefined): void {
    let off = 0;
    while (off < n) {
      const p = this.pending[0];
      const m = Math.min(p.length, n - off);
      dest?.set(m === p.length ? p : p.subarray(0, m), off);
      off += m;
      if (m === p.length) this.pending.shift(); else this.pending[0] = p.subarray(m);
    }
    this.pendingBytes -= n;
    if (this.pendingBytes <= this.readAhead / 2 && this.proc.stdout.isPaused() && !this.ended) this.proc.stdout.resume();
  }

  /** Seconds of decoded frame k (waits for showinfo's line). */
  private async timeOf(k: number, label: string): Promise<number> {
    while (this.pts.length <= k && !this.stderrDone) await new Promise<void>((r) => { this.wake = r; });
    if (this.pts.length <= k || !this.tb || !this.dims) throw new Error(`${this.file}: ${label}: ffmpeg did not report the timestamp of decoded frame ${k}${this.problems.length ? ` (ffmpeg: ${this.problems.join('; ')})` : ''}`);
    return (this.pts[k] * this.tb[0]) / this.tb[1];
  }

  /**
   * Reads the next decoded frame: its time is known first (from showinfo), then `place(time)`
   * says where its bytes go (a view of width × height × 3 bytes) or returns undefined to drop
   * them. Resolves to the time, or undefined at the end of the video.
   */
  async next(label: string, place: (time: number) => Uint8Array | undefined): Promise<number | undefined> {
    if (this.width === 0) {
      // The first frame's showinfo line gives the size; wait for output to exist first.
      await this.fill(1);
      if (this.pendingBytes === 0) return undefined;
      await this.timeOf(0, label);
      this.width = this.size ?? this.dims![0];
      this.height = this.size ?? this.dims![1];
      this.readAhead = Math.max(this.width * this.height * 3, Math.min(16 * this.width * this.height * 3, 16 << 20));
    }
    const fb = this.width * this.height * 3;
    await this.fill(fb);
    if (this.pendingBytes < fb) return undefined;
    const time = await this.timeOf(this.k++, label);
    this.take(fb, place(time));
    this.lastTime = time;
    return time;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
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
  reader.proc.stdout.pause();
  (reader.proc.stdout as unknown as { unref?: () => void }).unref?.();
  (reader.proc.stderr as unknown as { unref?: () => void }).unref?.();
  parked = { reader, timer };
}

function unpark(): FrameReader | undefined {
  if (!parked) return undefined;
  clearTimeout(parked.timer);
  const r = parked.reader;
  parked = undefined;
  r.proc.ref();
  (r.proc.stdout as unknown as { ref?: () => void }).ref?.();
  (r.proc.stderr as unknown as { ref?: () => void }).ref?.();
  return r;
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
  let reader = unpark();
  if (reader && !(reader.file === file && reader.size === size && reader.lastTime < times[0] - tolerance && times[0] - reader.lastTime <= REUSE_GAP_S)) {
    reader.kill();
    reader = undefined;
  }
  const reused = reader !== undefined;
  reader ??= new FrameReader(file, times[0] - 0.5 / fps, size);
  let out = new Uint8Array(0);
  let outCount = 0;
  let outStart = first;
  let q = 0;
  let lastTime = reader.lastTime;
  let finished = false;
  const r = reader;
  let fb = 0;
  /** Where frame bytes at time t go: the next slot of the chunk when t matches query q, else dropped. */
  const place = (t: number): Uint8Array | undefined => {
    if (out.length === 0) {
      fb = r.width * r.height * 3;
      out = new Uint8Array(Math.min(chunkFrames, Q) * fb);
    }
    if (q < Q && times[q] < t - tolerance) {
      throw new Error(`${file}: ${label}: no video frame within ${tolerance} s of t = ${times[q]} s (frame ${first + q} of the query); ` +
        `the nearest decoded frames are at ${Number.isNaN(lastTime) ? '(none before)' : `${lastTime} s`} and ${t} s (timestamps disagree with the video, or frames are missing)`);
    }
    return q < Q && Math.abs(times[q] - t) <= tolerance ? out.subarray(outCount * fb, (outCount + 1) * fb) : undefined;
  };
  try {
    while (q < Q) {
      const t = await reader.next(label, place);
      if (t === undefined) break;
      if (!reused && reader.k === 1 && reader.rate !== undefined && !(Math.abs(reader.rate - fps) <= 1e-3 * fps)) {
        throw new Error(`${file}: ${label}: the video runs at ${Number(reader.rate.toFixed(4))} fps but meta/info.json says fps ${fps}`);
      }
      lastTime = t;
      let frame: Uint8Array | undefined;
      while (q < Q && Math.abs(times[q] - t) <= tolerance) {
        // A second query on the same frame gets a copy of it.
        if (frame) out.set(frame, outCount * fb);
        frame = out.subarray(outCount * fb, (outCount + 1) * fb);
        outCount++;
        q++;
        if (outCount === out.length / fb) {
          yield { data: out, count: outCount, width: reader.width, height: reader.height, start: outStart };
          outStart += outCount;
          outCount = 0;
          out = new Uint8Array(Math.min(chunkFrames, Math.max(1, Q - q)) * fb);
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
    if (outCount > 0) yield { data: out.subarray(0, outCount * reader.width * reader.height * 3), count: outCount, width: reader.width, height: reader.height, start: outStart };
    finished = true;
    if (reader.problems.length) opts.onWarning?.(`${file}: ${label}: ffmpeg reported problems that did not cost a needed frame: ${reader.problems.join('; ')}`);
  } finally {
    if (finished && reader.proc.exitCode === null) park(reader);
    else reader.kill();
  }
}
