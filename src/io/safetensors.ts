// safetensors files: an 8-byte little-endian header length, a JSON header
// { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {str: str} }
// and the raw little-endian data. Reads F32, F16 and BF16 (as float32);
// writes F32. Spec: https://github.com/huggingface/safetensors#format
import fs from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { FileFormatError, bytesLE, decodeBF16, decodeF16, openRegularFile, readAt, readWholeFile, shapeSize, view32 } from './common.js';
import { JsonFloat, StrictJsonError, parseStrictJson, type StrictJsonValue } from './strict-json.js';
import { checkOptions } from '../core/validate.js';

/** Largest JSON header accepted (the reference implementation's limit). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of every dtype the safetensors format defines. */
const DTYPE_SIZES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};

/** Dtypes {@link readSafetensors} converts to float32. */
export type SafetensorsFloatDtype = 'F32' | 'F16' | 'BF16';

/** A tensor read from a safetensors file; `dtype` is the stored type, `data` always float32. */
export interface SafetensorsTensor {
  dtype: SafetensorsFloatDtype;
  shape: number[];
  data: Float32Array;
}

/** One entry of a safetensors header. */
export interface SafetensorsEntry {
  name: string;
  /** Stored dtype as written in the file ('F32', 'I64', …). */
  dtype: string;
  shape: number[];
  /** Byte range of the data, relative to the start of the data section. */
  begin: number;
  end: number;
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** Entries in the order of the JSON header. */
  tensors: SafetensorsEntry[];
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
  /** Absolute file offset of the data section (8 + header length). */
  dataOffset: number;
  /** Bytes in the data section. */
  dataLength: number;
}

function isObject(v: StrictJsonValue): v is { [key: string]: StrictJsonValue } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonFloat);
}

/** A header value for an error message (JsonFloat as written in the file). */
function show(v: unknown): string {
  const s = JSON.stringify(v, (_k, x: unknown) => (x instanceof JsonFloat ? `\u0000${x.text}\u0000` : x));
  return s === undefined ? String(v) : s.replace(/"\\u0000([^"]*)\\u0000"/g, '$1');
}

/**
 * The reference implementation's layout rules: sorted by offsets, tensors tile
 * the data section exactly, from byte 0 to its last byte, with no overlap and
 * no gap (empty tensors sit at the boundary between two others).
 */
function checkLayout(tensors: readonly SafetensorsEntry[], dataLength: number, bad: (reason: string) => never): void {
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: SafetensorsEntry | undefined;
  for (const t of sorted) {
    const where = `tensor '${t.name}' (data_offsets [${t.begin}, ${t.end}])`;
    if (t.begin < pos) bad(`${where} overlaps tensor '${prev!.name}' (data_offsets [${prev!.begin}, ${prev!.end}]): tensors must not share bytes`);
    if (t.begin > pos) {
      bad(`${where} leaves a gap of ${t.begin - pos} bytes ${prev ? `after tensor '${prev.name}'` : 'at the start of the data'}: tensors must cover the data without gaps`);
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataLength) {
    bad(`the tensors cover ${pos} of the ${dataLength} data bytes: ${dataLength - pos} trailing bytes belong to no tensor`);
  }
}

function parseHeaderBytes(prefix: Uint8Array, totalSize: number, name: string, needFullHeader: boolean): SafetensorsHeader | number {
  const bad = (reason: string): never => { throw new FileFormatError(name, 'safetensors', reason); };
  if (totalSize < 8) bad(`file too short (${totalSize} bytes) for the 8-byte header length`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (n > SAFETENSORS_MAX_HEADER_BYTES) bad(`header length ${n} exceeds the limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes`);
  if (8 + n > totalSize) bad(`header length ${n} runs past the end of the file (${totalSize} bytes)`);
  if (prefix.length < 8 + n) {
    if (needFullHeader) bad('internal: header not fully read');
    return n;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, 8 + n));
  } catch (err) {
    return bad(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  let json: StrictJsonValue;
  try {
    json = parseStrictJson(text);
  } catch (err) {
    if (!(err instanceof StrictJsonError)) throw err;
    return bad(`header is not valid UTF-8 JSON (${err.message})`);
  }
  if (!isObject(json)) return bad('header JSON is not an object');
  const dataLength = totalSize - 8 - n;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const [key, v] of Object.entries(json as Record<string, StrictJsonValue>)) {
    if (key === '__metadata__') {
      if (!isObject(v)) bad('__metadata__ is not an object');
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') bad(`__metadata__.${mk} is not a string (${show(mv)})`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    const where = `tensor '${key}'`;
    if (!isObject(v)) return bad(`${where} is not an object`);
    const { dtype, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_SIZES, dtype)) return bad(`${where} has unknown dtype ${show(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
      return bad(`${where} has a bad shape ${show(shape)} (expected non-negative integers)`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
      return bad(`${where} has bad data_offsets ${show(offs)} (expected [begin, end] of non-negative integers)`);
    }
    const [begin, end] = offs as number[];
    if (begin > end) bad(`${where} has data_offsets [${begin}, ${end}] with begin > end`);
    if (end > dataLength) bad(`${where} has data_offsets [${begin}, ${end}] past the end of the data (${dataLength} bytes): file truncated?`);
    const count = shapeSize(shape as number[]);
    const size = count < 0 ? -1 : count * DTYPE_SIZES[dtype];
    if (size !== end - begin) {
      bad(`${where} of shape [${(shape as number[]).join(',')}] ${dtype} needs ${size} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    tensors.push({ name: key, dtype, shape: (shape as number[]).slice(), begin, end });
  }
  checkLayout(tensors, dataLength, bad);
  return { tensors, metadata, dataOffset: 8 + n, dataLength };
}

/**
 * Parses and validates the header of a safetensors file held in memory.
 * @throws {FileFormatError} on a bad length, JSON (duplicate keys included), dtype, shape or
 *   data_offsets, and where the tensors do not tile the data section exactly (overlap, gap,
 *   trailing bytes): the rules of the reference implementation
 */
export function parseSafetensorsHeader(bytes: Uint8Array, name = 'buffer'): SafetensorsHeader {
  return parseHeaderBytes(bytes, bytes.length, name, true) as SafetensorsHeader;
}

/**
 * Reads and validates only the header of a safetensors file (names, dtypes, shapes,
 * metadata) without reading the data.
 * @throws {FileFormatError} naming the file and the problem
 */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openRegularFile(file, 'safetensors');
  try {
    const size = fs.fstatSync(fd).size;
    const r = parseHeaderBytes(readAt(fd, Math.min(size, 8), 0), size, file, false);
    if (typeof r !== 'number') return r;
    const all = readAt(fd, 8 + r, 0);
    if (all.length < 8 + r) throw new FileFormatError(file, 'safetensors', 'file shrank while being read');
    return parseHeaderBytes(all, size, file, true) as SafetensorsHeader;
  } finally {
    fs.closeSync(fd);
  }
}

function decodeEntry(e: SafetensorsEntry, bytes: Uint8Array, offset: number, name: string, share: boolean): SafetensorsTensor {
  const count = shapeSize(e.shape);
  let data: Float32Array;
  if (e.dtype === 'F32') data = view32(Float32Array, bytes, offset, count, share);
  else if (e.dtype === 'F16') data = decodeF16(bytes, offset, count);
  else if (e.dtype === 'BF16') data = decodeBF16(bytes, offset, count);
  else throw new FileFormatError(name, 'safetensors', `tensor '${e.name}' has dtype ${e.dtype}; only F32, F16 and BF16 can be read`);
  return { dtype: e.dtype as SafetensorsFloatDtype, shape: e.shape.slice(), data };
}

function pick(h: SafetensorsHeader, names: readonly string[] | undefined, file: string): SafetensorsEntry[] {
  if (names === undefined) return h.tensors;
  if (!Array.isArray(names)) throw new TypeError(`Expected an array of tensor names for opts.names but received ${typeof names}`);
  return names.map((n) => {
    const e = h.tensors.find((t) => t.name === n);
    if (!e) throw new FileFormatError(file, 'safetensors', `no tensor named '${n}' (it has ${h.tensors.length} tensors)`);
    return e;
  });
}

/**
 * Parses a safetensors file held in memory. F32 data shares memory with `bytes` when aligned.
 * @param bytes the whole file
 * @param name name used in error messages
 * @param opts `names`: read only these tensors (default: all)
 * @throws {FileFormatError} on invalid files and on tensors whose dtype is not F32/F16/BF16
 */
export function parseSafetensors(bytes: Uint8Array, name = 'buffer', opts: { names?: readonly string[] } = {}): Map<string, SafetensorsTensor> {
  checkOptions(opts, 'opts', { names: 1 });
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array or Buffer for bytes but received ${typeof bytes}`);
  const h = parseSafetensorsHeader(bytes, name);
  const out = new Map<string, SafetensorsTensor>();
  for (const e of pick(h, opts.names, name)) out.set(e.name, decodeEntry(e, bytes, h.dataOffset + e.begin, name, true));
  return out;
}

/**
 * Reads tensors from a safetensors file (synchronously), converting F32, F16 and
 * BF16 to float32. Only the requested tensors' bytes are read from disk.
 *
 * @param file path of the `.safetensors` file
 * @param opts `names`: read only these tensors (default: all). Use {@link readSafetensorsHeader}
 *   to list names and dtypes first when a file mixes float and integer tensors.
 * @returns a Map from tensor name to `{ dtype, shape, data }`, in header order
 * @throws {FileFormatError} naming the file and the problem (bad header, offsets out of range,
 *   size ≠ shape × dtype, unsupported dtype such as I64)
 * @example
 * const weights = readSafetensors('model.safetensors');
 * const w = weights.get('head.0.weight'); // { dtype: 'F32', shape: [512, 2560], data }
 */
export function readSafetensors(file: string, opts: { names?: readonly string[] } = {}): Map<string, SafetensorsTensor> {
  checkOptions(opts, 'opts', { names: 1 });
  const h = readSafetensorsHeader(file);
  const entries = pick(h, opts.names, file);
  const out = new Map<string, SafetensorsTensor>();
  if (opts.names === undefined) {
    // All tensors: one read of the whole file.
    const bytes = readWholeFile(file, 'safetensors');
    if (bytes.length !== h.dataOffset + h.dataLength) throw new FileFormatError(file, 'safetensors', 'file changed while being read');
    for (const e of entries) out.set(e.name, decodeEntry(e, bytes, h.dataOffset + e.begin, file, true));
    return out;
  }
  const fd = openRegularFile(file, 'safetensors');
  try {
    for (const e of entries) {
      const buf = readAt(fd, e.end - e.begin, h.dataOffset + e.begin);
      if (buf.length < e.end - e.begin) throw new FileFormatError(file, 'safetensors', `file ends inside tensor '${e.name}'`);
      out.set(e.name, decodeEntry(e, buf, 0, file, true));
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** A float32 tensor to write: `{ data: Float32Array, shape }`. */
export interface SafetensorsWritable {
  data: Float32Array;
  shape: readonly number[];
}

/**
 * Encodes float32 tensors as safetensors bytes (chunks: header, then each tensor's data).
 * Tensors are stored in the given order, back to back; the header is padded with spaces
 * to a multiple of 8 bytes so every tensor is 4-byte aligned.
 */
export function encodeSafetensors(
  tensors: Map<string, SafetensorsWritable> | Record<string, SafetensorsWritable>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  const list = tensors instanceof Map ? [...tensors.entries()] : tensors !== null && typeof tensors === 'object' ? Object.entries(tensors) : null;
  if (!list) throw new TypeError(`Expected a Map or object of name → { data: Float32Array, shape } for tensors but received ${tensors === null ? 'null' : typeof tensors}`);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new TypeError(`Expected an object of string values for metadata but received ${metadata === null ? 'null' : typeof metadata}`);
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new TypeError(`Expected a string for metadata.${k} but received ${typeof v}`);
    header.__metadata__ = { ...metadata };
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (typeof name !== 'string' || name.length === 0 || name === '__metadata__') throw new RangeError(`Expected a non-empty tensor name other than __metadata__ but received ${JSON.stringify(name)}`);
    if (t === null || typeof t !== 'object' || !(t.data instanceof Float32Array)) throw new TypeError(`Expected a Float32Array for tensors['${name}'].data but received ${t === null || typeof t !== 'object' ? String(t) : (t.data as object)?.constructor?.name ?? typeof t.data}`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) throw new TypeError(`Expected an array of non-negative integers for tensors['${name}'].shape but received ${JSON.stringify(t.shape)}`);
    const count = shapeSize(t.shape);
    if (count !== t.data.length) throw new RangeError(`Expected tensors['${name}'].data to hold ${count} elements for shape [${t.shape.join(',')}] but received ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
    chunks.push(bytesLE(t.data));
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return [len, json, ...chunks];
}

/**
 * Writes float32 tensors to a safetensors file atomically (temp file + fsync + rename).
 * Files are readable by the Python `safetensors` library and by {@link readSafetensors}.
 *
 * @param file destination path (parent folder must exist)
 * @param tensors a Map or object from name to `{ data: Float32Array, shape }`, written in that order
 * @param metadata optional `__metadata__` string map (e.g. `{ format: 'pt' }`)
 * @example
 * writeSafetensors('head.safetensors', { 'head.0.weight': { data: w, shape: [512, 2560] } }, { format: 'pt' });
 */
export function writeSafetensors(
  file: string,
  tensors: Map<string, SafetensorsWritable> | Record<string, SafetensorsWritable>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
