// Shared pieces of the file readers: the error type, half-float decoding and
// little-endian typed views that never read past a buffer.
import fs from 'node:fs';
import os from 'node:os';

/** Error thrown when a file (or buffer) is not a valid, supported tensor file. `file` names it, `reason` says what is wrong. */
export class FileFormatError extends Error {
  /** The file (or the name given for a buffer). */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly reason: string;
  constructor(file: string, format: string, reason: string) {
    super(`${file}: cannot read ${format} file: ${reason}`);
    this.name = 'FileFormatError';
    this.file = file;
    this.reason = reason;
  }
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

let halfTable: Float32Array | undefined;

/** Float32 value of every IEEE 754 binary16 bit pattern (built once, 256 KiB). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24; // zero and subnormals
    else if (exp === 31) v = mant === 0 ? Infinity : NaN;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  halfTable = t;
  return t;
}

/** Converts `count` little-endian float16 values at `bytes[offset..]` to float32. */
export function decodeF16(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(count);
  const abs = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && abs % 2 === 0) {
    const src = new Uint16Array(bytes.buffer, abs, count);
    for (let i = 0; i < count; i++) out[i] = table[src[i]];
  } else {
    for (let i = 0, p = offset; i < count; i++, p += 2) out[i] = table[bytes[p] | (bytes[p + 1] << 8)];
  }
  return out;
}

/** Converts `count` little-endian bfloat16 values at `bytes[offset..]` to float32 (exact: bf16 is the top half of a float32). */
export function decodeBF16(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  const abs = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && abs % 2 === 0) {
    const src = new Uint16Array(bytes.buffer, abs, count);
    for (let i = 0; i < count; i++) bits[i] = src[i] << 16;
  } else if (LITTLE_ENDIAN) {
    for (let i = 0, p = offset; i < count; i++, p += 2) bits[i] = ((bytes[p] | (bytes[p + 1] << 8)) << 16) >>> 0;
  } else {
    const dv = new DataView(out.buffer);
    for (let i = 0, p = offset; i < count; i++, p += 2) dv.setUint32(i * 4, ((bytes[p] | (bytes[p + 1] << 8)) << 16) >>> 0, true);
  }
  return out;
}

/**
 * `count` little-endian 4-byte values at `bytes[offset..]` as a Float32Array or Int32Array.
 * Shares memory with `bytes` when `share` is set, the platform is little-endian and the
 * data is 4-byte aligned; otherwise copies (byte-swapping on big-endian platforms).
 */
export function view32<T extends Float32Array | Int32Array>(
  Ctor: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (length: number): T },
  bytes: Uint8Array, offset: number, count: number, share: boolean,
): T {
  const abs = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && share && abs % 4 === 0) return new Ctor(bytes.buffer, abs, count);
  const out = new Ctor(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + count * 4));
  } else {
    const dv = new DataView(bytes.buffer, abs, count * 4);
    const isFloat = out instanceof Float32Array;
    for (let i = 0; i < count; i++) out[i] = isFloat ? dv.getFloat32(i * 4, true) : dv.getInt32(i * 4, true);
  }
  return out;
}

/** Little-endian bytes of a Float32Array/Int32Array (a view on little-endian platforms, a swapped copy otherwise). */
export function bytesLE(a: Float32Array | Int32Array | Uint8Array): Uint8Array {
  if (a instanceof Uint8Array) return a;
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) dv.setFloat32(i * 4, a[i], true); else dv.setInt32(i * 4, a[i], true);
  }
  return out;
}

/**
 * Reads `length` bytes at `position` of an open file into a fresh buffer, looping over
 * short reads; at the end of the file it returns the bytes there were (a shorter view).
 */
export function readAt(fd: number, length: number, position: number, shared = false): Uint8Array {
  const buf = shared ? new Uint8Array(new SharedArrayBuffer(length)) : new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const n = fs.readSync(fd, buf, off, Math.min(length - off, 1 << 30), position + off);
    if (n === 0) break;
    off += n;
  }
  return off === length ? buf : buf.subarray(0, off);
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What a non-regular file is, for error messages. */
export function fileKind(st: fs.Stats): string {
  if (st.isFile()) return 'a file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Why `file` cannot be opened or stat'ed, in words for a message that already
 * names it: a dangling symbolic link names its missing target (a bare ENOENT
 * would suggest the link itself is missing), a link loop says so, and other
 * errors give their code and message without the repeated path.
 */
export function unreadableReason(file: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT' || e?.code === 'ELOOP') {
    try {
      if (fs.lstatSync(file).isSymbolicLink()) {
        const target = fs.readlinkSync(file);
        return e.code === 'ELOOP' ? `a symbolic link that loops (to '${target}')` : `a dangling symbolic link: its target '${target}' does not exist`;
      }
    } catch { /* the name itself is missing */ }
    if (e.code === 'ENOENT') return 'no such file or folder';
  }
  const msg = e instanceof Error ? e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '') : String(err);
  return e?.code ? `${e.code}: ${msg}` : msg;
}

/**
 * Opens a file for reading, refusing anything but a regular file with a
 * FileFormatError naming it: a named pipe would block the reader forever
 * (it is opened non-blocking, so opening returns at once), a folder would
 * fail later with a bare EISDIR. Errors of the open itself (ENOENT, EACCES)
 * are thrown as they are; their message names the file.
 */
export function openRegularFile(file: string, format: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // a dangling link is named as one (ENOENT alone reads as "the file is missing")
    if ((code === 'ENOENT' || code === 'ELOOP') && isSymlink(file)) throw new FileFormatError(file, format, unreadableReason(file, err));
    throw err;
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new FileFormatError(file, format, `${fileKind(st)}, not a regular file`);
  }
  return fd;
}

/** Reads a whole file into a fresh, unpooled buffer (so typed views of it own their memory). */
export function readWholeFile(file: string, format = 'input', shared = false): Uint8Array {
  const fd = openRegularFile(file, format);
  try {
    return readAt(fd, fs.fstatSync(fd).size, 0, shared);
  } finally {
    fs.closeSync(fd);
  }
}

/** Largest JSON file read: V8's longest string (a bigger file cannot be one JSON text). */
const MAX_JSON_BYTES = 0x1fffffe8;

/** What a JSON value is, for messages ("null", "an array", "a number", …). */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v === undefined) return 'nothing';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Reads a JSON file that must hold one object (a manifest, a config): a
 * regular file (a named pipe is refused, not read), not empty, valid JSON,
 * an object. Anything else is a FileFormatError naming the file and what is
 * wrong ("the file is empty", "not valid JSON (…); truncated?", "expected a
 * JSON object but the file holds null"), never a bare SyntaxError.
 * @param format what the file is, for messages ('shard manifest', 'adapter config', …)
 */
export function readJsonObject(file: string, format: string): Record<string, unknown> {
  const fd = openRegularFile(file, format);
  let bytes: Uint8Array;
  try {
    const size = fs.fstatSync(fd).size;
    if (size > MAX_JSON_BYTES) throw new FileFormatError(file, format, `${size} bytes, more than one JSON text can be (${MAX_JSON_BYTES})`);
    bytes = readAt(fd, size, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (bytes.length === 0) throw new FileFormatError(file, format, 'the file is empty (an interrupted write or copy?)');
  return parseJsonObject(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'), file, format);
}

/** {@link readJsonObject} for JSON text already read (`source` names where it came from). */
export function parseJsonObject(text: string, source: string, format: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(source, format, `not valid JSON (${(err as Error).message.replace(/\s+/g, ' ')}); truncated?`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FileFormatError(source, format, `expected a JSON object but it holds ${jsonKind(v)}`);
  return v as Record<string, unknown>;
}

/** Product of a shape, or -1 when it is not a safe integer. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return -1;
  }
  return n;
}
