// `feat2go view`'s server: a local HTTP server over one label output folder
// (from `feat2go label`, or `npm start`'s feat2go-out/ with its experiment/).
// It answers GET and HEAD only, never reads a request body, serves its own
// page from memory (web/view/, loaded at start), JSON built from the label
// outputs, each episode's frames through its frame source (view-sources.ts),
// and files under the folder itself; no path in a URL ever reaches outside it.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stepsToGoTargets } from '../core/progress.js';
import { readNpy } from '../io/npy.js';
import { checkInt, checkOptions, typeError } from '../core/validate.js';
import { FrameRangeError, guessSourceKind, viewSourceOpener, type FrameImage, type ViewFrames } from './view-sources.js';

/** Options of {@link startViewServer}. */
export interface ViewServerOptions {
  /** Port (0: a free port chosen by the system). Default 0. */
  port?: number;
  /** Address to listen on. Default `'127.0.0.1'` (this machine only). */
  host?: string;
}

/** A running viewer. */
export interface ViewServer {
  /** `http://127.0.0.1:PORT/` (for a wildcard host such as 0.0.0.0, the loopback address). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The folder served (absolute, symbolic links resolved). */
  readonly dir: string;
  /** What the folder holds. */
  readonly index: ViewIndex;
  /** Stops listening, ends open connections and running decoders. */
  close(): Promise<void>;
}

/** One episode as the folder lists it. */
export interface ViewEpisodeEntry {
  name: string;
  /** Steps labelled (length of values). */
  frames: number;
  stages: number;
  meanValue: number;
  /** `success` and `task` when the label outputs record them. */
  success?: boolean;
  task?: string;
  /** Source record (kind, path, relative); synthesised from `file` for outputs written before it was recorded. */
  source: { kind: string; path: string; relative?: string; framesPerStep?: number; frames?: number; [k: string]: unknown };
  /** Folder of the episode's outputs. */
  outDir: string;
  /** Everything else the summary says about it (encoder, shape, warnings, …). */
  extra: Record<string, unknown>;
}

/** What a viewed folder holds. */
export interface ViewIndex {
  dir: string;
  /** Where the episode list came from: 'summary.json', the shard manifests, or none. */
  listing: string | null;
  options: Record<string, unknown> | null;
  encoder: string | null;
  episodes: ViewEpisodeEntry[];
  failures: unknown[];
  /** Folder of experiment outputs (results.json), relative to dir ('' for dir itself), or null. */
  experiment: string | null;
}

const ASSET_DIR = fileURLToPath(new URL('../../web/view/', import.meta.url));
const ASSET_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
};
/** Files under the viewed folder that /files/ serves (anything else is 404). */
const FILE_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.json': 'application/json; charset=utf-8',
  '.md': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};
const SEGMENT_NAME = /^[A-Za-z0-9._-]+$/;

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The episode output folder of `name` under `dir`, or undefined when the name could leave it. */
function episodeDir(dir: string, name: string): string | undefined {
  const parts = name.split('/');
  if (parts.some((p) => !SEGMENT_NAME.test(p) || p === '.' || p === '..')) return undefined;
  return path.join(dir, ...parts);
}

function entryOf(dir: string, e: Record<string, unknown>): ViewEpisodeEntry | undefined {
  const name = e.episode;
  if (typeof name !== 'string' || typeof e.frames !== 'number') return undefined;
  const outDir = episodeDir(dir, name);
  if (!outDir) return undefined;
  let source = isObject(e.source) && typeof e.source.kind === 'string' && typeof e.source.path === 'string'
    ? e.source as ViewEpisodeEntry['source'] : undefined;
  if (!source && typeof e.dataset === 'string' && Number.isInteger(e.episodeIndex)) {
    // An episode of a LeRobot dataset (dataset root, episode_index, camera): read by the opener registered for 'lerobot'.
    source = { kind: 'lerobot', path: path.resolve(dir, e.dataset), episodeIndex: e.episodeIndex, ...(typeof e.camera === 'string' ? { camera: e.camera } : {}),
      ...(typeof e.framesIn === 'number' ? { frames: e.framesIn } : {}) };
  }
  if (!source) {
    // Outputs written before the source was recorded: `file`, as given to the labeller.
    const file = typeof e.file === 'string' ? path.resolve(dir, e.file) : '';
    const kind = file ? guessSourceKind(file) ?? (e.encoder !== undefined ? 'unknown' : 'features') : 'unknown';
    source = { kind: e.encoder === undefined && kind !== 'unknown' ? 'features' : kind, path: file,
      ...(typeof e.framesIn === 'number' ? { frames: e.framesIn } : {}) };
  }
  const { episode: _e, frames, stages, meanValue, success, task, source: _s, dir: _d, ...extra } = e;
  return {
    name, frames, stages: typeof stages === 'number' ? stages : 0, meanValue: typeof meanValue === 'number' ? meanValue : NaN,
    ...(typeof success === 'boolean' ? { success } : {}), ...(typeof task === 'string' ? { task } : {}),
    source, outDir, extra,
  };
}

/**
 * Reads what a label output folder holds: the episodes of summary.json (or of
 * the shard manifests `feat2go label --shard` wrote, when there is no
 * summary yet) and whether it has experiment outputs (`results.json` in the
 * folder or in `experiment/`).
 *
 * @throws {Error} when the folder does not exist or holds none of these
 */
export function loadViewIndex(dir: string): ViewIndex {
  if (typeof dir !== 'string' || dir === '') throw typeError('dir', 'a folder path', dir);
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    throw new Error(`${dir}: no such folder`);
  }
  if (!fs.statSync(real).isDirectory()) throw new Error(`${dir}: not a folder`);
  let listing: string | null = null;
  let raw: Array<Record<string, unknown>> = [];
  let options: Record<string, unknown> | null = null;
  let encoder: string | null = null;
  let failures: unknown[] = [];
  const summary = path.join(real, 'summary.json');
  if (fs.existsSync(summary)) {
    const j = readJson(summary);
    if (!isObject(j) || !Array.isArray(j.episodes)) throw new Error(`${summary}: not a feat2go label summary (no episodes list)`);
    listing = 'summary.json';
    raw = j.episodes.filter(isObject);
    options = isObject(j.options) ? j.options : null;
    encoder = typeof j.encoder === 'string' ? j.encoder : null;
    failures = Array.isArray(j.failures) ? j.failures : [];
  } else {
    const shards = fs.readdirSync(real).filter((n) => /^shard-\d+-of-\d+\.json$/.test(n)).sort();
    if (shards.length) {
      listing = shards.join(', ');
      for (const n of shards) {
        const m = readJson(path.join(real, n));
        if (!isObject(m) || m.format !== 'feat2go-label-shard' || !Array.isArray(m.episodes)) continue;
        raw.push(...m.episodes.filter(isObject));
        options ??= isObject(m.options) ? m.options : null;
        encoder ??= typeof m.encoder === 'string' ? m.encoder : null;
        if (Array.isArray(m.failures)) failures.push(...m.failures);
      }
      raw.sort((a, b) => Number(a.order ?? 0) - Number(b.order ?? 0));
    }
  }
  const experiment = ['experiment', ''].find((sub) => {
    const f = path.join(real, sub, 'results.json');
    if (!fs.existsSync(f)) return false;
    try {
      const j = readJson(f);
      return isObject(j) && Array.isArray(j.rows);
    } catch {
      return false;
    }
  }) ?? null;
  if (listing === null && experiment === null) {
    throw new Error(`${dir}: no feat2go outputs here (summary.json from \`feat2go label\`, shard-I-of-N.json manifests, or an experiment's results.json)`);
  }
  const seen = new Set<string>();
  const episodes: ViewEpisodeEntry[] = [];
  for (const e of raw) {
    const entry = entryOf(real, e);
    if (entry && !seen.has(entry.name)) {
      seen.add(entry.name);
      episodes.push(entry);
    }
  }
  return { dir: real, listing, options, encoder, episodes, failures, experiment };
}

// ---------------------------------------------------------------- episode data

function readFloats(file: string): Float32Array {
  const a = readNpy(file);
  if (a.dtype !== 'float32' || a.shape.length !== 1) throw new Error(`${file}: expected a float32 vector but the array is ${a.dtype} (${a.shape.join(', ')})`);
  return a.data as Float32Array;
}

function readSegments(outDir: string, T: number): Array<{ start: number; end: number }> {
  const j = readJson(path.join(outDir, 'segments.json'));
  if (!Array.isArray(j) || !j.every((s) => isObject(s) && Number.isInteger(s.start) && Number.isInteger(s.end) && (s.start as number) <= (s.end as number) && (s.end as number) < T)) {
    throw new Error(`${outDir}/segments.json: expected [{start, end}, …] within the episode's ${T} steps`);
  }
  return j.map((s) => ({ start: s.start as number, end: s.end as number }));
}

/** Where a recorded source is now: its path relative to the folder first (outputs moved with their inputs), then its absolute path. */
function resolveSource(index: ViewIndex, source: ViewEpisodeEntry['source']): string | undefined {
  const candidates = [typeof source.relative === 'string' ? path.resolve(index.dir, source.relative) : undefined, source.path];
  return candidates.find((p) => p !== undefined && p !== '' && fs.existsSync(p));
}

/** Annotated stages next to the source (`<file without extension>.stages.json`, `<folder>.stages.json`), in frames. */
function readAnnotations(file: string | undefined, frames: number): Array<{ start: number; end: number; name?: string }> | undefined {
  if (!file) return undefined;
  const ext = path.extname(file);
  const sidecar = `${ext && !fs.statSync(file).isDirectory() ? file.slice(0, -ext.length) : file.replace(/[/\\]+$/, '')}.stages.json`;
  if (!fs.existsSync(sidecar)) return undefined;
  try {
    const j = readJson(sidecar);
    if (!Array.isArray(j)) return undefined;
    const out = j.filter((s) => isObject(s) && Number.isInteger(s.start) && Number.isInteger(s.end) && (s.start as number) >= 0 && (s.start as number) <= (s.end as number) && (s.start as number) < frames)
      .map((s) => ({ start: s.start as number, end: Math.min(s.end as number, frames - 1), ...(typeof s.name === 'string' ? { name: s.name } : {}) }));
    return out.length ? out : undefined;
  } catch {
    return undefined;
  }
}

function finalOf(values: Float32Array): number {
  return values.length ? values[values.length - 1] : NaN;
}

/** At most `n` evenly spaced values (for the table's sparkline). */
function downsample(values: Float32Array, n = 48): number[] {
  if (values.length <= n) return Array.from(values, (v) => Number(v.toFixed(4)));
  return Array.from({ length: n }, (_, i) => Number(values[Math.round((i * (values.length - 1)) / (n - 1))].toFixed(4)));
}

// ---------------------------------------------------------------- HTTP helpers

const BASE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};
const PAGE_CSP = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const notFound = () => new HttpError(404, 'not found');

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string | Buffer, type: string, headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...BASE_HEADERS, 'Content-Type': type, 'Content-Length': String(buf.length), 'Cache-Control': 'no-cache', ...headers });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function sendJson(req: http.IncomingMessage, res: http.ServerResponse, value: unknown): void {
  send(req, res, 200, JSON.stringify(value), 'application/json; charset=utf-8');
}

/**
 * Splits a request target into decoded path segments. Only origin-form
 * targets (`/a/b?q`) are accepted; a segment that is empty, `.` or `..`
 * (raw or percent-encoded), or that decodes to one holding `/`, `\` or NUL,
 * makes the whole request not found: paths are refused, never normalised.
 * The one exception is the episode name in `/api/episodes/<name>…`: names
 * such as `cams/top` arrive as `cams%2Ftop`, and a name is only ever a key
 * looked up among the listed episodes, never a path.
 */
export function requestSegments(target: string): { segments: string[]; query: URLSearchParams } | undefined {
  if (!target.startsWith('/') || target.startsWith('//')) return undefined;
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  if (rawPath === '/') return { segments: [], query };
  const raw = rawPath.slice(1).split('/');
  const segments: string[] = [];
  for (const [i, r] of raw.entries()) {
    if (r === '' && i === raw.length - 1) continue; // a trailing slash
    let d: string;
    try {
      d = decodeURIComponent(r);
    } catch {
      return undefined;
    }
    const episodeName = i === 2 && raw[0] === 'api' && raw[1] === 'episodes';
    if (d === '' || (!episodeName && (d === '.' || d === '..' || /[/\\\0]/.test(d)))) return undefined;
    segments.push(d);
  }
  return { segments, query };
}

/** The host names a loopback-bound server answers to (others: DNS rebinding, refused). */
function allowedHost(hostHeader: string | undefined, port: number): boolean {
  if (!hostHeader) return false;
  const h = hostHeader.toLowerCase();
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(h);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Serves `file` (a regular file) with single-range support (206 / 416); `If-Range` against the ETag or date. */
function sendFileRange(req: http.IncomingMessage, res: http.ServerResponse, file: string, type: string, extra: Record<string, string> = {}): void {
  const st = fs.statSync(file);
  if (!st.isFile()) throw notFound();
  const size = st.size;
  const etag = `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const lastModified = st.mtime.toUTCString();
  const headers: Record<string, string> = {
    ...BASE_HEADERS, 'Content-Type': type, 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified,
    'Cache-Control': 'no-cache', ...extra,
  };
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  const rangeApplies = range !== undefined && (ifRange === undefined || ifRange === etag || ifRange === lastModified);
  if (rangeApplies) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    // Several ranges, or a syntax we do not know: the whole file (RFC 9110 lets a server ignore Range).
    if (m && (m[1] !== '' || m[2] !== '')) {
      if (m[1] === '') {
        const n = Number(m[2]);
        start = Math.max(0, size - n);
        if (n === 0) start = size;
      } else {
        start = Number(m[1]);
        end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      }
      if (start >= size || start > end) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': '0' });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
  }
  headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  const stream = fs.createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

/** A small LRU of encoded frames, bounded in bytes. */
class FrameCache {
  private readonly map = new Map<string, FrameImage>();
  private bytes = 0;
  constructor(private readonly limit: number) {}
  get(key: string): FrameImage | undefined {
    const v = this.map.get(key);
    if (v) { this.map.delete(key); this.map.set(key, v); }
    return v;
  }
  set(key: string, v: FrameImage): void {
    if (v.data.length > this.limit / 4) return;
    this.map.set(key, v);
    this.bytes += v.data.length;
    for (const [k, old] of this.map) {
      if (this.bytes <= this.limit) break;
      this.map.delete(k);
      this.bytes -= old.data.length;
    }
  }
}

// ---------------------------------------------------------------- the server

/**
 * Starts the viewer on a label output folder and resolves once it listens.
 * Routes (GET and HEAD; anything else is 405, a request with a body 413):
 *
 * - `/` the page; `/assets/<name>` its scripts and styles (from memory);
 * - `/api/index` what the folder holds; `/api/episodes` one object per
 *   episode (name, frames, stages, mean and final value, success and task
 *   when recorded, source kind, a downsampled V(t));
 * - `/api/episodes/<name>` values, similarity, segments, Steps-To-Go targets,
 *   frame count, fps, source, annotated stages when a `.stages.json` sits
 *   next to the source (`<name>` percent-encoded, `/` as `%2F`);
 * - `/api/episodes/<name>/frames/<k>` frame k as PNG (`?format=jpeg`, `?w=N`
 *   for a thumbnail); `/api/episodes/<name>/video` the source video with
 *   HTTP Range;
 * - `/api/experiment` results.json and details.json of the experiment;
 * - `/files/<path>` SVG, PNG, JPEG, JSON, Markdown files under the folder.
 *
 * Paths are never normalised: a `..`, encoded or not, an absolute path, a
 * symbolic link out of the folder or an unknown name is 404. Bound to
 * loopback, requests naming another Host are refused (DNS rebinding).
 *
 * @throws {Error} when the folder holds no feat2go outputs (see {@link loadViewIndex}), or the port is taken
 * @example
 * const viewer = await startViewServer('feat2go-out', { port: 0 });
 * console.log(viewer.url);   // http://127.0.0.1:41723/
 * await viewer.close();
 */
export async function startViewServer(dir: string, opts: ViewServerOptions = {}): Promise<ViewServer> {
  const o = checkOptions(opts, 'opts', { port: 1, host: 1 });
  const port = o.port === undefined ? 0 : checkInt(o.port, 'opts.port', 0, 65535);
  const host = o.host === undefined ? '127.0.0.1' : o.host;
  if (typeof host !== 'string' || host === '') throw typeError('opts.host', 'a host name or address', host);
  const index = loadViewIndex(dir);
  const assets = new Map<string, { data: Buffer; type: string }>();
  for (const name of fs.readdirSync(ASSET_DIR)) {
    const type = ASSET_TYPES[path.extname(name)];
    if (type) assets.set(name, { data: fs.readFileSync(path.join(ASSET_DIR, name)), type });
  }
  const byName = new Map(index.episodes.map((e) => [e.name, e]));
  const sources = new Map<string, Promise<ViewFrames>>();
  const cache = new FrameCache(96 << 20);
  let listCache: unknown[] | undefined;
  let boundPort = port;
  const checkHost = isLoopback(host);

  const framesOf = (e: ViewEpisodeEntry): Promise<ViewFrames> => {
    let p = sources.get(e.name);
    if (!p) {
      const file = resolveSource(index, e.source);
      const opener = viewSourceOpener(e.source.kind);
      p = !opener ? Promise.reject(new HttpError(404, `no frame reader for source kind '${e.source.kind}' in this feat2go`))
        : !file ? Promise.reject(new HttpError(404, `the frames of '${e.name}' are not found (${e.source.path}${e.source.relative ? `, ${e.source.relative} under the folder` : ''})`))
          : Promise.resolve().then(() => opener(file, e.source));
      p.catch(() => sources.delete(e.name));
      sources.set(e.name, p);
    }
    return p;
  };

  const episodeList = (): unknown[] => {
    listCache ??= index.episodes.map((e) => {
      let values: Float32Array | undefined;
      try {
        values = readFloats(path.join(e.outDir, 'values.npy'));
      } catch { /* listed without its curve */ }
      return {
        name: e.name, frames: e.frames, stages: e.stages, meanValue: e.meanValue,
        finalValue: values ? finalOf(values) : null,
        ...(e.success !== undefined ? { success: e.success } : {}), ...(e.task !== undefined ? { task: e.task } : {}),
        kind: e.source.kind, hasFrames: viewSourceOpener(e.source.kind) !== undefined && resolveSource(index, e.source) !== undefined,
        thumbFrame: Math.max(0, Number(e.source.frames ?? e.extra.framesIn ?? 1) - 1) || 0,
        spark: values ? downsample(values) : [],
      };
    });
    return listCache;
  };

  const episodeDetail = async (e: ViewEpisodeEntry) => {
    let values: Float32Array;
    let similarity: Float32Array;
    let segments: Array<{ start: number; end: number }>;
    try {
      values = readFloats(path.join(e.outDir, 'values.npy'));
      similarity = readFloats(path.join(e.outDir, 'similarity.npy'));
      segments = readSegments(e.outDir, values.length);
    } catch (err) {
      throw new HttpError(500, `cannot read the outputs of '${e.name}': ${(err as Error).message}`);
    }
    let frames: ViewFrames | undefined;
    let frameError: string | undefined;
    if (e.source.kind !== 'features') {
      try {
        frames = await framesOf(e);
      } catch (err) {
        frameError = (err as Error).message;
      }
    }
    const file = resolveSource(index, e.source);
    const fps = frames?.fps ?? null;
    return {
      name: e.name,
      steps: values.length,
      frameCount: frames ? frames.count : null,
      values: Array.from(values),
      similarity: Array.from(similarity),
      stepsToGo: Array.from(stepsToGoTargets(values.length)),
      segments,
      meanValue: e.meanValue,
      finalValue: finalOf(values),
      ...(e.success !== undefined ? { success: e.success } : {}), ...(e.task !== undefined ? { task: e.task } : {}),
      source: { ...e.source, found: file !== undefined },
      frames: frames ? {
        count: frames.count, width: frames.width, height: frames.height, kind: frames.kind,
        framesPerStep: typeof e.source.framesPerStep === 'number' && e.source.framesPerStep >= 1 ? e.source.framesPerStep : 1,
        ...(frames.times ? { times: frames.times } : {}),
        ...(frames.video ? { video: `/api/episodes/${encodeURIComponent(e.name)}/video`, videoType: frames.video.type } : {}),
      } : null,
      ...(frameError ? { frameError } : {}),
      fps,
      annotations: e.source.kind === 'features' ? undefined : readAnnotations(file, frames?.count ?? values.length),
      options: index.options,
      outputs: path.relative(index.dir, e.outDir).split(path.sep).join('/'),
      info: e.extra,
    };
  };

  const handleFrame = async (req: http.IncomingMessage, res: http.ServerResponse, e: ViewEpisodeEntry, k: string, query: URLSearchParams) => {
    if (!/^\d{1,9}$/.test(k)) throw notFound();
    const format = query.get('format') ?? 'png';
    if (format !== 'png' && format !== 'jpeg') throw new HttpError(400, `format must be png or jpeg, not '${format}'`);
    const w = query.get('w');
    if (w !== null && !/^\d{1,4}$/.test(w)) throw new HttpError(400, `w must be a width in pixels, not '${w}'`);
    const width = w === null ? undefined : Math.max(8, Number(w));
    const frames = await framesOf(e);
    const key = `${e.name}\0${k}\0${format}\0${width ?? ''}`;
    let img = cache.get(key);
    if (!img) {
      try {
        img = await frames.image(Number(k), { format, ...(width !== undefined ? { width } : {}) });
      } catch (err) {
        if (err instanceof FrameRangeError) throw notFound();
        throw err;
      }
      cache.set(key, img);
    }
    send(req, res, 200, img.data, img.type, { 'Cache-Control': 'private, max-age=600' });
  };

  const handleFile = (req: http.IncomingMessage, res: http.ServerResponse, segments: string[]) => {
    const type = FILE_TYPES[path.extname(segments[segments.length - 1] ?? '').toLowerCase()];
    if (!type || segments.some((s) => s.startsWith('.'))) throw notFound();
    const file = path.join(index.dir, ...segments);
    let real: string;
    try {
      real = fs.realpathSync(file);
    } catch {
      throw notFound();
    }
    // A symbolic link that leads out of the folder is not followed.
    if (!real.startsWith(index.dir + path.sep)) throw notFound();
    sendFileRange(req, res, real, type, type === 'image/svg+xml' ? { 'Content-Security-Policy': FILE_CSP } : {});
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not accepted: this server only reads`, { Allow: 'GET, HEAD', Connection: 'close' });
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      throw new HttpError(413, 'request bodies are not accepted', { Connection: 'close' });
    }
    if (checkHost && !allowedHost(req.headers.host, boundPort)) throw new HttpError(403, 'unexpected Host header (this viewer answers to 127.0.0.1 and localhost only)');
    const parsed = requestSegments(req.url ?? '');
    if (!parsed) throw notFound();
    const { segments: s, query } = parsed;
    if (s.length === 0) {
      const page = assets.get('index.html')!;
      send(req, res, 200, page.data, page.type, { 'Content-Security-Policy': PAGE_CSP });
      return;
    }
    if (s.length === 1 && s[0] === 'favicon.ico') {
      const icon = assets.get('favicon.svg')!;
      send(req, res, 200, icon.data, icon.type);
      return;
    }
    if (s[0] === 'assets' && s.length === 2) {
      const a = assets.get(s[1]);
      if (!a || s[1] === 'index.html') throw notFound();
      send(req, res, 200, a.data, a.type);
      return;
    }
    if (s[0] === 'files' && s.length >= 2) {
      handleFile(req, res, s.slice(1));
      return;
    }
    if (s[0] !== 'api') throw notFound();
    if (s.length === 2 && s[1] === 'index') {
      sendJson(req, res, {
        dir: index.dir, name: path.basename(index.dir), listing: index.listing, options: index.options, encoder: index.encoder,
        episodes: index.episodes.length, failures: index.failures, experiment: index.experiment,
      });
      return;
    }
    if (s.length === 2 && s[1] === 'experiment') {
      if (index.experiment === null) throw notFound();
      const exp = path.join(index.dir, index.experiment);
      const details = path.join(exp, 'details.json');
      const files = fs.readdirSync(exp).filter((n) => /\.(svg|png|md)$/.test(n)).sort();
      sendJson(req, res, {
        path: index.experiment, results: readJson(path.join(exp, 'results.json')),
        details: fs.existsSync(details) ? readJson(details) : null,
        files: files.map((n) => ({ name: n, url: `/files/${[...(index.experiment ? [index.experiment] : []), n].map(encodeURIComponent).join('/')}` })),
      });
      return;
    }
    if (s[1] !== 'episodes') throw notFound();
    if (s.length === 2) {
      sendJson(req, res, episodeList());
      return;
    }
    const e = byName.get(s[2]);
    if (!e) throw notFound();
    if (s.length === 3) {
      sendJson(req, res, await episodeDetail(e));
    } else if (s.length === 5 && s[3] === 'frames') {
      await handleFrame(req, res, e, s[4], query);
    } else if (s.length === 4 && s[3] === 'video') {
      const frames = await framesOf(e);
      if (!frames.video) throw notFound();
      sendFileRange(req, res, frames.video.file, frames.video.type);
    } else {
      throw notFound();
    }
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const headers = err instanceof HttpError ? err.headers : {};
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(req, res, status, JSON.stringify({ error: status === 404 && err instanceof HttpError && err.message === 'not found' ? 'not found' : (err as Error).message }),
        'application/json; charset=utf-8', headers);
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  const wildcard = host === '0.0.0.0' || host === '::';
  const shown = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shown}:${boundPort}/`,
    host,
    port: boundPort,
    dir: index.dir,
    index,
    close() {
      closed ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const p of sources.values()) p.then((f) => f.close?.(), () => undefined);
        await done;
      })();
      return closed;
    },
  };
}
