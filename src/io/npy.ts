// NumPy .npy files (format versions 1.0, 2.0 and 3.0): strict reading of
// little-endian float32, float16 (converted to float32), uint8 and int32 arrays
// in C order, and atomic writing of float32, int32 and uint8 arrays.
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
import fs from 'node:fs';
import type { Tensor } from '../core/types.js';
import { writeFileAtomic } from './atomic.js';
import { FileFormatError, bytesLE, decodeF16, openRegularFile, readAt, readWholeFile, shapeSize, view32 } from './common.js';

/** Element types that {@link readNpy} understands (`float16` data is returned as float32). */
export type NpyDtype = 'float32' | 'float16' | 'uint8' | 'int32';

/** An array read from a `.npy` file. */
export interface NpyArray {
  /** Element type stored in the file. `float16` files are converted, so their `data` is a Float32Array. */
  dtype: NpyDtype;
  shape: number[];
  /** Row-major elements: Float32Array for float32/float16, Uint8Array for uint8, Int32Array for int32. */
  data: Float32Array | Uint8Array | Int32Array;
}

/** Largest header accepted (NumPy itself writes a few hundred bytes). */
export const NPY_MAX_HEADER_BYTES = 1 << 20;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DTYPES: Record<string, { dtype: NpyDtype; size: number }> = {
  f4: { dtype: 'float32', size: 4 },
  f2: { dtype: 'float16', size: 2 },
  u1: { dtype: 'uint8', size: 1 },
  i4: { dtype: 'int32', size: 4 },
};

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

/** A strict parser of the Python literal subset NumPy headers use: dict, tuple, list, str, int, True/False/None. */
function parsePyLiteral(src: string): PyValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i} of the header`);
  };
  const ws = () => { while (i < src.length && ' \t\r\n'.includes(src[i])) i++; };
  const value = (depth: number): PyValue => {
    if (depth > 16) fail('nesting too deep');
    ws();
    const c = src[i];
    if (c === '{') {
      i++;
      const obj: { [k: string]: PyValue } = Object.create(null);
      for (;;) {
        ws();
        if (src[i] === '}') { i++; return obj; }
        const k = value(depth + 1);
        if (typeof k !== 'string') fail('a dictionary key that is not a string');
        ws();
        if (src[i] !== ':') fail("expected ':'");
        i++;
        if (Object.prototype.hasOwnProperty.call(obj, k as string)) fail(`duplicate key '${k as string}'`);
        obj[k as string] = value(depth + 1);
        ws();
        if (src[i] === ',') { i++; continue; }
        if (src[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const arr: PyValue[] = [];
      for (;;) {
        ws();
        if (src[i] === close) { i++; return arr; }
        arr.push(value(depth + 1));
        ws();
        if (src[i] === ',') { i++; continue; }
        if (src[i] === close) { i++; return arr; }
        fail(`expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = src.slice(i + 1, end);
      if (s.includes('\\')) fail('escape sequences in strings are not supported');
      i = end + 1;
      return s;
    }
    const m = /^(?:-?\d+L?|True|False|None)/.exec(src.slice(i, i + 32));
    if (!m) fail(`unexpected ${c === undefined ? 'end' : `'${c}'`}`);
    i += m![0].length;
    if (m![0] === 'True') return true;
    if (m![0] === 'False') return false;
    if (m![0] === 'None') return null;
    const n = Number(m![0].replace('L', ''));
    if (!Number.isSafeInteger(n)) fail(`integer ${m![0]} too large`);
    return n;
  };
  const v = value(0);
  ws();
  if (i !== src.length) fail('unexpected text after the dictionary');
  return v;
}

/** The header of a `.npy` file: what the data is and where it starts. */
export interface NpyHeader {
  /** Element type stored in the file. */
  dtype: NpyDtype;
  /** The dtype string as written in the file, e.g. `'<f4'`, `'|u1'`. */
  descr: string;
  shape: number[];
  /** Byte offset of the data from the start of the file. */
  dataOffset: number;
  /** Bytes of data the shape and dtype call for. */
  dataBytes: number;
}

/**
 * Parses the header of a `.npy` file from its first bytes (the data need not be present).
 *
 * @param bytes the file, or at least its header
 * @param name name used in error messages (default `'buffer'`)
 * @throws {FileFormatError} on a bad magic, unsupported version, corrupt, truncated or oversized header,
 *   unsupported dtype, big-endian data or Fortran order (rank ≥ 2)
 */
export function parseNpyHeader(bytes: Uint8Array, name = 'buffer'): NpyHeader {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array or Buffer for bytes but received ${typeof bytes}`);
  const bad = (reason: string): never => { throw new FileFormatError(name, '.npy', reason); };
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    bad(bytes.length < 10 && MAGIC.every((b, k) => k >= bytes.length || bytes[k] === b)
      ? `file too short (${bytes.length} bytes) for a .npy header`
      : 'bad magic (expected the bytes \\x93NUMPY at the start)');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3 || minor !== 0) bad(`unsupported format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) bad(`file too short (${bytes.length} bytes) for a version ${major}.0 header`);
  const headerLen = major === 1
    ? bytes[8] | (bytes[9] << 8)
    : (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
  const dataStart = 8 + lenBytes + headerLen;
  if (headerLen > NPY_MAX_HEADER_BYTES) bad(`header of ${headerLen} bytes exceeds the limit of ${NPY_MAX_HEADER_BYTES} bytes`);
  if (dataStart > bytes.length) bad(`truncated header: it declares ${headerLen} bytes but the file has only ${bytes.length - 8 - lenBytes} after the length field`);
  const headerBytes = bytes.subarray(8 + lenBytes, dataStart);
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(headerBytes);
  } catch {
    return bad('header is not valid UTF-8');
  }
  let dict: PyValue;
  try {
    dict = parsePyLiteral(header);
  } catch (err) {
    return bad(`corrupt header (${(err as Error).message}): ${JSON.stringify(header.slice(0, 80))}`);
  }
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) return bad('header is not a dictionary');
  const keys = Object.keys(dict).sort().join(',');
  if (keys !== 'descr,fortran_order,shape') bad(`header must have exactly the keys descr, fortran_order, shape but has ${keys || 'none'}`);
  const { descr, fortran_order: fortran, shape } = dict as { descr: PyValue; fortran_order: PyValue; shape: PyValue };
  if (typeof descr !== 'string') return bad(`structured dtype ${JSON.stringify(descr)} is not supported (expected float32 '<f4', float16 '<f2', uint8 '|u1' or int32 '<i4')`);
  if (typeof fortran !== 'boolean') return bad(`fortran_order must be True or False but is ${JSON.stringify(fortran)}`);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    return bad(`shape must be a tuple of non-negative integers but is ${JSON.stringify(shape)}`);
  }
  const dims = shape as number[];
  const m = /^([<>|=]?)([a-zA-Z]\d+)$/.exec(descr);
  const kind = m ? DTYPES[m[2]] : undefined;
  const order = m?.[1] ?? '';
  if (!kind) return bad(`dtype '${descr}' is not supported (expected float32 '<f4', float16 '<f2', uint8 '|u1' or int32 '<i4')`);
  if (order === '>' && kind.size > 1) bad(`big-endian dtype '${descr}' is not supported (save with dtype '<${m![2]}')`);
  if (fortran && dims.length > 1) bad("fortran_order is True; only C-order arrays are supported (save np.ascontiguousarray(x))");
  const count = shapeSize(dims);
  if (count < 0 || count * kind.size > Number.MAX_SAFE_INTEGER) return bad(`shape ${JSON.stringify(dims)} is too large`);
  return { dtype: kind.dtype, descr, shape: dims.slice(), dataOffset: dataStart, dataBytes: count * kind.size };
}

/** Checks that `have` bytes of data follow the header: exactly what it calls for. */
function checkDataLength(h: NpyHeader, have: number, name: string): void {
  if (have < h.dataBytes) throw new FileFormatError(name, '.npy', `truncated data: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${h.dataBytes} bytes but only ${have} follow the header`);
  if (have > h.dataBytes) throw new FileFormatError(name, '.npy', `${have - h.dataBytes} unexpected bytes after the data of shape (${h.shape.join(', ')}) ${h.dtype}`);
}

/**
 * Reads and checks only the header of a `.npy` file (synchronously), and that the file
 * holds exactly the data the header declares — for streaming the data in pieces
 * (e.g. the frames of a long `[T,H,W,3]` uint8 episode).
 *
 * @throws {FileFormatError} as {@link parseNpy} does (truncated data, trailing bytes included)
 * @example
 * const { dtype, shape, dataOffset } = readNpyHeader('frames.npy'); // 'uint8', [T, H, W, 3], 128
 */
export function readNpyHeader(file: string): NpyHeader {
  const fd = openRegularFile(file, 'npy');
  try {
    const size = fs.fstatSync(fd).size;
    const read = (n: number) => readAt(fd, Math.min(size, n), 0);
    let bytes = read(4096);
    if (bytes.length >= 12 && bytes.length < size) {
      // A longer header than the first read: read exactly up to its end (within the limit).
      const major = bytes[6];
      const len = major === 1 ? bytes[8] | (bytes[9] << 8) : (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
      const end = (major === 1 ? 10 : 12) + Math.min(len, NPY_MAX_HEADER_BYTES + 1);
      if (end > bytes.length) bytes = read(end);
    }
    const h = parseNpyHeader(bytes, file);
    checkDataLength(h, size - h.dataOffset, file);
    return h;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Parses a `.npy` file held in memory. Float32/int32 data shares memory with
 * `bytes` when it is 4-byte aligned (NumPy aligns data to 64 bytes), otherwise it is copied.
 *
 * @param bytes the whole file
 * @param name name used in error messages (default `'buffer'`)
 * @throws {FileFormatError} on a bad magic, unsupported version, corrupt or oversized header,
 *   unsupported dtype (anything but `<f4`, `<f2`, `|u1`, `<i4`), big-endian data, Fortran order
 *   (rank ≥ 2; for rank 0 and 1 the layouts are identical),
 *   truncated data or trailing bytes — never a silent wrong read
 */
export function parseNpy(bytes: Uint8Array, name = 'buffer'): NpyArray {
  const h = parseNpyHeader(bytes, name);
  checkDataLength(h, bytes.length - h.dataOffset, name);
  const count = shapeSize(h.shape);
  const dataStart = h.dataOffset;
  let data: NpyArray['data'];
  if (h.dtype === 'float32') data = view32(Float32Array, bytes, dataStart, count, true);
  else if (h.dtype === 'int32') data = view32(Int32Array, bytes, dataStart, count, true);
  else if (h.dtype === 'float16') data = decodeF16(bytes, dataStart, count);
  else data = bytes.subarray(dataStart, dataStart + count);
  return { dtype: h.dtype, shape: h.shape, data };
}

/** Options of {@link readNpy} and {@link readNpyFloat32}. */
export interface ReadNpyOptions {
  /**
   * Read the file into a SharedArrayBuffer (default false). Asynchronous calls
   * (`progressTargets`, `encode`) read such arrays in place instead of copying
   * them first, since a SharedArrayBuffer cannot be detached; float16 files
   * (decoded into a new array) come back unshared.
   */
  shared?: boolean;
}

/**
 * Reads a `.npy` file (synchronously). See {@link parseNpy} for what is accepted.
 *
 * @param file path of the `.npy` file
 * @param opts `shared`: read into a SharedArrayBuffer (zero-copy async calls)
 * @returns `{ dtype, shape, data }`; float16 files come back as float32 data
 * @throws {FileFormatError} naming the file and the problem; fs errors (ENOENT, …) as thrown by node:fs
 * @example
 * const { dtype, shape, data } = readNpy('episode.npy'); // e.g. 'uint8', [T, H, W, 3], Uint8Array
 * const features = readNpy('features.npy', { shared: true }); // progressTargets reads it in place
 */
export function readNpy(file: string, opts: ReadNpyOptions = {}): NpyArray {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`Expected an options object for opts but received ${String(opts)}`);
  for (const k of Object.keys(opts)) if (k !== 'shared') throw new TypeError(`Expected opts keys among shared but received '${k}'`);
  if (opts.shared !== undefined && typeof opts.shared !== 'boolean') throw new TypeError(`Expected a boolean for opts.shared but received ${JSON.stringify(opts.shared)}`);
  return parseNpy(readWholeFile(file, 'npy', opts.shared === true), file);
}

/**
 * Reads a float32 or float16 `.npy` file as a float32 {@link Tensor}.
 *
 * @param file path of the `.npy` file
 * @param rank if given, the rank the array must have (e.g. 3 for `[T, N, D]` features)
 * @param opts as {@link readNpy}
 * @throws {FileFormatError} when the file is invalid, not floating point, or of another rank
 * @example
 * const features = readNpyFloat32('episode.npy', 3); // { data: Float32Array, shape: [T, N, D] }
 */
export function readNpyFloat32(file: string, rank?: number, opts: ReadNpyOptions = {}): Tensor {
  return npyToFloat32(readNpy(file, opts), file, rank);
}

/** Checks that a parsed array is float32 data (of `rank`, if given) and returns it as a Tensor. */
export function npyToFloat32(a: NpyArray, name: string, rank?: number): Tensor {
  if (!(a.data instanceof Float32Array)) {
    throw new FileFormatError(name, 'float32 .npy', `dtype is ${a.dtype}; expected float32 or float16`);
  }
  if (rank !== undefined && a.shape.length !== rank) {
    throw new FileFormatError(name, 'float32 .npy', `expected a rank-${rank} array but its shape is (${a.shape.join(', ')})`);
  }
  return { data: a.data, shape: a.shape };
}

/** An array {@link writeNpy} can write: float32, int32 or uint8 data with its shape. */
export interface NpyWritable {
  data: Float32Array | Int32Array | Uint8Array;
  shape: readonly number[];
}

/**
 * Encodes an array as `.npy` bytes (format 1.0, or 2.0 for headers over 64 KiB), as chunks
 * `[header, data]` so large data is not copied.
 *
 * @param array `{ data: Float32Array | Int32Array | Uint8Array, shape }`; data must hold exactly the shape's element count
 * @throws {TypeError|RangeError} on other data types or a shape that does not match the data
 */
export function encodeNpy(array: NpyWritable): Uint8Array[] {
  if (array === null || typeof array !== 'object') throw new TypeError(`Expected an array { data, shape } for array but received ${array === null ? 'null' : typeof array}`);
  const { data, shape } = array;
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : data instanceof Uint8Array ? '|u1' : '';
  if (!descr) throw new TypeError(`Expected a Float32Array, Int32Array or Uint8Array for array.data but received ${(data as object)?.constructor?.name ?? typeof data}`);
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    throw new TypeError(`Expected an array of non-negative integers for array.shape but received ${JSON.stringify(shape)}`);
  }
  const count = shapeSize(shape);
  if (count !== data.length) throw new RangeError(`Expected array.data to hold ${count} elements for shape [${shape.join(',')}] but received ${data.length}`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  let major = 1;
  let prefix = 10;
  if (dict.length + 1 + 10 > 0xffff) { major = 2; prefix = 12; }
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64; // data aligned to 64 bytes, as NumPy does
  dict = dict.padEnd(total - prefix - 1, ' ') + '\n';
  const header = new Uint8Array(total);
  header.set([...MAGIC, major, 0]);
  const len = total - prefix;
  if (major === 1) { header[8] = len & 0xff; header[9] = len >> 8; } else new DataView(header.buffer).setUint32(8, len, true);
  for (let k = 0; k < dict.length; k++) header[prefix + k] = dict.charCodeAt(k);
  return [header, bytesLE(data)];
}

/**
 * Writes an array to a `.npy` file atomically (temp file + fsync + rename).
 *
 * @param file destination path (parent folder must exist)
 * @param array `{ data: Float32Array | Int32Array | Uint8Array, shape }`
 * @example
 * writeNpy('values.npy', { data: result.values, shape: [result.values.length] });
 */
export function writeNpy(file: string, array: NpyWritable): void {
  writeFileAtomic(file, encodeNpy(array));
}
