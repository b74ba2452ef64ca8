// File readers and writers on hand-made good and bad files. Every file here is
// written byte by byte in the test (not with the writers under test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileFormatError, NPY_MAX_HEADER_BYTES, parseNpy, readNpyHeader, parseSafetensors, readNpy, readNpyFloat32, readSafetensors, readSafetensorsHeader, writeFileAtomic, writeNpy, writeSafetensors } from '../../src/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-io-'));
let counter = 0;
function tmp(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, `${counter++}-${name}`);
  fs.writeFileSync(p, bytes);
  return p;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
function f32le(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return b;
}
function u16le(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  values.forEach((v, i) => { b[2 * i] = v & 0xff; b[2 * i + 1] = v >> 8; });
  return b;
}
/** A .npy file: magic, version, little-endian header length, header text (padded to 64 with '\n'), data. */
function npy(header: string, data: Uint8Array, major = 1, pad = true): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  let h = header;
  if (pad) {
    const total = Math.ceil((pre + h.length + 1) / 64) * 64;
    h = h.padEnd(total - pre - 1, ' ') + '\n';
  }
  const len = new Uint8Array(major === 1 ? 2 : 4);
  const dv = new DataView(len.buffer);
  if (major === 1) dv.setUint16(0, h.length, true); else dv.setUint32(0, h.length, true);
  return concat(Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0), len, major === 3 ? new TextEncoder().encode(h) : ascii(h), data);
}

function throwsFormat(fn: () => unknown, file: string | RegExp, reason: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, FileFormatError, `expected a FileFormatError, got ${String(err)}`);
    const e = err as FileFormatError;
    if (typeof file === 'string') assert.ok(e.message.startsWith(`${file}: `), `message names the file: ${e.message}`);
    assert.match(e.reason, reason);
    assert.not.match(e.message, /\n/, 'one line');
    return;
  }
  assert.unreachable(`expected a FileFormatError matching ${reason}`);
}

// ---------- .npy: good files ----------

test('npy v1.0 float32 [2,3] in C order, exact values', () => {
  // 1, -2.5, 0.1 hand-encoded: 0x3f800000, 0xc0200000, 0x3dcccccd
  const data = concat(Uint8Array.of(0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0xcd, 0xcc, 0xcc, 0x3d), f32le([4, 5, 6]));
  const f = tmp('f32.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data));
  const a = readNpy(f);
  assert.is(a.dtype, 'float32');
  assert.equal(a.shape, [2, 3]);
  assert.instance(a.data, Float32Array);
  assert.equal(Array.from(a.data), [1, -2.5, Math.fround(0.1), 4, 5, 6]);
  const t = readNpyFloat32(f, 2);
  assert.equal(t.shape, [2, 3]);
});

test('readNpy { shared: true }: the same values in a SharedArrayBuffer (uint8 and float32); bad options are named', () => {
  const data = concat(Uint8Array.of(0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0xcd, 0xcc, 0xcc, 0x3d), f32le([4, 5, 6]));
  const f = tmp('f32-shared.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data));
  const a = readNpy(f, { shared: true });
  assert.instance(a.data, Float32Array);
  assert.instance(a.data.buffer, SharedArrayBuffer);
  assert.equal(Array.from(a.data), [1, -2.5, Math.fround(0.1), 4, 5, 6]);
  assert.not.instance(readNpy(f).data.buffer, SharedArrayBuffer);
  const t = readNpyFloat32(f, 2, { shared: true });
  assert.instance(t.data.buffer, SharedArrayBuffer);
  assert.equal(Array.from(t.data), Array.from(a.data));
  const u = tmp('u8-shared.npy', npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", Uint8Array.of(0, 7, 255, 3)));
  const b = readNpy(u, { shared: true });
  assert.instance(b.data.buffer, SharedArrayBuffer);
  assert.equal(Array.from(b.data), [0, 7, 255, 3]);
  assert.throws(() => readNpy(f, { shared: 1 as unknown as boolean }), (e: Error) => e instanceof TypeError && /opts\.shared/.test(e.message) && /1/.test(e.message));
  assert.throws(() => readNpy(f, { share: true } as never), (e: Error) => e instanceof TypeError && /'share'/.test(e.message));
});

test('npy v2.0 and v3.0 headers, double quotes, no trailing comma, 1-D and scalar shapes', () => {
  const v2 = readNpy(tmp('v2.npy', npy('{"descr": "<f4", "fortran_order": False, "shape": (3,)}', f32le([7, 8, 9]), 2)));
  assert.equal([v2.shape, Array.from(v2.data)], [[3], [7, 8, 9]]);
  const v3 = readNpy(tmp('v3.npy', npy("{'descr':'<f4','fortran_order':False,'shape':(1, 2)}", f32le([-1, 1]), 3)));
  assert.equal([v3.shape, Array.from(v3.data)], [[1, 2], [-1, 1]]);
  const scalar = readNpy(tmp('s.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32le([3.5]))));
  assert.equal([scalar.shape, Array.from(scalar.data)], [[], [3.5]]);
  const empty = readNpy(tmp('e.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", new Uint8Array(0))));
  assert.equal([empty.shape, empty.data.length], [[0, 4], 0]);
});

test('npy float16 known values are converted exactly to float32', () => {
  const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x3555, 0x8000, 0x7c00, 0xfc00, 0x7e00];
  const want = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 0.333251953125, -0, Infinity, -Infinity, NaN];
  const a = readNpy(tmp('f16.npy', npy("{'descr': '<f2', 'fortran_order': False, 'shape': (11,), }", u16le(bits))));
  assert.is(a.dtype, 'float16');
  assert.instance(a.data, Float32Array);
  want.forEach((w, i) => assert.ok(Object.is(a.data[i], w), `bit pattern 0x${bits[i].toString(16)}: ${a.data[i]} ≠ ${w}`));
  const f16file = npy("{'descr': '<f2', 'fortran_order': False, 'shape': (11,), }", u16le(bits));
  for (const shift of [1, 2]) {
    const buf = new Uint8Array(f16file.length + shift);
    buf.set(f16file, shift);
    const p = parseNpy(buf.subarray(shift));
    want.forEach((w, i) => assert.ok(Object.is(p.data[i], w), `shift ${shift}, pattern 0x${bits[i].toString(16)}`));
  }
  assert.equal(readNpyFloat32(tmp('f16b.npy', npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 2), }", u16le([0x4000, 0x3800]))), 3).data, new Float32Array([2, 0.5]));
});

test('npy uint8 [T,H,W,3] and int32', () => {
  const px = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => (i * 37) & 0xff);
  const a = readNpy(tmp('u8.npy', npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2, 3), }", px)));
  assert.is(a.dtype, 'uint8');
  assert.instance(a.data, Uint8Array);
  assert.equal(a.shape, [2, 2, 2, 3]);
  assert.equal(Array.from(a.data), Array.from(px));
  const i = readNpy(tmp('i4.npy', npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", Uint8Array.of(0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0))));
  assert.is(i.dtype, 'int32');
  assert.equal(Array.from(i.data), [-1, 7]);
});

test('parseNpy reads from a Buffer, also at an unaligned offset', () => {
  const file = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32le([1.25, -3]));
  const shifted = new Uint8Array(file.length + 1);
  shifted.set(file, 1);
  const a = parseNpy(shifted.subarray(1), 'mem');
  assert.equal(Array.from(a.data), [1.25, -3]);
  assert.equal(Array.from(parseNpy(Buffer.from(file)).data), [1.25, -3]);
});

// ---------- .npy: bad files ----------

const GOOD_HEADER = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

test('npy bad magic, unsupported version, too short', () => {
  const good = npy(GOOD_HEADER, f32le([1, 2, 3, 4, 5, 6]));
  const badMagic = good.slice(); badMagic[1] = 0x4f; // \x93NOMPY
  let f = tmp('magic.npy', badMagic);
  throwsFormat(() => readNpy(f), f, /bad magic/);
  const v4 = good.slice(); v4[6] = 4;
  f = tmp('v4.npy', v4);
  throwsFormat(() => readNpy(f), f, /unsupported format version 4\.0/);
  f = tmp('short.npy', good.subarray(0, 7));
  throwsFormat(() => readNpy(f), f, /too short/);
  f = tmp('text.npy', ascii('hello world, not numpy'));
  throwsFormat(() => readNpy(f), f, /bad magic/);
});

test('npy truncated data, truncated header, trailing bytes', () => {
  const good = npy(GOOD_HEADER, f32le([1, 2, 3, 4, 5, 6]));
  let f = tmp('trunc.npy', good.subarray(0, good.length - 1));
  throwsFormat(() => readNpy(f), f, /truncated data: shape \(2, 3\) of float32 needs 24 bytes but only 23/);
  f = tmp('trunch.npy', good.subarray(0, 40));
  throwsFormat(() => readNpy(f), f, /truncated header/);
  f = tmp('trail.npy', concat(good, Uint8Array.of(0)));
  throwsFormat(() => readNpy(f), f, /1 unexpected bytes after the data/);
});

test('npy wrong dtypes, big-endian, Fortran order', () => {
  const cases: Array<[string, RegExp]> = [
    ["{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", /dtype '<f8' is not supported/],
    ["{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", /dtype '<i8' is not supported/],
    ["{'descr': '|b1', 'fortran_order': False, 'shape': (24,), }", /dtype '\|b1' is not supported/],
    ["{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", /big-endian dtype '>f4'/],
    ["{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (6,), }", /structured dtype/],
    ["{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", /fortran_order is True; only C-order/],
  ];
  for (const [h, re] of cases) {
    const f = tmp('dtype.npy', npy(h, new Uint8Array(24)));
    throwsFormat(() => readNpy(f), f, re);
  }
  const u8 = tmp('u8f.npy', npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 4), }", new Uint8Array(4)));
  throwsFormat(() => readNpyFloat32(u8), u8, /dtype is uint8; expected float32 or float16/);
  const rank2 = tmp('r2.npy', npy(GOOD_HEADER, f32le([1, 2, 3, 4, 5, 6])));
  throwsFormat(() => readNpyFloat32(rank2, 3), rank2, /rank-3 array but its shape is \(2, 3\)/);
});

test('npy corrupt and oversized headers', () => {
  const data = f32le([1, 2, 3, 4, 5, 6]);
  const cases: Array<[string, RegExp]> = [
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}", /corrupt header/],
    ["{'descr': '<f4', 'shape': (2, 3), }", /exactly the keys descr, fortran_order, shape/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", /exactly the keys/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", /non-negative integers/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3.0), }", /corrupt header/],
    ["{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", /fortran_order must be True or False/],
    ["[1, 2, 3]", /not a dictionary/],
    ["{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", /duplicate key/],
    ["{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", /too large/],
  ];
  for (const [h, re] of cases) {
    const f = tmp('hdr.npy', npy(h, data));
    throwsFormat(() => readNpy(f), f, re);
  }
  // A version 2.0 header claiming 2^31 bytes: refused before anything is allocated or parsed.
  const huge = concat(Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0, 0, 0, 0x80), new Uint8Array(100));
  let f = tmp('huge.npy', huge);
  throwsFormat(() => readNpy(f), f, new RegExp(`header of 2147483648 bytes exceeds the limit of ${NPY_MAX_HEADER_BYTES}`));
  // Just over the cap, with the bytes present.
  const over = npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }${' '.repeat(NPY_MAX_HEADER_BYTES)}`, f32le([1]), 2);
  f = tmp('over.npy', over);
  throwsFormat(() => readNpy(f), f, /exceeds the limit/);
  // Invalid UTF-8 in a version 3.0 header.
  const bad3 = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f32le([1]), 3);
  bad3[20] = 0xff;
  f = tmp('utf.npy', bad3);
  throwsFormat(() => readNpy(f), f, /not valid UTF-8/);
});

test('npy errors for a missing file come from node:fs', () => {
  assert.throws(() => readNpy(path.join(dir, 'nope.npy')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

// ---------- .npy: writing ----------

test('writeNpy writes the exact NumPy 1.0 layout and round-trips float32, int32, uint8', () => {
  const f = path.join(dir, 'w.npy');
  writeNpy(f, { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
  const bytes = new Uint8Array(fs.readFileSync(f));
  const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  assert.equal(bytes, npy(header, f32le([1, 2, 3, 4, 5, 6])), 'byte-identical to the hand-made file');
  assert.is((10 + (bytes[8] | (bytes[9] << 8))) % 64, 0, 'data aligned to 64 bytes');
  writeNpy(f, { data: new Int32Array([-5, 2147483647]), shape: [2] });
  assert.equal(new Uint8Array(fs.readFileSync(f)), npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", Uint8Array.of(0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)));
  writeNpy(f, { data: Uint8Array.of(9, 8, 7), shape: [1, 3] });
  const r = readNpy(f);
  assert.equal([r.dtype, r.shape, Array.from(r.data)], ['uint8', [1, 3], [9, 8, 7]]);
  const sub = new Float32Array([0, 1.5, 2.5, 0]).subarray(1, 3);
  writeNpy(f, { data: sub, shape: [2] });
  assert.equal(Array.from(readNpy(f).data), [1.5, 2.5], 'subarrays are written from their offset');
});

test('writeNpy uses format 2.0 when the header exceeds 64 KiB', () => {
  const f = path.join(dir, 'big-header.npy');
  const shape = Array(25000).fill(1);
  writeNpy(f, { data: new Float32Array([42]), shape });
  const bytes = fs.readFileSync(f);
  assert.is(bytes[6], 2);
  const r = readNpy(f);
  assert.is(r.shape.length, 25000);
  assert.equal(Array.from(r.data), [42]);
});

test('writeNpy rejects bad input and leaves no file', () => {
  const f = path.join(dir, 'never.npy');
  assert.throws(() => writeNpy(f, { data: new Float32Array(5), shape: [2, 3] }), (e: Error) => e instanceof RangeError && /hold 6 elements for shape \[2,3\] but received 5/.test(e.message));
  assert.throws(() => writeNpy(f, { data: new Float64Array(6) as unknown as Float32Array, shape: [6] }), (e: Error) => e instanceof TypeError && /Float64Array/.test(e.message));
  assert.throws(() => writeNpy(f, { data: new Float32Array(1), shape: [1.5] }), TypeError);
  assert.not.ok(fs.existsSync(f));
});

// ---------- safetensors ----------

/** A safetensors file: u64 header length, the JSON header text, then the data. */
function st(header: unknown, data: Uint8Array, lengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(lengthOverride ?? json.length), true);
  return concat(len, json, data);
}

const MIXED_HEADER = {
  __metadata__: { format: 'pt', note: 'hand-made' },
  a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
  h: { dtype: 'F16', shape: [3], data_offsets: [8, 14] },
  b: { dtype: 'BF16', shape: [1, 4], data_offsets: [14, 22] },
  u: { dtype: 'F32', shape: [1, 1, 1], data_offsets: [22, 26] }, // at an offset that is not 4-aligned
  i: { dtype: 'I64', shape: [1], data_offsets: [26, 34] },
};
const MIXED_DATA = concat(
  f32le([1.5, -2]),
  u16le([0x3c00, 0xb800, 0x7bff]), // 1, -0.5, 65504
  u16le([0x3f80, 0xc040, 0x4049, 0x0001]), // 1, -3, 3.140625, 2^-133
  f32le([0.25]),
  Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0),
);

test('safetensors header: names, dtypes, shapes, offsets and metadata', () => {
  const f = tmp('mixed.safetensors', st(MIXED_HEADER, MIXED_DATA));
  const h = readSafetensorsHeader(f);
  assert.equal(h.metadata, { format: 'pt', note: 'hand-made' });
  assert.equal(h.tensors.map((t) => [t.name, t.dtype, t.shape, t.begin, t.end]), [
    ['a', 'F32', [2], 0, 8], ['h', 'F16', [3], 8, 14], ['b', 'BF16', [1, 4], 14, 22], ['u', 'F32', [1, 1, 1], 22, 26], ['i', 'I64', [1], 26, 34],
  ]);
  assert.is(h.dataLength, 34);
});

test('safetensors F32, F16 and BF16 read as exact float32; names selects tensors', () => {
  const f = tmp('mixed.safetensors', st(MIXED_HEADER, MIXED_DATA));
  const m = readSafetensors(f, { names: ['a', 'h', 'b', 'u'] });
  assert.equal([...m.keys()], ['a', 'h', 'b', 'u']);
  assert.equal(m.get('a'), { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2]) });
  assert.equal(m.get('h'), { dtype: 'F16', shape: [3], data: new Float32Array([1, -0.5, 65504]) });
  assert.equal(m.get('b')!.shape, [1, 4]);
  assert.equal(Array.from(m.get('b')!.data), [1, -3, 3.140625, 2 ** -133]);
  assert.equal(Array.from(m.get('u')!.data), [0.25]);
  // From memory, including the unaligned F32 tensor.
  const mem = parseSafetensors(st(MIXED_HEADER, MIXED_DATA), 'mem', { names: ['u', 'a'] });
  assert.equal(Array.from(mem.get('u')!.data), [0.25]);
  assert.equal(Array.from(mem.get('a')!.data), [1.5, -2]);
  // Both byte parities of the buffer: the 2-byte types are decoded aligned in one and unaligned in the other.
  const file = st(MIXED_HEADER, MIXED_DATA);
  for (const shift of [0, 1, 2, 3]) {
    const buf = new Uint8Array(file.length + shift);
    buf.set(file, shift);
    const p = parseSafetensors(buf.subarray(shift), 'mem', { names: ['a', 'h', 'b', 'u'] });
    assert.equal(Array.from(p.get('h')!.data), [1, -0.5, 65504], `F16 at shift ${shift}`);
    assert.equal(Array.from(p.get('b')!.data), [1, -3, 3.140625, 2 ** -133], `BF16 at shift ${shift}`);
    assert.equal(Array.from(p.get('u')!.data), [0.25], `F32 at shift ${shift}`);
  }
});

test('safetensors: unsupported dtype and unknown names are clear errors', () => {
  const f = tmp('mixed.safetensors', st(MIXED_HEADER, MIXED_DATA));
  throwsFormat(() => readSafetensors(f), f, /tensor 'i' has dtype I64; only F32, F16 and BF16/);
  throwsFormat(() => readSafetensors(f, { names: ['zzz'] }), f, /no tensor named 'zzz'/);
});

test('safetensors bad files', () => {
  const ok = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const d8 = f32le([1, 2]);
  const cases: Array<[Uint8Array, RegExp]> = [
    [Uint8Array.of(1, 2, 3), /too short \(3 bytes\)/],
    [st(ok, d8, 1000), /header length 1000 runs past the end of the file/],
    [st(ok, d8, 2 ** 40), /header length 1099511627776 exceeds the limit/],
    [st('{"x": {"dtype": "F32", ', d8), /not valid UTF-8 JSON/],
    [st('[1,2]', d8), /header JSON is not an object/],
    [st({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, d8), /data_offsets \[0, 12\] past the end of the data \(8 bytes\)/],
    [st({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, d8), /shape \[3\] F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/],
    [st({ x: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, d8), /begin > end/],
    [st({ x: { dtype: 'F32', shape: [2], data_offsets: [0] } }, d8), /bad data_offsets/],
    [st({ x: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, d8), /unknown dtype "F33"/],
    [st({ x: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, d8), /bad shape/],
    [st({ x: 5 }, d8), /tensor 'x' is not an object/],
    [st({ __metadata__: { a: 1 }, ...ok }, d8), /__metadata__\.a is not a string/],
    [st(ok, d8.subarray(0, 7)), /past the end of the data \(7 bytes\): file truncated/],
  ];
  for (const [bytes, re] of cases) {
    const f = tmp('bad.safetensors', bytes);
    throwsFormat(() => readSafetensors(f), f, re);
    throwsFormat(() => parseSafetensors(bytes, 'mem'), 'mem', re);
  }
  const bad = st(ok, d8);
  bad[10] = 0xff; // invalid UTF-8 inside the JSON
  const f = tmp('utf.safetensors', bad);
  throwsFormat(() => readSafetensorsHeader(f), f, /not valid UTF-8 JSON/);
});

test('writeSafetensors: layout (u64 length, padded JSON, contiguous offsets), metadata, round trip', () => {
  const f = path.join(dir, 'w.safetensors');
  const w = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([-0.5]);
  writeSafetensors(f, new Map([['layer.weight', { data: w, shape: [2, 3] }], ['layer.bias', { data: b, shape: [1] }]]), { format: 'pt' });
  const bytes = new Uint8Array(fs.readFileSync(f));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is(n % 8, 0, 'header padded to 8 bytes');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.equal(header, {
    __metadata__: { format: 'pt' },
    'layer.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    'layer.bias': { dtype: 'F32', shape: [1], data_offsets: [24, 28] },
  });
  assert.equal(bytes.subarray(8 + n), concat(f32le([1, 2, 3, 4, 5, 6]), f32le([-0.5])));
  const r = readSafetensors(f);
  assert.equal(r.get('layer.weight'), { dtype: 'F32', shape: [2, 3], data: w });
  assert.equal(r.get('layer.bias'), { dtype: 'F32', shape: [1], data: b });
  assert.equal(readSafetensorsHeader(f).metadata, { format: 'pt' });
  writeSafetensors(f, {});
  assert.equal(readSafetensors(f).size, 0);
});

test('writeSafetensors rejects bad input and leaves no file', () => {
  const f = path.join(dir, 'never.safetensors');
  assert.throws(() => writeSafetensors(f, { a: { data: new Float32Array(3), shape: [2, 2] } }), (e: Error) => e instanceof RangeError && /tensors\['a'\]\.data to hold 4 elements/.test(e.message));
  assert.throws(() => writeSafetensors(f, { a: { data: new Int32Array(1) as unknown as Float32Array, shape: [1] } }), (e: Error) => e instanceof TypeError && /Int32Array/.test(e.message));
  assert.throws(() => writeSafetensors(f, { __metadata__: { data: new Float32Array(1), shape: [1] } }), RangeError);
  assert.throws(() => writeSafetensors(f, {}, { a: 1 as unknown as string }), (e: Error) => e instanceof TypeError && /metadata\.a/.test(e.message));
  assert.not.ok(fs.existsSync(f));
});

// ---------- atomic writes ----------

test('writeFileAtomic writes, overwrites and leaves no temporary files', () => {
  const d = fs.mkdtempSync(path.join(dir, 'atomic-'));
  const f = path.join(d, 'x.json');
  writeFileAtomic(f, '{"a":1}');
  writeFileAtomic(f, [Uint8Array.of(0x7b, 0x7d), new Float32Array(0)]);
  assert.is(fs.readFileSync(f, 'utf8'), '{}');
  writeNpy(path.join(d, 'y.npy'), { data: new Float32Array(3), shape: [3] });
  writeSafetensors(path.join(d, 'z.safetensors'), { t: { data: new Float32Array(2), shape: [2] } });
  assert.equal(fs.readdirSync(d).sort(), ['x.json', 'y.npy', 'z.safetensors']);
});

test('writeFileAtomic failures remove the temporary file and keep the target', () => {
  const d = fs.mkdtempSync(path.join(dir, 'atomic-fail-'));
  fs.mkdirSync(path.join(d, 'taken'));
  fs.writeFileSync(path.join(d, 'taken', 'inside'), 'keep');
  // Renaming a file over a non-empty folder fails: the temp file must not stay behind.
  assert.throws(() => writeFileAtomic(path.join(d, 'taken'), 'data'), (e: NodeJS.ErrnoException) => typeof e.code === 'string');
  assert.equal(fs.readdirSync(d), ['taken']);
  assert.is(fs.readFileSync(path.join(d, 'taken', 'inside'), 'utf8'), 'keep');
  assert.throws(() => writeFileAtomic(path.join(d, 'missing', 'f.txt'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  assert.equal(fs.readdirSync(d), ['taken']);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test('readNpyHeader: header only, long headers (v1 and v2), data length checked against the file size', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 * 3 }, (_, i) => i);
  const header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4, 3), }";
  const short = tmp('h.npy', npy(header, data));
  const h = readNpyHeader(short);
  assert.equal([h.dtype, h.descr, h.shape, h.dataOffset, h.dataBytes], ['uint8', '|u1', [2, 3, 4, 3], 128, 72]);
  // A header longer than the first 4096-byte read, in format 1.0 and 2.0.
  for (const major of [1, 2]) {
    const long = tmp(`long${major}.npy`, npy(header.padEnd(5000, ' '), data, major));
    const lh = readNpyHeader(long);
    const pre = major === 1 ? 10 : 12;
    assert.equal([lh.shape, lh.dataOffset], [[2, 3, 4, 3], Math.ceil((pre + 5001) / 64) * 64]);
    assert.equal(Array.from(fs.readFileSync(long).subarray(lh.dataOffset)), Array.from(data), 'data starts at dataOffset');
    assert.equal(parseNpy(fs.readFileSync(long)).shape, lh.shape);
  }
  throwsFormat(() => readNpyHeader(tmp('trunc.npy', npy(header, data.subarray(0, 70)))), /trunc/, /truncated data: .* needs 72 bytes but only 70/);
  throwsFormat(() => readNpyHeader(tmp('extra.npy', npy(header, concat(data, Uint8Array.of(1))))), /extra/, /1 unexpected bytes after the data/);
  throwsFormat(() => readNpyHeader(tmp('magic.npy', ascii('not numpy at all'))), /magic/, /bad magic/);
});

test.run();
