// The YUV 4:2:0 → RGB kernel (native/kernels/yuv.cc, encoderYuvToRgb) that turns
// ffmpeg's raw yuv420p frames into RGB: against a float64 reference written from the
// BT.601 / BT.709 definitions (test/reference/yuv.ts), hand-worked pixels, odd sizes
// (the last column/row's chroma), several frames, and bad input. Then against
// ffmpeg's own rgb24 conversion of the same decoded frames (where ffmpeg exists).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native, patchStatsEncoder } from '../../src/index.js';
import { yuv420pToRgbRef, yuvPixelRef } from '../reference/yuv.js';
import { rng } from '../helpers/data.js';
import { testIf } from '../helpers/skip.js';

const frameBytes = (W: number, H: number) => W * H + 2 * Math.ceil(W / 2) * Math.ceil(H / 2);

function convert(yuv: Uint8Array, n: number, W: number, H: number, matrix: 601 | 709, fullRange: boolean, threads = 0): Uint8Array {
  const rgb = new Uint8Array(n * H * W * 3);
  native().encoderYuvToRgb({ yuv }, { n, W, H, matrix, fullRange, threads }, { rgb });
  return rgb;
}

function diffStats(a: Uint8Array, b: Uint8Array): { max: number; mean: number; exact: number } {
  assert.is(a.length, b.length);
  let max = 0;
  let sum = 0;
  let exact = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
    if (d === 0) exact++;
  }
  return { max, mean: sum / a.length, exact: exact / a.length };
}

test('hand-worked pixels: limited-range black, white, mid grey and pure red; full range passes grey through', () => {
  const one = (Y: number, U: number, V: number, m: 601 | 709, full: boolean) => Array.from(convert(new Uint8Array([Y, U, V]), 1, 1, 1, m, full));
  for (const m of [601, 709] as const) {
    assert.equal(one(16, 128, 128, m, false), [0, 0, 0]);
    assert.equal(one(235, 128, 128, m, false), [255, 255, 255]);
    // (126 − 16)·255/219 = 128.08 → 128
    assert.equal(one(126, 128, 128, m, false), [128, 128, 128]);
    // below black and above white clamp
    assert.equal(one(0, 128, 128, m, false), [0, 0, 0]);
    assert.equal(one(255, 128, 128, m, false), [255, 255, 255]);
    for (const g of [0, 1, 77, 128, 254, 255]) assert.equal(one(g, 128, 128, m, true), [g, g, g]);
  }
  // BT.601 limited red: Y = 16 + 219·0.299 = 81.48, Cr = 128 + 112 = 240, Cb = 128 − 112·0.299/0.886 = 90.2
  assert.equal(one(81, 90, 240, 601, false), [254, 0, 0]);
  // BT.709 limited red: Y = 16 + 219·0.2126 = 62.56 → 63, Cb = 128 − 112·0.2126/0.9278 = 102.3 → 102;
  // the rounding leaves G = 0.58 → 1 and R = 255.51 → 255
  assert.equal(one(63, 102, 240, 709, false), [255, 1, 0]);
});

test('random frames, odd and even sizes, both matrices and ranges: within 1 of the float64 reference (mostly exact)', () => {
  const r = rng(17);
  for (const [n, W, H] of [[1, 1, 1], [2, 17, 5], [3, 16, 9], [1, 2, 3], [2, 33, 31], [1, 64, 1]]) {
    const yuv = new Uint8Array(n * frameBytes(W, H));
    for (let i = 0; i < yuv.length; i++) yuv[i] = Math.floor(r() * 256);
    for (const m of [601, 709] as const) {
      for (const full of [false, true]) {
        const ref = yuv420pToRgbRef(yuv, n, W, H, m, full);
        for (const threads of [0, 1]) {
          const d = diffStats(convert(yuv, n, W, H, m, full, threads), ref);
          assert.ok(d.max <= 1, `${n}×${W}×${H} ${m} full=${full}: max |Δ| ${d.max}`);
          assert.ok(d.exact > 0.97, `${n}×${W}×${H} ${m} full=${full}: only ${(d.exact * 100).toFixed(1)} % exact`);
        }
      }
    }
  }
});

test('chroma: each Cb/Cr sample colours exactly its 2 × 2 block, the odd last column and row their own', () => {
  // 5 × 3 frame: chroma 3 × 2. Neutral luma, a distinct chroma value per sample.
  const W = 5;
  const H = 3;
  const yuv = new Uint8Array(frameBytes(W, H)).fill(128);
  const cw = 3;
  const cb = [60, 90, 120, 150, 180, 210];
  const cr = [200, 170, 140, 110, 80, 50];
  for (let c = 0; c < 6; c++) { yuv[W * H + c] = cb[c]; yuv[W * H + cw * 2 + c] = cr[c]; }
  const rgb = convert(yuv, 1, W, H, 601, false);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = Math.floor(y / 2) * cw + Math.floor(x / 2);
      const want = yuvPixelRef(128, cb[c], cr[c], 601, false).map((v) => Math.min(255, Math.max(0, Math.round(v))));
      const got = Array.from(rgb.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(got[k] - want[k]) <= 1, `pixel (${x}, ${y}): ${got} vs ${want}`);
    }
  }
  // The last column (x = 4) takes chroma column 2, which no other column uses.
  assert.not.equal(Array.from(rgb.subarray((0 * W + 4) * 3, (0 * W + 4) * 3 + 3)), Array.from(rgb.subarray((0 * W + 3) * 3, (0 * W + 3) * 3 + 3)));
});

test('bad input: short or overlapping arrays and unknown matrices are RangeErrors naming the argument', () => {
  const W = 7;
  const H = 5;
  const yuv = new Uint8Array(2 * frameBytes(W, H));
  const rgb = new Uint8Array(2 * H * W * 3);
  const call = (y: Uint8Array, o: Record<string, unknown>, out: Uint8Array) => native().encoderYuvToRgb({ yuv: y }, { n: 2, W, H, matrix: 601, fullRange: false, threads: 0, ...o } as never, { rgb: out });
  call(yuv, {}, rgb);
  assert.throws(() => call(yuv.subarray(1), {}, rgb), (e: Error) => e instanceof RangeError && /yuv/.test(e.message) && /118/.test(e.message));
  assert.throws(() => call(yuv, {}, rgb.subarray(3)), (e: Error) => e instanceof RangeError && /rgb/.test(e.message) && /210/.test(e.message));
  assert.throws(() => call(yuv, { n: 3 }, rgb), (e: Error) => e instanceof RangeError && /yuv/.test(e.message));
  assert.throws(() => call(yuv, { matrix: 2020 }, rgb), (e: Error) => e instanceof RangeError && /opts\.matrix/.test(e.message) && /2020/.test(e.message));
  assert.throws(() => call(yuv, { W: 0 }, rgb), (e: Error) => e instanceof RangeError && /opts\.W/.test(e.message));
  assert.throws(() => native().encoderYuvToRgb({ yuv: [1, 2, 3] as never }, { n: 1, W: 1, H: 1, matrix: 601, fullRange: false, threads: 0 }, { rgb: new Uint8Array(3) }),
    (e: Error) => e instanceof TypeError && /yuv/.test(e.message));
  // rgb sharing memory with yuv
  const buf = new Uint8Array(2 * frameBytes(W, H) + 2 * H * W * 3);
  assert.throws(() => call(buf.subarray(0, yuv.length), {}, buf.subarray(10, 10 + rgb.length)), (e: Error) => e instanceof RangeError && /overlap/i.test(e.message));
});

test('the built-in encoder on yuv420p frames equals it on the converted RGB frames, bit for bit', async () => {
  const r = rng(5);
  for (const [T, W, H, grid, m, full] of [[3, 40, 24, 4, 601, false], [2, 33, 18, 3, 709, true], [1, 16, 16, 16, 601, false]] as const) {
    const yuv = new Uint8Array(T * frameBytes(W, H));
    for (let i = 0; i < yuv.length; i++) yuv[i] = Math.floor(r() * 256);
    const enc = patchStatsEncoder({ grid, bins: 6 });
    const want = enc.encodeSync({ data: convert(yuv, T, W, H, m, full), shape: [T, H, W, 3] });
    const s = enc.begin('yuv');
    await s.push({ data: yuv, count: T, width: W, height: H, start: 0, yuv420p: { matrix: m, fullRange: full } });
    const got = await s.finish();
    assert.equal(got.shape, want.shape);
    assert.equal(Array.from(got.data), Array.from(want.data));
  }
  assert.is(patchStatsEncoder().acceptsYuv420p, true);
  // A chunk too short for its frames is refused, naming the array.
  const s = patchStatsEncoder({ grid: 2 }).begin('short');
  const err = await s.push({ data: new Uint8Array(10), count: 1, width: 4, height: 4, start: 0, yuv420p: { matrix: 601, fullRange: false } }).then(() => undefined, (e: Error) => e);
  assert.ok(err instanceof RangeError && /yuv/.test(err.message) && /24/.test(err.message), String(err));
});

const ffmpegMissing = spawnSync('ffmpeg', ['-version']).status === 0 ? undefined : 'ffmpeg is not on PATH';
const withFfmpeg = testIf(ffmpegMissing === undefined, ffmpegMissing ?? '');

/** Raw frames of `file` as ffmpeg decodes and converts them to `pixFmt`. */
function ffmpegRaw(file: string, pixFmt: string): Uint8Array {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', pixFmt, 'pipe:1'], { maxBuffer: 1 << 26 });
  assert.is(r.status, 0, String(r.stderr));
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length);
}

// ffmpeg converts frames of an even height with its unscaled converter (chroma replicated over
// 2 × 2 blocks, as here); an odd height takes its general scaler, which interpolates chroma, so
// the reader leaves those frames to ffmpeg (src/io/lerobot-video.ts).
withFfmpeg('against ffmpeg\'s own rgb24 conversion of the same decoded frames (odd width; untagged, BT.709, full range)', () => {
  const W = 99;
  const H = 60;
  const n = 4;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-yuv-'));
  try {
    for (const [tags, matrix, full] of [[[], 601, false], [['-colorspace', 'bt709', '-color_range', 'tv'], 709, false], [['-color_range', 'pc'], 601, true]] as const) {
      // Lossless yuv420p video (FFV1) carrying the colour tags, which ffmpeg's conversion reads.
      const file = path.join(dir, `v${matrix}${full ? 'pc' : ''}.mkv`);
      const made = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W + 1}x${H + 1}:rate=10,format=rgb24,crop=${W}:${H}:0:0`,
        '-frames:v', String(n), '-pix_fmt', 'yuv420p', ...tags, '-c:v', 'ffv1', file]);
      assert.is(made.status, 0, String(made.stderr));
      const yuv = ffmpegRaw(file, 'yuv420p');
      assert.is(yuv.length, n * frameBytes(W, H));
      const ff = ffmpegRaw(file, 'rgb24');
      const d = diffStats(convert(yuv, n, W, H, matrix, full), ff);
      // ffmpeg's converter works in reduced fixed point and rounds down, so it strays by a little.
      assert.ok(d.max <= 3 && d.mean < 1.5, `${tags.join(' ') || 'untagged'}: max |Δ| ${d.max}, mean ${d.mean.toFixed(3)}`);
      // The other matrix is clearly further off on these colour bars (ffmpeg did read the tags).
      const other = diffStats(convert(yuv, n, W, H, matrix === 709 ? 601 : 709, full), ff);
      assert.ok(other.max > 10, `${tags.join(' ') || 'untagged'}: the other matrix is only ${other.max} off`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
