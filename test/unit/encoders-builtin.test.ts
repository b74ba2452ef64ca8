import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patchStatsEncoder, patchSimilarity, progressTargets, framesFromArray, encodeFrames } from '../../src/index.js';
import { sampleImageEpisodes, encodeSceneEpisode, SCENE_PROGRESS_OPTIONS } from '../../src/demo/index.js';
import { patchStatsRef } from '../reference/patchstats.js';
import { rand } from '../helpers/data.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('hand-worked 1×2 frame: black|white, grid 1, 4 bins', () => {
  const enc = patchStatsEncoder({ grid: 1, bins: 4 });
  const f = enc.encodeSync({ data: new Uint8Array([0, 0, 0, 255, 255, 255]), shape: [1, 1, 2, 3] });
  assert.equal(f.shape, [1, 1, 10]);
  // mean 127.5/255, population std 127.5/255; gx = 127.5 at both pixels, θ = 0 → split
  // half/half between the bins centred at π/8 (bin 0) and 7π/8 (bin 3): 2·127.5·0.5/(2·255) = 0.25
  const want = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0, 0, 0.25];
  assert.ok(maxAbsDiff(f.data, want) < 1e-5, `got ${Array.from(f.data)}`);
});

test('matches the float64 reference on random frames (uneven grid, odd sizes), sync and async', async () => {
  for (const [T, H, W, gh, gw, bins] of [[3, 37, 29, 5, 4, 6], [2, 16, 16, 16, 16, 8], [1, 9, 40, 3, 7, 9]]) {
    const data = rand(T * H * W * 3, T * 100 + H);
    const enc = patchStatsEncoder({ grid: [gh, gw], bins });
    const ref = patchStatsRef(data, T, H, W, gh, gw, bins);
    const s = enc.encodeSync({ data, shape: [T, H, W, 3] });
    assert.equal(s.shape, [T, gh * gw, 6 + bins]);
    assert.ok(maxAbsDiff(s.data, ref) < 2e-4, `sync diff ${maxAbsDiff(s.data, ref)}`);
    const a = await enc.encode({ data, shape: [T, H, W, 3] });
    assert.equal(Array.from(a.data), Array.from(s.data));
  }
});

test('frames are independent: frame t of a batch equals encoding it alone; subarray inputs are honoured', () => {
  const [T, H, W] = [5, 20, 24];
  const buf = rand(7 + T * H * W * 3, 3);
  const data = buf.subarray(7);
  const enc = patchStatsEncoder({ grid: 4 });
  const all = enc.encodeSync({ data, shape: [T, H, W, 3] });
  const fb = H * W * 3, per = 16 * 14;
  const one = enc.encodeSync({ data: data.subarray(3 * fb, 4 * fb), shape: [1, H, W, 3] });
  assert.equal(Array.from(all.data.subarray(3 * per, 4 * per)), Array.from(one.data));
});

test('identical frames → similarity 1 to the goal for every frame', () => {
  const frame = rand(32 * 32 * 3, 9);
  const T = 6;
  const data = new Uint8Array(T * frame.length);
  for (let t = 0; t < T; t++) data.set(frame, t * frame.length);
  const f = patchStatsEncoder().encodeSync({ data, shape: [T, 32, 32, 3] });
  const s = patchSimilarity(f, -1);
  for (const v of s) assert.ok(Math.abs(v - 1) < 1e-5, `similarity ${v}`);
});

test('an object sliding onto its goal position → similarity to the goal rises to 1', () => {
  // A 24-px-wide red block slides from x = 0 to x = 24 on a 64×64 textured background;
  // its overlap with the goal position grows every frame, so fewer patches differ.
  const S = 64, T = 13;
  const bg = rand(S * S * 3, 4).map((v) => 100 + (v >> 3));
  const data = new Uint8Array(T * S * S * 3);
  for (let t = 0; t < T; t++) {
    const img = data.subarray(t * S * S * 3, (t + 1) * S * S * 3);
    img.set(bg);
    const x0 = 2 * t;
    for (let y = 20; y < 44; y++) for (let x = x0; x < x0 + 24; x++) { const i = (y * S + x) * 3; img[i] = 220; img[i + 1] = 30; img[i + 2] = 30; }
  }
  const f = patchStatsEncoder({ grid: 16 }).encodeSync({ data, shape: [T, S, S, 3] });
  const s = patchSimilarity(f, -1);
  for (let t = 1; t < T; t++) assert.ok(s[t] >= s[t - 1] - 1e-6, `similarity fell at ${t}: ${s[t - 1]} → ${s[t]}`);
  assert.ok(Math.abs(s[T - 1] - 1) < 1e-6);
  assert.ok(s[0] < 0.97, `start similarity ${s[0]} should be clearly below 1`);
});

test('streaming encodeFrames over chunks equals one call on all frames', async () => {
  const [T, H, W] = [11, 16, 16];
  const data = rand(T * H * W * 3, 5);
  const enc = patchStatsEncoder({ grid: 4, bins: 5 });
  const whole = enc.encodeSync({ data, shape: [T, H, W, 3] });
  const streamed = await encodeFrames(framesFromArray({ data, shape: [T, H, W, 3] }, 'mem'), enc, { chunkFrames: 4 });
  assert.equal(streamed.shape, whole.shape);
  assert.equal(Array.from(streamed.data), Array.from(whole.data));
});

test('bad inputs name the argument, the expected and the received value', async () => {
  const enc = patchStatsEncoder({ grid: 4 });
  assert.throws(() => enc.encodeSync({ data: new Float32Array(12) as unknown as Uint8Array, shape: [1, 2, 2, 3] }), (e: Error) => e instanceof TypeError && /frames\.data/.test(e.message) && /Float32Array/.test(e.message));
  assert.throws(() => enc.encodeSync({ data: new Uint8Array(16), shape: [1, 4, 4] }), (e: Error) => e instanceof RangeError && /frames\.shape/.test(e.message) && /\[T, H, W, 3\]/.test(e.message));
  assert.throws(() => enc.encodeSync({ data: new Uint8Array(0), shape: [0, 4, 4, 3] }), (e: Error) => e instanceof RangeError && /at least 1 frame/.test(e.message));
  assert.throws(() => enc.encodeSync({ data: new Uint8Array(3 * 3 * 3), shape: [1, 3, 3, 3] }), (e: Error) => e instanceof RangeError && /frames\.shape\[1\]/.test(e.message) && /4 rows/.test(e.message));
  assert.throws(() => enc.encodeSync({ data: new Uint8Array(10), shape: [1, 4, 4, 3] }), (e: Error) => e instanceof RangeError && /48/.test(e.message) && /10/.test(e.message));
  let rejected = false;
  await enc.encode({ data: new Uint8Array(10), shape: [1, 4, 4, 3] }).catch((e: Error) => { rejected = e instanceof RangeError; });
  assert.ok(rejected, 'async form rejects with a RangeError');
  assert.throws(() => patchStatsEncoder({ grid: 0 }), (e: Error) => e instanceof RangeError && /opts\.grid/.test(e.message));
  assert.throws(() => patchStatsEncoder({ grid: [2] as unknown as [number, number] }), (e: Error) => e instanceof TypeError && /opts\.grid/.test(e.message));
  assert.throws(() => patchStatsEncoder({ bins: 2.5 }), (e: Error) => e instanceof TypeError && /opts\.bins/.test(e.message));
});

test('scene episodes: deterministic, stages partition the episode, stages visible to the builtin encoder', async () => {
  const a = sampleImageEpisodes({ count: 2, seed: 3 });
  const b = sampleImageEpisodes({ count: 2, seed: 3 });
  const c = sampleImageEpisodes({ count: 1, seed: 4 });
  assert.equal(a.length, 2);
  assert.ok(Buffer.from(a[1].frames.data).equals(Buffer.from(b[1].frames.data)), 'same seed → same frames');
  assert.not.ok(Buffer.from(a[0].frames.data).equals(Buffer.from(c[0].frames.data)), 'other seed → other frames');
  for (const ep of a) {
    const [T, H, W, C] = ep.frames.shape;
    assert.equal([H, W, C], [96, 96, 3]);
    assert.is(ep.stages[0].start, 0);
    assert.is(ep.stages[ep.stages.length - 1].end, T - 1);
    for (let k = 1; k < ep.stages.length; k++) assert.is(ep.stages[k].start, ep.stages[k - 1].end + 1);
    const f = await encodeSceneEpisode(ep, patchStatsEncoder());
    assert.equal(f.shape, [T, 256, 14]);
    // during a pause the scene only changes by noise; while carrying it changes a lot
    const s = patchSimilarity(f, -1);
    const pause = ep.stages.find((x) => x.name === 'pause-2')!;
    const carry = ep.stages.find((x) => x.name === 'carry')!;
    assert.ok(Math.abs(s[pause.end] - s[pause.start]) < 0.005, 'pause is flat');
    assert.ok(s[carry.end] - s[carry.start] > 0.02, `carry moves towards the goal: ${s[carry.start]} → ${s[carry.end]}`);
    const r = await progressTargets(f, SCENE_PROGRESS_OPTIONS);
    assert.ok(r.segments.length >= 3, `found ${r.segments.length} stages`);
    assert.ok(Math.abs(r.values[T - 1] - 1) < 1e-6);
  }
});

test.run();
