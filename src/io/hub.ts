// A small client of the Hugging Face model hub that shares the Python
// client's cache and environment: files are resolved with
// `{endpoint}/{repo}/resolve/{revision}/{file}` (a HEAD request gives the
// commit, the ETag and the size), stored once under
// `{cache}/models--ORG--NAME/blobs/<etag>` and linked from
// `snapshots/<commit>/<file>`; `refs/<revision>` holds the commit a branch or
// tag pointed at. HF_ENDPOINT, HF_TOKEN (or the token file), HF_HOME /
// HF_HUB_CACHE and HF_HUB_OFFLINE mean what they mean to huggingface_hub.
// Downloads go to a unique `.incomplete` file, are checked against their
// length (and SHA-256 for LFS files) and renamed into place, so a cut
// download leaves nothing a later run would use.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { checkOptions, typeError } from '../core/validate.js';
import { ensureDir, writeFileAtomic } from './atomic.js';

/** The public hub, used when HF_ENDPOINT is not set. */
export const HUB_DEFAULT_ENDPOINT = 'https://huggingface.co';

/** What went wrong, for code that handles hub errors (every {@link HubError} also says it in words). */
export type HubErrorCode =
  | 'REPO_NOT_FOUND' | 'GATED' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'REVISION_NOT_FOUND' | 'ENTRY_NOT_FOUND'
  | 'UNREACHABLE' | 'NOT_A_HUB' | 'HTTP' | 'TRUNCATED' | 'CORRUPT' | 'OFFLINE_NOT_CACHED';

/** An error of the hub client; the message names the repository and says what to do. */
export class HubError extends Error {
  readonly code: HubErrorCode;
  readonly repo: string;
  readonly file: string | undefined;
  readonly status: number | undefined;
  constructor(code: HubErrorCode, repo: string, file: string | undefined, message: string, status?: number) {
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.repo = repo;
    this.file = file;
    this.status = status;
  }
}

/** One progress report of a download. */
export interface HubProgress {
  repo: string;
  file: string;
  /** Bytes received so far. */
  bytes: number;
  /** Size of the file when the hub said it. */
  total: number | undefined;
  /** True on the last report of the file (downloaded). */
  done: boolean;
}

/** Options of the hub client; each defaults to its environment variable, as in huggingface_hub. */
export interface HubOptions {
  /** Branch, tag or commit (default 'main'). */
  revision?: string;
  /** The hub's address (default: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Bearer token (default: HF_TOKEN, else the token file HF_TOKEN_PATH or HF_HOME/token); null sends none. */
  token?: string | null;
  /** Cache root holding models--ORG--NAME folders (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** The cache only, no network call at all (default: HF_HUB_OFFLINE is 1/ON/YES/TRUE). */
  offline?: boolean;
  /**
   * Download progress: a function receiving {@link HubProgress} reports, true for a bar on
   * stderr, false for nothing (default: a bar on stderr when it is a terminal, unless
   * HF_HUB_DISABLE_PROGRESS_BARS is set; files under 1 MiB get none).
   */
  progress?: boolean | ((p: HubProgress) => void);
  /** Receives warnings such as "hub unreachable, using the cached copy" (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  /** Seconds to wait for the hub's answer and between bytes of a download (default HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT, else 10). */
  timeoutSeconds?: number;
}

/** The settings the hub client runs with, resolved from {@link HubOptions} and the environment. */
export interface HubSettings {
  endpoint: string;
  token: string | undefined;
  /** Where the token came from: 'option', 'HF_TOKEN', the token file's path, or undefined. */
  tokenSource: string | undefined;
  cacheDir: string;
  offline: boolean;
  timeoutSeconds: number;
}

const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);
const isTrue = (v: string | undefined): boolean => v !== undefined && TRUE_VALUES.has(v.trim().toUpperCase());
const COMMIT_RE = /^[0-9a-f]{40}$/;
const expandHome = (p: string): string => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);

const HUB_OPTION_KEYS = { revision: 1, endpoint: 1, token: 1, cacheDir: 1, offline: 1, progress: 1, onWarning: 1, timeoutSeconds: 1 } as const;

/**
 * Resolves the hub settings as huggingface_hub does: options first, then
 * HF_ENDPOINT, HF_TOKEN (or the token file at HF_TOKEN_PATH / HF_HOME/token;
 * none when HF_HUB_DISABLE_IMPLICIT_TOKEN is set), HF_HUB_CACHE (or
 * HF_HOME/hub, HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or
 * ~/.cache/huggingface) and HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE).
 *
 * @example
 * hubSettings().cacheDir;   // '/home/me/.cache/huggingface/hub'
 */
export function hubSettings(opts?: HubOptions, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const o = checkOptions(opts, 'opts', HUB_OPTION_KEYS);
  let endpoint = o.endpoint ?? env.HF_ENDPOINT ?? HUB_DEFAULT_ENDPOINT;
  if (typeof endpoint !== 'string' || !/^https?:\/\/[^/]/.test(endpoint)) {
    throw typeError(o.endpoint !== undefined ? 'opts.endpoint' : 'HF_ENDPOINT', 'an http(s) URL such as https://huggingface.co', endpoint);
  }
  endpoint = endpoint.replace(/\/+$/, '');
  const home = expandHome(env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface'));
  const cacheDir = path.resolve(expandHome(o.cacheDir ?? env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? path.join(home, 'hub')));
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === '')) throw typeError('opts.cacheDir', 'a folder path', o.cacheDir);
  let token: string | undefined;
  let tokenSource: string | undefined;
  if (o.token !== undefined) {
    if (o.token !== null && (typeof o.token !== 'string' || o.token.trim() === '')) throw typeError('opts.token', 'a token string or null', o.token);
    token = o.token ?? undefined;
    tokenSource = o.token === null ? undefined : 'option';
  } else if (!isTrue(env.HF_HUB_DISABLE_IMPLICIT_TOKEN)) {
    if (env.HF_TOKEN?.trim()) {
      token = env.HF_TOKEN.trim();
      tokenSource = 'HF_TOKEN';
    } else {
      const file = expandHome(env.HF_TOKEN_PATH ?? path.join(home, 'token'));
      try {
        const t = fs.readFileSync(file, 'utf8').trim();
        if (t) { token = t; tokenSource = file; }
      } catch { /* no token file */ }
    }
  }
  const offline = o.offline ?? (isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE));
  if (typeof offline !== 'boolean') throw typeError('opts.offline', 'true or false', offline);
  const envTimeout = Number(env.HF_HUB_DOWNLOAD_TIMEOUT ?? env.HF_HUB_ETAG_TIMEOUT);
  const timeoutSeconds = o.timeoutSeconds !== undefined ? checkPositive(o.timeoutSeconds, 'opts.timeoutSeconds')
    : Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 10;
  return { endpoint, token, tokenSource, cacheDir, offline, timeoutSeconds };
}

function checkPositive(v: unknown, name: string): number {
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw typeError(name, 'a number of seconds > 0', v);
  return v;
}

/**
 * Splits a model name `ORG/NAME[@REVISION]`, with or without the `hf:` prefix.
 *
 * @throws {TypeError} for anything else, naming what was received
 * @example
 * parseHubName('hf:facebook/dinov2-small@main');   // { repo: 'facebook/dinov2-small', revision: 'main' }
 */
export function parseHubName(name: string): { repo: string; revision: string | undefined } {
  if (typeof name !== 'string') throw typeError('name', "a model name 'hf:ORG/NAME[@REVISION]'", name);
  const m = /^(?:hf:)?([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@([^\s@]+))?$/.exec(name.trim());
  if (!m || m[1].includes('..') || m[1].endsWith('.') || (m[2] !== undefined && (m[2].includes('..') || m[2].startsWith('/') || m[2].endsWith('/')))) {
    throw new TypeError(`Expected a model name 'hf:ORG/NAME[@REVISION]' (e.g. hf:facebook/dinov2-small) but received '${name}'`);
  }
  return { repo: m[1], revision: m[2] };
}

/** The cache folder of a model repository: `{cacheDir}/models--ORG--NAME` (huggingface_hub's layout). */
export function repoCacheFolder(cacheDir: string, repo: string): string {
  return path.join(cacheDir, `models--${repo.split('/').join('--')}`);
}

function checkRepoFile(file: string): string {
  if (typeof file !== 'string' || file === '' || file.startsWith('/') || file.includes('\\') || file.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw typeError('file', "a relative file path inside the repository such as 'onnx/model.onnx'", file);
  }
  return file;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

/**
 * A download progress bar for a terminal: redrawn in place at most ten times a
 * second, `Downloading FILE [####----] 45.1 MB / 88.2 MB 12.3 MB/s`, and one
 * line left behind when the file is complete. Files under `minBytes` (default
 * 1 MiB) get none.
 *
 * @param stream where to draw (stderr); its `columns` bounds the line
 * @example
 * await hubFile('facebook/dinov2-small', 'onnx/model.onnx', { progress: downloadProgressBar(process.stderr) });
 */
export function downloadProgressBar(stream: { write(s: string): unknown; columns?: number }, minBytes = 1 << 20): (p: HubProgress) => void {
  const started = new Map<string, number>();
  let last = 0;
  return (p) => {
    if (p.total !== undefined && p.total < minBytes) return;
    const key = `${p.repo}/${p.file}`;
    const now = Date.now();
    if (!started.has(key)) started.set(key, now);
    if (!p.done && now - last < 100) return;
    last = now;
    const secs = Math.max(1e-3, (now - started.get(key)!) / 1000);
    const rate = `${formatBytes(p.bytes / secs)}/s`;
    const cols = stream.columns ?? 80;
    if (p.done) {
      stream.write(`\r\x1b[K${`${p.repo} ${p.file}: ${formatBytes(p.bytes)} in ${secs.toFixed(1)} s (${rate})`.slice(0, cols - 1)}\n`);
      started.delete(key);
      return;
    }
    const width = 24;
    const frac = p.total ? Math.min(1, p.bytes / p.total) : 0;
    const filled = Math.round(frac * width);
    const bar = p.total ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
    const text = `Downloading ${p.file} ${bar}${formatBytes(p.bytes)}${p.total ? ` / ${formatBytes(p.total)}` : ''} ${rate}`;
    stream.write(`\r\x1b[K${text.slice(0, cols - 1)}`);
  };
}

interface FileMeta { commit: string; etag: string; size: number | undefined; location: string }

/**
 * One model repository on the hub, at one revision, with the Python client's
 * cache. The first file resolved fixes the commit: later files are fetched at
 * that commit, so a model's files always come from one snapshot.
 *
 * @example
 * const repo = new HubRepo('facebook/dinov2-small');
 * const config = await repo.file('config.json');   // path inside snapshots/<commit>/
 */
export class HubRepo {
  readonly repo: string;
  readonly revision: string;
  readonly settings: HubSettings;
  /** The commit the revision resolved to (after the first file). */
  commit: string | undefined;
  /** Files downloaded (not found in the cache) by this object, for callers that report it. */
  readonly downloaded: string[] = [];
  private readonly progress: ((p: HubProgress) => void) | undefined;
  private readonly warn: (message: string) => void;
  private readonly folder: string;

  /**
   * @param repo `ORG/NAME`
   * @param opts revision, endpoint, token, cache, offline mode, progress (see {@link HubOptions})
   * @throws {TypeError} for a malformed name or option
   */
  constructor(repo: string, opts: HubOptions = {}) {
    const parsed = parseHubName(repo);
    if (parsed.revision !== undefined) throw new TypeError(`Expected a repository 'ORG/NAME' for repo (give the revision as opts.revision) but received '${repo}'`);
    this.repo = parsed.repo;
    this.settings = hubSettings(opts);
    const rev = opts.revision ?? 'main';
    if (typeof rev !== 'string' || !/^[^\s]+$/.test(rev) || rev.includes('..')) throw typeError('opts.revision', 'a branch, tag or commit', rev);
    this.revision = rev;
    this.folder = repoCacheFolder(this.settings.cacheDir, this.repo);
    const pg = opts.progress;
    if (pg !== undefined && typeof pg !== 'boolean' && typeof pg !== 'function') throw typeError('opts.progress', 'true, false or a function', pg);
    this.progress = typeof pg === 'function' ? pg
      : pg === true || (pg === undefined && process.stderr.isTTY === true && !isTrue(process.env.HF_HUB_DISABLE_PROGRESS_BARS))
        ? downloadProgressBar(process.stderr) : undefined;
    if (opts.onWarning !== undefined && typeof opts.onWarning !== 'function') throw typeError('opts.onWarning', 'a function', opts.onWarning);
    this.warn = opts.onWarning ?? ((m) => process.emitWarning(m));
  }

  /** `ORG/NAME@revision` for messages. */
  get label(): string {
    return `${this.repo}@${this.revision}`;
  }

  /** The snapshot folder of the resolved commit (undefined before the first file). */
  get snapshotDir(): string | undefined {
    return this.commit === undefined ? undefined : path.join(this.folder, 'snapshots', this.commit);
  }

  private cachedCommit(): string | undefined {
    if (COMMIT_RE.test(this.revision)) return this.revision;
    const c = readText(path.join(this.folder, 'refs', this.revision));
    return c && COMMIT_RE.test(c) ? c : undefined;
  }

  private pointer(commit: string, file: string): string {
    return path.join(this.folder, 'snapshots', commit, ...file.split('/'));
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': 'feat2go; hub-client', 'accept-encoding': 'identity' };
    if (this.settings.token) h.authorization = `Bearer ${this.settings.token}`;
    return h;
  }

  private url(rev: string, file: string): string {
    return `${this.settings.endpoint}/${this.repo}/resolve/${encodeURIComponent(rev)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * The local path of `file` in the snapshot, downloading it when needed. In
   * offline mode only the cache is read. When the hub cannot be reached (or
   * answers with an error) and the file is cached for this revision, the cached
   * copy is used with a warning, as huggingface_hub does.
   *
   * @throws {HubError} naming the repository and what to do (see {@link HubErrorCode})
   */
  async file(file: string): Promise<string> {
    checkRepoFile(file);
    if (this.settings.offline) {
      const commit = this.commit ?? this.cachedCommit();
      if (commit === undefined) {
        throw new HubError('OFFLINE_NOT_CACHED', this.repo, file, `${this.label} is not in the cache ${this.settings.cacheDir} and HF_HUB_OFFLINE is set, so nothing is downloaded: ` +
          `run once without HF_HUB_OFFLINE (or \`hf download ${this.repo}\`) to cache it, or point HF_HOME / HF_HUB_CACHE at the cache that has it`);
      }
      const p = this.pointer(commit, file);
      if (!exists(p)) {
        throw new HubError('OFFLINE_NOT_CACHED', this.repo, file, `${this.label}: ${file} is not in the cache (${path.join(this.folder, 'snapshots', commit)}) and HF_HUB_OFFLINE is set, so nothing is downloaded: ` +
          'run once without HF_HUB_OFFLINE to download it');
      }
      this.commit = commit;
      return p;
    }
    const pinned = this.commit ?? (COMMIT_RE.test(this.revision) ? this.revision : undefined);
    if (pinned !== undefined && exists(this.pointer(pinned, file))) {
      this.commit = pinned;
      return this.pointer(pinned, file);
    }
    let meta: FileMeta;
    try {
      meta = await this.head(pinned ?? this.revision, file);
    } catch (err) {
      const e = err as HubError;
      if (e.code === 'ENTRY_NOT_FOUND' || e.code === 'REVISION_NOT_FOUND') throw e;
      const commit = this.commit ?? this.cachedCommit();
      if (commit !== undefined && exists(this.pointer(commit, file))) {
        this.warn(`${this.label}: using the cached ${file} of commit ${commit.slice(0, 12)} because the hub could not be asked (${e.code}${e.status ? `, HTTP ${e.status}` : ''}): ${e.message}`);
        this.commit = commit;
        return this.pointer(commit, file);
      }
      throw e;
    }
    this.commit = meta.commit;
    const pointer = this.pointer(meta.commit, file);
    if (!exists(pointer)) {
      const blob = path.join(this.folder, 'blobs', meta.etag);
      if (!exists(blob)) {
        ensureDir(path.dirname(blob));
        await this.download(file, meta, blob);
        this.downloaded.push(file);
      }
      ensureDir(path.dirname(pointer));
      linkPointer(blob, pointer);
    }
    this.writeRef(meta.commit);
    return pointer;
  }

  private writeRef(commit: string): void {
    if (this.revision === commit) return;
    const ref = path.join(this.folder, 'refs', ...this.revision.split('/'));
    if (readText(ref) === commit) return;
    try {
      ensureDir(path.dirname(ref));
      writeFileAtomic(ref, commit);
    } catch { /* a read-only cache still works for this run */ }
    const tag = path.join(this.settings.cacheDir, 'CACHEDIR.TAG');
    if (!exists(tag)) {
      try {
        writeFileAtomic(tag, 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by huggingface_hub.\n# For information about cache directory tags, see:\n#\thttps://bford.info/cachedir/\n');
      } catch { /* optional */ }
    }
  }

  /** Makes a request with the settings' timeout; network failures become UNREACHABLE. */
  private async request(url: string, init: RequestInit, file: string): Promise<Response> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.settings.timeoutSeconds * 1000);
    try {
      return await fetch(url, { ...init, signal: ctl.signal, redirect: 'manual' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = ctl.signal.aborted ? `no answer within ${this.settings.timeoutSeconds} s` : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new HubError('UNREACHABLE', this.repo, file, `${this.label}: cannot reach the hub at ${this.settings.endpoint} (${why}) to fetch ${file}: ` +
        `check the network, or set HF_ENDPOINT to a reachable hub or mirror; a model already in the cache loads without the network with HF_HUB_OFFLINE=1`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Turns an error status into a HubError saying what to do. */
  private statusError(res: Response, file: string): HubError {
    const code = res.headers.get('x-error-code');
    const msg = res.headers.get('x-error-message');
    const status = res.status;
    const where = `${this.settings.endpoint}/${this.repo}`;
    const tokenNote = this.settings.token ? `the token from ${this.settings.tokenSource} was sent` : 'no token was sent';
    if (code === 'RevisionNotFound') {
      return new HubError('REVISION_NOT_FOUND', this.repo, file, `${this.label}: the repository has no revision '${this.revision}' (HTTP ${status}): use a branch, tag or commit it has (default main)`, status);
    }
    if (code === 'EntryNotFound') {
      return new HubError('ENTRY_NOT_FOUND', this.repo, file, `${this.label}: the repository has no file ${file} (HTTP ${status})`, status);
    }
    if (code === 'GatedRepo') {
      return new HubError('GATED', this.repo, file, `${this.label} is a gated model (HTTP ${status}; ${tokenNote}): accept its conditions at ${where} and set HF_TOKEN to a token of that account`, status);
    }
    if (code === 'RepoNotFound' || (status === 404 && file === 'config.json')) {
      return new HubError('REPO_NOT_FOUND', this.repo, file, `${this.label}: no such model on ${this.settings.endpoint} (HTTP ${status}): check the name; ` +
        `if it is private or gated, set HF_TOKEN to a token that can read it (${tokenNote})`, status);
    }
    if (status === 401) {
      return new HubError('UNAUTHORIZED', this.repo, file, `${this.label}: the hub refused the request (HTTP 401${msg ? `: ${msg}` : ''}; ${tokenNote}): set HF_TOKEN to a valid token with read access`, status);
    }
    if (status === 403) {
      return new HubError('FORBIDDEN', this.repo, file, `${this.label}: access denied (HTTP 403${msg ? `: ${msg}` : ''}; ${tokenNote}): if the model is gated, accept its conditions at ${where}; set HF_TOKEN to a token with read access to it`, status);
    }
    if (status === 404) {
      return new HubError('ENTRY_NOT_FOUND', this.repo, file, `${this.label}: the repository has no file ${file} (HTTP 404)`, status);
    }
    return new HubError('HTTP', this.repo, file, `${this.label}: the hub at ${this.settings.endpoint} answered HTTP ${status}${msg ? ` (${msg})` : ''} for ${file}; try again later, or set HF_HUB_OFFLINE=1 to use a cached copy`, status);
  }

  /** HEAD of the resolve URL, following redirects that stay on the hub's host (renamed repositories). */
  private async head(rev: string, file: string): Promise<FileMeta> {
    let url = this.url(rev, file);
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.request(url, { method: 'HEAD', headers: this.headers() }, file);
      if (res.status >= 400) throw this.statusError(res, file);
      const location = res.headers.get('location');
      const redirect = res.status >= 300 && res.status < 400 && location !== null;
      if (redirect && new URL(location, url).origin === new URL(url).origin && res.headers.get('x-repo-commit') === null) {
        url = new URL(location, url).toString();
        continue;
      }
      const commit = res.headers.get('x-repo-commit');
      const rawEtag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
      if (commit === null || !COMMIT_RE.test(commit) || rawEtag === null) {
        throw new HubError('NOT_A_HUB', this.repo, file, `${this.label}: ${this.settings.endpoint} answered for ${file} without the hub's X-Repo-Commit / ETag headers, so it does not look like a model hub: check HF_ENDPOINT (and any proxy)`);
      }
      const etag = rawEtag.replace(/^W\//, '').replace(/^"|"$/g, '');
      if (!/^[\w.-]+$/.test(etag)) throw new HubError('NOT_A_HUB', this.repo, file, `${this.label}: the hub sent an unusable ETag '${rawEtag}' for ${file}`);
      const sizeHeader = res.headers.get('x-linked-size') ?? (redirect ? null : res.headers.get('content-length'));
      const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
      return { commit, etag, size, location: redirect ? new URL(location, url).toString() : url };
    }
    throw new HubError('HTTP', this.repo, file, `${this.label}: too many redirects resolving ${file} on ${this.settings.endpoint}`);
  }

  /** Downloads to a unique `.incomplete` file beside the blob, checks it, renames it into place. */
  private async download(file: string, meta: FileMeta, blob: string): Promise<void> {
    const tmp = `${blob}.${randomBytes(4).toString('hex')}.incomplete`;
    const fh = await fs.promises.open(tmp, 'wx', 0o644);
    let bytes = 0;
    let total = meta.size;
    let closed = false;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.fetchBody(meta.location, file, bytes, async (chunk) => {
            await fh.write(chunk, 0, chunk.byteLength, bytes);
            bytes += chunk.byteLength;
            this.progress?.({ repo: this.repo, file, bytes, total, done: false });
          }, (len) => { total ??= len; }, async () => {
            // The server ignored the range: start over.
            bytes = 0;
            await fh.truncate(0);
          });
          break;
        } catch (err) {
          // A connection cut mid-file is resumed from the bytes received (twice at most).
          if ((err as HubError).code !== 'TRUNCATED' || attempt >= 2) throw err;
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        }
      }
      if (total !== undefined && bytes !== total) {
        throw new HubError('TRUNCATED', this.repo, file, `${this.label}: the download of ${file} ended after ${bytes} of ${total} bytes (truncated); nothing was cached: run again`);
      }
      await fh.sync();
      await fh.close();
      closed = true;
      if (/^[0-9a-f]{64}$/.test(meta.etag)) {
        // LFS files are named by their SHA-256.
        const got = await sha256File(tmp);
        if (got !== meta.etag) {
          throw new HubError('CORRUPT', this.repo, file, `${this.label}: the download of ${file} does not match the hub's SHA-256 (${meta.etag.slice(0, 12)}…, got ${got.slice(0, 12)}…); nothing was cached: run again`);
        }
      }
      fs.renameSync(tmp, blob);
      this.progress?.({ repo: this.repo, file, bytes, total, done: true });
    } catch (err) {
      if (!closed) await fh.close().catch(() => undefined);
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  /**
   * GETs `url` from byte `from` (a Range request when > 0), following redirects (the
   * token is not sent to another host) and streaming the body to `sink`.
   */
  private async fetchBody(start: string, file: string, from: number, sink: (chunk: Uint8Array) => Promise<void>,
    onLength: (n: number) => void, onRestart: () => Promise<void>): Promise<void> {
    let url = start;
    const hubOrigin = new URL(this.settings.endpoint).origin;
    for (let hop = 0; hop < 10; hop++) {
      const headers = this.headers();
      if (new URL(url).origin !== hubOrigin) delete headers.authorization;
      if (from > 0) headers.range = `bytes=${from}-`;
      const ctl = new AbortController();
      let timer = setTimeout(() => ctl.abort(), this.settings.timeoutSeconds * 1000);
      let res: Response;
      try {
        res = await fetch(url, { headers, redirect: 'manual', signal: ctl.signal });
      } catch (err) {
        clearTimeout(timer);
        const cause = (err as { cause?: { code?: string } }).cause;
        if (from > 0) throw new HubError('TRUNCATED', this.repo, file, `${this.label}: the download of ${file} was cut after ${from} bytes and could not be resumed (${cause?.code ?? (err as Error).message}); nothing was cached: run again`);
        throw new HubError('UNREACHABLE', this.repo, file, `${this.label}: cannot download ${file} from ${new URL(url).host} (${ctl.signal.aborted ? 'timed out' : cause?.code ?? (err as Error).message}): check the network or HF_ENDPOINT; cached models load with HF_HUB_OFFLINE=1`);
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        clearTimeout(timer);
        url = new URL(location, url).toString();
        continue;
      }
      if (res.status >= 400) {
        clearTimeout(timer);
        throw this.statusError(res, file);
      }
      if (from > 0 && res.status !== 206) await onRestart();
      const len = res.headers.get('content-length');
      if (len !== null && /^\d+$/.test(len) && res.status !== 206) onLength(Number(len));
      if (res.body === null) { clearTimeout(timer); return; }
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          clearTimeout(timer);
          if (done) return;
          await sink(value);
          timer = setTimeout(() => ctl.abort(), this.settings.timeoutSeconds * 1000);
        }
      } catch (err) {
        clearTimeout(timer);
        if (err instanceof HubError) throw err;
        throw new HubError('TRUNCATED', this.repo, file, `${this.label}: the download of ${file} was cut (${ctl.signal.aborted ? `no data for ${this.settings.timeoutSeconds} s` : (err as Error).message}); nothing was cached: run again`);
      }
    }
    throw new HubError('HTTP', this.repo, file, `${this.label}: too many redirects downloading ${file}`);
  }

  /**
   * The repository's file names at the resolved commit, from the hub's model API
   * (`{endpoint}/api/models/{repo}/revision/{commit}`), or in offline mode the files
   * of the cached snapshot. Undefined when neither answers (used for messages only).
   */
  async listFiles(): Promise<string[] | undefined> {
    const rev = this.commit ?? this.revision;
    if (this.settings.offline) {
      const commit = this.commit ?? this.cachedCommit();
      if (!commit) return undefined;
      const root = path.join(this.folder, 'snapshots', commit);
      const out: string[] = [];
      const walk = (dir: string, prefix: string): void => {
        let entries: fs.Dirent[] = [];
        try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
        for (const e of entries) {
          if (e.isDirectory()) walk(path.join(dir, e.name), `${prefix}${e.name}/`);
          else out.push(`${prefix}${e.name}`);
        }
      };
      walk(root, '');
      return out.sort();
    }
    try {
      const res = await this.request(`${this.settings.endpoint}/api/models/${this.repo}/revision/${encodeURIComponent(rev)}`, { headers: this.headers() }, 'the file list');
      if (!res.ok) return undefined;
      const body = await res.json() as { siblings?: Array<{ rfilename?: unknown }> };
      if (!Array.isArray(body.siblings)) return undefined;
      return body.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === 'string').sort();
    } catch {
      return undefined;
    }
  }
}

function linkPointer(blob: string, pointer: string): void {
  const rel = path.relative(path.dirname(pointer), blob);
  try {
    fs.symlinkSync(rel, pointer);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      try {
        if (fs.realpathSync(pointer) === fs.realpathSync(blob)) return;
      } catch { /* a dangling link: replace it */ }
      fs.rmSync(pointer, { force: true });
      fs.symlinkSync(rel, pointer);
      return;
    }
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EACCES') {
      // No symlinks here (as huggingface_hub on such file systems): keep a copy in the snapshot.
      const tmp = `${pointer}.${randomBytes(4).toString('hex')}.tmp`;
      fs.copyFileSync(blob, tmp);
      fs.renameSync(tmp, pointer);
      return;
    }
    throw err;
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Downloads (or finds in the cache) one file of a model repository and returns
 * its local path, `{cache}/models--ORG--NAME/snapshots/<commit>/<file>`.
 *
 * @param repo `ORG/NAME`
 * @param file path inside the repository, e.g. 'onnx/model.onnx'
 * @throws {HubError} naming the repository and what to do
 * @example
 * const p = await hubFile('facebook/dinov2-small', 'config.json', { revision: 'main' });
 */
export async function hubFile(repo: string, file: string, opts?: HubOptions): Promise<string> {
  return new HubRepo(repo, opts).file(file);
}

