// Fuzzing the file readers: thousands of seeded mutations of valid .npy and
// safetensors files (bit flips, interesting bytes, truncation, growth, spliced
// regions, edits of the header text). Every case must either parse into a
// self-consistent result or throw FileFormatError naming the input, never any
// other error (RangeError from a typed array, SyntaxError, a stack overflow…).
// The seed is fixed, so a failure reproduces; the failing case is printed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FileFormatError, npyToFloat32, parseNpy, parseNpyHeader, parseSafetensors, parseSafetensorsHeader, readNpy, readSafetensors,
} from '../../src/index.js';
import { rng } from '../helpers/data.js';

/** Cases per format; FEAT2GO_FUZZ_CASES raises it for a longer local run. */
const CASES = Number(process.env.FEAT2GO_FUZZ_CASES) || 4000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-fuzz-'));
const enc = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// ---------- seeds (written byte by byte, not with the writers under test) ----------
function npySeed(descr: string, shape: number[], itemBytes: number, major = 1): Uint8Array {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  const pre = major === 1 ? 10 : 12;
  h = h.padEnd(Math.ceil((pre + h.length + 1) / 64) * 64 - pre - 1, ' ') + '\n';
  const head = new Uint8Array(pre);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(head.buffer);
  if (major === 1) dv.setUint16(8, h.length, true); else dv.setUint32(8, h.length, true);
  const n = shape.reduce((a, b) => a * b, 1) * itemBytes;
  return concat(head, enc.encode(h), Uint8Array.from({ length: n }, (_, i) => (i * 37) & 0xff));
}

function stSeed(): Uint8Array {
  const header = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
    + '"h":{"dtype":"F16","shape":[4],"data_offsets":[24,32]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[32,36]},'
    + '"e":{"dtype":"F32","shape":[0],"data_offsets":[36,36]},"i":{"dtype":"I64","shape":[1],"data_offsets":[36,44]}}';
  const json = enc.encode(header.padEnd(Math.ceil(header.length / 8) * 8, ' '));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat(len, json, Uint8Array.from({ length: 44 }, (_, i) => (i * 53) & 0xff));
}

const NPY_SEEDS = [
  npySeed('<f4', [3, 2, 4], 4), npySeed('<f2', [2, 5], 2), npySeed('|u1', [2, 3, 4, 3], 1), npySeed('<i4', [7], 4),
  npySeed('<f4', [1, 1, 1], 4, 2), npySeed('<f4', [0, 3], 4),
];
const ST_SEEDS = [stSeed()];

// ---------- mutations ----------
const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x27, 0x2c, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x28, 0x29, 0x2d, 0x2e, 0x30, 0x39, 0x65, 0x20, 0x0a, 0x5c];
const TOKENS = ['"', "'", ',', ':', '{', '}', '[', ']', '(', ')', '-1', '0', '1e308', '1.5', '99999999999999999999', '4294967296',
  'True', 'False', 'None', 'null', '"F32"', '"I64"', "'<f4'", "'>f4'", "'|u1'", '"__metadata__"', '"data_offsets"', '"shape"',
  '\\u0000', '\\ud800', '"a"', '"a":{}', ',"a":1', '[0,0]', '[]', '{}', '\u00e9', '\uffff'];

function mutate(seed: Uint8Array, r: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(r() * n);
  let b: Uint8Array = seed.slice();
  const steps = r() < 0.6 ? 1 : 2 + pick(3);
  for (let s = 0; s < steps; s++) {
    const kind = pick(9);
    if (b.length === 0) b = Uint8Array.of(pick(256));
    const at = pick(b.length);
    if (kind === 0) b[at] ^= 1 << pick(8); // bit flip
    else if (kind === 1) b[at] = INTERESTING[pick(INTERESTING.length)];
    else if (kind === 2) b = b.slice(0, pick(b.length + 1)); // truncate
    else if (kind === 3) b = concat(b, Uint8Array.from({ length: 1 + pick(16) }, () => pick(256))); // grow
    else if (kind === 4) { // splice: copy a region over another place
      const from = pick(b.length), len = 1 + pick(24);
      const piece = b.slice(from, from + len);
      b = concat(b.slice(0, at), piece, b.slice(at));
    } else if (kind === 5) { // delete a region
      b = concat(b.slice(0, at), b.slice(at + 1 + pick(12)));
    } else if (kind === 6) { // insert a token into the header text (the first ~300 bytes)
      const p = pick(Math.min(b.length, 300));
      b = concat(b.slice(0, p), enc.encode(TOKENS[pick(TOKENS.length)]), b.slice(p));
    } else if (kind === 7) { // rewrite a number in the header text
      const text = new TextDecoder('latin1').decode(b.subarray(0, Math.min(b.length, 400)));
      const nums = [...text.matchAll(/\d+/g)];
      if (nums.length) {
        const m = nums[pick(nums.length)];
        const repl = enc.encode(['0', '1', '-1', '2', '7', '255', '65536', '2147483648', '9007199254740993', '1e9', '0.5'][pick(11)]);
        b = concat(b.slice(0, m.index!), repl, b.slice(m.index! + m[0].length));
      }
    } else { // overwrite a length field
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const v = [0, 1, 7, 8, 64, 0xffff, 0xffffffff, b.length, b.length - 8, b.length + 1][pick(10)];
      if (b.length >= 12 && pick(2) === 0) dv.setUint32(8, v >>> 0, true);
      else if (b.length >= 8) dv.setUint32(pick(2) === 0 ? 0 : 4, v >>> 0, true);
    }
  }
  return b;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 400)).toString('hex') + (b.length > 400 ? `…(${b.length} bytes)` : '');
}

/** Runs `fn`; anything but a FileFormatError naming `name` fails the test with the input. */
function check(fn: () => void, name: string, input: Uint8Array, what: string): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof FileFormatError && e.file === name) return 'rejected';
    assert.unreachable(`${what}: ${(e as Error)?.name}: ${(e as Error)?.message}\ninput: ${hex(input)}`);
    return 'rejected';
  }
}

test(`.npy: ${CASES} mutated files parse consistently or throw FileFormatError`, () => {
  const r = rng(11);
  const tally = { ok: 0, rejected: 0 };
  for (let c = 0; c < CASES; c++) {
    const input = mutate(NPY_SEEDS[c % NPY_SEEDS.length], r);
    const res = check(() => {
      const h = parseNpyHeader(input, 'fuzz.npy');
      const a = parseNpy(input, 'fuzz.npy');
      const n = a.shape.reduce((x, y) => x * y, 1);
      if (a.data.length !== n) throw new Error(`data length ${a.data.length} ≠ shape product ${n}`);
      if (h.dtype !== a.dtype || JSON.stringify(h.shape) !== JSON.stringify(a.shape)) throw new Error('header and array disagree');
      if (a.dtype === 'float32' || a.dtype === 'float16') npyToFloat32(a, 'fuzz.npy');
    }, 'fuzz.npy', input, `npy case ${c}`);
    tally[res]++;
    if (c % 40 === 0) { // through the file readers too
      const f = path.join(dir, 'fuzz.npy');
      fs.writeFileSync(f, input);
      check(() => { readNpy(f); }, f, input, `npy file case ${c}`);
    }
  }
  assert.ok(tally.ok > CASES / 100 && tally.rejected > CASES / 4, `mutations both parse and fail: ${JSON.stringify(tally)}`);
});

test(`safetensors: ${CASES} mutated files parse consistently or throw FileFormatError`, () => {
  const r = rng(12);
  const tally = { ok: 0, rejected: 0 };
  for (let c = 0; c < CASES; c++) {
    const input = mutate(ST_SEEDS[c % ST_SEEDS.length], r);
    const res = check(() => {
      const h = parseSafetensorsHeader(input, 'fuzz.safetensors');
      // The reference layout: sorted by offsets the tensors tile the data section.
      const sorted = [...h.tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
      let pos = 0;
      for (const t of sorted) { if (t.begin !== pos) throw new Error('accepted a gap or overlap'); pos = t.end; }
      if (pos !== h.dataLength || h.dataOffset + h.dataLength !== input.length) throw new Error('accepted uncovered bytes');
      const floats = h.tensors.filter((t) => ['F32', 'F16', 'BF16'].includes(t.dtype)).map((t) => t.name);
      const m = parseSafetensors(input, 'fuzz.safetensors', { names: floats });
      for (const [name, t] of m) {
        const n = t.shape.reduce((x, y) => x * y, 1);
        if (t.data.length !== n) throw new Error(`${name}: data length ${t.data.length} ≠ ${n}`);
      }
    }, 'fuzz.safetensors', input, `safetensors case ${c}`);
    tally[res]++;
    if (c % 40 === 0) {
      const f = path.join(dir, 'fuzz.safetensors');
      fs.writeFileSync(f, input);
      check(() => { readSafetensors(f, { names: [] }); }, f, input, `safetensors file case ${c}`);
    }
  }
  assert.ok(tally.ok > CASES / 200 && tally.rejected > CASES / 4, `mutations both parse and fail: ${JSON.stringify(tally)}`);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
