// Cancellable long calls: an AbortSignal stops ValueHead.fit, trainer updates
// and behaviour cloning before their next optimizer step, the promise rejects
// with the signal's reason and the model is bit for bit as before the call
// (and trains on exactly as an untouched twin does); an already-aborted
// signal rejects without work; process.exit() during a fit and
// worker.terminate() during behaviour cloning end promptly (child processes).
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { ImageValueModel, Policy, PpoTrainer, runExperiment, ValueHead, type ExperimentProgress, type NamedTensor, type PolicySpec, type RolloutBatch } from '../../src/index.js';
import { rejectsWith } from '../helpers/asserts.js';
import { runCancelChild } from '../helpers/cancel-run.js';
import { rng } from '../helpers/data.js';
import { torchTest } from '../helpers/skip.js';

function floats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

function sameBits(a: NamedTensor[], b: NamedTensor[]): boolean {
  if (a.length !== b.length) return false;
  return a.every(([n, d, s], i) => {
    const [n2, d2, s2] = b[i];
    if (n !== n2 || s.join() !== s2.join() || d.length !== d2.length) return false;
    const x = new Uint32Array(d.buffer, d.byteOffset, d.length);
    const y = new Uint32Array(d2.buffer, d2.byteOffset, d2.length);
    return x.every((v, k) => v === y[k]);
  });
}

const t = torchTest;
const H = 32, B = 2048;
const hidden = floats(B * H, 1);
const targets = floats(B, 2, 0, 1);
const headConfig = { inputDim: H, hiddenDim: 32, bins: 21, seed: 3 };

t('ValueHead.fit: an abort after the first epoch rejects with the reason; the head (weights and AdamW state) is as before', async () => {
  const head = new ValueHead(headConfig);
  const twin = new ValueHead(headConfig);
  const warm = { epochs: 1, batchSize: 256, seed: 1 };
  head.fitSync({ data: hidden, shape: [B, H] }, targets, warm); // AdamW state exists before the cancelled call
  twin.fitSync({ data: hidden, shape: [B, H] }, targets, warm);
  const before = head.stateDict();
  const ac = new AbortController();
  const reason = new Error('stop now');
  let epochs = 0;
  const p = head.fit({ data: hidden, shape: [B, H] }, targets, {
    epochs: 400, batchSize: 16, seed: 2, signal: ac.signal, onProgress: () => { epochs++; ac.abort(reason); },
  });
  await rejectsWith(p, reason);
  assert.ok(epochs >= 1 && epochs < 400, `${epochs} epochs reported`);
  assert.ok(sameBits(head.stateDict(), before), 'the weights are bit-identical to those before the call');
  // The AdamW moments and step counts were restored too: the next fit equals the twin's.
  const next = { epochs: 2, batchSize: 128, seed: 5 };
  assert.equal(head.fitSync({ data: hidden, shape: [B, H] }, targets, next).losses, twin.fitSync({ data: hidden, shape: [B, H] }, targets, next).losses);
  assert.ok(sameBits(head.stateDict(), twin.stateDict()));
});

t('ValueHead.fit: an already-aborted signal rejects with its reason without training or taking the head', async () => {
  const head = new ValueHead(headConfig);
  const before = head.stateDict();
  const reason = new Error('already');
  let called = false;
  await rejectsWith(head.fit({ data: hidden, shape: [B, H] }, targets, { epochs: 3, signal: AbortSignal.abort(reason), onProgress: () => { called = true; } }), reason);
  assert.is(called, false);
  assert.ok(sameBits(head.stateDict(), before));
  head.predict({ data: hidden.subarray(0, H * 4), shape: [4, H] }); // not busy
  try {
    await head.fit({ data: hidden, shape: [B, H] }, targets, { signal: 'stop' as unknown as AbortSignal });
    assert.unreachable('a string signal was accepted');
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, /opts\.signal/);
  }
});

const spec: PolicySpec = { obsDim: 8, trunk: { sizes: [32, 32] }, head: { type: 'gaussian', actionDim: 2 }, critic: { sizes: [32] }, seed: 7 };
function rollout(p: Policy, Bs: number, Ts: number, seed: number): RolloutBatch {
  const n = Bs * Ts;
  const obs = floats(n * 8, seed);
  const a = p.act({ data: obs, shape: [n, 8] }, { deterministic: true });
  return {
    obs: { data: obs, shape: [Bs, Ts, 8] }, actions: { data: a.actions.data, shape: [Bs, Ts, 2] },
    oldLogProbs: { data: a.logProbs, shape: [Bs, Ts] }, advantages: { data: floats(n, seed + 1), shape: [Bs, Ts] },
    returns: { data: floats(n, seed + 2), shape: [Bs, Ts] },
  };
}

t('PpoTrainer.update: an abort mid-update rejects with the reason; weights, AdamW state and random streams are as before', async () => {
  const p = new Policy(spec), q = new Policy(spec);
  const tp = new PpoTrainer(p, { epochs: 2, minibatches: 4, seed: 1 });
  const tq = new PpoTrainer(q, { epochs: 2, minibatches: 4, seed: 1 });
  const b0 = rollout(new Policy(spec), 16, 16, 11);
  tp.updateSync(b0); tq.updateSync(b0); // AdamW state and random streams have moved
  const before = p.stateDict();
  const big = rollout(new Policy(spec), 256, 64, 12);
  const heavy = new PpoTrainer(p, { epochs: 200, minibatches: 4, seed: 1 });
  const ac = new AbortController();
  const reason = new Error('enough');
  const pending = heavy.update(big, { signal: ac.signal });
  setTimeout(() => ac.abort(reason), 150);
  await rejectsWith(pending, reason);
  assert.ok(sameBits(p.stateDict(), before), 'the weights are bit-identical to those before the call');
  // The trainer that was cancelled trains on exactly as its twin.
  const b1 = rollout(new Policy(spec), 16, 16, 13);
  const heavyTwin = new PpoTrainer(q, { epochs: 200, minibatches: 4, seed: 1 });
  assert.equal(heavy.updateSync(b1), heavyTwin.updateSync(b1));
  assert.equal(tp.updateSync(b1), tq.updateSync(b1));
  assert.ok(sameBits(p.stateDict(), q.stateDict()));
  // Already aborted: no work.
  const r2 = new Error('already');
  await rejectsWith(tp.update(b1, { signal: AbortSignal.abort(r2) }), r2);
  assert.ok(sameBits(p.stateDict(), q.stateDict()));
});

t('fitBehaviourCloning: an abort after the first epoch rejects with the reason; the policy is as before', async () => {
  const p = new Policy(spec);
  const before = p.stateDict();
  const N = 4096;
  const ac = new AbortController();
  const reason = new Error('bc stop');
  const pending = p.fitBehaviourCloning({ data: floats(N * 8, 21), shape: [N, 8] }, { data: floats(N * 2, 22), shape: [N, 2] }, {
    epochs: 300, batchSize: 32, signal: ac.signal, onEpoch: () => ac.abort(reason),
  });
  await rejectsWith(pending, reason);
  assert.ok(sameBits(p.stateDict(), before));
  const r2 = new Error('already');
  await rejectsWith(p.fitBehaviourCloning({ data: floats(64 * 8, 23), shape: [64, 8] }, { data: floats(64 * 2, 24), shape: [64, 2] },
    { signal: AbortSignal.abort(r2) }), r2);
});

t('ImageValueModel.fit: an abort after the first epoch rejects with the reason; backbone, head and optimizer state are as before', async () => {
  const cfg = { backbone: { imageSize: 16, layers: [{ channels: 8, kernel: 4, stride: 4 }], embedDim: 12, seed: 1 }, head: { hiddenDim: 16, bins: 21, seed: 2 } };
  const vm = new ImageValueModel(cfg), twin = new ImageValueModel(cfg);
  const B = 512;
  const r = rng(9);
  const frames = { data: Uint8Array.from({ length: B * 16 * 16 * 3 }, () => Math.floor(r() * 256)), shape: [B, 16, 16, 3] };
  const y = floats(B, 10, 0, 1);
  const warm = { stage: 'joint' as const, epochs: 1, batchSize: 64, seed: 1 };
  vm.fitSync(frames, y, warm); twin.fitSync(frames, y, warm);
  const before = vm.stateDict();
  const ac = new AbortController();
  const reason = new Error('image stop');
  let epochs = 0;
  await rejectsWith(vm.fit(frames, y, { stage: 'joint', epochs: 400, batchSize: 8, seed: 2, signal: ac.signal, onProgress: () => { epochs++; ac.abort(reason); } }), reason);
  assert.ok(epochs >= 1 && epochs < 400, `${epochs} epochs reported`);
  assert.ok(sameBits(vm.stateDict(), before), 'bit-identical weights');
  const next = { stage: 'joint' as const, epochs: 1, batchSize: 64, seed: 5 };
  assert.equal(vm.fitSync(frames, y, next).losses, twin.fitSync(frames, y, next).losses);
  const r2 = new Error('already');
  await rejectsWith(vm.fit(frames, y, { signal: AbortSignal.abort(r2) }), r2);
});

/** Runs the cancel child; resolves with its lines and the ms from its `marker` line to its exit. */

t('runExperiment: opts.signal stops the run inside a phase (rejects with the reason, no later progress); an aborted signal before any work; a non-signal is a TypeError', async () => {
  const ac = new AbortController();
  const reason = new Error('experiment stop');
  const seen: ExperimentProgress[] = [];
  let after = 0;
  const t0 = performance.now();
  await rejectsWith(runExperiment({ preset: 'tiny' }, {
    signal: ac.signal,
    onProgress: (p) => {
      if (ac.signal.aborted) after++;
      seen.push(p);
      // Inside behaviour cloning (its first epoch report comes from the running native fit).
      if (p.phase === 'behaviour-cloning') ac.abort(reason);
    },
  }), reason);
  assert.ok(seen.some((p) => p.phase === 'behaviour-cloning'), 'reached behaviour cloning');
  assert.is(after, 0, 'no progress reported after the abort');
  assert.not.ok(seen.some((p) => p.phase === 'rl' || p.phase === 'evaluation'), 'no later phase ran');
  console.log(`  runExperiment cancelled in behaviour cloning after ${(performance.now() - t0).toFixed(0)} ms`);
  const r2 = new Error('before');
  let called = false;
  await rejectsWith(runExperiment({ preset: 'tiny' }, { signal: AbortSignal.abort(r2), onProgress: () => { called = true; } }), r2);
  assert.is(called, false, 'no work before the check');
  try {
    await runExperiment({ preset: 'tiny' }, { signal: 'stop' as unknown as AbortSignal });
    assert.unreachable('accepted a string signal');
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, /opts\.signal/);
  }
});

t('process.exit() during ValueHead.fit ends the process within about a second (the fit would run for minutes)', async () => {
  const r = await runCancelChild('exit-fit', 'EXITING', 60_000);
  assert.is(r.code, 0);
  assert.ok(!r.lines.some((l) => l.startsWith('RESULT')), 'the fit did not finish');
  assert.ok(r.afterMarkerMs < 3000, `the process took ${r.afterMarkerMs} ms to exit`);
});

t('worker.terminate() during fitBehaviourCloning ends the worker within about a second', async () => {
  const r = await runCancelChild('terminate-bc', 'STARTED', 60_000);
  // The process then exits cleanly: the worker alone had loaded the addon, which Node unloads with it (the addon is linked -z nodelete, so its threads do not run on in unmapped code).
  assert.is(r.code, 0, `the process exited with ${r.code}: ${r.lines.join('\n')}`);
  const res = JSON.parse(r.lines.find((l) => l.startsWith('RESULT '))!.slice(7)) as { terminateMs: number };
  assert.ok(res.terminateMs < 3000, `terminate() took ${res.terminateMs} ms`);
});

test.run();
