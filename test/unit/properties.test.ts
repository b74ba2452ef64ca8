// Property tests (fast-check, fixed seeds so every run checks the same cases):
// random shapes, byte offsets inside larger buffers, options and aliasing,
// against the independent float64 references in test/reference.
import { test } from 'uvu';
import fc from 'fast-check';
import {
  gae, grpoAdvantages, normalizeAdvantages, patchSimilarity, progressTargetsSync, slidingSlopes, stepAdvantages,
} from '../../src/index.js';
import { refProgress, refSimilarity, refSlope } from '../reference/progress.js';
import { refGae, refGrpo, refNormalize, refStepAdvantages } from '../reference/rl.js';

const SEED = 20261128;
const run = (p: fc.IProperty<any> | fc.IAsyncProperty<any>, numRuns: number) => fc.assert(p as fc.IProperty<any>, { seed: SEED, numRuns });

function within(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, abs: number): string | undefined {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= abs + rel * Math.abs(b[i]))) return `[${i}] ${a[i]} vs ${b[i]}`;
  }
  return undefined;
}

/** `n` float32 values placed at element offset `pad` of a larger buffer (a subarray with a byteOffset). */
const placed = (values: number[], pad: number, tail: number): Float32Array => {
  const buf = new Float32Array(pad + values.length + tail).fill(Number.NaN); // NaN around: reading outside shows up
  buf.set(values, pad);
  return buf.subarray(pad, pad + values.length);
};

const f32 = (min = -4, max = 4) => fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true });

const episodeArb = fc.record({ T: fc.integer({ min: 1, max: 9 }), N: fc.integer({ min: 1, max: 4 }), D: fc.integer({ min: 1, max: 6 }), pad: fc.nat(5), tail: fc.nat(3) })
  .chain(({ T, N, D, pad, tail }) => fc.record({
    T: fc.constant(T), N: fc.constant(N), D: fc.constant(D), pad: fc.constant(pad), tail: fc.constant(tail),
    values: fc.array(fc.oneof({ weight: 6, arbitrary: f32() }, { weight: 1, arbitrary: fc.constant(0) }), { minLength: T * N * D, maxLength: T * N * D }),
    scale: fc.constantFrom(1, 1e-12, 1e15),
  }));

test('patchSimilarity equals the reference for random shapes, offsets, goals and λ; a goal aliasing the features is fine', () => {
  run(fc.property(episodeArb, fc.double({ min: 0, max: 3, noNaN: true }), fc.nat(), ({ T, N, D, pad, tail, values, scale }, lambda, gi) => {
    const data = placed(values.map((v) => Math.fround(v * scale)), pad, tail);
    const g = gi % T;
    const got = patchSimilarity({ data, shape: [T, N, D] }, g, { lambda });
    const want = Array.from({ length: T }, (_, t) => refSimilarity(data, t * N * D, data, g * N * D, N, D, lambda));
    const err = within(got, want, 0, 2e-5);
    if (err) throw new Error(`index goal: ${err}`);
    // The same goal passed as a tensor that is a view into the features (shared memory).
    const view = data.subarray(g * N * D, (g + 1) * N * D);
    const got2 = patchSimilarity({ data, shape: [T, N, D] }, { data: view, shape: [N, D] }, { lambda });
    if (within(got2, got, 0, 0)) throw new Error('aliased goal tensor differs from the goal index');
    for (const v of got) if (!Number.isFinite(v) || v < -1 - 1e-6 || v > 1 + 1e-6) throw new Error(`S out of [-1, 1]: ${v}`);
  }), 300);
});

test('progressTargetsSync equals the reference (segments, values, similarity) for random episodes and options', () => {
  const opts = fc.integer({ min: 2, max: 5 }).chain((window) => fc.record({
    window: fc.constant(window),
    maxClusterFrames: fc.integer({ min: window, max: 10 }),
    threshold: fc.constantFrom(-0.05, 0, 0.01, 0.05),
    lambda: fc.constantFrom(0, 0.5, 1),
  }));
  run(fc.property(episodeArb, opts, ({ T, N, D, pad, tail, values }, o) => {
    const data = placed(values, pad, tail);
    const got = progressTargetsSync({ data, shape: [T, N, D] }, o);
    const ref = refProgress(data, T, N, D, o);
    // A slope within rounding of τ may fall either way in float32 vs float64: only
    // compare segments when no window's reference slope is that close to τ.
    const err = within(got.similarity, ref.similarity, 0, 2e-5);
    if (err) throw new Error(`similarity ${err}`);
    if (JSON.stringify(got.segments) === JSON.stringify(ref.segments)) {
      const ev = within(got.values, ref.values, 0, 2e-5);
      if (ev) throw new Error(`values ${ev}`);
    } else {
      const s = Array.from(ref.similarity);
      let nearTie = false;
      for (let i = 0; i + o.window <= T; i++) if (Math.abs(refSlope(s.slice(i, i + o.window)) - o.threshold) < 1e-5) nearTie = true;
      if (!nearTie) throw new Error(`segments ${JSON.stringify(got.segments)} vs ${JSON.stringify(ref.segments)}`);
    }
    // Properties of any result: a partition of [0, T−1] into clusters of ≤ M frames, V ∈ [0, 1], V(T−1) = 1.
    let next = 0;
    for (const sg of got.segments) {
      if (sg.start !== next || sg.end < sg.start || sg.end - sg.start + 1 > o.maxClusterFrames) throw new Error(`bad segment ${JSON.stringify(sg)}`);
      next = sg.end + 1;
    }
    if (next !== T) throw new Error('segments do not cover the episode');
    for (const v of got.values) if (!(v >= 0 && v <= 1)) throw new Error(`V out of [0, 1]: ${v}`);
    if (got.values[T - 1] !== 1) throw new Error(`V(T−1) = ${got.values[T - 1]}`);
  }), 200);
});

test('slidingSlopes equals the textbook slope at random offsets and windows', () => {
  const arb = fc.record({ B: fc.integer({ min: 1, max: 4 }), L: fc.integer({ min: 2, max: 20 }), pad: fc.nat(4) }).chain(({ B, L, pad }) => fc.record({
    B: fc.constant(B), L: fc.constant(L), pad: fc.constant(pad), w: fc.integer({ min: 2, max: L }),
    values: fc.array(f32(-100, 100), { minLength: B * L, maxLength: B * L }),
  }));
  run(fc.property(arb, ({ B, L, pad, w, values }) => {
    const data = placed(values, pad, 1);
    const s = slidingSlopes({ data, shape: [B, L] }, w);
    const P = L - w + 1;
    const want: number[] = [];
    for (let b = 0; b < B; b++) for (let i = 0; i < P; i++) want.push(refSlope(Array.from(data.subarray(b * L + i, b * L + i + w))));
    const err = within(s.data, want, 1e-5, 1e-4);
    if (err) throw new Error(err);
  }), 300);
});

test('gae equals the reference for random batches, flags and offsets; exact out aliasing gives the same numbers', () => {
  const arb = fc.record({ B: fc.integer({ min: 1, max: 4 }), T: fc.integer({ min: 1, max: 12 }), pad: fc.nat(3) }).chain(({ B, T, pad }) => {
    const n = B * T;
    return fc.record({
      B: fc.constant(B), T: fc.constant(T), pad: fc.constant(pad),
      r: fc.array(f32(-2, 2), { minLength: n, maxLength: n }), v: fc.array(f32(-2, 2), { minLength: n, maxLength: n }),
      nv: fc.array(f32(-2, 2), { minLength: n, maxLength: n }),
      term: fc.array(fc.boolean(), { minLength: n, maxLength: n }), trunc: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      gamma: fc.double({ min: 0, max: 1, noNaN: true }), lambda: fc.double({ min: 0, max: 1, noNaN: true }),
    });
  });
  run(fc.property(arb, ({ B, T, pad, r, v, nv, term, trunc, gamma, lambda }) => {
    const n = B * T;
    const terminated = Uint8Array.from(term, (x) => (x ? 1 : 0));
    const done = Uint8Array.from(term, (x, i) => (x || trunc[i] ? 1 : 0));
    const input = {
      rewards: { data: placed(r, pad, 0), shape: [B, T] }, values: { data: placed(v, pad, 1), shape: [B, T] },
      nextValues: { data: placed(nv, 0, pad), shape: [B, T] },
      terminated: { data: terminated, shape: [B, T] }, done: { data: done, shape: [B, T] },
    };
    const got = gae(input, { gamma, lambda });
    const ref = refGae(input.rewards.data, input.values.data, input.nextValues.data, terminated, done, B, T, gamma, lambda);
    const e1 = within(got.advantages.data, ref.adv, 1e-5, 1e-5);
    if (e1) throw new Error(`advantages ${e1}`);
    const e2 = within(got.returns.data, ref.ret, 1e-5, 1e-5);
    if (e2) throw new Error(`returns ${e2}`);
    // out.advantages exactly aliasing rewards (allowed): same numbers.
    const rew = Float32Array.from(input.rewards.data);
    const out = { advantages: rew, returns: new Float32Array(n) };
    gae({ ...input, rewards: { data: rew, shape: [B, T] } }, { gamma, lambda, out });
    if (within(out.advantages, got.advantages.data, 0, 0)) throw new Error('aliased out differs');
  }), 200);
});

test('grpoAdvantages, stepAdvantages and normalizeAdvantages equal their references', () => {
  const grpo = fc.record({ groups: fc.integer({ min: 1, max: 5 }), size: fc.integer({ min: 1, max: 6 }) }).chain(({ groups, size }) => fc.record({
    size: fc.constant(size), R: fc.array(f32(-3, 3), { minLength: groups * size, maxLength: groups * size }),
    std: fc.constantFrom('sample' as const, 'population' as const, 'none' as const), scale: fc.constantFrom('group' as const, 'batch' as const),
  }));
  run(fc.property(grpo, ({ size, R, std, scale }) => {
    const got = grpoAdvantages(R, { groupSize: size, std, scale });
    const err = within(got, refGrpo(Float32Array.from(R), size, 1e-4, std, scale), 1e-4, 1e-4);
    if (err) throw new Error(err);
  }), 200);
  const steps = fc.record({ B: fc.integer({ min: 1, max: 5 }), H: fc.integer({ min: 1, max: 10 }) }).chain(({ B, H }) => fc.record({
    H: fc.constant(H), adv: fc.array(f32(-3, 3), { minLength: B, maxLength: B }),
    lengths: fc.array(fc.integer({ min: 1, max: H }), { minLength: B, maxLength: B }), gamma: fc.double({ min: 0, max: 1, noNaN: true }),
  }));
  run(fc.property(steps, ({ H, adv, lengths, gamma }) => {
    const got = stepAdvantages(adv, lengths, H, gamma);
    const err = within(got.data, refStepAdvantages(Float32Array.from(adv), lengths, H, gamma), 1e-5, 1e-6);
    if (err) throw new Error(err);
  }), 200);
  const norm = fc.record({ B: fc.integer({ min: 1, max: 4 }), T: fc.integer({ min: 2, max: 8 }) }).chain(({ B, T }) => fc.record({
    B: fc.constant(B), T: fc.constant(T), x: fc.array(f32(-5, 5), { minLength: B * T, maxLength: B * T }),
  }));
  run(fc.property(norm, ({ B, T, x }) => {
    const got = normalizeAdvantages({ data: Float32Array.from(x), shape: [B, T] });
    const err = within(got.data, refNormalize(Float32Array.from(x), null), 1e-4, 1e-4);
    if (err) throw new Error(err);
  }), 200);
});

test('arbitrary option objects either work or throw TypeError/RangeError naming opts (never another error, never a crash)', () => {
  const ep = { data: Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.cos(i)), shape: [5, 2, 3] };
  const B = 2, T = 3;
  const t = () => ({ data: new Float32Array(B * T).fill(0.25), shape: [B, T] });
  const flags = { data: new Uint8Array(B * T), shape: [B, T] };
  const keys = ['lambda', 'window', 'maxClusterFrames', 'threshold', 'threads', 'gamma', 'timeMajor', 'out', 'windw', '__proto__', 'constructor'];
  const value = fc.oneof(fc.constantFrom(0, 1, 2, -1, 0.5, 1e9, NaN, Infinity, -0, 2 ** 53, '3', null, true, [], {}), fc.double(), fc.integer());
  const optsArb = fc.oneof(fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 4 }), fc.anything());
  const calls: Array<(o: any) => unknown> = [
    (o) => progressTargetsSync(ep, o),
    (o) => patchSimilarity(ep, 0, o),
    (o) => gae({ rewards: t(), values: t(), nextValues: t(), terminated: flags, done: flags }, o),
    (o) => grpoAdvantages([1, 0, 0.5, 0.25], o),
  ];
  run(fc.property(optsArb, fc.nat(calls.length - 1), (o, k) => {
    try {
      calls[k](o);
    } catch (e) {
      if (!(e instanceof TypeError || e instanceof RangeError)) throw new Error(`${(e as Error)?.name}: ${(e as Error)?.message}`);
      if (!/opts|options/.test((e as Error).message)) throw new Error(`the error does not name opts: ${(e as Error).message}`);
    }
  }), 1500);
});

test.run();
