// The motion segmenter (docs/progress.md "The motion segmenter"): known change
// points on synthetic motion, the float64 reference of test/reference/motion.ts,
// scale independence, the cap, SPEC §3 values over its stages, and how the
// options choose between it and the paper's rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  progressTargets, progressTargetsBatch, progressTargetsDeviceBatch, progressTargetsSync, resolveProgressOptions, segmentEpisode,
  DEFAULT_PROGRESS_OPTIONS, PAPER_PROGRESS_OPTIONS, type DeviceTensor,
} from '../../src/index.js';
import { refCap, refMotionCuts, refMotionCutsFromSpeed, refPauseStarts, refRegimes, refSmooth, refSpeed } from '../reference/motion.js';
import { refProgress, refSimilarity } from '../reference/progress.js';
import { rng } from '../helpers/data.js';
import { close } from '../helpers/progress-data.js';

/**
 * An episode [T, N, D] whose frame-to-frame change has mean absolute value speed[t]
 * (up to `jitter`): each step adds ±speed[t] to every element, with signs drawn per
 * element, on top of a random start. `offset` and `scale` transform the whole episode.
 */
function motionEpisode(speed: number[], N = 4, D = 8, seed = 1, jitter = 0.05, scale = 1, offset = 0): Float32Array {
  const r = rng(seed);
  const T = speed.length, F = N * D;
  const x = new Float32Array(T * F);
  const cur = Float64Array.from({ length: F }, () => r() * 2 - 1);
  for (let t = 0; t < T; t++) {
    if (t > 0) {
      const s = speed[t] * (1 + jitter * (r() * 2 - 1));
      for (let i = 0; i < F; i++) cur[i] += (r() < 0.5 ? -1 : 1) * s;
    }
    for (let i = 0; i < F; i++) x[t * F + i] = cur[i] * scale + offset;
  }
  return x;
}

/** A speed profile from [frames, speed] pieces. */
function profile(...pieces: Array<[number, number]>): number[] {
  return pieces.flatMap(([n, s]) => new Array<number>(n).fill(s));
}

const cuts = (r: { boundaries: Array<{ frame: number; rule: string }> }) => r.boundaries.map((b) => `${b.frame}:${b.rule}`);

test('a movement from rest: one onset at the rise, found within the smoothing width', () => {
  const sp = profile([40, 0.002], [60, 0.2], [40, 0.002]);
  const f = { data: motionEpisode(sp), shape: [sp.length, 4, 8] };
  const r = progressTargetsSync(f);
  const onsets = r.boundaries.filter((b) => b.rule === 'onset');
  assert.is(onsets.length, 1, cuts(r).join(' '));
  assert.ok(Math.abs(onsets[0].frame - 40) <= 5, `onset at ${onsets[0].frame}, the rise at 40`);
  assert.equal(r.boundaries.map((b) => b.frame), r.segments.slice(1).map((s) => s.start));
});

test('a pause before a rise: onset of the reach, start of the pause, onset of the next movement', () => {
  // rest, reach (medium), pause (the hand closes on the object), lift (fast), rest
  const sp = profile([30, 0.002], [50, 0.1], [30, 0.01], [40, 0.4], [40, 0.003]);
  const T = sp.length;
  for (const seed of [1, 2, 3]) {
    const r = progressTargetsSync({ data: motionEpisode(sp, 4, 8, seed), shape: [T, 4, 8] });
    const b = r.boundaries;
    const onset = (near: number) => b.find((c) => c.rule === 'onset' && Math.abs(c.frame - near) <= 5);
    const pause = b.find((c) => c.rule === 'pause' && Math.abs(c.frame - 80) <= 6);
    assert.ok(onset(30), `seed ${seed}: reach onset near 30 in ${cuts(r)}`);
    assert.ok(pause, `seed ${seed}: pause start near 80 in ${cuts(r)}`);
    assert.ok(onset(110), `seed ${seed}: lift onset near 110 in ${cuts(r)}`);
    assert.ok(r.segments.length >= 4 && r.segments.length <= 5, `seed ${seed}: ${r.segments.length} stages`);
  }
});

test('no motion: one stage; constant speed: one stage', () => {
  const zero = { data: new Float32Array(60 * 2 * 3), shape: [60, 2, 3] };
  assert.equal(progressTargetsSync(zero).segments, [{ start: 0, end: 59 }]);
  const still = { data: motionEpisode(profile([80, 0])), shape: [80, 4, 8] };
  assert.equal(progressTargetsSync(still).boundaries, []);
  const steady = { data: motionEpisode(profile([120, 0.1]), 4, 8, 5, 0), shape: [120, 4, 8] };
  assert.equal(progressTargetsSync(steady).boundaries, []);
});

test('scale free: the same boundaries for features ×1e-3, ×1e3 and shifted by a constant', () => {
  const sp = profile([30, 0.002], [50, 0.1], [30, 0.01], [40, 0.4], [40, 0.003]);
  const T = sp.length, shape = [T, 4, 8];
  const base = cuts(progressTargetsSync({ data: motionEpisode(sp, 4, 8, 7), shape }));
  assert.ok(base.length >= 3);
  for (const [scale, offset] of [[1e-3, 0], [1e3, 0], [1, 5]]) {
    assert.equal(cuts(progressTargetsSync({ data: motionEpisode(sp, 4, 8, 7, 0.05, scale, offset), shape })), base, `×${scale} +${offset}`);
  }
});

test('boundaries equal the float64 reference on random motion profiles, windows and caps', () => {
  const r = rng(11);
  let compared = 0;
  for (let trial = 0; trial < 24; trial++) {
    const pieces: Array<[number, number]> = [];
    const n = 2 + Math.floor(r() * 5);
    for (let i = 0; i < n; i++) pieces.push([8 + Math.floor(r() * 50), 10 ** (-3 + 3 * r())]);
    const sp = profile(...pieces);
    const T = sp.length, N = 1 + Math.floor(r() * 4), D = 1 + Math.floor(r() * 9);
    const window = 2 + Math.floor(r() * 6);
    const maxClusterFrames = r() < 0.3 ? window + Math.floor(r() * 60) : 0;
    const x = motionEpisode(sp, N, D, 100 + trial, 0.2);
    const got = progressTargetsSync({ data: x, shape: [T, N, D] }, { window, maxClusterFrames });
    const want = refMotionCuts(x, T, N, D, window, maxClusterFrames);
    assert.equal(got.boundaries, want, `trial ${trial}: T=${T} w=${window} M=${maxClusterFrames}`);
    compared += want.length;
  }
  assert.ok(compared > 30, `only ${compared} boundaries compared`);
});

test('values keep SPEC §3 over the motion stages: (k + ŝ)/K with ŝ from the similarity to each stage end', () => {
  const sp = profile([20, 0.002], [30, 0.1], [20, 0.01], [30, 0.3], [20, 0.002]);
  const T = sp.length, N = 3, D = 5;
  const x = motionEpisode(sp, N, D, 3);
  for (const lambda of [0, 1]) {
    const r = progressTargetsSync({ data: x, shape: [T, N, D] }, { lambda });
    const K = r.segments.length;
    assert.ok(K >= 3, `${K} stages`);
    // S within SPEC §1's 1e-5 of the float64 reference; V exactly SPEC §3 of those similarities.
    const wantV: number[] = [], wantS: number[] = [];
    r.segments.forEach((s, k) => {
      const sim: number[] = [];
      for (let t = s.start; t <= s.end; t++) {
        wantS.push(t === s.end ? 1 : refSimilarity(x, t * N * D, x, s.end * N * D, N, D, lambda));
        sim.push(r.similarity[t]);
      }
      const mn = Math.min(...sim), mx = Math.max(...sim);
      sim.forEach((v) => wantV.push((k + (mx - mn < 1e-12 ? 1 : (v - mn) / (mx - mn))) / K));
      assert.is(r.values[s.end], Math.fround((k + 1) / K), `V at the end of stage ${k}`);
    });
    close(r.similarity, wantS, 1e-5, `similarity λ=${lambda}`);
    close(r.values, wantV, 1e-6, `values λ=${lambda}`);
  }
});

test('the cap: no stage longer than maxClusterFrames, extra cuts counted backwards from each stage end', () => {
  const sp = profile([30, 0.002], [40, 0.2], [130, 0.002]);
  const T = sp.length;
  const x = motionEpisode(sp, 2, 4, 9);
  const free = progressTargetsSync({ data: x, shape: [T, 2, 4] });
  const capped = progressTargetsSync({ data: x, shape: [T, 2, 4] }, { maxClusterFrames: 40 });
  for (const s of capped.segments) assert.ok(s.end - s.start + 1 <= 40, `${s.start}-${s.end}`);
  assert.ok(capped.boundaries.some((b) => b.rule === 'cap'));
  // The data's own boundaries stay; the cap only adds.
  for (const b of free.boundaries) assert.ok(capped.boundaries.some((c) => c.frame === b.frame && c.rule === b.rule), `${b.frame}:${b.rule}`);
  // Hand-worked: T = 100, one cut at 30, M = 40: [30, 99] is cut at 99 − 40 + 1 = 60, leaving [30, 59] (30 frames) and [0, 29].
  assert.equal(refCap(100, 40, [{ frame: 30, rule: 'onset' }]), [{ frame: 30, rule: 'onset' }, { frame: 60, rule: 'cap' }]);
  assert.equal(refCap(100, 25, []), [{ frame: 25, rule: 'cap' }, { frame: 50, rule: 'cap' }, { frame: 75, rule: 'cap' }]);
});

test('reference pieces, hand-worked: smoothing, pauses, regimes', () => {
  // Triangle of half-width 1: weights 1,2,1, renormalised at the ends.
  close(refSmooth([0, 3, 0, 0], 1), [1, 1.5, 0.75, 0], 1e-12, 'smooth');
  // A dip of depth 2 (prominence = lower wall 3 − 1): starts where y ≤ 1 + 0.3·2 = 1.6.
  assert.equal(refPauseStarts([3, 3, 2, 1.5, 1, 1.2, 4, 4], Math.log(2), 0.3), [3]);
  // Too shallow: prominence 0.5 < ln 2.
  assert.equal(refPauseStarts([2, 1.5, 2, 2], Math.log(2), 0.3), []);
  // Two clear levels: one change point where the level changes.
  const y = [...new Array(30).fill(0), ...new Array(30).fill(3)].map((v, i) => v + 0.01 * Math.sin(i * 7));
  assert.equal(refRegimes(y, 2, 2, 1, 5), [30]);
  // Speed: mean |Δx| per element, u_0 = u_1.
  const x = new Float32Array([0, 0, 1, -1, 1, 1]); // T = 3, N = 1, D = 2
  close(refSpeed(x, 3, 1, 2), [1, 1, 1], 0, 'speed');
  assert.equal(refMotionCutsFromSpeed([0.1, 0.1, 0.1], 2), []);
});

test('options: the default is the motion segmenter; a threshold keeps SPEC §2 exactly; bad combinations fail', () => {
  assert.equal(resolveProgressOptions({}), { segmenter: 'motion', lambda: 1, window: 5, maxClusterFrames: 0, threads: 0 });
  assert.equal(resolveProgressOptions({ threshold: 0.003, window: 5 }),
    { segmenter: 'paper', lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.003, threads: 0 });
  assert.equal(resolveProgressOptions({ segmenter: 'paper' }), { ...PAPER_PROGRESS_OPTIONS, threads: 0 });
  assert.equal(resolveProgressOptions({ segmenter: 'motion', maxClusterFrames: 90 }).maxClusterFrames, 90);
  assert.is(DEFAULT_PROGRESS_OPTIONS.segmenter, 'motion');
  assert.throws(() => resolveProgressOptions({ segmenter: 'motion', threshold: 0.01 }), (e: Error) =>
    e instanceof TypeError && /opts\.threshold.*segmenter 'motion'.*received 0\.01/.test(e.message));
  assert.throws(() => resolveProgressOptions({ segmenter: 'trend' as never }), (e: Error) =>
    e instanceof TypeError && /'motion' or 'paper' for opts\.segmenter.*'trend'/.test(e.message));
  assert.throws(() => resolveProgressOptions({ maxClusterFrames: 3 }), (e: Error) =>
    e instanceof RangeError && /≥ opts\.window \(5\), or 0 for no cap for opts\.maxClusterFrames.*3/.test(e.message));
  assert.throws(() => resolveProgressOptions({ maxClusterFrames: -1 }), RangeError);
  // An explicit threshold (with or without segmenter 'paper') labels as SPEC §2–3 say, bit for bit against the float64 reference.
  const T = 70, N = 3, D = 4;
  const x = motionEpisode(profile([20, 0.01], [30, 0.2], [20, 0.01]), N, D, 4);
  for (const o of [{ threshold: 0.004 }, { segmenter: 'paper' as const, threshold: 0.004 }, { segmenter: 'paper' as const }]) {
    const got = progressTargetsSync({ data: x, shape: [T, N, D] }, o);
    const ref = refProgress(x, T, N, D, { lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.01, ...o });
    assert.equal(got.segments, ref.segments);
    close(got.values, ref.values, 1e-5, 'values');
    for (const b of got.boundaries) assert.ok(b.rule === 'trend' || b.rule === 'cap', b.rule);
  }
});

test('resolved options are frozen and pass through as they are; the CUDA path refuses the motion segmenter before touching the device', async () => {
  for (const opts of [{}, { threshold: 0.004 }, { segmenter: 'paper' as const, maxClusterFrames: 0 }]) {
    const o = resolveProgressOptions(opts);
    assert.ok(Object.isFrozen(o));
    assert.is(resolveProgressOptions(o), o);
    assert.is('threshold' in o, o.segmenter === 'paper', 'threshold only with the paper rule');
  }
  // Checked before the device tensor is looked at, so this runs without a GPU.
  const notOnDevice = {} as DeviceTensor;
  for (const opts of [undefined, { segmenter: 'motion' as const }]) {
    let err: unknown;
    try { await progressTargetsDeviceBatch(notOnDevice, [1], opts); } catch (e) { err = e; }
    assert.ok(err instanceof TypeError && /segmenter 'paper'.*received segmenter 'motion'.*on the host/.test(err.message), String(err));
  }
});

test('the paper rule names its cuts: trend where a window rose faster than τ, cap where none did', () => {
  // A still episode: no window rises, every cut is the cap, counted from the end.
  const T = 23, still = { data: new Float32Array(T * 2 * 2).fill(1), shape: [T, 2, 2] };
  const r = progressTargetsSync(still, { segmenter: 'paper', window: 2, maxClusterFrames: 10 });
  assert.equal(r.segments, [{ start: 0, end: 2 }, { start: 3, end: 12 }, { start: 13, end: 22 }]);
  assert.equal(r.boundaries, [{ frame: 3, rule: 'cap' }, { frame: 13, rule: 'cap' }]);
  // τ below every slope: each cluster starts at the first window, i.e. also at lo, but by the trend.
  const x = motionEpisode(profile([40, 0.1]), 2, 3, 8);
  const t = progressTargetsSync({ data: x, shape: [40, 2, 3] }, { threshold: -1, window: 3, maxClusterFrames: 10 });
  assert.ok(t.boundaries.length >= 3 && t.boundaries.every((b) => b.rule === 'trend'), cuts(t).join(' '));
});

test('sync, async, batch and segmentEpisode agree; NaN is a RangeError naming the frame', async () => {
  const sp = profile([30, 0.002], [40, 0.1], [20, 0.01], [30, 0.4]);
  const T = sp.length, shape = [T, 4, 8];
  const x = motionEpisode(sp, 4, 8, 21);
  const sync = progressTargetsSync({ data: x, shape });
  assert.equal(await progressTargets({ data: x, shape }), sync);
  assert.equal((await progressTargetsBatch([{ data: x, shape }, { data: x, shape }]))[1], sync);
  assert.equal(segmentEpisode({ data: x, shape }), sync.segments);
  assert.equal(progressTargetsSync({ data: x, shape }, { threads: 1 }), sync);
  for (const bad of [0, 57, T - 1]) {
    const y = x.slice();
    y[bad * 32 + 5] = NaN;
    assert.throws(() => progressTargetsSync({ data: y, shape }), (e: Error) =>
      e instanceof RangeError && new RegExp(`frame ${bad} contains NaN`).test(e.message), `frame ${bad}`);
  }
  const one = { data: new Float32Array([Infinity, 0]), shape: [1, 1, 2] };
  assert.throws(() => progressTargetsSync(one), (e: Error) => e instanceof RangeError && /frame 0/.test(e.message));
});

test('wide features: the speed reads the first ⌈16384/N⌉ dims of each patch; NaN anywhere still fails naming its frame', () => {
  const sp = profile([30, 0.002], [40, 0.1], [20, 0.01], [30, 0.4]);
  const T = sp.length, N = 2, D = 9000; // D' = 8192 < D
  const x = motionEpisode(sp, N, D, 31, 0.05);
  const got = progressTargetsSync({ data: x, shape: [T, N, D] });
  assert.equal(got.boundaries, refMotionCuts(x, T, N, D, 5, 0));
  assert.ok(got.boundaries.length >= 3, cuts(got).join(' '));
  // Dims the speed does not read: the last of patch 1 in frame 40, and in the last frame (a subgoal).
  for (const [t, i] of [[40, 2 * D - 1], [T - 1, D - 1]]) {
    const y = x.slice();
    y[t * N * D + i] = Infinity;
    assert.throws(() => progressTargetsSync({ data: y, shape: [T, N, D] }), (e: Error) =>
      e instanceof RangeError && new RegExp(`frame ${t} contains NaN or Inf \\(Infinity at patch ${Math.floor(i / D)}, dim ${i % D}\\)`).test(e.message), `frame ${t}`);
  }
});

test('short episodes: T = 1, 2 and shorter than the smoothing are one stage', () => {
  for (const T of [1, 2, 5, 10, 21]) {
    const r = progressTargetsSync({ data: motionEpisode(profile([T, 0.1]), 2, 2, T), shape: [T, 2, 2] });
    assert.equal(r.segments, [{ start: 0, end: T - 1 }], `T=${T}`);
    assert.is(r.values[T - 1], 1);
  }
});

test.run();
