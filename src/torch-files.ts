// File helpers of the libtorch classes: a small strict .safetensors reader
// and writer (SPEC §10) and atomic writes (temp file + rename), so a failed
// save never leaves a half-written file behind.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

/** One tensor as exchanged with the native classes: name, float32 data, shape. */
export type NamedTensor = [name: string, data: Float32Array, shape: number[]];

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Error for a file that is not a valid safetensors file or does not match what a model expects. */
export class SafetensorsError extends RangeError {
  constructor(file: string, message: string) {
    super(`Invalid safetensors file ${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Writes `bytes` to `file` atomically: a temp file in the same folder is
 * written, flushed and renamed over the target; on any failure the temp file
 * is removed and the target is untouched.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array | string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) try { closeSync(fd); } catch { /* already failing */ }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Encodes tensors (float32) as a safetensors file image; `metadata` goes to `__metadata__`. */
export function encodeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, data, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new RangeError(`Expected tensor '${name}' to hold ${n} values for shape [${shape}] but received ${data.length}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned
  const hb = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hb.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let pos = 8 + hb.length;
  for (const [, data] of tensors) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    pos += data.byteLength;
  }
  return out;
}

/** Writes float32 tensors to a .safetensors file atomically. */
export function writeSafetensors(file: string, tensors: NamedTensor[], metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** A parsed safetensors file: tensors converted to float32, in file order, and its metadata. */
export interface SafetensorsContents {
  tensors: NamedTensor[];
  metadata: Record<string, string>;
}

/**
 * Reads a .safetensors file strictly: header length within the file, a JSON
 * object header, dtypes F32/F16/BF16/F64 (converted to float32), integer
 * shapes, data offsets that match dtype × shape, lie inside the data section
 * and cover it without overlap.
 * @throws {SafetensorsError} naming the file and what is wrong
 */
export function readSafetensors(file: string): SafetensorsContents {
  const buf = readFileSync(file);
  const bad = (m: string): never => { throw new SafetensorsError(file, m); };
  if (buf.length < 8) bad(`it holds ${buf.length} bytes, fewer than the 8-byte header length`);
  const hlen = buf.readBigUInt64LE(0);
  if (hlen > BigInt(buf.length - 8)) bad(`the header length ${hlen} exceeds the file size ${buf.length}`);
  const hl = Number(hlen);
  let header: unknown;
  try { header = JSON.parse(buf.subarray(8, 8 + hl).toString('utf8')); } catch (e) { bad(`its header is not valid JSON (${(e as Error).message})`); }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad('its header is not a JSON object');
  const dataStart = 8 + hl;
  const dataLen = buf.length - dataStart;
  const entries: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }> = [];
  let metadata: Record<string, string> = {};
  for (const [name, spec] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) bad('__metadata__ is not an object of strings');
      for (const v of Object.values(spec as object)) if (typeof v !== 'string') bad('__metadata__ holds a value that is not a string');
      metadata = spec as Record<string, string>;
      continue;
    }
    const s = spec as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (s === null || typeof s !== 'object') bad(`tensor '${name}' has no {dtype, shape, data_offsets} entry`);
    if (typeof s.dtype !== 'string' || !(s.dtype in DTYPE_BYTES)) bad(`tensor '${name}' has dtype ${JSON.stringify(s.dtype)}; supported: F32, F16, BF16, F64`);
    if (!Array.isArray(s.shape) || s.shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`tensor '${name}' has an invalid shape ${JSON.stringify(s.shape)}`);
    const off = s.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[1] < off[0]) {
      bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as number[];
    const shape = s.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== n * DTYPE_BYTES[s.dtype as string]) bad(`tensor '${name}' spans ${end - begin} bytes but ${s.dtype} [${shape}] needs ${n * DTYPE_BYTES[s.dtype as string]}`);
    if (end > dataLen) bad(`tensor '${name}' ends at byte ${end} beyond the data section (${dataLen} bytes)`);
    entries.push({ name, dtype: s.dtype as string, shape, begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin !== pos) bad(`tensor '${e.name}' starts at byte ${e.begin} but the previous tensor ends at ${pos} (gap or overlap)`);
    pos = e.end;
  }
  if (pos !== dataLen) bad(`the tensors cover ${pos} bytes of a ${dataLen}-byte data section`);
  const tensors: NamedTensor[] = entries.map((e) => {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const raw = buf.subarray(dataStart + e.begin, dataStart + e.end);
    const out = new Float32Array(n);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      switch (e.dtype) {
        case 'F32': out[i] = dv.getFloat32(i * 4, true); break;
        case 'F64': out[i] = dv.getFloat64(i * 8, true); break;
        case 'F16': out[i] = f16ToF32(dv.getUint16(i * 2, true)); break;
        default: out[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0];
      }
    }
    return [e.name, out, e.shape];
  });
  return { tensors, metadata };
}

/**
 * Checks that `got` holds exactly the tensors `expected` names with the same
 * shapes; the error lists missing, unexpected and mis-shaped tensors.
 */
export function matchTensors(file: string, got: NamedTensor[], expected: Array<[string, number[]]>): void {
  const have = new Map(got.map((t) => [t[0], t[2]]));
  const want = new Map(expected);
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const s = have.get(name);
    if (!s) problems.push(`missing tensor '${name}' [${shape}]`);
    else if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) problems.push(`tensor '${name}' has shape [${s}] but the model expects [${shape}]`);
  }
  for (const name of have.keys()) if (!want.has(name)) problems.push(`unexpected tensor '${name}'`);
  if (problems.length) throw new SafetensorsError(file, `its tensors do not match the model: ${problems.join('; ')}`);
}
