// File reading and writing on a V-JEPA 2 ViT-L sized episode [300, 256, 1024]:
// .npy float32 / float16 and safetensors F32 / BF16 reads (from the page cache),
// and atomic .npy writes (with fsync, so bounded by the disk).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeNpy, readNpy, readSafetensors, writeNpy, writeSafetensors } from '../src/index.js';
import { randomFloats, table } from './common.js';

function f16Bits(x: number): number {
  // Round-to-nearest-even float32 → float16 for the bench input (normal range only).
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  if (e <= 0) return sign;
  let m = (b >>> 13) & 0x3ff;
  const rest = b & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) m++;
  return sign | ((e << 10) + m);
}

export async function run(): Promise<void> {
  const [T, N, D] = [300, 256, 1024];
  const n = T * N * D;
  const data = randomFloats(n, 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-bench-io-'));
  try {
    const f32 = path.join(dir, 'ep.npy');
    writeNpy(f32, { data, shape: [T, N, D] });
    // float16 .npy: same header with '<f2', data converted here.
    const half = new Uint16Array(n);
    for (let i = 0; i < n; i++) half[i] = f16Bits(data[i]);
    const [hdr] = encodeNpy({ data, shape: [T, N, D] }); // header chunk only (the data chunk is a view)
    const f16Header = Buffer.from(hdr);
    f16Header.write("'<f2'", f16Header.indexOf("'<f4'"), 'latin1');
    const f16 = path.join(dir, 'ep16.npy');
    fs.writeFileSync(f16, Buffer.concat([f16Header, Buffer.from(half.buffer)]));
    const st = path.join(dir, 'ep.safetensors');
    writeSafetensors(st, { features: { data, shape: [T, N, D] } });
    const stb = path.join(dir, 'ep16.safetensors');
    const json = Buffer.from(JSON.stringify({ features: { dtype: 'BF16', shape: [T, N, D], data_offsets: [0, 2 * n] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const bf = new Uint16Array(n);
    const bits = new Uint32Array(data.buffer);
    for (let i = 0; i < n; i++) bf[i] = bits[i] >>> 16;
    fs.writeFileSync(stb, Buffer.concat([len, json, Buffer.from(bf.buffer)]));
    const out = path.join(dir, 'out.npy');
    await table(`files: one episode [${T}, ${N}, ${D}] (${(n * 4 / 1e6).toFixed(0)} MB as float32); GB/s of float32 delivered`, [
      { name: 'readNpy float32', bytes: n * 4, fn: () => readNpy(f32) },
      { name: 'readNpy float16 → float32', bytes: n * 4, fn: () => readNpy(f16) },
      { name: 'readSafetensors F32', bytes: n * 4, fn: () => readSafetensors(st) },
      { name: 'readSafetensors BF16 → float32', bytes: n * 4, fn: () => readSafetensors(stb) },
      { name: 'fs.readFileSync alone (baseline)', bytes: n * 4, fn: () => fs.readFileSync(f32) },
      { name: 'writeNpy float32 (atomic, fsync)', bytes: n * 4, fn: () => writeNpy(out, { data, shape: [T, N, D] }) },
    ], [
      { label: 'readNpy float32 vs plain readFileSync (time)', of: 'readNpy float32', to: 'fs.readFileSync alone (baseline)', by: 'time' },
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
