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
import { spawn, spawnSync } from 'node:child_process';
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
 * Streams the frames of `file` at the query times `times` (seconds, non-decreasing):
 * chunk frame i is the frame for query `firstIndex + i`. Two queries within the tolerance of
 * one frame get that frame twice.
 *
 * @throws {Error} naming the file and `label` when a query has no frame within the tolerance
 *   (the message gives the nearest frame times), when the video ends before the last query
 *   (shorter than its episode), or when ffmpeg fails
 */
export async function* decodeAtTimestamps(file: string, times: ArrayLike<number>, opts: DecodeAtOptions): AsyncGenerator<FrameChunk> {
  const Q = times.length;
  if (Q === 0) return;
  for (let q = 1; q < Q; q++) {
    if (!(times[q] >= times[q - 1])) throw new Error(`${file}: ${opts.label}: frame times must not decrease, but query ${q} is at ${times[q]} s after ${times[q - 1]} s`);
  }
  const ffmpeg = tool('ffmpeg', file);
  const { chunkFrames, size, tolerance, label } = opts;
  const first = opts.firstIndex ?? 0;
  const fps = opts.fps;
  const ss = times[0] - 0.5 / fps;
  const vf = ['showinfo=checksum=0', ...(size === undefined ? [] : [`scale=${size}:${size}:force_original_aspect_ratio=increase:flags=lanczos`, `crop=${size}:${size}`])].join(',');
  const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info', ...(ss > 0 ? ['-ss', ss.toFixed(6)] : []), '-copyts', '-noautorotate',
    '-i', file, '-map', '0:v:0', '-vf', vf, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const proc = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pts: number[] = [];
  let tb: [number, number] | undefined;
  let rate: number | undefined;
  let dims: [number, number] | undefined;
  const problems: string[] = [];
  let stderrDone = false;
  let wake: (() => void) | undefined;
  let partial = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => {
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const m = SHOWINFO.exec(line);
      if (m) { pts.push(Number(m[1])); dims ??= [Number(m[2]), Number(m[3])]; continue; }
      const t = TIMEBASE.exec(line);
      if (t) { tb = [Number(t[1]), Number(t[2])]; rate = Number(t[4]) > 0 ? Number(t[3]) / Number(t[4]) : undefined; continue; }
      const p = PROBLEM.exec(line);
      if (p && problems.length < 5) problems.push(p[2].replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '').trim());
    }
    wake?.();
  });
  proc.stderr.on('end', () => { stderrDone = true; wake?.(); });
  const exited = new Promise<number | null>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => resolve(code));
  });
  /** Seconds of output frame k (waits for showinfo's line when it has not been read yet). */
  const timeOf = async (k: number): Promise<number> => {
    while (pts.length <= k && !stderrDone) await new Promise<void>((r) => { wake = r; });
    if (pts.length <= k || !tb || !dims) throw new Error(`${file}: ${label}: ffmpeg did not report the timestamp of decoded frame ${k}`);
    return (pts[k] * tb[0]) / tb[1];
  };

  let W = size ?? 0;
  let H = size ?? 0;
  let fb = 0;
  let out = new Uint8Array(0);
  let outCount = 0;
  let outStart = first;
  let q = 0;
  let k = 0; // decoded frames seen
  let lastTime = NaN;
  let frame = new Uint8Array(0);
  let fill = 0;
  let finished = false;
  try {
    outer: for await (const piece of proc.stdout as AsyncIterable<Buffer>) {
      if (fb === 0) {
        // The first frame's line gives the size (and the config line the rate) before any frame is used.
        await timeOf(0);
        if (rate !== undefined && !(Math.abs(rate - fps) <= 1e-3 * fps)) {
          throw new Error(`${file}: ${label}: the video runs at ${Number(rate.toFixed(4))} fps but meta/info.json says fps ${fps}`);
        }
        W ||= dims![0];
        H ||= dims![1];
        fb = W * H * 3;
        out = new Uint8Array(Math.min(chunkFrames, Q) * fb);
        frame = new Uint8Array(fb);
      }
      let off = 0;
      while (off < piece.length) {
        const n = Math.min(piece.length - off, fb - fill);
        frame.set(piece.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill < fb) break;
        fill = 0;
        const t = await timeOf(k++);
        while (q < Q && times[q] < t - tolerance) {
          throw new Error(`${file}: ${label}: no video frame within ${tolerance} s of t = ${times[q]} s (frame ${first + q} of the query); ` +
            `the nearest decoded frames are at ${Number.isNaN(lastTime) ? '(none before)' : `${lastTime} s`} and ${t} s (timestamps disagree with the video, or frames are missing)`);
        }
        lastTime = t;
        while (q < Q && Math.abs(times[q] - t) <= tolerance) {
          out.set(frame, outCount * fb);
          outCount++;
          q++;
          if (outCount === out.length / fb) {
            yield { data: out, count: outCount, width: W, height: H, start: outStart };
            outStart += outCount;
            outCount = 0;
            out = new Uint8Array(Math.min(chunkFrames, Q - q) * fb);
          }
        }
        if (q === Q) break outer;
      }
    }
    if (q < Q) {
      const code = await exited;
      if (code !== 0 && k === 0) throw new Error(`${file}: ${label}: ffmpeg failed (exit code ${code})${problems.length ? `: ${problems.join('; ')}` : ''}`);
      const why = problems.length ? ` (ffmpeg: ${problems.join('; ')})` : '';
      throw new Error(`${file}: ${label}: the video is shorter than the episode: its last frame is at ${Number.isNaN(lastTime) ? '(none decoded)' : `${lastTime} s`}, ` +
        `but ${Q - q} of the ${Q} frames asked for lie at ${times[q]} s to ${times[Q - 1]} s${why}`);
    }
    if (outCount > 0) yield { data: out.subarray(0, outCount * fb), count: outCount, width: W, height: H, start: outStart };
    finished = true;
    if (problems.length) opts.onWarning?.(`${file}: ${label}: ffmpeg reported problems that did not cost a needed frame: ${problems.join('; ')}`);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    if (!finished) await exited.catch(() => undefined);
  }
}
