// Training steps that cannot corrupt a model: stale old log-probs stay finite
// (log-ratio clamped at 20 before exp), a non-finite loss / gradient / weight
// stops the call with a NonFiniteError naming the step and the quantity, and
// the model (weights, AdamW moments and step counts, random streams) is
// exactly as before the call. Also: huge finite hidden states in the value
// head, the log-std range of a Gaussian head, non-finite weight files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  capabilities, GrpoTrainer, NonFiniteError, Policy, PpoTrainer, ValueHead,
  type NamedTensor, type PolicySpec, type RolloutBatch,
} from '../../src/index.js';
import type { NativePolicy, NativeValueHead } from '../../src/core/native-types.js';
import { rng } from '../helpers/data.js';
import { valueHeadPredict } from '../reference/value-head.js';

const spec: PolicySpec = { obsDim: 4, trunk: { sizes: [16, 16] }, head: { type: 'gaussian', actionDim: 2, initLogStd: -0.5 }, critic: { sizes: [16] }, seed: 5 };
const Bs = 6; const Ts = 5; const N = Bs * Ts;

/** A rollout batch sampled from `p` (a throwaway policy, so the policies under test keep their random streams). */
function makeBatch(p: Policy, seed: number): RolloutBatch & { oldLogProbs: { data: Float32Array; shape: number[] }; advantages: { data: Float32Array; shape: number[] } } {
  const r = rng(seed);
  const obs = Float32Array.from({ length: N * 4 }, () => r() * 2 - 1);
  const a = p.act({ data: obs, shape: [N, 4] });
  return {
    obs: { data: obs, shape: [Bs, Ts, 4] }, actions: { data: a.actions.data, shape: [Bs, Ts, 2] },
    oldLogProbs: { data: Float32Array.from(a.logProbs, (x) => x + (r() - 0.5) * 0.4), shape: [Bs, Ts] },
    advantages: { data: Float32Array.from({ length: N }, () => r() * 2 - 1), shape: [Bs, Ts] },
    returns: { data: Float32Array.from(a.values, (v) => v + r() - 0.5), shape: [Bs, Ts] },
  };
}

/** Bitwise equality of two state dicts (names, shapes and every float's bits). */
function sameBits(a: NamedTensor[], b: NamedTensor[]): boolean {
  if (a.length !== b.length) return false;
  return a.every(([n, d, s], i) => {
    const [n2, d2, s2] = b[i];
    if (n !== n2 || s.join() !== s2.join() || d.length !== d2.length) return false;
    const x = new Uint32Array(d.buffer, d.byteOffset, d.length); const y = new Uint32Array(d2.buffer, d2.byteOffset, d2.length);
    return x.every((v, k) => v === y[k]);
  });
}
const allFinite = (sd: NamedTensor[]) => sd.every(([, d]) => d.every(Number.isFinite));
const metricsFinite = (m: Record<string, number>) => Object.values(m).every(Number.isFinite);

function expectNonFinite(fn: () => unknown, pattern: RegExp): NonFiniteError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, NonFiniteError, `expected a NonFiniteError, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return err as NonFiniteError;
  }
  throw new assert.Assertion({ message: 'expected a NonFiniteError, nothing was thrown', generated: false, operator: 'throws', expects: 'throw', actual: 'no throw' });
}

if (!capabilities().torch) {
  console.log('SKIP non-finite training checks: the addon was built without libtorch');
  test.skip('non-finite training checks', () => {});
} else {
  test('finite but stale oldLogProbs (log-ratio 100) give finite metrics and weights; ρ is clamped at e^20 before exp', () => {
    const src = new Policy(spec);
    const batch = makeBatch(src, 1);
    const p = new Policy(spec);
    const e = p.evaluate({ data: (batch.obs as { data: Float32Array }).data, shape: [N, 4] }, { data: (batch.actions as { data: Float32Array }).data, shape: [N, 2] });
    // every step stale by 100 nats; advantages of both signs
    const old = Float32Array.from(e.logProbs, (x) => x - 100);
    const adv = batch.advantages.data;
    assert.ok(adv.some((a) => a > 0) && adv.some((a) => a < 0));
    const stale = { ...batch, oldLogProbs: { data: old, shape: [Bs, Ts] } };
    const ppo = new PpoTrainer(p, { clipRange: 0.2, epochs: 2, minibatches: 2 });
    const m = ppo.losses(stale);
    // Reference (SPEC §8 with log ρ clamped at 20): A > 0 picks the clipped term (1 + ε)·A,
    // A < 0 the unclipped ρ·A with ρ = e^20, so ℓ = −min(ρA, 1.2A).
    let want = 0;
    let kl = 0;
    for (let i = 0; i < N; i++) {
      const lr = Math.min(e.logProbs[i] - old[i], 20);
      const rho = Math.exp(lr);
      want += -Math.min(rho * adv[i], Math.min(Math.max(rho, 0.8), 1.2) * adv[i]);
      kl += rho - 1 - lr;
    }
    want /= N; kl /= N;
    assert.ok(Math.abs(m.policyLoss - want) <= 1e-5 * Math.abs(want), `policyLoss ${m.policyLoss} vs ${want}`);
    assert.ok(Math.abs(m.approxKl - kl) <= 1e-5 * kl, `approxKl ${m.approxKl} vs ${kl}`);
    const u = ppo.updateSync(stale);
    assert.ok(metricsFinite(u as unknown as Record<string, number>), JSON.stringify(u));
    assert.ok(allFinite(p.stateDict()));
    const act = p.act({ data: (batch.obs as { data: Float32Array }).data, shape: [N, 4] });
    assert.ok(act.actions.data.every(Number.isFinite) && act.logProbs.every(Number.isFinite));
    // GRPO (no critic) too
    const g = new Policy({ ...spec, critic: null });
    const grpo = new GrpoTrainer(g, {});
    const gm = grpo.updateSync({ ...stale, returns: undefined });
    assert.ok(metricsFinite(gm as unknown as Record<string, number>));
    assert.ok(allFinite(g.stateDict()));
  });

  test('a non-finite loss in a later minibatch undoes the earlier steps of the update; weights, AdamW state and shuffling are as before', () => {
    const src = new Policy(spec);
    const good1 = makeBatch(src, 2); const good2 = makeBatch(src, 3);
    const opts = { epochs: 2, minibatches: 3, seed: 7 };
    const pA = new Policy(spec); const tA = new PpoTrainer(pA, opts);
    const pB = new Policy(spec); const tB = new PpoTrainer(pB, opts);
    tA.updateSync(good1); tB.updateSync(good1);
    const before = pA.stateDict();
    let later: NonFiniteError | undefined;
    for (let b = 0; b < Bs && !later; b++) {
      const adv = Float32Array.from(good2.advantages.data);
      for (let t = 0; t < Ts; t++) adv[b * Ts + t] = 3e38; // finite, but their sum overflows
      const err = expectNonFinite(() => tA.updateSync({ ...good2, advantages: { data: adv, shape: [Bs, Ts] } }), /^Non-finite loss \(-?Infinity\) at epoch 1 of 2, minibatch \d of 3 \(optimizer step \d of 6\)/);
      assert.ok(err.step && err.step.epoch === 1 && err.step.epochs === 2 && err.step.minibatches === 3 && err.step.steps === 6);
      assert.ok(sameBits(pA.stateDict(), before), `sequence ${b}: the policy changed`);
      if (err.step!.minibatch > 1) later = err;
    }
    assert.ok(later, 'some sequence falls in a minibatch after the first');
    assert.match(later!.message, /policy, its optimizer state and random streams are as before the update/);
    // the failed calls left no trace: the next update equals that of a trainer that never saw them
    const mA = tA.updateSync(good2); const mB = tB.updateSync(good2);
    assert.equal(mA, mB);
    assert.ok(sameBits(pA.stateDict(), pB.stateDict()), 'AdamW moments, step counts or the shuffling generator were not restored');
  });

  test('a learning rate that blows up the weights stops update/updateSync with the step and quantity; the policy is unchanged', async () => {
    const src = new Policy(spec);
    const batch = makeBatch(src, 4);
    const p = new Policy(spec);
    const obs = { data: (batch.obs as { data: Float32Array }).data, shape: [N, 4] };
    const before = p.stateDict();
    const det = p.act(obs, { deterministic: true });
    const ppo = new PpoTrainer(p, { actorLr: 1e30, criticLr: 1e30, epochs: 2, minibatches: 2 });
    const err = expectNonFinite(() => ppo.updateSync(batch), /^Non-finite (loss \((-?Infinity|NaN)\)|metric [a-zA-Z]+ = (-?Infinity|NaN)|gradient of '[a-z0-9._]+'|weight '[a-z0-9._]+') (at|after) /);
    assert.match(err.message, /epoch \d of 2, minibatch \d of 2/);
    assert.ok(sameBits(p.stateDict(), before));
    let rejected: unknown;
    await ppo.update(batch).catch((e: unknown) => { rejected = e; });
    assert.instance(rejected, NonFiniteError);
    assert.ok((rejected as Error).stack!.includes('nonfinite.test'), 'the rejection carries the caller stack');
    assert.ok(sameBits(p.stateDict(), before));
    const again = p.act(obs, { deterministic: true });
    assert.equal(again.actions.data, det.actions.data);
    assert.equal(again.values, det.values);
    // a sane trainer on the same policy still works afterwards
    const m = new PpoTrainer(p, {}).updateSync(batch);
    assert.ok(metricsFinite(m as unknown as Record<string, number>) && allFinite(p.stateDict()));
  });

  const H = 8;
  function headData(seed: number, n: number) {
    const r = rng(seed);
    return {
      hidden: { data: Float32Array.from({ length: n * H }, () => r() * 2 - 1), shape: [n, H] },
      targets: Float32Array.from({ length: n }, () => r()),
    };
  }
  const headCfg = { inputDim: H, hiddenDim: 16, bins: 21, seed: 3 };

  test('ValueHead.fit with a huge learning rate: NonFiniteError naming the step; the whole fit is undone, AdamW state included', async () => {
    const a = headData(1, 64); const b = headData(2, 64);
    const hA = new ValueHead(headCfg); const hB = new ValueHead(headCfg);
    hA.fitSync(a.hidden, a.targets, { epochs: 2, batchSize: 16 });
    hB.fitSync(a.hidden, a.targets, { epochs: 2, batchSize: 16 });
    const before = hA.stateDict();
    const pred = hA.predict(b.hidden);
    const err = expectNonFinite(() => hA.fitSync(b.hidden, b.targets, { epochs: 3, batchSize: 16, lr: 1e30, schedule: 'constant' }),
      /^Non-finite (loss|gradient of 'net\.[0-3]\.(weight|bias)'|weight 'net\.[0-3]\.(weight|bias)') /);
    assert.match(err.message, /epoch \d of 3, minibatch \d of 4 \(optimizer step \d+ of 12\)/);
    assert.match(err.message, /the head and its optimizer state are as before the call/);
    assert.ok(sameBits(hA.stateDict(), before));
    assert.equal(hA.predict(b.hidden), pred);
    // async: rejects the same way; epochs already reported are undone too
    const seen: number[] = [];
    let rejected: unknown;
    await hA.fit(b.hidden, b.targets, { epochs: 3, batchSize: 16, lr: 1e30, schedule: 'constant', onProgress: (p) => seen.push(p.epoch) })
      .catch((e: unknown) => { rejected = e; });
    assert.instance(rejected, NonFiniteError);
    assert.ok(sameBits(hA.stateDict(), before));
    // trainStep: one step, all or nothing (its weights give a non-finite loss on the batch)
    const stepErr = expectNonFinite(() => hA.trainStep(b.hidden, b.targets, { lr: 1e30 }), /^Non-finite loss \(NaN\) of the batch \(its first 64 rows\) with the weights after the training step; the head and its optimizer state are as before the call$/);
    assert.is(stepErr.step, undefined);
    assert.ok(sameBits(hA.stateDict(), before));
    // the failed calls left no trace in the optimizer state
    hA.fitSync(b.hidden, b.targets, { epochs: 1, batchSize: 16 });
    hB.fitSync(b.hidden, b.targets, { epochs: 1, batchSize: 16 });
    assert.ok(sameBits(hA.stateDict(), hB.stateDict()), 'AdamW moments or step counts were not restored');
  });

  test('ValueHead.predict on finite but huge hidden states (3e38) matches a float64 reference; ordinary rows are unchanged bit for bit', () => {
    const head = new ValueHead(headCfg);
    head.fitSync(headData(5, 64).hidden, headData(5, 64).targets, { epochs: 2, batchSize: 16 });
    const r = rng(9);
    const rows = 6;
    const data = Float32Array.from({ length: rows * H }, () => r() * 2 - 1);
    const plain = head.predict({ data: data.slice(), shape: [rows, H] });
    const huge = data.slice();
    for (let i = 0; i < H; i++) { huge[i] *= 3e38; huge[2 * H + i] = (i % 2 ? -1 : 1) * 3.4e38; huge[3 * H + i] *= 1e20; }
    const got = head.predict({ data: huge, shape: [rows, H] });
    const sd = head.stateDict();
    for (let b = 0; b < rows; b++) {
      const want = valueHeadPredict(sd, huge.subarray(b * H, (b + 1) * H));
      assert.ok(Number.isFinite(got[b]) && Math.abs(got[b] - want) < 1e-4, `row ${b}: ${got[b]} vs ${want}`);
    }
    for (const b of [1, 4, 5]) assert.is(got[b], plain[b], `row ${b} (not huge) computed as before`);
    const dist = head.predictDistribution({ data: huge, shape: [rows, H] });
    assert.ok(dist.data.every(Number.isFinite));
    assert.ok(Number.isFinite(head.loss({ data: huge, shape: [rows, H] }, new Float32Array(rows).fill(0.5))));
    // training on such rows stays finite too
    head.fitSync({ data: huge, shape: [rows, H] }, new Float32Array(rows).fill(0.5), { epochs: 2, batchSize: 3 });
    assert.ok(allFinite(head.stateDict()));
  });

  test('Gaussian log-std: initLogStd outside [logStdMin, logStdMax] is a RangeError; learned log-std is clamped so actions stay finite', () => {
    assert.throws(() => new Policy({ ...spec, head: { type: 'gaussian', actionDim: 2, initLogStd: 100 } }),
      (e: Error) => e instanceof RangeError && /spec\.head\.initLogStd/.test(e.message) && /\[-20, 2\]/.test(e.message) && /100/.test(e.message));
    assert.throws(() => new Policy({ ...spec, head: { type: 'gaussian', actionDim: 2, logStdMax: 100 } }),
      (e: Error) => e instanceof RangeError && /spec\.head\.logStdMax/.test(e.message));
    const p = new Policy({ ...spec, head: { type: 'gaussian', actionDim: 2, initLogStd: 5, logStdMax: 5 } });
    const obs = { data: Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)), shape: [10, 4] };
    assert.ok(p.act(obs).actions.data.every(Number.isFinite));
    // weights from a file with log_std = 100 (finite): σ is clamped at e^logStdMax, actions finite
    const sd = p.stateDict().map(([n, d, s]): NamedTensor => [n, n === 'head.log_std' ? new Float32Array(d.length).fill(100) : d, s]);
    const q = new Policy({ ...spec, head: { type: 'gaussian', actionDim: 2, initLogStd: 0 } });
    (q as unknown as { n: NativePolicy }).n.loadStateDict({ weights: sd }, {});
    const a = q.act(obs);
    assert.ok(a.actions.data.every(Number.isFinite) && a.logProbs.every(Number.isFinite));
    const e = q.evaluate(obs, a.actions);
    const ent = e.entropy[0];
    assert.ok(Math.abs(ent - 2 * (0.5 + 0.5 * Math.log(2 * Math.PI) + 2)) < 1e-4, `entropy uses the clamped log-std 2: ${ent}`);
  });

  test('act on observations that overflow the network is a RangeError naming the row, not Infinity actions', () => {
    const p = new Policy({ ...spec, trunk: { sizes: [16], activation: 'relu' } });
    const data = Float32Array.from({ length: 12 }, (_, i) => Math.cos(i));
    assert.ok(p.act({ data, shape: [3, 4] }).actions.data.every(Number.isFinite));
    data.fill(3e38, 4, 8); // row 1
    assert.throws(() => p.act({ data, shape: [3, 4] }), (e: Error) => e instanceof RangeError && /row 1 of the input are not finite/.test(e.message));
    const cat = new Policy({ obsDim: 4, trunk: { sizes: [8], activation: 'relu' }, head: { type: 'categorical', actionDims: 2, bins: 5 }, seed: 2 });
    assert.throws(() => cat.act({ data, shape: [3, 4] }), (e: Error) => e instanceof RangeError && /action logits for row 1 of the input are not finite/.test(e.message));
  });

  test('non-finite tensors in loaded weights are a RangeError naming the tensor and element', () => {
    const p = new Policy(spec);
    const sd = p.stateDict().map(([n, d, s]): NamedTensor => [n, n === 'critic.0.bias' ? Float32Array.from(d, (x, i) => (i === 3 ? NaN : x)) : d, s]);
    assert.throws(() => (p as unknown as { n: NativePolicy }).n.loadStateDict({ weights: sd }, {}),
      (e: Error) => e instanceof RangeError && /critic\.0\.bias/.test(e.message) && /element 3 is NaN/.test(e.message));
    const head = new ValueHead(headCfg);
    const hs = head.stateDict().map(([n, d, s]): NamedTensor => [n, n === 'net.3.weight' ? Float32Array.from(d, (x, i) => (i === 0 ? -Infinity : x)) : d, s]);
    assert.throws(() => (head as unknown as { n: NativeValueHead }).n.loadStateDict({ weights: hs }, {}),
      (e: Error) => e instanceof RangeError && /net\.3\.weight/.test(e.message) && /-Infinity/.test(e.message));
  });
}

test.run();
