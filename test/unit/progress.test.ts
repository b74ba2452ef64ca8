import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patchSimilarity, slidingSlopes, segmentEpisode, progressTargets, progressTargetsSync, progressTargetsBatch, stepsToGoTargets, capabilities, useAddon, AddonLoadError, memoryReadProbe } from '../../src/index.js';
import { refProgress, refSimilarity, refSlope, stagedEpisode } from '../reference/progress.js';
import { rng } from '../helpers/data.js';
import { close, randomEpisode } from '../helpers/progress-data.js';

const DEF = { lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.01 };


function checkAgainstRef(data: Float32Array, T: number, N: number, D: number, o = DEF, label = '') {
  const got = progressTargetsSync({ data, shape: [T, N, D] }, o);
  const ref = refProgress(data, T, N, D, o);
  assert.equal(got.segments, ref.segments, `${label} segments`);
  close(got.similarity, ref.similarity, 1e-5, `${label} similarity`);
  close(got.values, ref.values, 1e-5, `${label} values`);
  return got;
}

// ---------- §1 similarity ----------
test('patchSimilarity matches the float64 reference (index, negative index, tensor goal, λ)', () => {
  const T = 9, N = 3, D = 7;
  const data = randomEpisode(T, N, D, 1);
  for (const lambda of [0, 1, 2.5]) {
    for (const g of [0, 4, T - 1]) {
      const got = patchSimilarity({ data, shape: [T, N, D] }, g, { lambda });
      const want = Array.from({ length: T }, (_, t) => refSimilarity(data, t * N * D, data, g * N * D, N, D, lambda));
      close(got, want, 1e-5, `λ=${lambda} g=${g}`);
    }
  }
  const last = patchSimilarity({ data, shape: [T, N, D] }, -1);
  close(last, patchSimilarity({ data, shape: [T, N, D] }, T - 1), 0, 'negative index');
  const goal = randomEpisode(1, N, D, 9);
  const got = patchSimilarity({ data, shape: [T, N, D] }, { data: goal, shape: [N, D] });
  close(got, Array.from({ length: T }, (_, t) => refSimilarity(data, t * N * D, goal, 0, N, D, 1)), 1e-5, 'tensor goal');
});

test('patchSimilarity: S(g, g) = 1 and V-JEPA-sized frames match the reference', () => {
  const T = 4, N = 256, D = 1024;
  const data = randomEpisode(T, N, D, 2);
  const s = patchSimilarity({ data, shape: [T, N, D] }, 2);
  assert.ok(Math.abs(s[2] - 1) < 1e-6);
  for (let t = 0; t < T; t++) assert.ok(Math.abs(s[t] - refSimilarity(data, t * N * D, data, 2 * N * D, N, D, 1)) < 1e-5);
});

test('patchSimilarity: a zero patch against a non-zero one gives cos 0, not NaN', () => {
  const N = 2, D = 3;
  const data = new Float32Array([0, 0, 0, 1, 2, 3, /* frame 1 */ 1, 1, 1, 1, 2, 3]);
  const s = patchSimilarity({ data, shape: [2, N, D] }, 1);
  close(s, [refSimilarity(data, 0, data, 6, N, D, 1), 1], 1e-6, 'zero patch');
  assert.ok(Math.abs(s[0] - 0.5) < 1e-6);
});

test('hand-worked similarity: N = 1, D = 2', () => {
  // x = (1, 0), g = (1, 1): cos = 1/√2, L1 = 1, β = λ/D = 0.5 → S = exp(−0.5)/√2
  const data = new Float32Array([1, 0, 1, 1]);
  const s = patchSimilarity({ data, shape: [2, 1, 2] }, 1);
  assert.ok(Math.abs(s[0] - Math.exp(-0.5) / Math.SQRT2) < 1e-7);
});

test('subarray inputs are read in place at their byteOffset', () => {
  const T = 6, N = 2, D = 5, F = N * D;
  const backing = randomEpisode(T + 3, N, D, 3);
  const data = backing.subarray(2 * F + 1, 2 * F + 1 + T * F); // odd offset inside the buffer
  const copy = Float32Array.from(data);
  close(patchSimilarity({ data, shape: [T, N, D] }, 1), patchSimilarity({ data: copy, shape: [T, N, D] }, 1), 0, 'similarity');
  const a = progressTargetsSync({ data, shape: [T, N, D] }, { window: 2, maxClusterFrames: 3 });
  const b = progressTargetsSync({ data: copy, shape: [T, N, D] }, { window: 2, maxClusterFrames: 3 });
  assert.equal(a, b);
  const goal = backing.subarray(5, 5 + F);
  close(patchSimilarity({ data, shape: [T, N, D] }, { data: goal, shape: [N, D] }),
    Array.from({ length: T }, (_, t) => refSimilarity(copy, t * F, Float32Array.from(goal), 0, N, D, 1)), 1e-5, 'subarray goal');
});

// ---------- §2 slopes ----------
test('slidingSlopes matches the textbook slope on every window', () => {
  const r = rng(5);
  const B = 3, L = 40;
  const series = Float32Array.from({ length: B * L }, () => r() * 4 - 2);
  for (const w of [2, 3, 5, 40]) {
    const out = slidingSlopes({ data: series, shape: [B, L] }, w);
    assert.equal(out.shape, [B, L - w + 1]);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i <= L - w; i++) {
        const want = refSlope(Array.from(series.subarray(b * L + i, b * L + i + w)));
        assert.ok(Math.abs(out.data[b * (L - w + 1) + i] - want) < 1e-5, `w=${w} b=${b} i=${i}`);
      }
    }
  }
  // a line y = 0.3k + 1 has slope 0.3 everywhere
  const line = Float32Array.from({ length: 10 }, (_, k) => 0.3 * k + 1);
  const s = slidingSlopes({ data: line, shape: [1, 10] }, 4);
  for (const v of s.data) assert.ok(Math.abs(v - 0.3) < 1e-6);
});

// ---------- §2–3 progress targets ----------
test('progressTargets matches the reference on random episodes and edge sizes', () => {
  const cases: Array<[number, number, number, Partial<typeof DEF>]> = [
    [1, 3, 4, {}], [2, 3, 4, {}], [4, 2, 3, {}], [3, 2, 2, { window: 5 }], // T < window
    [30, 1, 8, { window: 3, maxClusterFrames: 7 }], [30, 4, 1, { window: 2, maxClusterFrames: 5, threshold: 0 }],
    [60, 5, 6, { window: 4, maxClusterFrames: 12, threshold: 0.005 }], [41, 3, 3, { maxClusterFrames: 5, window: 5 }],
    [25, 2, 5, { lambda: 0, window: 2, maxClusterFrames: 2 }],
  ];
  cases.forEach(([T, N, D, o], i) => checkAgainstRef(randomEpisode(T, N, D, 10 + i), T, N, D, { ...DEF, ...o }, `case ${i}`));
});

test('progressTargets matches the reference on staged episodes and finds the stages', () => {
  const T = 120, N = 8, D = 16;
  const data = stagedEpisode(T, N, D, 4, 7, 0.01, 6);
  const got = checkAgainstRef(data, T, N, D, { ...DEF, window: 5, maxClusterFrames: 50, threshold: 0.005 }, 'staged');
  assert.ok(got.segments.length >= 3, `found ${got.segments.length} stages`);
});

test('properties: partition, cluster size, value range, V(T−1) = 1, (k+1)/K at stage ends', () => {
  const r = rng(99);
  for (let trial = 0; trial < 25; trial++) {
    const T = 1 + Math.floor(r() * 90), N = 1 + Math.floor(r() * 4), D = 1 + Math.floor(r() * 9);
    const window = 2 + Math.floor(r() * 5);
    const maxClusterFrames = window + Math.floor(r() * 20);
    const threshold = (r() - 0.3) * 0.05;
    const data = trial % 2 ? randomEpisode(T, N, D, trial) : stagedEpisode(T, N, D, 1 + (trial % 4), trial);
    const { values, segments, similarity } = progressTargetsSync({ data, shape: [T, N, D] }, { window, maxClusterFrames, threshold });
    assert.is(values.length, T); assert.is(similarity.length, T);
    assert.is(segments[0].start, 0);
    assert.is(segments[segments.length - 1].end, T - 1);
    segments.forEach((s, k) => {
      assert.ok(s.end >= s.start);
      assert.ok(s.end - s.start + 1 <= maxClusterFrames, 'cluster ≤ M frames');
      if (k > 0) assert.is(s.start, segments[k - 1].end + 1, 'no gap, no overlap');
      assert.ok(Math.abs(values[s.end] - (k + 1) / segments.length) < 1e-6, 'value at stage end is (k+1)/K');
      assert.ok(Math.abs(similarity[s.end] - 1) < 1e-6, 'subgoal similarity 1');
    });
    for (const v of values) assert.ok(v >= 0 && v <= 1);
    assert.is(values[T - 1], 1);
    assert.equal(segmentEpisode({ data, shape: [T, N, D] }, { window, maxClusterFrames, threshold }), segments);
  }
});

test('stepsToGoTargets', () => {
  assert.equal(Array.from(stepsToGoTargets(1)), [1]);
  assert.equal(Array.from(stepsToGoTargets(5)), [0, 0.25, 0.5, 0.75, 1]);
  assert.throws(() => stepsToGoTargets(0), (e: Error) => e instanceof RangeError && /length/.test(e.message));
  assert.throws(() => stepsToGoTargets(2.5), (e: Error) => e instanceof TypeError && /length/.test(e.message));
});

// ---------- async ----------
test('async equals sync; batch equals one by one', async () => {
  const eps = [randomEpisode(40, 3, 5, 1), stagedEpisode(70, 4, 6, 3, 2), randomEpisode(1, 2, 2, 3)];
  const shapes: Array<[number, number, number]> = [[40, 3, 5], [70, 4, 6], [1, 2, 2]];
  const o = { window: 4, maxClusterFrames: 20, threshold: 0.004 };
  const sync = eps.map((d, i) => progressTargetsSync({ data: d, shape: shapes[i] }, o));
  for (let i = 0; i < eps.length; i++) assert.equal(await progressTargets({ data: eps[i], shape: shapes[i] }, o), sync[i]);
  assert.equal(await progressTargetsBatch(eps.map((d, i) => ({ data: d, shape: shapes[i] })), o), sync);
  assert.equal(await progressTargetsBatch([], o), []);
});

test('many concurrent calls give the sequential answers', async () => {
  const eps = Array.from({ length: 12 }, (_, i) => stagedEpisode(50 + i * 3, 4, 32, 2 + (i % 3), 100 + i));
  const seq = eps.map((d) => progressTargetsSync({ data: d, shape: [d.length / 128, 4, 32] }));
  const par = await Promise.all(eps.map((d, i) => (i % 2
    ? progressTargets({ data: d, shape: [d.length / 128, 4, 32] })
    : progressTargetsBatch([{ data: d, shape: [d.length / 128, 4, 32] }]).then((r) => r[0]))));
  assert.equal(par, seq);
});

test('the event loop keeps turning while a large episode is labelled', async () => {
  const T = 300, N = 256, D = 256;
  const data = stagedEpisode(T, N, D, 4, 5, 0.02, 5);
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 1);
  const t0 = performance.now();
  const r = await progressTargets({ data, shape: [T, N, D] });
  const ms = performance.now() - t0;
  clearInterval(timer);
  assert.is(r.values.length, T);
  assert.ok(ticks > 0, `timer fired ${ticks} times during ${ms.toFixed(0)} ms`);
});

// ---------- bad input ----------
function throwsWith(fn: () => unknown, type: new (...a: any[]) => Error, re: RegExp) {
  assert.throws(fn, (e: any) => {
    if (!(e instanceof type)) throw new Error(`expected ${type.name}, got ${e?.constructor?.name}: ${e?.message}`);
    if (!re.test(e.message)) throw new Error(`message ${JSON.stringify(e.message)} does not match ${re}`);
    return true;
  });
}

test('bad input: shapes, ranks, sizes, goal', () => {
  const data = randomEpisode(4, 2, 3, 1);
  const f = { data, shape: [4, 2, 3] };
  throwsWith(() => progressTargetsSync({ data, shape: [4, 6] }), RangeError, /Expected rank 3 .* for features\.shape but received \[4,6\]/);
  throwsWith(() => progressTargetsSync({ data: new Float32Array(0), shape: [0, 2, 3] }), RangeError, /Expected .*T ≥ 1.* for features\.shape\[0\] but received the number 0/);
  throwsWith(() => progressTargetsSync({ data, shape: [5, 2, 3] }), RangeError, /features\.data.*30.*\[5,2,3\].*24/);
  throwsWith(() => progressTargetsSync({ data, shape: [2.5, 2, 3] }), TypeError, /Expected an integer for features\.shape\[0\] but received the number 2\.5/);
  throwsWith(() => progressTargetsSync({ data: Array.from(data) as any, shape: [4, 2, 3] }), TypeError, /Expected a Float32Array for features\.data but received an Array\(24\)/);
  throwsWith(() => progressTargetsSync({ data: new Float64Array(24) as any, shape: [4, 2, 3] }), TypeError, /Float32Array.*Float64Array/);
  throwsWith(() => progressTargetsSync(null as any), TypeError, /features/);
  throwsWith(() => patchSimilarity(f, { data: new Float32Array(6), shape: [3, 2] }), RangeError, /Expected .*\[2,3\].* for goal\.shape but received \[3,2\]/);
  throwsWith(() => patchSimilarity(f, 4), RangeError, /Expected a frame index in \[-4, 3\] for goal but received the number 4/);
  throwsWith(() => patchSimilarity(f, -5), RangeError, /goal/);
  throwsWith(() => patchSimilarity(f, 1.5), TypeError, /goal.*1\.5/);
  throwsWith(() => slidingSlopes({ data: new Float32Array(6), shape: [2, 3] }, 4), RangeError, /Expected an integer ≤ series\.shape\[1\] \(3\) for window but received the number 4/);
  throwsWith(() => slidingSlopes({ data: new Float32Array(6), shape: [2, 3] }, 1), RangeError, /Expected an integer ≥ 2 for window but received the number 1/);
});

test('bad input: options', () => {
  const f = { data: randomEpisode(6, 2, 3, 1), shape: [6, 2, 3] };
  throwsWith(() => progressTargetsSync(f, { window: 1 }), RangeError, /Expected an integer ≥ 2 for opts\.window but received the number 1/);
  throwsWith(() => progressTargetsSync(f, { window: 3.5 }), TypeError, /Expected an integer for opts\.window but received the number 3\.5/);
  throwsWith(() => progressTargetsSync(f, { window: 6, maxClusterFrames: 5 }), RangeError, /Expected an integer ≥ opts\.window \(6\), or 0 for no cap for opts\.maxClusterFrames but received the number 5/);
  throwsWith(() => progressTargetsSync(f, { maxClusterFrames: 4 }), RangeError, /Expected an integer ≥ opts\.window \(5\), or 0 for no cap for opts\.maxClusterFrames but received the number 4/);
  throwsWith(() => progressTargetsSync(f, { lambda: -1 }), RangeError, /Expected a finite number ≥ 0 for opts\.lambda but received the number -1/);
  throwsWith(() => patchSimilarity(f, 0, { lambda: -0.5 }), RangeError, /opts\.lambda/);
  throwsWith(() => progressTargetsSync(f, { threshold: NaN }), RangeError, /Expected a finite number for opts\.threshold but received the number NaN/);
  throwsWith(() => progressTargetsSync(f, { lambda: '1' as any }), TypeError, /Expected a number for opts\.lambda but received the string '1'/);
  throwsWith(() => progressTargetsSync(f, 5 as any), TypeError, /Expected an options object for opts but received the number 5/);
});

test('bad input: NaN / Inf in features names the frame (sync, async, batch)', async () => {
  const T = 12, N = 2, D = 3;
  const data = randomEpisode(T, N, D, 4);
  data[7 * N * D + 4] = NaN;
  throwsWith(() => progressTargetsSync({ data, shape: [T, N, D] }), RangeError, /features.*frame 7.*NaN or Inf/);
  throwsWith(() => patchSimilarity({ data, shape: [T, N, D] }, 0), RangeError, /frame 7/);
  throwsWith(() => patchSimilarity({ data, shape: [T, N, D] }, 7), RangeError, /frame 7 \(the goal\)/);
  const inf = randomEpisode(T, N, D, 4);
  inf[(T - 1) * N * D] = Infinity;
  throwsWith(() => progressTargetsSync({ data: inf, shape: [T, N, D] }), RangeError, /frame 11/);
  const goal = { data: new Float32Array(N * D).fill(1), shape: [N, D] };
  goal.data[2] = -Infinity;
  throwsWith(() => patchSimilarity({ data: randomEpisode(T, N, D, 4), shape: [T, N, D] }, goal), RangeError, /goal.*NaN or Inf/);
  try {
    await progressTargets({ data, shape: [T, N, D] });
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, RangeError);
    assert.match((e as Error).message, /frame 7/);
    assert.match((e as Error).stack ?? '', /progress\.test\.ts/, 'async error carries the caller stack');
  }
  const good = { data: randomEpisode(T, N, D, 5), shape: [T, N, D] };
  try {
    await progressTargetsBatch([good, good, { data, shape: [T, N, D] }]);
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, RangeError);
    assert.match((e as Error).message, /episodes\[2\].*frame 7/);
  }
  await progressTargetsBatch([good, { data: new Float32Array(3), shape: [1, 2, 3] }]).then(
    () => assert.unreachable('should reject'),
    (e: Error) => { assert.instance(e, RangeError); assert.match(e.message, /episodes\[1\]\.data/); },
  );
});

test('native layer re-checks sizes even when called directly', () => {
  // Bypass the TypeScript checks: the addon itself refuses to read past the buffer.
  const { native } = require_native();
  const all = { lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.01, segmenter: 'paper' as const, threads: 0 };
  const dims = { T: 4, N: 2, D: 3 };
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(10) }, { ...all, ...dims }), RangeError, /at least 24.*10/);
  throwsWith(() => native().progressPatchSimilarity({ features: new Float32Array(24), goal: new Float32Array(2) }, { ...dims, lambda: 1, threads: 0 },
    { similarity: new Float32Array(4) }), RangeError, /goal/);
  throwsWith(() => native().progressPatchSimilarity({ features: new Float32Array(24), goal: new Float32Array(6) }, { ...dims, lambda: 1, threads: 0 },
    { similarity: new Float32Array(2) }), RangeError, /out/);
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, { ...all, ...dims, window: 1 }), RangeError, /opts\.window/);
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, { ...all, T: 2 ** 40, N: 2 ** 20, D: 2 ** 10 }), RangeError, /./);
  // Every option must arrive resolved: TypeScript owns the defaults.
  const { window: _w, ...noWindow } = all;
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, { ...noWindow, ...dims } as never), TypeError, /opts\.window.*undefined/);
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, undefined as never), TypeError, /options object for opts/);
  const { segmenter: _s, ...noSegmenter } = all;
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, { ...noSegmenter, ...dims } as never), TypeError, /opts\.segmenter.*undefined/);
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, { ...all, ...dims, segmenter: 'trend' } as never), RangeError,
    /Expected 'paper' or 'motion' for opts\.segmenter but received the string 'trend'/);
  // τ belongs to the paper's rule: required with it, not read by the motion segmenter.
  const { threshold: _t, ...noThreshold } = all;
  throwsWith(() => native().progressTargetsSync({ features: new Float32Array(24) }, { ...noThreshold, ...dims } as never), TypeError, /opts\.threshold.*undefined/);
  assert.is(native().progressTargetsSync({ features: new Float32Array(24) }, { ...noThreshold, ...dims, segmenter: 'motion' }).values.length, 4);
});

// ---------- loader and capabilities ----------
test('capabilities and the read probe', () => {
  const c = capabilities();
  assert.type(c.version, 'string');
  assert.ok(c.threads >= 1);
  assert.type(c.torch, 'boolean');
  assert.type(c.cuda, 'boolean');
  assert.ok(['avx512', 'avx2', 'sse2', 'generic'].includes(c.simd));
  const x = Float32Array.from({ length: 1 << 18 }, (_, i) => (i % 7) - 3);
  let s = 0; for (const v of x) s += v;
  assert.ok(Math.abs(memoryReadProbe(x) - s) < 1e-3);
  assert.ok(Math.abs(memoryReadProbe(x, { threads: 1 }) - s) < 1e-3);
});

test('a missing addon path gives one error listing what was tried and the fix', () => {
  try {
    useAddon('/nonexistent/feat2go.node');
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, AddonLoadError);
    const m = (e as Error).message;
    assert.match(m, /Tried:\n {2}- useAddon: \/nonexistent\/feat2go\.node: not found/);
    // The one command that builds it from source (in a checkout; `npx feat2go build` in an installed package).
    assert.match(m, /`npm run build:native`/);
    assert.match(m, /cmake/);
  }
  assert.ok(capabilities().threads >= 1, 'the working addon stays in use');
});

import * as nativeModule from '../../src/core/native.js';
function require_native() { return nativeModule; }

test.run();
