// Memory safety of the native layer: inputs detached (transferred) while an
// async call reads them, inputs over a SharedArrayBuffer read in place, outputs that partially overlap an input, outputs too
// large to allocate, allocation failures that name what was being allocated,
// and NaN through the vectorised exp of the surrogate and KL kernels.
import { totalmem } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clippedSurrogate, gae, klPenalty, native, Policy, stepAdvantages, ValueHead,
} from '../../src/index.js';
import { refGae } from '../reference/rl.js';
import { throwsLike } from '../helpers/asserts.js';
import { rng } from '../helpers/data.js';
import { runScenario } from '../helpers/run-scenario.js';
import { torchTest } from '../helpers/skip.js';

// ---------- detached inputs ----------
for (const name of ['detach-progress', 'detach-patch-stats', 'detach-value-head-fit', 'detach-ppo-update']) {
  const register = name.includes('value-head') || name.includes('ppo') ? torchTest : test;
  register(`an input detached while the async call runs does not change its result: ${name}`, () => {
    const r = runScenario(name);
    assert.ok(r, `${name} reported a skip`);
    assert.is(r.same, true, JSON.stringify(r));
    if ('sameBatch' in r) assert.is(r.sameBatch, true);
  });
}

// ---------- inputs over a SharedArrayBuffer: read in place ----------
for (const name of ['shared-progress', 'shared-patch-stats']) {
  test(`an input over a SharedArrayBuffer is read in place and kept alive by the async call: ${name}`, () => {
    const r = runScenario(name);
    assert.ok(r, `${name} reported a skip`);
    assert.is(r.same, true, JSON.stringify(r));
    assert.is(r.transferThrows, true, 'a SharedArrayBuffer cannot be transferred (detached)');
    if ('sameBatch' in r) assert.is(r.sameBatch, true);
  });
}

// ---------- overlap of opts.out with the inputs ----------
function gaeInputs(buf: Float32Array, B: number, T: number, offsets: { r: number; v: number; nv: number }) {
  const n = B * T;
  const s = [B, T];
  return {
    rewards: { data: buf.subarray(offsets.r, offsets.r + n), shape: s },
    values: { data: buf.subarray(offsets.v, offsets.v + n), shape: s },
    nextValues: { data: buf.subarray(offsets.nv, offsets.nv + n), shape: s },
    terminated: { data: new Uint8Array(n), shape: s },
    done: { data: Uint8Array.from({ length: n }, (_, i) => (i % T === T - 1 ? 1 : 0)), shape: s },
  };
}

test('gae: opts.out partially overlapping an input is a RangeError naming both; exact aliasing gives the plain result', () => {
  const B = 3, T = 17, n = B * T;
  const r = rng(4);
  const buf = Float32Array.from({ length: 4 * n + 8 }, () => r() * 2 - 1);
  const input = gaeInputs(buf, B, T, { r: 0, v: n, nv: 2 * n });
  const returns = new Float32Array(n);
  // advantages over values shifted by one element
  throwsLike(() => gae(input, { gamma: 0.9, lambda: 0.8, out: { advantages: buf.subarray(n + 1, 2 * n + 1), returns } }),
    RangeError, /opts\.out\.advantages/, /values\.data/);
  // returns straddling rewards and values
  throwsLike(() => gae(input, { gamma: 0.9, lambda: 0.8, out: { advantages: new Float32Array(n), returns: buf.subarray(n - 3, 2 * n - 3) } }),
    RangeError, /opts\.out\.returns/, /(rewards|values)\.data/);
  // nothing was written by the refused calls
  const snapshot = buf.slice();
  assert.equal(Array.from(buf), Array.from(snapshot));
  // exact aliasing (advantages written over the rewards they are computed from) is fine
  const plain = gae(input, { gamma: 0.9, lambda: 0.8 });
  const ref = refGae(input.rewards.data.slice(), input.values.data.slice(), input.nextValues.data.slice(),
    input.terminated.data, input.done.data, B, T, 0.9, 0.8);
  const aliased = gae(input, { gamma: 0.9, lambda: 0.8, out: { advantages: input.rewards.data, returns } });
  // with an output aliasing an input, bad data is still named right, and a NaN is found before anything is overwritten
  const buf2 = buf.slice();
  const in2 = gaeInputs(buf2, B, T, { r: 0, v: n, nv: 2 * n });
  in2.values.data[5] = Number.NaN;
  const before = buf2.slice();
  throwsLike(() => gae(in2, { gamma: 0.9, lambda: 0.8, out: { advantages: in2.rewards.data, returns: new Float32Array(n) } }),
    RangeError, /values\.data/, /NaN/);
  assert.ok(before.every((x, i) => Object.is(x, buf2[i])), 'inputs untouched by the refused call');
  in2.values.data[5] = 0.25;
  in2.done.data[7] = 2;
  throwsLike(() => gae(in2, { gamma: 0.9, lambda: 0.8, out: { advantages: in2.rewards.data, returns: new Float32Array(n) } }),
    RangeError, /done/);
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(plain.advantages.data[i] - ref.adv[i]) <= 1e-5 * (1 + Math.abs(ref.adv[i])));
    assert.is(aliased.advantages.data[i], plain.advantages.data[i]);
    assert.is(aliased.returns.data[i], plain.returns.data[i]);
  }
});

test('stepAdvantages: opts.out partially overlapping trajectoryAdvantages is a RangeError naming both', () => {
  const buf = new Float32Array(16);
  const adv = buf.subarray(0, 2);
  adv.set([1, 2]);
  throwsLike(() => stepAdvantages(adv, [1, 2], 4, 0.5, { out: buf.subarray(1, 9) }), RangeError, /opts\.out/, /trajectoryAdvantages/);
  // lengths are copied before the kernel runs, so an out sharing their memory is harmless; the result is still right
  const shared = new ArrayBuffer(64);
  const lengths = new Int32Array(shared, 0, 2);
  lengths.set([1, 2]);
  const out = new Float32Array(shared, 0, 8);
  const r = stepAdvantages([1, 2], lengths, 4, 0.5, { out });
  assert.equal(Array.from(r.data), [1, 0, 0, 0, 1, 2, 0, 0]);
});

test('the addon itself refuses partial overlap in every binding that writes an out array', () => {
  const n = native();
  const buf = new Float32Array(64).fill(0.5);
  throwsLike(() => n.rlGrpoAdvantages({ rewards: buf.subarray(0, 8) }, { groupSize: 4, epsilon: 1e-4, std: 'sample', scale: 'group' },
    { advantages: buf.subarray(4, 12) }),
  RangeError, /out/, /rewards/);
  throwsLike(() => n.rlNormalizeAdvantages({ advantages: buf.subarray(0, 8), mask: null }, { epsilon: 1e-8, sampleStd: true, threads: 0 },
    { normalized: buf.subarray(2, 10) }),
  RangeError, /out/, /advantages\.data/);
  throwsLike(() => n.rlTerminalRewards({ lengths: new Int32Array([1, 1]), rewards: buf.subarray(0, 2) }, { horizon: 2, threads: 0 },
    { stepRewards: buf.subarray(1, 5) }),
  RangeError, /out/, /rewards/);
  throwsLike(() => n.rlShapeTerminalRewards({ success: new Uint8Array([1, 0]), terminalValues: buf.subarray(0, 2) }, { failureScale: 1 },
    { rewards: buf.subarray(1, 3) }),
  RangeError, /out/, /terminalValues/);
  throwsLike(() => n.progressSlidingSlopes({ series: buf.subarray(0, 10) }, { B: 1, L: 10, window: 3, threads: 0 }, { slopes: buf.subarray(5, 13) }),
    RangeError, /out/, /series\.data/);
  throwsLike(() => n.progressPatchSimilarity({ features: buf.subarray(0, 24), goal: buf.subarray(30, 36) }, { T: 4, N: 2, D: 3, lambda: 1, threads: 0 },
    { similarity: buf.subarray(20, 24) }),
  RangeError, /out/, /features\.data/);
  throwsLike(() => n.rlGae(
    { rewards: buf.subarray(0, 8), values: buf.subarray(8, 16), nextValues: buf.subarray(16, 24), terminated: new Uint8Array(8), done: new Uint8Array(8) },
    { B: 2, T: 4, gamma: 0.9, lambda: 0.9, timeMajor: false, threads: 0 }, { advantages: buf.subarray(30, 38), returns: buf.subarray(34, 42) }),
  RangeError, /opts\.out\.returns/, /opts\.out\.advantages/);
  // exact aliasing of an element-wise input stays allowed
  n.rlNormalizeAdvantages({ advantages: buf.subarray(0, 8), mask: null }, { epsilon: 1e-8, sampleStd: true, threads: 0 }, { normalized: buf.subarray(0, 8) });
});

// ---------- outputs too large to allocate ----------
test('stepAdvantages with a huge horizon allocates by what is used, and refuses what cannot be allocated', () => {
  const H = 2 ** 31;
  const before = process.memoryUsage().rss;
  let data: Float32Array | null = stepAdvantages([3], [1], H, 0.5).data;
  const grown = process.memoryUsage().rss - before;
  assert.is(data.length, H);
  assert.is(data[0], 3);
  assert.is(data[1], 0);
  assert.is(data[H - 1], 0);
  data = null;
  assert.ok(grown < 256 * 2 ** 20, `RSS grew by ${(grown / 2 ** 20).toFixed(0)} MB for an output of which one element is used`);
  // An output larger than the machine's memory: a RangeError before anything is allocated.
  const B = Math.ceil(totalmem() / (4 * H)) + 1;
  const t0 = Date.now();
  throwsLike(() => stepAdvantages(new Float32Array(B).fill(1), new Array(B).fill(1), H, 0.5), RangeError,
    /Cannot allocate/, new RegExp(`\\[${B},${H}\\]`), /memory/);
  assert.ok(Date.now() - t0 < 2000);
});

// ---------- allocation failures name what was being allocated ----------
torchTest('an allocation that fails names what was being allocated and how big', () => {
  throwsLike(() => new ValueHead({ inputDim: 2 ** 22, hiddenDim: 2 ** 22, bins: 2 }), RangeError,
    /Cannot allocate/, /ValueHead/, /config\.inputDim 4194304/, /TiB/);
  throwsLike(() => new Policy({ obsDim: 2 ** 21, trunk: { sizes: [2 ** 21, 2 ** 21] }, head: { type: 'gaussian', actionDim: 1 } }), RangeError,
    /Cannot allocate/, /Policy/);
});

// ---------- NaN through the vectorised exp ----------
test('NaN log-probabilities are reported, not fed through exp as an integer shift', () => {
  const n = 64;
  const lp = new Float32Array(n).fill(-1);
  const olp = new Float32Array(n).fill(-1.1);
  const adv = new Float32Array(n).fill(1);
  lp[37] = Number.NaN;
  throwsLike(() => clippedSurrogate({ logProbs: { data: lp, shape: [4, 16] }, oldLogProbs: { data: olp, shape: [4, 16] }, advantages: { data: adv, shape: [4, 16] } },
    { clipLow: 0.2 }), RangeError, /logProbs/, /NaN/, /index 37/);
  throwsLike(() => klPenalty({ logProbs: { data: olp, shape: [4, 16] }, refLogProbs: { data: lp, shape: [4, 16] } }, { estimator: 'k3' }),
    RangeError, /refLogProbs/, /NaN/);
  // Finite log-ratios far beyond float exp's range stay finite where the math allows (the clip bounds them).
  lp[37] = 200;
  const r = clippedSurrogate({ logProbs: { data: lp, shape: [4, 16] }, oldLogProbs: { data: olp, shape: [4, 16] }, advantages: { data: adv, shape: [4, 16] } }, { clipLow: 0.2 });
  assert.ok(Number.isFinite(r.loss), String(r.loss));
});

test.run();
