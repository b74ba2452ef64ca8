// Atomic file writes: the data goes to a temporary file in the same folder,
// is flushed to disk, and is renamed over the target, so a reader never sees
// a half-written file and a crash leaves either the old file or the new one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkOptions } from '../core/validate.js';
import { fileKind } from './common.js';

/** Data accepted by {@link writeFileAtomic}: a string (UTF-8), bytes, or a list of byte chunks written in order. */
export type AtomicData = string | ArrayBufferView | ReadonlyArray<ArrayBufferView>;

function toBytes(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Throws a RangeError naming `name` and the path when `file` cannot be a
 * file's path: an existing directory, or a path ending in a separator. Run
 * before a temporary file is created, so none is ever made beside a directory.
 * The error carries `code: 'EISDIR'` and `path`, as Node's own error would.
 */
export function checkFileTarget(file: string, name = 'file'): void {
  const fail = (why: string): never => {
    throw Object.assign(new RangeError(`Expected a file path for ${name} but received '${file}', which ${why}`), { code: 'EISDIR', path: file });
  };
  if (file.endsWith('/') || file.endsWith(path.sep)) fail('ends in a path separator (a directory)');
  let st: fs.Stats | undefined;
  try { st = fs.statSync(file); } catch { /* absent: fine */ }
  if (st?.isDirectory()) fail('is a directory');
}

/** This machine's name as it goes into temporary names (letters, digits and '-', at most 32). */
const HOST = os.hostname().replace(/[^A-Za-z0-9-]/g, '-').slice(0, 32) || 'host';

/**
 * A hidden name next to `target` for a temporary file or folder that replaces
 * it: `.<name>.<host>~<pid>.<12 hex>.tmp` (or `.old` for what it replaces).
 * Host and process are in the name so that {@link removeStaleTemps} can tell
 * a leftover of a dead process of this machine from one still being written.
 */
export function tempSibling(target: string, kind: 'tmp' | 'old' = 'tmp', tag = randomBytes(6).toString('hex')): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${HOST}~${process.pid}.${tag}.${kind}`);
}

const TEMP_NAME = /^\.(.+)\.([A-Za-z0-9-]{1,32})~(\d+)\.([0-9a-f]{12})\.(tmp|old)$/;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, someone else's
  }
}

/** Options of {@link removeStaleTemps}. */
export interface StaleTempOptions {
  /**
   * A temporary folder is removed only when every entry in it is one of these
   * names or a temporary file of {@link writeFileAtomic} (default: none, so
   * only temporary files are removed).
   */
  folderFiles?: readonly string[];
  /** Untouched for at least this long (default 10 minutes). */
  minAgeMs?: number;
}

/**
 * Removes the leftovers of interrupted atomic writes in `dir` (not below it):
 * temporary files of {@link writeFileAtomic} and temporary folders written by
 * the same scheme (see {@link tempSibling}). Only what is provably ours and
 * stale goes: the name has the exact temporary pattern, names this machine and
 * a process that no longer runs, has not been modified for `minAgeMs`, and —
 * for a folder — holds nothing but `folderFiles` and temporary files. A folder
 * shared by several machines is safe: another machine's temporaries are never
 * touched. Failures to remove are ignored (it is housekeeping).
 * @returns the paths removed
 */
export function removeStaleTemps(dir: string, opts: StaleTempOptions = {}): string[] {
  const minAge = opts.minAgeMs ?? 10 * 60 * 1000;
  const allowed = new Set(opts.folderFiles ?? []);
  const removed: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  const now = Date.now();
  for (const e of entries) {
    const m = TEMP_NAME.exec(e.name);
    if (!m || m[2] !== HOST || processAlive(Number(m[3]))) continue;
    const p = path.join(dir, e.name);
    try {
      const st = fs.lstatSync(p);
      if (now - st.mtimeMs < minAge) continue;
      if (st.isFile()) {
        fs.unlinkSync(p);
      } else if (st.isDirectory() && allowed.size > 0) {
        const inside = fs.readdirSync(p, { withFileTypes: true });
        if (!inside.every((f) => f.isFile() && (allowed.has(f.name) || TEMP_NAME.test(f.name)))) continue;
        fs.rmSync(p, { recursive: true, force: true });
      } else {
        continue;
      }
      removed.push(p);
    } catch { /* gone meanwhile, or not ours to remove */ }
  }
  return removed;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Makes sure `dir` is a folder, creating it and its missing parents one level
 * at a time (not with a recursive mkdir, which Node retries forever under
 * /proc). Fails at once, naming `dir`, when it or an ancestor exists but is
 * not a folder, or a level cannot be created.
 *
 * @throws {Error} `<dir>: exists and is a file, not a folder`, `<dir>: cannot create folder … (ENOENT …)`
 */
export function ensureDir(dir: string): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`Expected a folder path string for dir but received ${typeof dir}`);
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let p = abs; ; p = path.dirname(p)) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${dir}: cannot use ${p} as a folder (${code ?? (err as Error).message})`);
    }
    if (st) {
      if (!st.isDirectory()) {
        throw new Error(p === abs ? `${dir}: exists and is ${fileKind(st)}, not a folder` : `${dir}: ${p} is ${fileKind(st)}, not a folder`);
      }
      break;
    }
    missing.push(p);
    if (path.dirname(p) === p) break;
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && isDir(m)) continue;
      throw new Error(`${dir}: cannot create folder ${m} (${code ?? (err as Error).message})`);
    }
  }
}

/**
 * Writes a file atomically and synchronously: a temporary file in the same
 * folder is written, `fsync`ed and renamed over `file`. On any failure the
 * temporary file is removed and the error is rethrown; `file` is then either
 * unchanged or absent. The parent folder must exist.
 * @throws {RangeError} when `file` is a directory or ends in a path separator (checked before any temporary file exists)
 *
 * @param file destination path
 * @param data a string (written as UTF-8), a typed array / Buffer, or an array of chunks written back to back (no concatenation copy)
 * @param opts `mode` of the new file (default 0o644)
 * @example
 * writeFileAtomic('out/summary.json', JSON.stringify(summary));
 */
export function writeFileAtomic(file: string, data: AtomicData, opts: { mode?: number } = {}): void {
  const o = checkOptions(opts, 'opts', { mode: 1 });
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`Expected a file path string for file but received ${typeof file}`);
  // A folder (or a path ending in a separator) is not a file name: the temporary file
  // would otherwise land in the folder's parent and the rename fail with a bare EISDIR.
  if (/[\\/]$/.test(file) || isDir(file)) throw Object.assign(new Error(`${file}: is a directory (EISDIR), not a file path to write`), { code: 'EISDIR' });
  const chunks: Uint8Array[] = typeof data === 'string'
    ? [Buffer.from(data, 'utf8')]
    : Array.isArray(data) ? (data as ArrayBufferView[]).map(toBytes) : [toBytes(data as ArrayBufferView)];
  checkFileTarget(file);
  const tmp = tempSibling(file);
  let fd = -1;
  try {
    fd = fs.openSync(tmp, 'wx', o.mode ?? 0o644);
    for (const c of chunks) {
      let off = 0;
      while (off < c.byteLength) off += fs.writeSync(fd, c, off, Math.min(c.byteLength - off, 1 << 30));
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd >= 0) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.unlinkSync(tmp); } catch { /* never created or already gone */ }
    throw err;
  }
  // Make the rename itself durable where the platform allows it.
  try {
    const dfd = fs.openSync(path.dirname(file), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* fsync of a folder is not supported everywhere (Windows) */ }
}
