// Numeric edge cases of the progress math: non-finite input, features near the
// ends of the float range, zero patches and scale-invariance of the cosine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patchSimilarity, progressTargetsSync, slidingSlopes } from '../../src/index.js';
import { refProgress, refSimilarity } from '../reference/progress.js';
import { close, randomEpisode } from '../helpers/progress-data.js';


function throwsWith(fn: () => unknown, type: new (...a: any[]) => Error, re: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, type, `expected ${type.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ${type.name} matching ${re}`);
}

const scaled = (a: Float32Array, k: number) => a.map((v) => v * k);

// ---------- slidingSlopes and non-finite input ----------
test('slidingSlopes refuses NaN and ±Infinity, naming the element, row and column', () => {
  const B = 3, L = 7;
  const base = Float32Array.from({ length: B * L }, (_, i) => Math.sin(i));
  for (const [bad, word] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
    const data = base.slice();
    data[1 * L + 4] = bad;
    throwsWith(() => slidingSlopes({ data, shape: [B, L] }, 3), RangeError,
      new RegExp(`series\\.data\\[11\\] \\(row 1, column 4\\) is ${word}`));
  }
  // Elements past the shape are not part of the series and are not checked.
  const longer = new Float32Array(B * L + 2).fill(1);
  longer[B * L] = NaN;
  const s = slidingSlopes({ data: longer, shape: [B, L] }, 3);
  close(s.data, new Float32Array(B * (L - 2)), 0, 'flat rows');
});

test('slidingSlopes on finite values near the float limit stays finite and exact', () => {
  // y_k = c·k with c = 1e37: every slope is c; the running sums are in double.
  const L = 9, c = 1e37;
  const data = Float32Array.from({ length: L }, (_, k) => c * k);
  const s = slidingSlopes({ data, shape: [1, L] }, 4);
  for (const v of s.data) assert.ok(Math.abs(v / c - 1) < 1e-5, `slope ${v}`);
});

test('NaN/Inf in features names the frame, the patch and the dim', () => {
  const T = 6, N = 3, D = 4;
  const data = randomEpisode(T, N, D, 11);
  data[4 * N * D + 2 * D + 1] = -Infinity;
  throwsWith(() => progressTargetsSync({ data, shape: [T, N, D] }), RangeError,
    /frame 4 contains NaN or Inf \(-Infinity at patch 2, dim 1\)/);
  throwsWith(() => patchSimilarity({ data, shape: [T, N, D] }, 0), RangeError,
    /frame 4 contains NaN or Inf \(-Infinity at patch 2, dim 1\)/);
  // A NaN in a frame whose goal patch is zero still fails: cos would be 0, but
  // the frame is not a number.
  const z = new Float32Array(2 * N * D);
  z[1] = NaN;
  throwsWith(() => patchSimilarity({ data: z, shape: [2, N, D] }, 1, { lambda: 0 }), RangeError, /frame 0 .*NaN at patch 0, dim 1/);
});

// ---------- large finite features ----------
test('large finite features (1e19 … 3e38) give finite similarities equal to the rescaled ones', () => {
  const T = 5, N = 3, D = 16;
  const unit = randomEpisode(T, N, D, 12);
  const ref0 = patchSimilarity({ data: unit, shape: [T, N, D] }, -1, { lambda: 0 });
  for (const k of [1e19, 1e25, 1e36, 3e37]) {
    const big = scaled(unit, k);
    for (let i = 0; i < big.length; i++) assert.ok(Number.isFinite(big[i]));
    const s = patchSimilarity({ data: big, shape: [T, N, D] }, -1, { lambda: 0 });
    close(s, ref0, 1e-5, `scale ${k}, λ=0`);
    // With λ > 0 the L1 term makes far-apart frames 0 at this scale; still finite,
    // and the goal frame is 1.
    const s1 = patchSimilarity({ data: big, shape: [T, N, D] }, -1);
    close(s1, Array.from({ length: T }, (_, t) => refSimilarity(big, t * N * D, big, (T - 1) * N * D, N, D, 1)), 1e-5, `scale ${k}, λ=1`);
    assert.is(s1[T - 1], 1);
  }
  // The largest float itself.
  const max = new Float32Array([3.4028234663852886e38, -3.4028234663852886e38, 3.4028234663852886e38, 3.4028234663852886e38]);
  close(patchSimilarity({ data: max, shape: [2, 1, 2] }, 1, { lambda: 0 }), [0, 1], 1e-6, 'FLT_MAX');
});

test('progressTargets labels a 1e30-scaled episode like the reference (no overflow error)', () => {
  const T = 20, N = 2, D = 8;
  const data = scaled(randomEpisode(T, N, D, 13), 1e30);
  const o = { lambda: 0, window: 3, maxClusterFrames: 8, threshold: 0.01 };
  const got = progressTargetsSync({ data, shape: [T, N, D] }, o);
  const ref = refProgress(data, T, N, D, o);
  assert.equal(got.segments, ref.segments);
  close(got.similarity, ref.similarity, 1e-5, 'similarity');
  close(got.values, ref.values, 1e-5, 'values');
});

// ---------- degenerate (zero-norm) patches and scale ----------
test('zero patches: zero vs zero is 1, zero vs non-zero 0, S(x, x) = 1 for the all-zero frame', () => {
  const N = 2, D = 3;
  // frame 0: patch 0 zero, patch 1 = (1,2,3); frame 1 (goal): patch 0 zero, patch 1 zero.
  const data = new Float32Array([0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0]);
  const s = patchSimilarity({ data, shape: [2, N, D] }, 1);
  // patch 0: cos 1, L1 0 → 1; patch 1: cos 0 → 0; S = 1/2.
  close(s, [0.5, 1], 1e-7, 'zero goal');
  const s0 = patchSimilarity({ data, shape: [2, N, D] }, 0);
  close(s0, [1, 0.5], 1e-7, 'goal frame 0');
  // An all-zero episode: every frame equals its subgoal, similarity 1 everywhere.
  const T = 7;
  const zeros = new Float32Array(T * N * D);
  const r = progressTargetsSync({ data: zeros, shape: [T, N, D] }, { window: 2, maxClusterFrames: 3 });
  close(r.similarity, new Float32Array(T).fill(1), 0, 'all-zero similarity');
  const ref = refProgress(zeros, T, N, D, { lambda: 1, window: 2, maxClusterFrames: 3, threshold: 0.01 });
  assert.equal(r.segments, ref.segments);
  close(r.values, ref.values, 1e-6, 'all-zero values');
});

test('the cosine has no fixed floor: 1e-10-sized features give the same similarity as 1-sized ones', () => {
  const T = 8, N = 4, D = 32;
  const unit = randomEpisode(T, N, D, 14);
  const want = patchSimilarity({ data: unit, shape: [T, N, D] }, 3, { lambda: 0 });
  for (const k of [1e-10, 1e-20, 1e-30, 1e-38]) {
    const small = scaled(unit, k);
    const got = patchSimilarity({ data: small, shape: [T, N, D] }, 3, { lambda: 0 });
    // 1e-38 puts elements among float subnormals, where the inputs themselves lose bits.
    close(got, want, k < 1e-37 ? 1e-3 : 1e-5, `scale ${k}`);
    assert.ok(Math.abs(want[0]) > 1e-3, 'the comparison is not trivially zero');
  }
  // Against the float64 reference too (which has no floor either).
  const small = scaled(unit, 1e-10);
  const ref = Array.from({ length: T }, (_, t) => refSimilarity(small, t * N * D, small, 3 * N * D, N, D, 1));
  close(patchSimilarity({ data: small, shape: [T, N, D] }, 3), ref, 1e-5, 'reference at 1e-10');
});

test('a patch of subnormal floats is not a zero patch', () => {
  const tiny = 1e-44; // subnormal float32
  const data = new Float32Array([tiny, 0, tiny, 0, /* goal */ 1, 0, 1, 0]);
  close(patchSimilarity({ data, shape: [2, 2, 2] }, 1, { lambda: 0 }), [1, 1], 1e-6, 'parallel subnormal patch');
  const opp = new Float32Array([-tiny, 0, 0, tiny, 1, 0, 0, 1]);
  close(patchSimilarity({ data: opp, shape: [2, 2, 2] }, 1, { lambda: 0 }), [0, 1], 1e-6, 'opposite + parallel');
});

test.run();
