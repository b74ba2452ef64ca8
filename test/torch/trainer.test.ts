// PpoTrainer / GrpoTrainer (SPEC §8) on libtorch: losses against an
// independent reference, a step lowers the loss, only trainable tensors move,
// determinism, bad batches, and PPO / GRPO learning a sparse-reward reaching task.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GrpoTrainer, Policy, torchAddonStatus, PpoTrainer, type PolicySpec, type RolloutBatch } from '../../src/index.js';
import { gae, grpoAdvantages, k3, maskedMean, rows, surrogate, valueLoss, type Aggregation } from '../reference/surrogate.js';
import { rng } from '../helpers/data.js';
import { hasTorch, torchTest } from '../helpers/skip.js';

const spec: PolicySpec = { obsDim: 4, trunk: { sizes: [16, 16] }, head: { type: 'gaussian', actionDim: 2, initLogStd: -0.5 }, critic: { sizes: [16] }, seed: 5 };
const Bs = 6; const Ts = 5;

function makeBatch(p: Policy, seed: number): RolloutBatch & { mask: Uint8Array } {
  const r = rng(seed);
  const n = Bs * Ts;
  const obs = Float32Array.from({ length: n * 4 }, () => r() * 2 - 1);
  const a = p.act({ data: obs, shape: [n, 4] });
  const oldLogProbs = Float32Array.from(a.logProbs, (x) => x + (r() - 0.5) * 0.8); // ratios spread over [e^-0.4, e^0.4]
  const advantages = Float32Array.from({ length: n }, () => (r() * 2 - 1) * 2);
  const returns = Float32Array.from(a.values, (v) => v + (r() - 0.5));
  const oldValues = Float32Array.from(a.values, (v) => v + (r() - 0.5) * 0.6);
  const mask = Uint8Array.from({ length: n }, (_, i) => (Math.floor(i / Ts) === 2 ? 0 : r() < 0.8 ? 1 : 0)); // sequence 2 fully masked
  return {
    obs: { data: obs, shape: [Bs, Ts, 4] }, actions: { data: a.actions.data, shape: [Bs, Ts, 2] },
    oldLogProbs: { data: oldLogProbs, shape: [Bs, Ts] }, advantages: { data: advantages, shape: [Bs, Ts] },
    returns: { data: returns, shape: [Bs, Ts] }, oldValues: { data: oldValues, shape: [Bs, Ts] }, mask,
  };
}

/** The batch with a step of sequence 2 unmasked: no minibatch is all masked, so an update takes epochs × minibatches steps. */
function noEmptyMinibatch(b: RolloutBatch & { mask: Uint8Array }): RolloutBatch & { mask: Uint8Array } {
  const mask = Uint8Array.from(b.mask);
  mask[2 * Ts] = 1;
  return { ...b, mask };
}

const d = (t: unknown) => (t as { data: Float32Array }).data;
const close = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

if (!hasTorch) {
  test('without libtorch the trainers throw one clear error', () => {
    assert.throws(() => new Policy(spec), /libtorch/);
  });
}

torchTest('PPO losses equal the SPEC §8 reference for every aggregation, asymmetric and dual clip, clipped value loss', () => {
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as Aggregation[]) {
    const p = new Policy(spec);
    const batch = makeBatch(p, 1);
    const opts = { clipLow: 0.1, clipHigh: 0.25, dualClip: 2, aggregation, valueClip: 0.2, valueCoef: 0.7, entropyCoef: 0.03 };
    const ppo = new PpoTrainer(p, opts);
    const m = ppo.losses(batch);
    const e = p.evaluate({ data: d(batch.obs), shape: [Bs * Ts, 4] }, { data: d(batch.actions), shape: [Bs * Ts, 2] });
    const mask = rows(batch.mask, Bs, Ts);
    const ref = surrogate({ logp: rows(e.logProbs, Bs, Ts), oldLogp: rows(d(batch.oldLogProbs), Bs, Ts), adv: rows(d(batch.advantages), Bs, Ts), mask }, { ...opts });
    assert.ok(ref.clipFraction > 0.1 && ref.clipFraction < 0.9, `test batch exercises the clip: ${ref.clipFraction}`);
    assert.ok(close(m.policyLoss, ref.loss), `${aggregation}: ${m.policyLoss} vs ${ref.loss}`);
    assert.ok(close(m.clipFraction, ref.clipFraction, 1e-6));
    assert.ok(close(m.approxKl, ref.approxKl, 1e-4));
    const vl = valueLoss(rows(e.values, Bs, Ts), rows(d(batch.returns), Bs, Ts), rows(d(batch.oldValues), Bs, Ts), 0.2, mask);
    assert.ok(close(m.valueLoss, vl), `value loss ${m.valueLoss} vs ${vl}`);
    const ent = maskedMean(rows(e.entropy, Bs, Ts), mask);
    assert.ok(close(m.entropy, ent));
    assert.ok(close(m.loss, ref.loss + 0.7 * vl - 0.03 * ent));
    assert.is(m.steps, 0);
  }
  // dual clip changes the loss only where A < 0 and the loss exceeds c·|A|; without it the reference differs
  const p = new Policy(spec); const batch = makeBatch(p, 2);
  const plain = new PpoTrainer(p, { clipRange: 0.2 }).losses(batch);
  const e = p.evaluate({ data: d(batch.obs), shape: [Bs * Ts, 4] }, { data: d(batch.actions), shape: [Bs * Ts, 2] });
  const ref = surrogate({ logp: rows(e.logProbs, Bs, Ts), oldLogp: rows(d(batch.oldLogProbs), Bs, Ts), adv: rows(d(batch.advantages), Bs, Ts), mask: rows(batch.mask, Bs, Ts) }, { clipLow: 0.2, clipHigh: 0.2, aggregation: 'token-mean' });
  assert.ok(close(plain.policyLoss, ref.loss));
});

torchTest('one gradient step lowers the loss on a fixed batch (PPO and GRPO); metrics are reported', () => {
  const p = new Policy(spec); const batch = makeBatch(p, 3);
  const ppo = new PpoTrainer(p, { epochs: 1, minibatches: 1, actorLr: 1e-2, criticLr: 1e-2 });
  const before = ppo.losses(batch);
  const m = ppo.updateSync(batch);
  assert.is(m.steps, 1);
  assert.ok(close(m.loss, before.loss), 'metrics of the single step are those before it');
  assert.ok(m.gradNorm > 0 && Number.isFinite(m.gradNorm));
  const after = ppo.losses(batch);
  assert.ok(after.loss < before.loss, `${before.loss} → ${after.loss}`);
  const g = new Policy({ ...spec, critic: null });
  const gb = makeBatch(g, 4);
  const grpo = new GrpoTrainer(g, { actorLr: 1e-2, aggregation: 'seq-mean-token-sum' });
  const b0 = grpo.losses(gb).loss;
  assert.is(grpo.updateSync(gb).steps, 1);
  assert.ok(grpo.losses(gb).loss < b0);
});

torchTest('categorical head (tokenised actions): losses match the reference and a step lowers the loss', () => {
  const p = new Policy({ obsDim: 4, trunk: { sizes: [16] }, head: { type: 'categorical', actionDims: 3, bins: 5 }, seed: 8 });
  const r = rng(12); const n = Bs * Ts;
  const obs = Float32Array.from({ length: n * 4 }, () => r() * 2 - 1);
  const a = p.act({ data: obs, shape: [n, 4] });
  const batch: RolloutBatch = {
    obs: { data: obs, shape: [Bs, Ts, 4] }, actions: { data: a.actions.data, shape: [Bs, Ts, 3] },
    oldLogProbs: { data: Float32Array.from(a.logProbs, (x) => x + (r() - 0.5) * 0.6), shape: [Bs, Ts] },
    advantages: { data: Float32Array.from({ length: n }, () => r() * 2 - 1), shape: [Bs, Ts] },
  };
  const grpo = new GrpoTrainer(p, { aggregation: 'seq-mean-token-mean', actorLr: 1e-2 });
  const m = grpo.losses(batch);
  const ones = rows(new Float32Array(n).fill(1), Bs, Ts);
  const ref = surrogate({ logp: rows(a.logProbs, Bs, Ts), oldLogp: rows(d(batch.oldLogProbs), Bs, Ts), adv: rows(d(batch.advantages), Bs, Ts), mask: ones },
    { clipLow: 0.2, clipHigh: 0.28, aggregation: 'seq-mean-token-mean' });
  assert.ok(close(m.policyLoss, ref.loss) && close(m.clipFraction, ref.clipFraction, 1e-6), `${m.policyLoss} vs ${ref.loss}`);
  grpo.updateSync(batch);
  assert.ok(grpo.losses(batch).policyLoss < m.policyLoss);
  assert.throws(() => grpo.updateSync({ ...batch, actions: { data: new Float32Array(n * 3).fill(1.5), shape: [Bs, Ts, 3] } }), /class index in \[0, 4\]/);
});

torchTest('k3 KL penalty to the frozen reference equals the reference estimator', () => {
  const p = new Policy(spec); const batch = makeBatch(p, 5);
  const obs = { data: d(batch.obs), shape: [Bs * Ts, 4] }; const act = { data: d(batch.actions), shape: [Bs * Ts, 2] };
  const refLp = p.evaluate(obs, act).logProbs;
  const ppo = new PpoTrainer(p, { klCoef: 0.5, epochs: 2, minibatches: 2, actorLr: 3e-2 });
  assert.is(ppo.losses(batch).kl, 0);
  ppo.updateSync(batch);
  const m = ppo.losses(batch);
  const cur = p.evaluate(obs, act).logProbs;
  const want = k3(rows(cur, Bs, Ts), rows(refLp, Bs, Ts), rows(batch.mask, Bs, Ts));
  assert.ok(want > 1e-4 && close(m.kl, want, 1e-4), `${m.kl} vs ${want}`);
});

torchTest('with LoRA only adapters, un-adapted head layers, log-std and the critic change; update is deterministic and async = sync', async () => {
  const run = async (asyncMode: boolean, targets: string[]) => {
    const p = new Policy(spec);
    p.addLora({ rank: 4, alpha: 8, dropout: 0.1, targets, seed: 2 });
    const before = new Map(p.stateDict().map(([n, x]) => [n, x]));
    const ppo = new PpoTrainer(p, { seed: 3, actorLr: 1e-2 });
    const batch = noEmptyMinibatch(makeBatch(p, 6));
    const m = asyncMode ? await ppo.update(batch) : ppo.updateSync(batch);
    assert.is(m.steps, 16);
    const changed = p.stateDict().filter(([n, x]) => x.some((v, i) => v !== before.get(n)![i])).map(([n]) => n);
    return { p, m, changed };
  };
  const a = await run(true, ['trunk.0', 'trunk.2']);
  assert.equal(a.changed, ['head.mean.weight', 'head.mean.bias', 'head.log_std', 'critic.0.weight', 'critic.0.bias', 'critic.2.weight', 'critic.2.bias']);
  assert.equal(a.p.trainableParameters(), ['head.mean.weight', 'head.mean.bias', 'head.log_std', 'critic.0.weight', 'critic.0.bias', 'critic.2.weight', 'critic.2.bias',
    'trunk.0.lora_A.weight', 'trunk.0.lora_B.weight', 'trunk.2.lora_A.weight', 'trunk.2.lora_B.weight']);
  const c = await run(false, ['trunk.0', 'trunk.2', 'head.mean', 'critic.0']);
  assert.equal(c.changed, ['head.log_std', 'critic.2.weight', 'critic.2.bias']);
  const b = await run(false, ['trunk.0', 'trunk.2']);
  assert.equal(b.m, a.m);
  assert.equal(b.p.stateDict(), a.p.stateDict());
  const obs = { data: new Float32Array(8).fill(0.3), shape: [2, 4] };
  assert.equal(b.p.act(obs, { deterministic: true }), a.p.act(obs, { deterministic: true }));
});

torchTest('bad batches and options are refused with clear errors', async () => {
  const p = new Policy(spec); const batch = noEmptyMinibatch(makeBatch(p, 7));
  const ppo = new PpoTrainer(p);
  const nanAdv = Float32Array.from(d(batch.advantages)); nanAdv[4] = NaN;
  assert.throws(() => ppo.updateSync({ ...batch, advantages: { data: nanAdv, shape: [Bs, Ts] } }), /finite values in batch\.advantages but element 4 is NaN/);
  assert.throws(() => ppo.updateSync({ ...batch, obs: { data: d(batch.obs), shape: [Bs, Ts, 3] } }), (e: Error) => e instanceof RangeError && /obsDim = 4/.test(e.message));
  assert.throws(() => ppo.updateSync({ ...batch, returns: undefined }), (e: Error) => e instanceof TypeError && /batch\.returns/.test(e.message));
  assert.throws(() => ppo.updateSync({ ...batch, oldLogProbs: { data: d(batch.oldLogProbs), shape: [Ts, Bs] } }), /batch\.oldLogProbs\.shape/);
  assert.throws(() => ppo.updateSync({ ...batch, mask: new Uint8Array(Bs * Ts).fill(2) }), /batch\.mask\[0\]/);
  assert.throws(() => new PpoTrainer(p, { minibatches: 7 }).updateSync(batch), /opts\.minibatches/);
  assert.throws(() => new PpoTrainer(p, { dualClip: 0.5 }), /opts\.dualClip/);
  assert.throws(() => new PpoTrainer(p, { aggregation: 'sum' as Aggregation }), TypeError);
  assert.throws(() => new PpoTrainer(new Policy({ ...spec, critic: null })), /critic/);
  assert.throws(() => new PpoTrainer({} as Policy), TypeError);
  assert.throws(() => new (torchAddonStatus().addon!.TrainerNative)({ policy: { act() {} } } as never, {} as never), (e: Error) => e instanceof TypeError && /Expected a Policy/.test(e.message));
  const m = await ppo.update(batch);
  assert.is(m.steps, 16);
  p.addLora({ rank: 2, targets: ['trunk.0'] });
  assert.throws(() => ppo.updateSync(batch), /adapters changed after this trainer was created/);
  const pending = new PpoTrainer(p).update(batch);
  assert.throws(() => p.act({ data: new Float32Array(4), shape: [1, 4] }), /busy/);
  await pending;
});

torchTest('an all-masked update is refused and changes nothing; an all-masked minibatch takes no AdamW step', () => {
  for (const grpo of [false, true]) {
    const mk = () => new Policy(grpo ? { ...spec, critic: null } : spec);
    const p = mk(); const twin = mk();
    const opts = { epochs: 2, minibatches: 2, actorLr: 1e-2, weightDecay: 0.1, seed: 4, ...(grpo ? {} : { criticLr: 1e-2 }) };
    const t = grpo ? new GrpoTrainer(p, opts) : new PpoTrainer(p, opts);
    const tw = grpo ? new GrpoTrainer(twin, opts) : new PpoTrainer(twin, opts);
    const batch = makeBatch(p, 8);
    // one update first, so that AdamW has moments that a further (empty) step would apply
    t.updateSync(batch); tw.updateSync(batch);
    const before = p.stateDict();
    const none = { ...batch, mask: new Uint8Array(Bs * Ts) };
    const what = grpo ? 'GRPO' : 'PPO';
    const refused = (e: Error) => e instanceof RangeError && /Expected at least one 1 \(a step to learn from; all 30 steps of the \[B, T\] = \[6,5\] batch are masked out\) for batch\.mask but received no ones/.test(e.message);
    assert.throws(() => t.updateSync(none), refused, `${what} updateSync`);
    assert.throws(() => t.update(none), refused, `${what} update`); // refused before the promise, as other bad batches are
    assert.throws(() => t.losses(none), refused, `${what} losses`);
    assert.equal(p.stateDict(), before, `${what}: the weights did not move`);
    // …nor did AdamW's moments and step count: the next update is the twin's, which never saw the refused calls
    const m = t.updateSync(batch); const mt = tw.updateSync(batch);
    assert.equal(m, mt, `${what} metrics`);
    assert.equal(p.stateDict(), twin.stateDict(), `${what}: same weights as the twin`);
  }
  // Two sequences, the first masked out: each epoch's 2 minibatches hold one sequence each, and the masked
  // one is no step. So the update equals one on the second sequence alone (1 minibatch per epoch).
  const p = new Policy(spec); const q = new Policy(spec);
  const full = makeBatch(p, 9);
  const two = (b: RolloutBatch, from: number, n: number, mask: Uint8Array): RolloutBatch => ({
    obs: { data: d(b.obs).slice(from * Ts * 4, (from + n) * Ts * 4), shape: [n, Ts, 4] },
    actions: { data: d(b.actions).slice(from * Ts * 2, (from + n) * Ts * 2), shape: [n, Ts, 2] },
    oldLogProbs: { data: d(b.oldLogProbs).slice(from * Ts, (from + n) * Ts), shape: [n, Ts] },
    advantages: { data: d(b.advantages).slice(from * Ts, (from + n) * Ts), shape: [n, Ts] },
    returns: { data: d(b.returns).slice(from * Ts, (from + n) * Ts), shape: [n, Ts] }, mask,
  });
  const pair = two(full, 0, 2, Uint8Array.from({ length: 2 * Ts }, (_, i) => (i < Ts ? 0 : 1)));
  const alone = two(full, 1, 1, new Uint8Array(Ts).fill(1));
  const mp = new PpoTrainer(p, { epochs: 3, minibatches: 2, actorLr: 1e-2, weightDecay: 0.1 }).updateSync(pair);
  const mq = new PpoTrainer(q, { epochs: 3, minibatches: 1, actorLr: 1e-2, weightDecay: 0.1 }).updateSync(alone);
  assert.is(mp.steps, 3, 'one step per epoch: the all-masked minibatch is none');
  assert.equal(mp, mq);
  assert.equal(p.stateDict(), q.stateDict());
});

// ---- a 1-D point-reaching task with a sparse terminal reward ----
const H = 8;
interface Episodes { obs: Float32Array; actions: Float32Array; logp: Float32Array; values: Float32Array; success: Float32Array }
function rollout(p: Policy, starts: Array<[number, number]>): Episodes {
  const n = starts.length;
  const out: Episodes = { obs: new Float32Array(n * H * 3), actions: new Float32Array(n * H), logp: new Float32Array(n * H), values: new Float32Array(n * H), success: new Float32Array(n) };
  const x = starts.map((s) => s[0]);
  for (let t = 0; t < H; t++) {
    const o = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) { o[i * 3] = x[i]; o[i * 3 + 1] = starts[i][1]; o[i * 3 + 2] = t / H; }
    const a = p.act({ data: o, shape: [n, 3] });
    for (let i = 0; i < n; i++) {
      out.obs.set(o.subarray(i * 3, i * 3 + 3), (i * H + t) * 3);
      out.actions[i * H + t] = a.actions.data[i]; out.logp[i * H + t] = a.logProbs[i]; out.values[i * H + t] = a.values[i];
      x[i] += 0.25 * Math.max(-1, Math.min(1, a.actions.data[i]));
    }
  }
  for (let i = 0; i < n; i++) out.success[i] = Math.abs(x[i] - starts[i][1]) < 0.1 ? 1 : 0;
  return out;
}
function starts(n: number, r: () => number, group = 1): Array<[number, number]> {
  const s: Array<[number, number]> = [];
  for (let i = 0; i < n; i += group) { const st: [number, number] = [r() * 2 - 1, r() * 2 - 1]; for (let k = 0; k < group; k++) s.push(st); }
  return s;
}
const rate = (e: Episodes) => e.success.reduce((a, b) => a + b, 0) / e.success.length;
const reachSpec: PolicySpec = { obsDim: 3, trunk: { sizes: [32, 32] }, head: { type: 'gaussian', actionDim: 1 }, critic: { sizes: [32, 32] }, seed: 11 };

torchTest('PPO raises the success rate of sparse-reward point reaching from a poor start', () => {
  const p = new Policy(reachSpec);
  const r = rng(21);
  const evalStarts = starts(256, rng(99));
  const initial = rate(rollout(p, evalStarts));
  const ppo = new PpoTrainer(p, { actorLr: 3e-3, criticLr: 3e-3, epochs: 4, minibatches: 4, seed: 1 });
  for (let u = 0; u < 50; u++) {
    const n = 64;
    const e = rollout(p, starts(n, r));
    const adv = new Float32Array(n * H); const ret = new Float32Array(n * H);
    for (let i = 0; i < n; i++) {
      const rew = Array.from({ length: H }, (_, t) => (t === H - 1 ? e.success[i] : 0));
      const g = gae(rew, Array.from(e.values.subarray(i * H, (i + 1) * H)), 0, 0.99, 0.95);
      adv.set(g.adv, i * H); ret.set(g.ret, i * H);
    }
    const mean = adv.reduce((a, b) => a + b, 0) / adv.length;
    const sd = Math.sqrt(adv.reduce((a, b) => a + (b - mean) ** 2, 0) / adv.length) + 1e-8;
    for (let k = 0; k < adv.length; k++) adv[k] = (adv[k] - mean) / sd;
    ppo.updateSync({
      obs: { data: e.obs, shape: [n * H, 3] }, actions: { data: e.actions, shape: [n * H, 1] },
      oldLogProbs: e.logp, advantages: adv, returns: ret,
    });
  }
  const final = rate(rollout(p, evalStarts));
  if (process.env.F2G_DEBUG) console.log("success", initial, final);
  assert.ok(initial < 0.3, `poor start: ${initial}`);
  assert.ok(final > 0.6 && final > initial + 0.3, `success ${initial} → ${final}`);
});

torchTest('GRPO with LoRA and group rollouts raises the success rate of point reaching', () => {
  const p = new Policy({ ...reachSpec, critic: null });
  p.addLora({ rank: 4, alpha: 8, targets: ['trunk.0', 'trunk.2'], seed: 4 });
  const r = rng(31);
  const evalStarts = starts(256, rng(98));
  const initial = rate(rollout(p, evalStarts));
  const G = 8; const groups = 16; const n = G * groups;
  const grpo = new GrpoTrainer(p, { actorLr: 1e-2, epochs: 2, minibatches: 2, seed: 2 });
  for (let u = 0; u < 60; u++) {
    const e = rollout(p, starts(n, r, G));
    const ahat = grpoAdvantages(Array.from(e.success), G);
    const adv = new Float32Array(n * H);
    for (let i = 0; i < n; i++) for (let t = 0; t < H; t++) adv[i * H + t] = ahat[i]; // γ = 1
    grpo.updateSync({
      obs: { data: e.obs, shape: [n, H, 3] }, actions: { data: e.actions, shape: [n, H, 1] },
      oldLogProbs: { data: e.logp, shape: [n, H] }, advantages: { data: adv, shape: [n, H] },
    });
  }
  const final = rate(rollout(p, evalStarts));
  if (process.env.F2G_DEBUG) console.log("success", initial, final);
  assert.ok(initial < 0.3, `poor start: ${initial}`);
  assert.ok(final > 0.6 && final > initial + 0.3, `success ${initial} → ${final}`);
});

test.run();
