// Reinforcement-learning math (SPEC §5–8): native kernels against the
// independent reference in test/reference/rl.ts, hand-worked cases,
// properties, and bad inputs of every function.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clippedSurrogate, clippedValueLoss, gae, grpoAdvantages, grpoGroupStats, klPenalty, normalizeAdvantages, shapeTerminalRewards, stepAdvantages, terminalRewards } from '../../src/index.js';
import type { FlagTensor, Tensor } from '../../src/index.js';
import { native } from '../../src/core/native.js';
import {
  refGae, refGrpo, refKl, refNormalize, refShapeTerminal, refStepAdvantages, refSurrogate, refValueLoss,
} from '../reference/rl.js';
import type { Agg } from '../reference/rl.js';
import { rng } from '../helpers/data.js';

// ---------------------------------------------------------------- helpers

const T2 = (data: ArrayLike<number>, B: number, T: number): Tensor => ({ data: Float32Array.from(data), shape: [B, T] });
const F2 = (data: ArrayLike<number>, B: number, T: number, u8 = true): FlagTensor =>
  ({ data: u8 ? Uint8Array.from(data) : Float32Array.from(data), shape: [B, T] });
function randn(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}
function bits(r: () => number, n: number, p: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < p ? 1 : 0;
  return out;
}
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-5, abs = 1e-7, what = ''): void {
  assert.is(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= rel * Math.abs(expected[i]) + abs)) {
      assert.unreachable(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]} (diff ${d})`);
    }
  }
}
const near = (a: number, b: number, rel = 1e-5, abs = 1e-7, what = ''): void => close([a], [b], rel, abs, what);
/** Asserts fn throws `Ctor` whose message matches every pattern. */
function throwsLike(fn: () => unknown, Ctor: ErrorConstructor, ...patterns: RegExp[]): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, Ctor, `wrong error class: ${String(e)}`);
    for (const p of patterns) assert.match((e as Error).message, p);
    assert.match((e as Error).message, /Expected/);
    return;
  }
  assert.unreachable('did not throw');
}

interface Batch { r: Float32Array; v: Float32Array; nv: Float32Array; term: Uint8Array; done: Uint8Array }
function randomBatch(seed: number, B: number, T: number): Batch {
  const r = rng(seed);
  const term = bits(r, B * T, 0.05);
  const trunc = bits(r, B * T, 0.05);
  const done = term.map((x, i) => x | trunc[i]);
  return { r: randn(r, B * T), v: randn(r, B * T, 2), nv: randn(r, B * T, 2), term, done };
}
function gaeOf(b: Batch, B: number, T: number, gamma: number, lambda: number, u8 = true, extra: object = {}) {
  return gae({
    rewards: T2(b.r, B, T), values: T2(b.v, B, T), nextValues: T2(b.nv, B, T),
    terminated: F2(b.term, B, T, u8), done: F2(b.done, B, T, u8),
  }, { gamma, lambda, ...extra });
}
function transpose(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

// ---------------------------------------------------------------- §5 rewards

test('shapeTerminalRewards: successes earn 1, failures the clamped value estimate (hand-worked)', () => {
  const out = shapeTerminalRewards([true, false, 1, 0, false], [0.2, 0.4, -3, 1.7, -0.5]);
  close(out, [1, 0.4, 1, 1, 0], 0, 1e-7);
  close(shapeTerminalRewards([0, 0], [0.5, 0.9], { failureScale: 0.5 }), [0.25, 0.45], 0, 1e-7);
  close(shapeTerminalRewards(new Uint8Array([1, 0]), [0.5, 0.9], { failureScale: 0 }), [1, 0], 0, 0);
});

test('shapeTerminalRewards matches the reference on a random batch', () => {
  const r = rng(5);
  const y = bits(r, 1000, 0.3);
  const v = randn(r, 1000, 1.5);
  close(shapeTerminalRewards(y, v, { failureScale: 0.7 }), refShapeTerminal(y, v, 0.7));
});

test('terminalRewards pays R at the last step only (hand-worked)', () => {
  const t = terminalRewards([2, 3, 1], [1, 0.5, -2], 3);
  assert.equal(t.shape, [3, 3]);
  assert.equal(Array.from(t.data), [0, 1, 0, 0, 0, 0.5, -2, 0, 0]);
});

// ---------------------------------------------------------------- §6 GAE

test('gae: truncation bootstraps from nextValues, termination does not (hand-worked)', () => {
  // γ = λ = 0.5; one env, 2 steps, the episode ends at step 1.
  const rewards = T2([1, 2], 1, 2);
  const values = T2([1, 1], 1, 2);
  const nextValues = T2([1, 4], 1, 2);
  const truncated = gae({ rewards, values, nextValues, terminated: F2([0, 0], 1, 2), done: F2([0, 1], 1, 2) }, { gamma: 0.5, lambda: 0.5 });
  // δ1 = 2 + 0.5·4 − 1 = 3, A1 = 3; δ0 = 1 + 0.5·1 − 1 = 0.5, A0 = 0.5 + 0.25·3 = 1.25
  close(truncated.advantages.data, [1.25, 3], 0, 1e-7);
  close(truncated.returns.data, [2.25, 4], 0, 1e-7);
  const terminated = gae({ rewards, values, nextValues, terminated: F2([0, 1], 1, 2), done: F2([0, 1], 1, 2) }, { gamma: 0.5, lambda: 0.5 });
  // δ1 = 2 − 1 = 1, A1 = 1; A0 = 0.5 + 0.25·1 = 0.75
  close(terminated.advantages.data, [0.75, 1], 0, 1e-7);
});

test('gae: done stops the recursion inside a row; terminated also drops the bootstrap (hand-worked)', () => {
  // γ = 0.5, λ = 1; an episode ends at step 0 (truncated, bootstrap value 2), the next runs on.
  const input = (term: number[]) => ({
    rewards: T2([1, 1, 1], 1, 3), values: T2([0, 0, 0], 1, 3), nextValues: T2([2, 0, 0], 1, 3),
    terminated: F2(term, 1, 3, false), done: F2([1, 0, 0], 1, 3, false),
  });
  // A2 = 1, A1 = 1 + 0.5·1 = 1.5, A0 = 1 + 0.5·2 = 2 (A1 not added)
  close(gae(input([0, 0, 0]), { gamma: 0.5, lambda: 1 }).advantages.data, [2, 1.5, 1], 0, 1e-7);
  close(gae(input([1, 0, 0]), { gamma: 0.5, lambda: 1 }).advantages.data, [1, 1.5, 1], 0, 1e-7);
});

test('gae matches the reference on random batches (uint8 and float flags, several shapes)', () => {
  for (const [B, T, seed] of [[7, 33, 1], [1, 1, 2], [13, 5, 3], [64, 200, 4], [3, 1024, 5]]) {
    const b = randomBatch(seed, B, T);
    const ref = refGae(b.r, b.v, b.nv, b.term, b.done, B, T, 0.97, 0.9);
    for (const u8 of [true, false]) {
      const out = gaeOf(b, B, T, 0.97, 0.9, u8);
      assert.equal(out.advantages.shape, [B, T]);
      close(out.advantages.data, ref.adv, 1e-5, 1e-6, `adv ${B}x${T}`);
      close(out.returns.data, ref.ret, 1e-5, 1e-6, `ret ${B}x${T}`);
    }
  }
});

test('gae keeps 1e-5 accuracy over long horizons with γ close to 1 (double recursion)', () => {
  const B = 3;
  const T = 6000;
  const r = rng(99);
  const b: Batch = { r: randn(r, B * T), v: randn(r, B * T), nv: randn(r, B * T), term: new Uint8Array(B * T), done: new Uint8Array(B * T) };
  b.done[T + 2999] = 1; // one episode boundary in row 1
  for (const [gamma, lambda] of [[0.9999, 1], [1, 0.999], [0.99999, 0.99999]]) {
    const ref = refGae(b.r, b.v, b.nv, b.term, b.done, B, T, gamma, lambda);
    for (const timeMajor of [false, true]) {
      const inp = timeMajor
        ? { ...b, r: transpose(b.r, B, T), v: transpose(b.v, B, T), nv: transpose(b.nv, B, T), term: b.term, done: transpose(b.done, B, T) as unknown as Uint8Array }
        : b;
      const out = timeMajor
        ? gae({ rewards: T2(inp.r, T, B), values: T2(inp.v, T, B), nextValues: T2(inp.nv, T, B), terminated: F2(inp.term, T, B), done: F2(inp.done, T, B) }, { gamma, lambda, timeMajor })
        : gaeOf(b, B, T, gamma, lambda);
      const adv = timeMajor ? transpose(out.advantages.data, T, B) : out.advantages.data;
      // scale of the terms summed: |A| can be O(√T); compare relative to max(1, |ref|)
      close(adv, ref.adv, 1e-5, 1e-5, `γ=${gamma} λ=${lambda} tm=${timeMajor}`);
    }
  }
});

test('gae: CleanRL\'s loop is the special case nextValues[t] = values[t+1], terminated = done', () => {
  // CleanRL ppo.py, written literally over time-major [numSteps, numEnvs] arrays.
  const numSteps = 16;
  const numEnvs = 5;
  const gamma = 0.99;
  const gaeLambda = 0.95;
  const r = rng(11);
  const rewards = randn(r, numSteps * numEnvs);
  const values = randn(r, numSteps * numEnvs);
  const dones = Float32Array.from(bits(r, numSteps * numEnvs, 0.1)); // dones[t]: obs t starts a new episode
  const nextValue = randn(r, numEnvs);
  const nextDone = Float32Array.from(bits(r, numEnvs, 0.3));
  const advantages = new Float64Array(numSteps * numEnvs);
  for (let e = 0; e < numEnvs; e++) {
    let lastgaelam = 0;
    for (let t = numSteps - 1; t >= 0; t--) {
      let nextnonterminal: number;
      let nextvalues: number;
      if (t === numSteps - 1) {
        nextnonterminal = 1.0 - nextDone[e];
        nextvalues = nextValue[e];
      } else {
        nextnonterminal = 1.0 - dones[(t + 1) * numEnvs + e];
        nextvalues = values[(t + 1) * numEnvs + e];
      }
      const delta = rewards[t * numEnvs + e] + gamma * nextvalues * nextnonterminal - values[t * numEnvs + e];
      advantages[t * numEnvs + e] = lastgaelam = delta + gamma * gaeLambda * nextnonterminal * lastgaelam;
    }
  }
  const returns = advantages.map((a, i) => a + values[i]);
  // The same rollout in feat2go's terms: done_t = "step t ended an episode".
  const nextValues = new Float32Array(numSteps * numEnvs);
  const done = new Uint8Array(numSteps * numEnvs);
  for (let t = 0; t < numSteps; t++) {
    for (let e = 0; e < numEnvs; e++) {
      const last = t === numSteps - 1;
      nextValues[t * numEnvs + e] = last ? nextValue[e] : values[(t + 1) * numEnvs + e];
      done[t * numEnvs + e] = last ? nextDone[e] : dones[(t + 1) * numEnvs + e];
    }
  }
  const shape = [numSteps, numEnvs];
  const out = gae({
    rewards: { data: rewards, shape }, values: { data: values, shape }, nextValues: { data: nextValues, shape },
    terminated: { data: done, shape }, done: { data: done, shape },
  }, { gamma, lambda: gaeLambda, timeMajor: true });
  close(out.advantages.data, advantages, 1e-5, 1e-6, 'CleanRL advantages');
  close(out.returns.data, returns, 1e-5, 1e-6, 'CleanRL returns');
});

test('gae: time-major input equals batch-major transposed', () => {
  for (const [B, T] of [[37, 19], [600, 3], [1, 9]]) {
    const b = randomBatch(B * 31 + T, B, T);
    const bm = gaeOf(b, B, T, 0.9, 0.8);
    const tm = gae({
      rewards: T2(transpose(b.r, B, T), T, B), values: T2(transpose(b.v, B, T), T, B),
      nextValues: T2(transpose(b.nv, B, T), T, B), terminated: F2(transpose(b.term, B, T), T, B),
      done: F2(transpose(b.done, B, T), T, B, false),
    }, { gamma: 0.9, lambda: 0.8, timeMajor: true });
    assert.equal(tm.advantages.shape, [T, B]);
    assert.equal(Array.from(tm.advantages.data), Array.from(transpose(bm.advantages.data, B, T)));
    assert.equal(Array.from(tm.returns.data), Array.from(transpose(bm.returns.data, B, T)));
  }
});

test('gae: long rows with and without dones inside 16-step chunks — reference, and both layouts bit for bit', () => {
  // The kernel scans 16-step chunks (a faster path where a chunk has no done)
  // and runs the first T mod 16 steps one by one; the shapes cover chunk
  // boundaries, partial 8-environment groups and > 1 time-major tile.
  for (const [B, T, p] of [[37, 53, 0.01], [70, 100, 0.004], [9, 16, 0.05], [129, 35, 0.02], [3, 200, 0], [1300, 17, 0.01]] as const) {
    const r = rng(B * 1000 + T);
    const n = B * T;
    const term = bits(r, n, p);
    const done = term.map((x, i) => x | (r() < p ? 1 : 0) | (i % T === T - 1 && r() < 0.5 ? 1 : 0));
    const b: Batch = { r: randn(r, n), v: randn(r, n, 2), nv: randn(r, n, 2), term, done };
    const ref = refGae(b.r, b.v, b.nv, b.term, b.done, B, T, 0.99, 0.95);
    for (const u8 of [true, false]) {
      const bm = gaeOf(b, B, T, 0.99, 0.95, u8);
      close(bm.advantages.data, ref.adv, 1e-5, 1e-6, `[${B},${T}] advantages`);
      close(bm.returns.data, ref.ret, 1e-5, 1e-6, `[${B},${T}] returns`);
      const tm = gae({
        rewards: T2(transpose(b.r, B, T), T, B), values: T2(transpose(b.v, B, T), T, B),
        nextValues: T2(transpose(b.nv, B, T), T, B), terminated: F2(transpose(b.term, B, T), T, B, u8),
        done: F2(transpose(b.done, B, T), T, B, u8),
      }, { gamma: 0.99, lambda: 0.95, timeMajor: true });
      assert.equal(Array.from(transpose(tm.advantages.data, T, B)), Array.from(bm.advantages.data), `[${B},${T}] layouts`);
      assert.equal(Array.from(transpose(tm.returns.data, T, B)), Array.from(bm.returns.data), `[${B},${T}] layouts`);
    }
  }
});

test('gae: a NaN at any step is caught, also where every step is done (0·NaN is NaN)', () => {
  const B = 3;
  const T = 40; // two 16-step chunks, then 8 steps one by one
  for (const timeMajor of [false, true]) {
    for (const name of ['rewards', 'values', 'nextValues'] as const) {
      for (const t of [0, 7, 8, 15, 16, 23, 24, 31, 39]) {
        const data = { rewards: new Float32Array(B * T), values: new Float32Array(B * T), nextValues: new Float32Array(B * T) };
        const i = timeMajor ? t * B + 1 : T + t; // env 1, step t
        data[name][i] = NaN;
        const shape = timeMajor ? [T, B] : [B, T];
        const ones = { data: new Uint8Array(B * T).fill(1), shape };
        throwsLike(() => gae({
          rewards: { data: data.rewards, shape }, values: { data: data.values, shape }, nextValues: { data: data.nextValues, shape },
          terminated: ones, done: ones,
        }, { gamma: 0.9, lambda: 0.9, timeMajor }), RangeError, new RegExp(`${name}\\.data`), new RegExp(`NaN at index ${i}\\b`));
      }
    }
  }
});

test('gae: finite inputs whose δ overflows float give ±Infinity, not an error', () => {
  const B = 2;
  const T = 20;
  const big = new Float32Array(B * T).fill(3e38);
  const zeros = new Uint8Array(B * T);
  const out = gae({
    rewards: T2(big, B, T), values: T2(new Float32Array(B * T), B, T), nextValues: T2(big, B, T),
    terminated: F2(zeros, B, T), done: F2(zeros, B, T),
  }, { gamma: 1, lambda: 0.5 });
  assert.ok(out.advantages.data.every((x) => x === Infinity));
  assert.ok(out.returns.data.every((x) => x === Infinity));
});

test('gae: both kernels (AVX-512 scan, step by step: FEAT2GO_GAE_ISA) match the reference, both layouts bit for bit', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const child = path.join(here, '..', 'helpers', 'gae-isa-child.ts');
  const top = native().rlGaeIsa();
  for (const level of [0, 3, 4].filter((l) => l <= top)) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', child], {
      encoding: 'utf8', env: { ...process.env, FEAT2GO_GAE_ISA: String(level) },
    });
    assert.is(r.status, 0, `level ${level}: ${r.stderr}`);
    const res = JSON.parse(r.stdout) as { level: number; maxErr: number; layoutsEqual: boolean };
    assert.is(res.level, level);
    assert.ok(res.maxErr <= 1e-5, `level ${level}: max error ${res.maxErr}`);
    assert.ok(res.layoutsEqual, `level ${level}: layouts differ`);
  }
});

test('gae properties: returns = advantages + values; λ = γ = 1 without dones gives reward-to-go − value', () => {
  const B = 9;
  const T = 50;
  const b = randomBatch(21, B, T);
  const out = gaeOf(b, B, T, 0.95, 0.7);
  for (let i = 0; i < B * T; i++) near(out.returns.data[i], out.advantages.data[i] + b.v[i], 1e-6, 1e-6, 'returns');
  // No dones, nextValues[t] = values[t+1], last bootstrap 0: A_t = Σ_{k≥t} r_k − V_t.
  const nv = new Float32Array(B * T);
  for (let i = 0; i < B; i++) for (let t = 0; t < T - 1; t++) nv[i * T + t] = b.v[i * T + t + 1];
  const zeros = new Uint8Array(B * T);
  const g1 = gaeOf({ ...b, nv, term: zeros, done: zeros }, B, T, 1, 1);
  for (let i = 0; i < B; i++) {
    let togo = 0;
    for (let t = T - 1; t >= 0; t--) {
      togo += b.r[i * T + t];
      near(g1.advantages.data[i * T + t], togo - b.v[i * T + t], 1e-5, 1e-5, `rtg ${i},${t}`);
    }
  }
});

test('gae results do not depend on the thread count', () => {
  const B = 301;
  const T = 64;
  const b = randomBatch(8, B, T);
  const a = gaeOf(b, B, T, 0.99, 0.95, true, { threads: 1 });
  const c = gaeOf(b, B, T, 0.99, 0.95, true, { threads: 0 });
  assert.equal(Array.from(a.advantages.data), Array.from(c.advantages.data));
});

test('gae and stepAdvantages write into caller buffers with opts.out', () => {
  const B = 5;
  const T = 7;
  const b = randomBatch(17, B, T);
  const fresh = gaeOf(b, B, T, 0.9, 0.9);
  const advantages = new Float32Array(B * T + 3).fill(7);
  const returns = new Float32Array(B * T);
  const reused = gaeOf(b, B, T, 0.9, 0.9, true, { out: { advantages, returns } });
  assert.is(reused.returns.data, returns);
  assert.is(reused.advantages.data.buffer, advantages.buffer);
  assert.equal(Array.from(reused.advantages.data), Array.from(fresh.advantages.data));
  assert.equal(Array.from(returns), Array.from(fresh.returns.data));
  assert.is(advantages[B * T], 7); // past the view: untouched
  throwsLike(() => gaeOf(b, B, T, 0.9, 0.9, true, { out: { advantages: new Float32Array(3), returns } }), RangeError, /opts\.out\.advantages\.length/, /35/, /3/);
  throwsLike(() => gaeOf(b, B, T, 0.9, 0.9, true, { out: { advantages: returns, returns } }), RangeError, /opts\.out\.returns/, /overlapping/);
  const buf = new Float32Array(8).fill(9);
  assert.is(stepAdvantages([1, 2], [1, 2], 4, 0.5, { out: buf }).data, buf);
  assert.equal(Array.from(buf), [1, 0, 0, 0, 1, 2, 0, 0]);
  throwsLike(() => stepAdvantages([1], [1], 4, 0.5, { out: new Float64Array(4) as unknown as Float32Array }), TypeError, /opts\.out/, /Float64Array/);
});

// ---------------------------------------------------------------- §7 GRPO

test('grpoAdvantages: hand-worked group, all-equal groups and groups of size 1 give 0 (not NaN)', () => {
  // group [1, 0]: mean 0.5, sample std √0.5 → ±0.5/(0.70711 + 1e-4)
  const a = grpoAdvantages([1, 0, 1, 1, 0, 0], { groupSize: 2 });
  close(a, [0.5 / (Math.SQRT1_2 + 1e-4), -0.5 / (Math.SQRT1_2 + 1e-4), 0, 0, 0, 0], 1e-6, 0);
  assert.equal(Array.from(grpoAdvantages([0.3, 0.7, 1], { groupSize: 1 })), [0, 0, 0]);
  assert.equal(Array.from(grpoAdvantages([0.4, 0.4, 0.4], { groupSize: 3, epsilon: 0 })), [0, 0, 0]);
  // population std of [1, 0] is 0.5 → ±1/(1 + 2e-4) with ε = 1e-4; 'none' → R − mean.
  close(grpoAdvantages([1, 0], { groupSize: 2, std: 'population' }), [0.5 / 0.5001, -0.5 / 0.5001], 1e-6, 0);
  close(grpoAdvantages([1, 0, 3, 3], { groupSize: 2, std: 'none' }), [0.5, -0.5, 0, 0], 0, 0);
});

test('grpoAdvantages matches the reference for every std and scale option', () => {
  const r = rng(31);
  const R = Array.from({ length: 8 * 6 }, () => (r() < 0.5 ? 1 : r()));
  for (const std of ['sample', 'population', 'none'] as const) {
    for (const scale of ['group', 'batch'] as const) {
      for (const g of [1, 2, 6, 8]) {
        close(grpoAdvantages(R, { groupSize: g, std, scale, epsilon: 1e-3 }), refGrpo(Float32Array.from(R), g, 1e-3, std, scale), 1e-5, 1e-6, `${std}/${scale}/${g}`);
      }
    }
  }
});

test('grpoAdvantages property: each group sums to 0', () => {
  const r = rng(77);
  const R = randn(r, 16 * 32);
  const a = grpoAdvantages(R, { groupSize: 16 });
  for (let g = 0; g < 32; g++) {
    let s = 0;
    let q = 0;
    for (let i = 0; i < 16; i++) { s += a[g * 16 + i]; q += Math.abs(a[g * 16 + i]); }
    assert.ok(Math.abs(s) <= 1e-6 * q, `group ${g} sums to ${s}`);
  }
});

test('grpoGroupStats counts zero-spread groups and averages group stds', () => {
  const s = grpoGroupStats([1, 1, 0, 1, 0, 0, 0.5, 0.5], { groupSize: 2 });
  assert.is(s.zeroStdGroups, 3);
  assert.is(s.groups, 4);
  near(s.meanStd, Math.SQRT1_2 / 4, 1e-12, 0);
  near(grpoGroupStats([1, 0], { groupSize: 2, std: 'population' }).meanStd, 0.5, 1e-12, 0);
  assert.is(grpoGroupStats([3, 4, 5], { groupSize: 1 }).zeroStdGroups, 3);
});

test('stepAdvantages: γ^{L−1−t} propagation, zero past the end (hand-worked and reference)', () => {
  const s = stepAdvantages([1, -2], [3, 1], 4, 0.5);
  assert.equal(s.shape, [2, 4]);
  assert.equal(Array.from(s.data), [0.25, 0.5, 1, 0, -2, 0, 0, 0]);
  const r = rng(3);
  const B = 50;
  const H = 40;
  const adv = randn(r, B);
  const L = Array.from({ length: B }, () => 1 + Math.floor(r() * H));
  close(stepAdvantages(adv, L, H, 0.97).data, refStepAdvantages(adv, L, H, 0.97), 1e-6, 0);
});

test('normalizeAdvantages: masked whitening, unmasked entries 0 (hand-worked and reference)', () => {
  close(normalizeAdvantages({ data: Float32Array.from([1, 2, 3]), shape: [3] }).data, [-1, 0, 1], 1e-6, 0);
  const m = normalizeAdvantages(T2([1, 100, 3, 5], 2, 2), F2([1, 0, 1, 1], 2, 2));
  // masked values 1, 3, 5: mean 3, sample std 2
  close(m.data, [-1, 0, 0, 1], 1e-6, 0);
  const r = rng(9);
  const x = randn(r, 3000, 4);
  const mask = bits(r, 3000, 0.6);
  close(normalizeAdvantages(T2(x, 30, 100), F2(mask, 30, 100, false), { std: 'population', epsilon: 1e-3 }).data,
    refNormalize(x, mask, 1e-3, false), 1e-5, 1e-6);
  close(normalizeAdvantages(T2(x, 30, 100)).data, refNormalize(x, null), 1e-5, 1e-6);
});

// ---------------------------------------------------------------- §8 losses

test('clippedSurrogate: each aggregation by hand on a 2×3 example', () => {
  // ρ = 1 everywhere, so ℓ = −A; A = [[1,2,3],[4,5,6]].
  const A = T2([1, 2, 3, 4, 5, 6], 2, 3);
  const zero = T2([0, 0, 0, 0, 0, 0], 2, 3);
  const run = (mask: number[], aggregation: Agg) =>
    clippedSurrogate({ logProbs: zero, oldLogProbs: zero, advantages: A, mask: F2(mask, 2, 3) }, { clipLow: 0.2, aggregation }).loss;
  near(run([1, 1, 0, 1, 0, 0], 'token-mean'), -7 / 3, 1e-12, 0);
  near(run([1, 1, 0, 1, 0, 0], 'seq-mean-token-mean'), -(1.5 + 4) / 2, 1e-12, 0);
  near(run([1, 1, 0, 1, 0, 0], 'seq-mean-token-sum'), -(3 + 4) / 2, 1e-12, 0);
  // A row without mask ones does not count as a sequence.
  near(run([1, 1, 0, 0, 0, 0], 'seq-mean-token-mean'), -1.5, 1e-12, 0);
  near(run([1, 1, 0, 0, 0, 0], 'seq-mean-token-sum'), -3, 1e-12, 0);
  const all = clippedSurrogate({ logProbs: zero, oldLogProbs: zero, advantages: A }, { clipLow: 0.2 });
  near(all.loss, -3.5, 1e-12, 0);
  assert.is(all.clipFraction, 0);
  assert.is(all.approxKl, 0);
});

test('clippedSurrogate: clip, clip-higher, dual clip and clip fraction (hand-worked)', () => {
  const ln = Math.log;
  // steps: (ρ, A) = (1.5, 1), (0.5, 1), (0.5, −1), (5, −1)
  const lp = T2([ln(1.5), ln(0.5), ln(0.5), ln(5)], 1, 4);
  const old = T2([0, 0, 0, 0], 1, 4);
  const A = T2([1, 1, -1, -1], 1, 4);
  // ℓ = −min(ρA, clip(ρ)A): −1.2 (clipped), −0.5, 0.8 (clipped), 5
  const ppo = clippedSurrogate({ logProbs: lp, oldLogProbs: old, advantages: A }, { clipLow: 0.2 });
  near(ppo.loss, (-1.2 - 0.5 + 0.8 + 5) / 4, 1e-6, 0);
  near(ppo.clipFraction, 0.5, 0, 0);
  const kl = [1.5, 0.5, 0.5, 5].reduce((s, r) => s + (r - 1) - ln(r), 0) / 4;
  near(ppo.approxKl, kl, 1e-6, 0);
  // clip-higher ε_high = 0.28: first step −1.28
  near(clippedSurrogate({ logProbs: lp, oldLogProbs: old, advantages: A }, { clipLow: 0.2, clipHigh: 0.28 }).loss,
    (-1.28 - 0.5 + 0.8 + 5) / 4, 1e-6, 0);
  // dual clip c = 3: the last step's 5 is capped at 3·|−1| = 3
  const dual = clippedSurrogate({ logProbs: lp, oldLogProbs: old, advantages: A }, { clipLow: 0.2, dualClip: 3 });
  near(dual.loss, (-1.2 - 0.5 + 0.8 + 3) / 4, 1e-6, 0);
  near(dual.dualClipFraction, 0.25, 0, 0);
  near(dual.clipFraction, 0.5, 0, 0);
});

test('clippedSurrogate matches the reference on random batches for every aggregation and mask kind', () => {
  const B = 37;
  const T = 61;
  const r = rng(44);
  const lp = randn(r, B * T, 0.8);
  const olp = lp.map((x) => x + (r() * 2 - 1) * 0.4);
  const A = randn(r, B * T, 2);
  const mask = bits(r, B * T, 0.7);
  for (let b = 0; b < T; b++) mask[3 * T + b] = 0; // a fully masked row
  for (const agg of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
    for (const [clipLow, clipHigh, dual] of [[0.2, 0.2, 0], [0.2, 0.28, 0], [0.1, 0.3, 3]]) {
      for (const m of [null, mask]) {
        const ref = refSurrogate(lp, olp, A, m, B, T, clipLow, clipHigh, dual, agg);
        const out = clippedSurrogate({ logProbs: T2(lp, B, T), oldLogProbs: T2(olp, B, T), advantages: T2(A, B, T), mask: m ? F2(m, B, T, agg !== 'token-mean') : undefined },
          { clipLow, clipHigh, dualClip: dual || undefined, aggregation: agg });
        near(out.loss, ref.loss, 1e-5, 1e-7, `loss ${agg}`);
        near(out.clipFraction, ref.clipFraction, 1e-5, 1e-7, 'clipFraction');
        near(out.dualClipFraction, ref.dualClipFraction, 1e-5, 1e-7, 'dualClipFraction');
        near(out.approxKl, ref.approxKl, 1e-5, 1e-9, 'approxKl');
      }
    }
  }
});

test('clippedSurrogate: approxKl stays accurate for tiny ratio changes (no cancellation)', () => {
  const n = 4096;
  const r = rng(2);
  const olp = randn(r, n, 3);
  const lp = olp.map((x) => x + (r() * 2 - 1) * 1e-3);
  const A = randn(r, n);
  const out = clippedSurrogate({ logProbs: T2(lp, 1, n), oldLogProbs: T2(olp, 1, n), advantages: T2(A, 1, n) }, { clipLow: 0.2 });
  near(out.approxKl, refSurrogate(lp, olp, A, null, 1, n, 0.2).approxKl, 1e-4, 0);
});

test('clippedValueLoss: aggregations by hand, clipping and Huber, reference on random batches', () => {
  const V = T2([1, 2, 3, 4, 5, 6], 2, 3);
  const R0 = T2([0, 0, 0, 0, 0, 0], 2, 3);
  const mask = F2([1, 1, 0, 1, 0, 0], 2, 3);
  // ℓ = ½V²: [[0.5, 2, 4.5], [8, 12.5, 18]]
  near(clippedValueLoss({ values: V, returns: R0, mask }).loss, (0.5 + 2 + 8) / 3, 1e-12, 0);
  near(clippedValueLoss({ values: V, returns: R0, mask }, { aggregation: 'seq-mean-token-mean' }).loss, (1.25 + 8) / 2, 1e-12, 0);
  near(clippedValueLoss({ values: V, returns: R0, mask }, { aggregation: 'seq-mean-token-sum' }).loss, (2.5 + 8) / 2, 1e-12, 0);
  // Clip: V = 2, old = 0, R = 1, clip 0.5 → V_c = 0.5; max(½·1², ½·0.5²) = 0.5 (unclipped)
  //       V = 2, old = 0, R = 3 → V_c = 0.5; max(0.5, ½·2.5²=3.125) = 3.125 (clipped)
  const c = clippedValueLoss({ values: T2([2, 2], 1, 2), returns: T2([1, 3], 1, 2), oldValues: T2([0, 0], 1, 2) }, { clip: 0.5 });
  near(c.loss, (0.5 + 3.125) / 2, 1e-7, 0);
  near(c.clipFraction, 0.5, 0, 0);
  // Huber δ = 1: e = 3 → 1·(3 − 0.5) = 2.5; e = 0.5 → 0.125
  near(clippedValueLoss({ values: T2([3, 0.5], 1, 2), returns: T2([0, 0], 1, 2) }, { huberDelta: 1 }).loss, (2.5 + 0.125) / 2, 1e-7, 0);
  const B = 20;
  const T = 33;
  const r = rng(66);
  const v = randn(r, B * T, 2);
  const ret = randn(r, B * T, 2);
  const ov = v.map((x) => x + (r() * 2 - 1) * 0.5);
  const m = bits(r, B * T, 0.8);
  for (const agg of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
    for (const [clip, delta] of [[0, 0], [0.2, 0], [0.2, 0.7], [0, 1]]) {
      const ref = refValueLoss(v, ret, ov, m, B, T, clip, delta, agg);
      const out = clippedValueLoss({ values: T2(v, B, T), returns: T2(ret, B, T), oldValues: T2(ov, B, T), mask: F2(m, B, T) },
        { clip: clip || undefined, huberDelta: delta || undefined, aggregation: agg });
      near(out.loss, ref.loss, 1e-5, 1e-7, `value ${agg} ${clip} ${delta}`);
      near(out.clipFraction, ref.clipFraction, 1e-5, 1e-7, 'value clipFraction');
    }
  }
});

test('klPenalty: k1/k2/k3 by hand and against the reference', () => {
  const lp = T2([1, 2, 3, 4, 5, 6], 2, 3);
  const zero = T2([0, 0, 0, 0, 0, 0], 2, 3);
  const mask = F2([1, 1, 0, 1, 0, 0], 2, 3);
  near(klPenalty({ logProbs: lp, refLogProbs: zero, mask }, { estimator: 'k1' }), 7 / 3, 1e-12, 0);
  near(klPenalty({ logProbs: lp, refLogProbs: zero, mask }, { estimator: 'k1', aggregation: 'seq-mean-token-mean' }), 2.75, 1e-12, 0);
  near(klPenalty({ logProbs: lp, refLogProbs: zero, mask }, { estimator: 'k1', aggregation: 'seq-mean-token-sum' }), 3.5, 1e-12, 0);
  near(klPenalty({ logProbs: lp, refLogProbs: zero, mask }, { estimator: 'k2' }), (0.5 + 2 + 8) / 3, 1e-7, 0);
  near(klPenalty({ logProbs: lp, refLogProbs: zero, mask }), (Math.exp(-1) + Math.exp(-2) + Math.exp(-4) - 3 + 7) / 3, 1e-6, 0);
  const B = 16;
  const T = 40;
  const r = rng(12);
  const a = randn(r, B * T, 2);
  const b = a.map((x) => x + (r() * 2 - 1));
  for (const est of ['k1', 'k2', 'k3'] as const) {
    near(klPenalty({ logProbs: T2(a, B, T), refLogProbs: T2(b, B, T) }, { estimator: est }), refKl(a, b, null, B, T, est), 1e-5, 1e-7, est);
  }
});

// ---------------------------------------------------------------- bad input

const ok = () => {
  const b = randomBatch(1, 2, 3);
  return {
    rewards: T2(b.r, 2, 3), values: T2(b.v, 2, 3), nextValues: T2(b.nv, 2, 3),
    terminated: F2(b.term, 2, 3), done: F2(b.done, 2, 3),
  };
};
const G = { gamma: 0.99, lambda: 0.95 };
const surr = () => ({ logProbs: T2([0, 0, 0, 0, 0, 0], 2, 3), oldLogProbs: T2([0, 0, 0, 0, 0, 0], 2, 3), advantages: T2([1, 2, 3, 4, 5, 6], 2, 3) });

test('bad input: shape mismatches between [B,T] inputs and lengths', () => {
  throwsLike(() => gae({ ...ok(), values: T2([0, 0, 0, 0], 2, 2) }, G), RangeError, /values\.shape/, /\[2,3\]/, /\[2,2\]/);
  throwsLike(() => gae({ ...ok(), nextValues: T2([0, 0, 0, 0, 0, 0], 3, 2) }, G), RangeError, /nextValues\.shape/, /\[3,2\]/);
  throwsLike(() => gae({ ...ok(), done: F2([0, 0, 0, 0], 2, 2) }, G), RangeError, /done\.shape/, /\[2,3\]/, /\[2,2\]/);
  throwsLike(() => gae({ ...ok(), rewards: { data: new Float32Array(6), shape: [6] } }, G), RangeError, /rewards\.shape/, /rank 2/, /\[6\]/);
  throwsLike(() => gae({ ...ok(), rewards: { data: new Float32Array(4), shape: [2, 3] } }, G), RangeError, /rewards\.data/, /6/, /4/);
  throwsLike(() => gae({ ...ok(), terminated: { data: new Int8Array(6), shape: [2, 3] } as unknown as FlagTensor }, G), TypeError, /terminated\.data/, /Uint8Array/, /Int8Array/);
  throwsLike(() => clippedSurrogate({ ...surr(), advantages: T2([1, 2, 3], 1, 3) }, { clipLow: 0.2 }), RangeError, /advantages\.shape/, /\[2,3\]/, /\[1,3\]/);
  throwsLike(() => clippedSurrogate({ ...surr(), oldLogProbs: T2([1, 2, 3, 4, 5, 6], 3, 2) }, { clipLow: 0.2 }), RangeError, /oldLogProbs\.shape/);
  throwsLike(() => clippedSurrogate({ ...surr(), mask: F2([1, 1, 1], 1, 3) }, { clipLow: 0.2 }), RangeError, /mask\.shape/, /\[2,3\]/, /\[1,3\]/);
  throwsLike(() => clippedValueLoss({ values: T2([1, 2], 1, 2), returns: T2([1], 1, 1) }), RangeError, /returns\.shape/, /\[1,2\]/, /\[1,1\]/);
  throwsLike(() => clippedValueLoss({ values: T2([1, 2], 1, 2), returns: T2([1, 2], 1, 2), oldValues: T2([1], 1, 1) }, { clip: 0.2 }), RangeError, /oldValues\.shape/);
  throwsLike(() => clippedValueLoss({ values: T2([1, 2], 1, 2), returns: T2([1, 2], 1, 2) }, { clip: 0.2 }), TypeError, /oldValues/, /undefined/);
  throwsLike(() => klPenalty({ logProbs: T2([1, 2], 1, 2), refLogProbs: T2([1, 2], 2, 1) }), RangeError, /refLogProbs\.shape/);
  throwsLike(() => normalizeAdvantages(T2([1, 2], 1, 2), F2([1, 1], 2, 1)), RangeError, /mask\.shape/);
  throwsLike(() => shapeTerminalRewards([1, 0], [0.5]), RangeError, /terminalValues\.length/, /2/, /1/);
  throwsLike(() => stepAdvantages([1, 2], [1], 3, 0.9), RangeError, /lengths\.length/, /2/, /1/);
  throwsLike(() => terminalRewards([1, 2, 3], [1, 2], 3), RangeError, /lengths\.length/);
});

test('bad input: flags that are not 0/1', () => {
  throwsLike(() => gae({ ...ok(), done: F2([0, 0.5, 0, 0, 0, 1], 2, 3, false) }, G), RangeError, /done\.data/, /0 or 1/, /0\.5 at index 1 \(row 0, step 1\)/);
  throwsLike(() => gae({ ...ok(), terminated: F2([0, 0, 0, 0, 2, 0], 2, 3) }, G), RangeError, /terminated\.data/, /0 or 1/, /received 2 at index 4 \(row 1, step 1\)/);
  throwsLike(() => gae({ ...ok(), terminated: F2([0, 0, 0, 0, NaN, 0], 2, 3, false) }, G), RangeError, /terminated\.data/, /NaN/);
  throwsLike(() => clippedSurrogate({ ...surr(), mask: F2([1, 1, 1, -1, 1, 1], 2, 3, false) }, { clipLow: 0.2 }), RangeError, /mask\.data/, /0 or 1/, /-1/);
  throwsLike(() => clippedValueLoss({ values: T2([1, 2], 1, 2), returns: T2([1, 2], 1, 2), mask: F2([1, 3], 1, 2) }), RangeError, /mask\.data/, /3/);
  throwsLike(() => klPenalty({ logProbs: T2([1, 2], 1, 2), refLogProbs: T2([1, 2], 1, 2), mask: F2([0.2, 1], 1, 2, false) }), RangeError, /mask\.data/, /0\.2/);
  throwsLike(() => normalizeAdvantages(T2([1, 2], 1, 2), F2([1, 7], 1, 2)), RangeError, /mask\.data/, /7/);
  throwsLike(() => shapeTerminalRewards([1, 2], [0.5, 0.5]), RangeError, /success\[1\]/, /0, 1, true or false/, /2/);
  throwsLike(() => shapeTerminalRewards(new Uint8Array([1, 5]), [0.5, 0.5]), RangeError, /success/, /0 or 1/, /5/);
  throwsLike(() => shapeTerminalRewards(['yes', 0] as unknown as number[], [0.5, 0.5]), TypeError, /success\[0\]/, /yes/);
});

test('bad input: groupSize not dividing the count, < 1 or not an integer', () => {
  throwsLike(() => grpoAdvantages([1, 0, 1], { groupSize: 2 }), RangeError, /opts\.groupSize/, /divisor of the number of rewards \(3\)/, /2/);
  throwsLike(() => grpoAdvantages([1, 0], { groupSize: 0 }), RangeError, /opts\.groupSize/, /≥ 1/, /0/);
  throwsLike(() => grpoAdvantages([1, 0], { groupSize: 1.5 }), TypeError, /opts\.groupSize/, /integer/, /1\.5/);
  throwsLike(() => grpoGroupStats([1, 0, 1], { groupSize: 2 }), RangeError, /opts\.groupSize/);
  throwsLike(() => grpoAdvantages([1, 0], { groupSize: 2, std: 'unbiased' as 'sample' }), RangeError, /opts\.std/, /unbiased/);
  throwsLike(() => grpoAdvantages([1, 0], { groupSize: 2, scale: 'global' as 'batch' }), RangeError, /opts\.scale/, /global/);
  throwsLike(() => grpoAdvantages([1, 0], { groupSize: 2, epsilon: -1 }), RangeError, /opts\.epsilon/, /-1/);
});

test('bad input: gamma / lambda outside [0, 1]', () => {
  throwsLike(() => gae(ok(), { gamma: 1.01, lambda: 0.95 }), RangeError, /opts\.gamma/, /\[0, 1\]/, /1\.01/);
  throwsLike(() => gae(ok(), { gamma: 0.9, lambda: -0.1 }), RangeError, /opts\.lambda/, /\[0, 1\]/, /-0\.1/);
  throwsLike(() => gae(ok(), { gamma: NaN, lambda: 0.9 }), RangeError, /opts\.gamma/, /NaN/);
  throwsLike(() => gae(ok(), { lambda: 0.9 } as never), TypeError, /opts\.gamma/, /undefined/);
  throwsLike(() => stepAdvantages([1], [1], 2, 2), RangeError, /gamma/, /\[0, 1\]/, /2/);
  throwsLike(() => gae(ok(), { ...G, timeMajor: 1 as unknown as boolean }), TypeError, /opts\.timeMajor/);
});

test('bad input: lengths < 1 or > horizon', () => {
  throwsLike(() => stepAdvantages([1, 2], [0, 2], 3, 0.9), RangeError, /lengths\[0\]/, /\[1, 3\]/, /0/);
  throwsLike(() => stepAdvantages([1, 2], [1, 4], 3, 0.9), RangeError, /lengths\[1\]/, /\[1, 3\]/, /4/);
  throwsLike(() => stepAdvantages([1], [1.5], 3, 0.9), TypeError, /lengths\[0\]/, /integer/);
  throwsLike(() => terminalRewards([4], [1], 3), RangeError, /lengths\[0\]/, /4/);
  throwsLike(() => terminalRewards([0], [1], 3), RangeError, /lengths\[0\]/, /0/);
  throwsLike(() => terminalRewards([1], [1], 0), RangeError, /horizon/, /0/);
});

test('bad input: clipLow outside [0, 1), clipHigh < 0, dualClip ≤ 1, unknown aggregation', () => {
  throwsLike(() => clippedSurrogate(surr(), { clipLow: 1 }), RangeError, /opts\.clipLow/, /\[0, 1\)/, /1/);
  throwsLike(() => clippedSurrogate(surr(), { clipLow: -0.1 }), RangeError, /opts\.clipLow/, /-0\.1/);
  throwsLike(() => clippedSurrogate(surr(), { clipLow: 0.2, clipHigh: -0.2 }), RangeError, /opts\.clipHigh/, /≥ 0/, /-0\.2/);
  throwsLike(() => clippedSurrogate(surr(), { clipLow: 0.2, dualClip: 1 }), RangeError, /opts\.dualClip/, /> 1/, /1/);
  throwsLike(() => clippedSurrogate(surr(), { clipLow: 0.2, aggregation: 'mean' as Agg }), RangeError, /opts\.aggregation/, /token-mean/, /mean/);
  throwsLike(() => clippedSurrogate(surr(), undefined as never), TypeError, /opts/);
  throwsLike(() => clippedValueLoss({ values: T2([1], 1, 1), returns: T2([1], 1, 1) }, { huberDelta: 0 }), RangeError, /opts\.huberDelta/, /> 0/);
  throwsLike(() => klPenalty({ logProbs: T2([1], 1, 1), refLogProbs: T2([1], 1, 1) }, { estimator: 'k4' as 'k3' }), RangeError, /opts\.estimator/, /k4/);
  throwsLike(() => shapeTerminalRewards([1], [1], { failureScale: -1 }), RangeError, /opts\.failureScale/, /-1/);
});

test('bad input: a mask with no ones', () => {
  const none = F2([0, 0, 0, 0, 0, 0], 2, 3);
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
    throwsLike(() => clippedSurrogate({ ...surr(), mask: none }, { clipLow: 0.2, aggregation }), RangeError, /mask\.data/, /at least one 1/, /no ones/);
  }
  throwsLike(() => clippedValueLoss({ values: T2([1, 2, 3, 4, 5, 6], 2, 3), returns: T2([1, 2, 3, 4, 5, 6], 2, 3), mask: none }), RangeError, /mask\.data/, /no ones/);
  throwsLike(() => klPenalty({ logProbs: T2([1, 2, 3, 4, 5, 6], 2, 3), refLogProbs: T2([1, 2, 3, 4, 5, 6], 2, 3), mask: none }), RangeError, /mask\.data/, /no ones/);
  throwsLike(() => normalizeAdvantages(T2([1, 2, 3, 4, 5, 6], 2, 3), F2([0, 0, 0, 0, 0, 0], 2, 3, false)), RangeError, /mask\.data/, /no ones/);
});

test('bad input: NaN / Inf anywhere, naming the argument and the element', () => {
  const withBad = (name: 'rewards' | 'values' | 'nextValues', i: number, x: number) => {
    const b = ok();
    b[name].data[i] = x;
    return b;
  };
  throwsLike(() => gae(withBad('rewards', 5, NaN), G), RangeError, /rewards\.data/, /finite/, /NaN at index 5 \(row 1, step 2\)/);
  throwsLike(() => gae(withBad('values', 0, Infinity), G), RangeError, /values\.data/, /Infinity at index 0/);
  throwsLike(() => gae(withBad('nextValues', 3, -Infinity), G), RangeError, /nextValues\.data/, /-Infinity/);
  // time-major: the row/step of the message is in the [T,B] layout
  const b = ok();
  b.values.data[4] = NaN;
  throwsLike(() => gae(b, { ...G, timeMajor: true }), RangeError, /values\.data/, /NaN at index 4 \(step 1, env 1\)/);
  const s = surr();
  s.logProbs.data[2] = NaN;
  throwsLike(() => clippedSurrogate(s, { clipLow: 0.2 }), RangeError, /logProbs\.data/, /NaN at index 2/);
  const s2 = surr();
  s2.advantages.data[1] = Infinity;
  throwsLike(() => clippedSurrogate(s2, { clipLow: 0.2 }), RangeError, /advantages\.data/, /Infinity/);
  const s3 = surr();
  s3.oldLogProbs.data[5] = -Infinity;
  throwsLike(() => clippedSurrogate({ ...s3, mask: F2([1, 1, 1, 1, 1, 0], 2, 3) }, { clipLow: 0.2 }), RangeError, /oldLogProbs\.data/, /-Infinity at index 5/);
  throwsLike(() => clippedValueLoss({ values: T2([1, 2], 1, 2), returns: T2([1, NaN], 1, 2) }), RangeError, /returns\.data/, /NaN/);
  throwsLike(() => clippedValueLoss({ values: T2([1, 2], 1, 2), returns: T2([1, 2], 1, 2), oldValues: T2([Infinity, 2], 1, 2) }, { clip: 0.1 }), RangeError, /oldValues\.data/, /Infinity/);
  throwsLike(() => klPenalty({ logProbs: T2([1, 2], 1, 2), refLogProbs: T2([1, NaN], 1, 2) }), RangeError, /refLogProbs\.data/, /NaN/);
  throwsLike(() => grpoAdvantages([1, NaN], { groupSize: 2 }), RangeError, /rewards/, /NaN at index 1/);
  throwsLike(() => grpoGroupStats([Infinity, 0], { groupSize: 2 }), RangeError, /rewards/, /Infinity/);
  throwsLike(() => stepAdvantages([1, NaN], [1, 1], 2, 0.9), RangeError, /trajectoryAdvantages/, /NaN/);
  throwsLike(() => shapeTerminalRewards([0, 1], [NaN, 1]), RangeError, /terminalValues/, /NaN/);
  throwsLike(() => terminalRewards([1], [Infinity], 2), RangeError, /rewards/, /Infinity/);
  throwsLike(() => normalizeAdvantages(T2([1, NaN], 1, 2)), RangeError, /advantages\.data/, /NaN/);
  throwsLike(() => grpoAdvantages([1, '0' as unknown as number], { groupSize: 2 }), TypeError, /rewards\[1\]/, /a number/);
});

test.run();
