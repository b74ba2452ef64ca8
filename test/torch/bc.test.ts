// Behaviour cloning on the libtorch Policy: the loss falls, the cloned mean
// approaches the demonstrator, a non-finite step changes nothing, bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NonFiniteError, PickPlaceEnv, Policy, type PolicySpec } from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { torchTest } from '../helpers/skip.js';

const spec: PolicySpec = { obsDim: 6, trunk: { sizes: [32, 32] }, head: { type: 'gaussian', actionDim: 2 }, critic: { sizes: [16] }, seed: 3 };

/** Demonstrations from a fixed linear expert a = W·s (+ small noise), written here independently of src. */
function demos(n: number, seed: number, noise = 0.05) {
  const r = rng(seed);
  const W = [[0.8, -0.5, 0.3, 0, 0.2, -0.1], [-0.2, 0.4, 0, 0.7, -0.3, 0.5]];
  const obs = new Float32Array(n * 6);
  const act = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 6; j++) obs[i * 6 + j] = r() * 2 - 1;
    for (let k = 0; k < 2; k++) {
      let a = 0;
      for (let j = 0; j < 6; j++) a += W[k][j] * obs[i * 6 + j];
      act[i * 2 + k] = a + noise * (r() * 2 - 1);
    }
  }
  return { obs: { data: obs, shape: [n, 6] }, actions: { data: act, shape: [n, 2] } };
}

/** Mean squared distance between the policy's deterministic action and the demonstrated one. */
function meanSqError(p: Policy, d: ReturnType<typeof demos>): number {
  const a = p.act(d.obs, { deterministic: true }).actions.data;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - d.actions.data[i]) ** 2;
  return s / d.obs.shape[0];
}

function snapshot(p: Policy): Map<string, Float32Array> {
  return new Map(p.stateDict().map(([n, d]) => [n, Float32Array.from(d)]));
}

torchTest('NLL behaviour cloning lowers the loss and brings the mean to the demonstrator', async () => {
  const d = demos(512, 1);
  const held = demos(256, 2);
  const p = new Policy(spec);
  const before = meanSqError(p, held);
  const seen: number[] = [];
  const r = await p.fitBehaviourCloning(d.obs, d.actions, { epochs: 40, batchSize: 64, lr: 3e-3, seed: 5, onEpoch: (e) => seen.push(e.epoch) });
  assert.is(r.losses.length, 40);
  assert.equal(seen, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.is(r.steps, 40 * 8);
  assert.ok(r.losses[39] < r.losses[0] - 1, `loss ${r.losses[0]} → ${r.losses[39]}`);
  const after = meanSqError(p, held);
  assert.ok(after < before / 10, `held-out squared error ${before} → ${after}`);
  assert.ok(after < 0.02, `held-out squared error ${after}`);
  // the critic is not trained by behaviour cloning
  const fresh = new Policy(spec).stateDict().filter(([n]) => n.startsWith('critic.'));
  const now = new Map(p.stateDict().map(([n, x]) => [n, x]));
  for (const [n, x] of fresh) assert.equal(Array.from(now.get(n)!), Array.from(x), n);
});

torchTest('MSE behaviour cloning fits the mean and leaves the log-std alone; same seed, same weights', () => {
  const d = demos(256, 3);
  const a = new Policy(spec);
  const b = new Policy(spec);
  const ra = a.fitBehaviourCloningSync(d.obs, d.actions, { epochs: 30, batchSize: 32, lr: 3e-3, loss: 'mse', seed: 9 });
  const rb = b.fitBehaviourCloningSync(d.obs, d.actions, { epochs: 30, batchSize: 32, lr: 3e-3, loss: 'mse', seed: 9 });
  assert.equal(ra.losses, rb.losses);
  assert.ok(ra.losses[29] < ra.losses[0] / 5, `mse ${ra.losses[0]} → ${ra.losses[29]}`);
  const logStd = a.stateDict().find(([n]) => n === 'head.log_std')!;
  assert.equal(Array.from(logStd[1]), [0, 0]);
  assert.ok(meanSqError(a, demos(128, 4)) < 0.05);
});

torchTest('LoRA: behaviour cloning trains the adapters and leaves the frozen base unchanged', () => {
  const d = demos(256, 5);
  const p = new Policy(spec);
  p.addLora({ rank: 2, targets: ['trunk.0', 'trunk.2', 'head.mean'], seed: 1 });
  const base = snapshot(p);
  const before = meanSqError(p, d);
  p.fitBehaviourCloningSync(d.obs, d.actions, { epochs: 20, batchSize: 32, lr: 3e-3, seed: 1 });
  for (const [n, x] of p.stateDict()) {
    if (n === 'head.log_std') continue;
    assert.equal(Array.from(x), Array.from(base.get(n)!), `${n} changed`);
  }
  assert.ok(meanSqError(p, d) < before / 2);
});

torchTest('a non-finite loss stops the fit with NonFiniteError naming the step; the weights are as before', () => {
  const p = new Policy(spec);
  const d = demos(16, 6);
  p.fitBehaviourCloningSync(d.obs, d.actions, { epochs: 1, batchSize: 16 }); // a trained state to come back to
  const w0 = snapshot(p);
  const obs = new Float32Array(8 * 6).fill(0.5);
  const act = new Float32Array(16).fill(3e38); // finite actions whose squared error overflows: loss = +Infinity
  assert.throws(() => p.fitBehaviourCloningSync({ data: obs, shape: [8, 6] }, { data: act, shape: [8, 2] }, { epochs: 2, batchSize: 4 }),
    (e: Error) => e instanceof NonFiniteError && /Non-finite loss/.test(e.message) && e.step?.step === 1 && e.step.steps === 4);
  for (const [n, x] of p.stateDict()) assert.equal(Array.from(x), Array.from(w0.get(n)!), n);
  // a fit whose first step succeeds and blows the weights up: the later failure undoes that step too
  const good = demos(16, 8);
  assert.throws(() => p.fitBehaviourCloningSync(good.obs, good.actions, { epochs: 3, batchSize: 8, lr: 1e30 }),
    (e: Error) => e instanceof NonFiniteError && (e.step?.step ?? 0) >= 2);
  for (const [n, x] of p.stateDict()) assert.equal(Array.from(x), Array.from(w0.get(n)!), n);
  // and the policy still trains afterwards
  assert.is(p.fitBehaviourCloningSync(d.obs, d.actions, { epochs: 1, batchSize: 16 }).steps, 1);
});

torchTest('bad input: shapes, NaN, options', async () => {
  const p = new Policy(spec);
  const d = demos(16, 7);
  assert.throws(() => p.fitBehaviourCloningSync(d.obs, { data: d.actions.data, shape: [15, 2] }), /\[16, ?2\].*actions\.shape.*\[15, ?2\]/);
  assert.throws(() => p.fitBehaviourCloningSync({ data: d.obs.data, shape: [16, 5] }, d.actions), /obs/);
  const nan = Float32Array.from(d.actions.data); nan[3] = NaN;
  assert.throws(() => p.fitBehaviourCloningSync(d.obs, { data: nan, shape: [16, 2] }), (e: Error) => e instanceof RangeError && /actions/.test(e.message) && /NaN/.test(e.message));
  assert.throws(() => p.fitBehaviourCloningSync(d.obs, d.actions, { epochs: 0 }), (e: Error) => e instanceof RangeError && /opts\.epochs/.test(e.message));
  assert.throws(() => p.fitBehaviourCloningSync(d.obs, d.actions, { loss: 'huber' as 'mse' }), (e: Error) => e instanceof TypeError && /opts\.loss/.test(e.message));
  assert.throws(() => p.fitBehaviourCloningSync(d.obs, d.actions, { lr: -1 }), /opts\.lr/);
  assert.throws(() => p.fitBehaviourCloningSync(d.obs, d.actions, { batch: 3 } as object), (e: Error) => e instanceof TypeError && /opts\.batch/.test(e.message));
  const cat = new Policy({ obsDim: 6, trunk: { sizes: [8] }, head: { type: 'categorical', actionDims: 2, bins: 4 } });
  assert.throws(() => cat.fitBehaviourCloningSync(d.obs, d.actions, { loss: 'mse' }), /opts\.loss/);
  assert.throws(() => cat.fitBehaviourCloningSync(d.obs, { data: Float32Array.from(d.actions.data, (x) => x + 0.5), shape: [16, 2] }), /class index/);
  // categorical cloning works with class indices
  const cls = Float32Array.from({ length: 32 }, (_, i) => (i * 7) % 4);
  assert.ok(cat.fitBehaviourCloningSync(d.obs, { data: cls, shape: [16, 2] }, { epochs: 3 }).steps === 3);
  // busy while an async fit runs
  const pending = p.fitBehaviourCloning(d.obs, d.actions, { epochs: 50, batchSize: 4 });
  assert.throws(() => p.act(d.obs), /busy|in use|Policy/);
  await pending;
});

/** State observation of the pick-and-place task (from inspect(), not pixels: this tests cloning, not vision). */
function stateObs(env: PickPlaceEnv): Float32Array {
  const o = new Float32Array(env.numEnvs * 7);
  for (let i = 0; i < env.numEnvs; i++) {
    const s = env.inspect(i);
    o.set([s.gripperX, s.gripperZ, s.opening, s.holding ? 1 : 0, s.cubeX, s.cubeZ, s.goalX], i * 7);
  }
  return o;
}

/** Runs `act` on initial states `ids` of the id split until every env ends; returns the success fraction. */
function successRate(ids: number[], act: (env: PickPlaceEnv) => Float32Array): number {
  const env = new PickPlaceEnv({ numEnvs: ids.length, render: false });
  env.reset(ids);
  for (let t = 0; t < env.horizon; t++) env.step(act(env));
  return env.success.reduce((a, b) => a + b, 0) / ids.length;
}

torchTest('on the pick-and-place task, a cloned policy succeeds more often than a random one (fixed seed)', () => {
  // demonstrations: the scripted expert with noise 0.1 on training initial states 0..39
  const N = 40;
  const env = new PickPlaceEnv({ numEnvs: N, render: false });
  env.reset(Array.from({ length: N }, (_, i) => i));
  const obs: number[] = []; const act: number[] = [];
  for (let t = 0; t < env.horizon; t++) {
    const o = stateObs(env);
    const a = env.expertActions(0.1, 7);
    for (let i = 0; i < N; i++) {
      if (env.terminated[i] || env.truncated[i]) continue;
      for (let k = 0; k < 7; k++) obs.push(o[i * 7 + k]);
      for (let k = 0; k < 3; k++) act.push(a[i * 3 + k]);
    }
    env.step(a);
  }
  const n = obs.length / 7;
  const p = new Policy({ obsDim: 7, trunk: { sizes: [64, 64] }, head: { type: 'gaussian', actionDim: 3 }, seed: 1 });
  const held = Array.from({ length: 40 }, (_, i) => 900 + i);
  const before = successRate(held, (e) => p.act({ data: stateObs(e), shape: [e.numEnvs, 7] }, { deterministic: true }).actions.data);
  const r = p.fitBehaviourCloningSync({ data: Float32Array.from(obs), shape: [n, 7] }, { data: Float32Array.from(act), shape: [n, 3] }, { epochs: 150, batchSize: 128, lr: 3e-3, seed: 2 });
  assert.ok(r.losses[r.losses.length - 1] < r.losses[0]);
  const cloned = successRate(held, (e) => p.act({ data: stateObs(e), shape: [e.numEnvs, 7] }, { deterministic: true }).actions.data);
  let s = 12345;
  const random = successRate(held, (e) => Float32Array.from({ length: e.numEnvs * 3 }, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 31 - 1; }));
  assert.ok(cloned > random + 0.2, `cloned ${cloned} vs random ${random} (untrained ${before})`);
  assert.ok(cloned > before, `cloned ${cloned} vs untrained ${before}`);
});

test.run();
