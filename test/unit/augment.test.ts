// augmentFrames (native/kernels/augment.h): the conversion and augmentation
// of the ConvBackbone's training batches, checked by their properties: the
// conversion is exact, a shift moves the content by whole pixels with edge
// padding, each colour jitter is one factor within its bounds, the draws
// depend on (seed, epoch, frame index) only. Needs no libtorch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { augmentFrames } from '../../src/index.js';
import { rand } from '../helpers/data.js';

const H = 12; const W = 10;

function u8Frames(B: number, seed: number, lo = 0, hi = 255): { data: Uint8Array; shape: number[] } {
  const r = rand(B * H * W * 3, seed);
  return { data: Uint8Array.from(r, (v) => lo + (v % (hi - lo + 1))), shape: [B, H, W, 3] };
}
/** The source value of frame b, channel c, pixel (y, x) as the kernel reads it: byte / 255 in float32. */
function src(f: { data: Uint8Array }, b: number, c: number, y: number, x: number): number {
  return Math.fround(f.data[((b * H + y) * W + x) * 3 + c] / 255);
}
const at = (out: Float32Array, b: number, c: number, y: number, x: number) => out[((b * 3 + c) * H + y) * W + x];
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

test('augment off: RGB bytes [B, H, W, 3] become float32 [B, 3, H, W] = byte / 255 exactly; float frames pass unchanged', () => {
  const f = u8Frames(3, 1);
  const out = augmentFrames(f, { augment: false });
  assert.equal(out.shape, [3, 3, H, W]);
  for (let b = 0; b < 3; b++) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    assert.is(at(out.data, b, c, y, x), src(f, b, c, y, x));
  }
  const again = augmentFrames({ data: out.data, shape: [3, 3, H, W] }, { augment: false });
  assert.equal(again.data, out.data);
});

test('shift only: each frame is the source moved by (dx, dy) ∈ [−s, s]² whole pixels, edges repeated; the shifts cover the range', () => {
  const s = 3; const B = 120;
  const f = u8Frames(B, 2);
  const out = augmentFrames(f, { augment: { shift: s, brightness: 0, contrast: 0, gain: 0 }, seed: 5 });
  const seen = new Set<string>(); const dxs: number[] = [];
  for (let b = 0; b < B; b++) {
    const matches: Array<[number, number]> = [];
    for (let dy = -s; dy <= s; dy++) for (let dx = -s; dx <= s; dx++) {
      let ok = true;
      for (let c = 0; c < 3 && ok; c++) for (let y = 0; y < H && ok; y++) for (let x = 0; x < W && ok; x++) {
        ok = at(out.data, b, c, y, x) === src(f, b, c, clamp(y + dy, 0, H - 1), clamp(x + dx, 0, W - 1));
      }
      if (ok) matches.push([dx, dy]);
    }
    assert.is(matches.length, 1, `frame ${b}: ${matches.length} shifts reproduce it`);
    seen.add(matches[0].join(','));
    dxs.push(matches[0][0]);
  }
  assert.ok(seen.size >= 40, `${seen.size} of 49 shifts seen in ${B} frames`);
  assert.ok(dxs.includes(-s) && dxs.includes(s), 'both extremes drawn');
  assert.ok(Math.abs(dxs.reduce((a, b) => a + b, 0) / B) < 0.6, 'centred');
});

test('brightness only: one factor per frame in [1 − β, 1 + β], clamped at 1; factors differ across frames', () => {
  const beta = 0.3; const B = 30;
  const f = u8Frames(B, 3);
  const out = augmentFrames(f, { augment: { shift: 0, brightness: beta, contrast: 0, gain: 0 }, seed: 9 });
  const factors: number[] = [];
  for (let b = 0; b < B; b++) {
    let factor = NaN;
    for (let i = 0; i < H * W * 3 && Number.isNaN(factor); i++) {
      const c = i % 3; const p = Math.floor(i / 3); const v = src(f, b, c, Math.floor(p / W), p % W);
      if (v > 0.05 && v < 0.7) factor = at(out.data, b, c, Math.floor(p / W), p % W) / v;
    }
    assert.ok(factor >= 1 - beta - 1e-6 && factor <= 1 + beta + 1e-6, `factor ${factor}`);
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const want = Math.min(1, src(f, b, c, y, x) * factor);
      assert.ok(Math.abs(at(out.data, b, c, y, x) - want) < 2e-6, `frame ${b} (${c},${y},${x})`);
    }
    factors.push(factor);
  }
  const mean = factors.reduce((a, b) => a + b, 0) / B;
  assert.ok(Math.sqrt(factors.reduce((a, b) => a + (b - mean) ** 2, 0) / B) > 0.08, 'spread of the factors');
});

test('gain only: one factor per frame and channel in [1 − γ, 1 + γ]; the channels of a frame differ', () => {
  const gamma = 0.25; const B = 20;
  const f = u8Frames(B, 4, 20, 180); // no clamping: 180/255 · 1.25 < 1
  const out = augmentFrames(f, { augment: { shift: 0, brightness: 0, contrast: 0, gain: gamma }, seed: 3 });
  let differ = 0;
  for (let b = 0; b < B; b++) {
    const g = [0, 1, 2].map((c) => at(out.data, b, c, 0, 0) / src(f, b, c, 0, 0));
    for (let c = 0; c < 3; c++) {
      assert.ok(g[c] >= 1 - gamma - 1e-6 && g[c] <= 1 + gamma + 1e-6, `gain ${g[c]}`);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        assert.ok(Math.abs(at(out.data, b, c, y, x) - src(f, b, c, y, x) * g[c]) < 2e-6);
      }
    }
    if (Math.abs(g[0] - g[1]) > 1e-3 && Math.abs(g[1] - g[2]) > 1e-3) differ++;
  }
  assert.ok(differ >= B - 2, `${differ} of ${B} frames have distinct channel gains`);
});

test('contrast only: x ← clamp((x − m)·c + m) with m the frame mean and c ∈ [1 − κ, 1 + κ]', () => {
  const kappa = 0.4; const B = 20;
  const f = u8Frames(B, 5);
  const out = augmentFrames(f, { augment: { shift: 0, brightness: 0, contrast: kappa, gain: 0 }, seed: 11 });
  for (let b = 0; b < B; b++) {
    let m = 0;
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) m += src(f, b, c, y, x);
    m /= 3 * H * W;
    // c from the unclamped pixel farthest from the mean
    let best = 0; let cf = NaN;
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const o = at(out.data, b, c, y, x); const d = src(f, b, c, y, x) - m;
      if (o > 0 && o < 1 && Math.abs(d) > best) { best = Math.abs(d); cf = (o - m) / d; }
    }
    assert.ok(cf >= 1 - kappa - 1e-4 && cf <= 1 + kappa + 1e-4, `contrast ${cf}`);
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const want = clamp((src(f, b, c, y, x) - m) * cf + m, 0, 1);
      assert.ok(Math.abs(at(out.data, b, c, y, x) - want) < 1e-5, `frame ${b}: ${at(out.data, b, c, y, x)} vs ${want}`);
    }
  }
});

test('everything on: values in [0, 1]; the draws depend on (seed, epoch, frame index) only', () => {
  const f = u8Frames(40, 6);
  const a = augmentFrames(f, { seed: 1, epoch: 2 });
  for (const v of a.data) assert.ok(v >= 0 && v <= 1);
  assert.equal(augmentFrames(f, { seed: 1, epoch: 2 }).data, a.data, 'same seed and epoch: identical');
  const differs = (x: Float32Array, y: Float32Array) => x.some((v, i) => v !== y[i]);
  assert.ok(differs(augmentFrames(f, { seed: 2, epoch: 2 }).data, a.data), 'another seed');
  assert.ok(differs(augmentFrames(f, { seed: 1, epoch: 3 }).data, a.data), 'another epoch');
  // The first 15 frames alone are augmented as within the batch of 40.
  const head = augmentFrames({ data: f.data.subarray(0, 15 * H * W * 3), shape: [15, H, W, 3] }, { seed: 1, epoch: 2 });
  assert.equal(head.data, a.data.subarray(0, 15 * 3 * H * W));
  // The same images as float32 [B, 3, H, W] give the same result (up to the rounding of the frame mean).
  const asFloat = augmentFrames(f, { augment: false });
  const viaFloat = augmentFrames({ data: asFloat.data, shape: [40, 3, H, W] }, { seed: 1, epoch: 2 }).data;
  assert.ok(viaFloat.every((v, i) => Math.abs(v - a.data[i]) < 1e-6));
  const shiftOnly = { shift: 3, brightness: 0, contrast: 0, gain: 0.2 };
  assert.equal(augmentFrames({ data: asFloat.data, shape: [40, 3, H, W] }, { augment: shiftOnly, seed: 1 }).data, augmentFrames(f, { augment: shiftOnly, seed: 1 }).data);
});

test('bad input: the argument, the expected and the received value are named', () => {
  const f = u8Frames(2, 7);
  assert.throws(() => augmentFrames({ data: new Float32Array(2 * 3 * H * W).fill(1.5), shape: [2, 3, H, W] }), (e: Error) => e instanceof RangeError && /\[0, 1\] for frames\.data but element 0 is 1\.5/.test(e.message));
  assert.throws(() => augmentFrames({ data: new Float32Array(2 * 3 * H * W).fill(NaN), shape: [2, 3, H, W] }), (e: Error) => e instanceof RangeError && /element 0 is NaN/.test(e.message));
  assert.throws(() => augmentFrames({ data: f.data, shape: [2, 3, H, W] }), (e: Error) => e instanceof RangeError && /\[B, H, W, 3\].* for frames\.shape but received \[2,3,12,10\]/.test(e.message));
  assert.throws(() => augmentFrames({ data: new Int8Array(10) as unknown as Uint8Array, shape: [1, 1, 1, 3] }), (e: Error) => e instanceof TypeError && /for frames\.data but received a Int8Array/.test(e.message));
  assert.throws(() => augmentFrames({ data: f.data.subarray(0, 10), shape: [2, H, W, 3] }), (e: Error) => e instanceof RangeError && /at least 720.*received 10/.test(e.message));
  assert.throws(() => augmentFrames(f, { augment: { brightness: 1.2 } }), (e: Error) => e instanceof RangeError && /opts\.augment\.brightness/.test(e.message) && /1\.2/.test(e.message));
  assert.throws(() => augmentFrames(f, { augment: { shift: -1 } }), (e: Error) => e instanceof RangeError && /opts\.augment\.shift/.test(e.message));
  assert.throws(() => augmentFrames(f, { augment: { brightnes: 0.1 } as never }), (e: Error) => e instanceof TypeError && /did you mean opts\.augment\.brightness/.test(e.message));
  assert.throws(() => augmentFrames(f, { epoch: 1.5 }), (e: Error) => e instanceof RangeError || e instanceof TypeError);
});

test.run();
