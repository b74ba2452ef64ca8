// One rank of the process-group tests (test/torch/distributed.test.ts). The
// environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, FEAT2GO_DIST_TIMEOUT_MS)
// describes the group; argv[2] names the scenario. Prints one JSON line
// `RESULT {...}` (or `ERROR {...}` when a call threw).
import { existsSync } from 'node:fs';
import {
  allGather, capabilities, allReduce, collectiveStats, distributedInfo, setGradientOverlap, barrier, broadcast, destroyDistributed, GrpoTrainer, initDistributed, Policy, PpoTrainer, rank, ValueHead,
  worldSize,
} from '../../src/index.js';
import { BC, bcData, ACT, globalBatch, GRPO_OPTS, grpoSpec, OBS, PPO_OPTS, ppoSpec, shares, sliceBatch, VALUE, valueData } from './dist-data.js';

const out = (tag: string, v: unknown) => process.stdout.write(`${tag} ${JSON.stringify(v)}\n`);
const scenario = process.argv[2];

// FNV-1a of every tensor's bytes, as two int32 halves.
function hash(named: Array<[string, Float32Array, number[]]>): Int32Array {
  let h = 0x811c9dc5 | 0; let g = 0x01000193 | 0;
  for (const [, d] of named) {
    const b = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    for (let i = 0; i < b.length; i++) { h = Math.imul(h ^ b[i], 0x01000193); g = Math.imul(g ^ b[i], 0x2f0f3a97); }
  }
  return Int32Array.of(h, g);
}
async function sameEverywhere(named: Array<[string, Float32Array, number[]]>): Promise<boolean> {
  const all = await allGather(hash(named));
  for (let r = 1; r < worldSize(); r++) if (all[2 * r] !== all[0] || all[2 * r + 1] !== all[1]) return false;
  return true;
}
const flat = (named: Array<[string, Float32Array, number[]]>) => named.map(([n, d]) => [n, Array.from(d)]);

async function collectives() {
  const r = rank(); const n = worldSize();
  const res: Record<string, unknown> = { rank: r, worldSize: n };
  const a = Float32Array.of(r + 1, -r, 2 * r + 0.5);
  const same = await allReduce(a, 'sum');
  res.sameArray = same === a;
  res.sum = Array.from(a);
  res.avg = Array.from(await allReduce(Float64Array.of(r, 10 * r), 'avg'));
  res.max = Array.from(await allReduce(Int32Array.of(r, -r), 'max'));
  res.min = Array.from(await allReduce(Int32Array.of(r, -r), 'min'));
  res.product = Array.from(await allReduce(Float32Array.of(r + 2, 0.5), 'product'));
  res.big = Array.from(await allReduce(BigInt64Array.of(BigInt(r) * 3n), 'sum'), (x) => Number(x));
  const big = new Float32Array(1 << 20).fill(r + 1); // 4 MiB through the ring
  await allReduce(big);
  res.bigOk = big.every((x) => x === (n * (n + 1)) / 2);
  const bc = Uint8Array.of(r, r, r);
  await broadcast(bc, 1);
  res.broadcast = Array.from(bc);
  res.gather = Array.from(await allGather(Float32Array.of(r, r * r)));
  // Several collectives issued at once still pair up in issue order on every rank.
  const many = await Promise.all([0, 1, 2, 3, 4, 5].map((k) => allReduce(Float32Array.of(k * (r + 1)))));
  res.concurrent = many.map((x) => x[0]);
  await barrier();
  try {
    await allReduce(new Float32Array(r === 0 ? 3 : 4));
    res.mismatch = 'no error';
  } catch (e) {
    res.mismatch = `${(e as Error).name}: ${(e as Error).message}`;
  }
  // different reduce ops, then different collectives: refused at once on every rank, naming each rank's call
  const refusal = async (call: () => Promise<unknown>) => {
    const t = Date.now();
    try {
      await call();
      return { message: 'no error', ms: Date.now() - t };
    } catch (e) {
      return { message: `${(e as Error).name}: ${(e as Error).message}`, ms: Date.now() - t };
    }
  };
  res.opMismatch = await refusal(() => allReduce(new Float32Array(2), r === 1 ? 'max' : 'sum'));
  res.kindMismatch = await refusal(() => (r === 1 ? broadcast(new Float32Array(2), 0) : allReduce(new Float32Array(2))));
  res.gatherMismatch = await refusal(() => (r === 2 ? allGather(new Float32Array(2)) : allReduce(new Float32Array(2), 'avg')));
  res.afterMismatches = Array.from(await allReduce(Float32Array.of(r), 'sum'));
  await destroyDistributed();
  res.afterDestroy = worldSize();
  out('RESULT', res);
}

async function train() {
  const r = rank(); const n = worldSize();
  const cut = shares(n);
  const res: Record<string, unknown> = { rank: r, everyStepSame: true };
  // Rank 1.. build their models from other seeds: the first update must broadcast rank 0's weights.
  const ppoPolicy = new Policy(ppoSpec(5 + 100 * r));
  const ppo = new PpoTrainer(ppoPolicy, PPO_OPTS);
  const grpoPolicy = new Policy(grpoSpec(7 + 100 * r));
  const grpo = new GrpoTrainer(grpoPolicy, GRPO_OPTS);
  res.distributed = ppo.distributed && grpo.distributed;
  const ppoMetrics = []; const grpoMetrics = [];
  for (let u = 0; u < 3; u++) {
    ppoMetrics.push(await ppo.update(sliceBatch(globalBatch('ppo', u), cut[r], cut[r + 1])));
    if (!(await sameEverywhere(ppoPolicy.stateDict()))) { res.everyStepSame = false; res.firstDiff ??= `ppo ${u}`; }
    grpoMetrics.push(await grpo.update(sliceBatch(globalBatch('grpo', u), cut[r], cut[r + 1])));
    if (!(await sameEverywhere(grpoPolicy.stateDict()))) { res.everyStepSame = false; res.firstDiff ??= `grpo ${u}`; }
  }
  const head = new ValueHead({ ...VALUE.config, seed: VALUE.config.seed + r });
  const { hidden, targets } = valueData();
  const rows = shares(n, VALUE.rows);
  const D = VALUE.config.inputDim;
  const fit = await head.fit({ data: hidden.slice(rows[r] * D, rows[r + 1] * D), shape: [rows[r + 1] - rows[r], D] },
    targets.slice(rows[r], rows[r + 1]), VALUE.fit);
  if (!(await sameEverywhere(head.stateDict()))) { res.everyStepSame = false; res.firstDiff ??= 'value'; }
  Object.assign(res, { ppoMetrics, grpoMetrics, fit: fit.losses });
  if (r === 0) Object.assign(res, { ppo: flat(ppoPolicy.stateDict()), grpo: flat(grpoPolicy.stateDict()), value: flat(head.stateDict()) });
  await destroyDistributed();
  out('RESULT', res);
}

// Behaviour cloning on rank r's share of the demonstrations (async, then sync
// with the MSE loss); rank 1.. start from other weights, which the broadcast replaces.
async function bc() {
  const r = rank(); const n = worldSize();
  const policy = new Policy(ppoSpec(9 + 100 * r));
  const { obs, actions } = bcData();
  const rows = shares(n, BC.rows);
  const [lo, hi] = [rows[r], rows[r + 1]];
  const o = { data: obs.slice(lo * OBS, hi * OBS), shape: [hi - lo, OBS] };
  const a = { data: actions.slice(lo * ACT, hi * ACT), shape: [hi - lo, ACT] };
  const epochs: number[] = [];
  const nll = await policy.fitBehaviourCloning(o, a, { ...BC.fit, onEpoch: (e) => epochs.push(e.epoch) });
  const sameNll = await sameEverywhere(policy.stateDict());
  const mse = policy.fitBehaviourCloningSync(o, a, { ...BC.fit, loss: 'mse', seed: 21 });
  const sameMse = await sameEverywhere(policy.stateDict());
  // A non-finite action on rank 1 only: every rank fails the same step and keeps its weights.
  const before = hash(policy.stateDict());
  const bad = a.data.slice(); if (r === 1) bad[0] = 1e30;
  let failure = '';
  try {
    await policy.fitBehaviourCloning(o, { data: bad, shape: a.shape }, { ...BC.fit, loss: 'mse' });
  } catch (e) { failure = `${(e as Error).name}: ${(e as Error).message}`; }
  const after = hash(policy.stateDict());
  const res: Record<string, unknown> = {
    rank: r, nll, mse, epochs, sameNll, sameMse, failure, unchanged: after[0] === before[0] && after[1] === before[1],
    sameAfterFailure: await sameEverywhere(policy.stateDict()),
  };
  if (r === 0) res.weights = flat(policy.stateDict());
  await destroyDistributed();
  out('RESULT', res);
}

// Data-parallel PPO updates and a behaviour-cloning fit under the group's
// gradient settings (FEAT2GO_DIST_OVERLAP, FEAT2GO_DIST_BUCKET_MIB): the
// weights, and how many gradient buckets were all-reduced and how many of
// them were launched during backward. Then a local update (distributed: false)
// of the same policy, whose backward must launch no collective.
async function overlap() {
  const r = rank(); const n = worldSize();
  const cut = shares(n);
  const policy = new Policy(ppoSpec(5 + 100 * r));
  const ppo = new PpoTrainer(policy, PPO_OPTS);
  const s0 = collectiveStats();
  for (let u = 0; u < 2; u++) await ppo.update(sliceBatch(globalBatch('ppo', u), cut[r], cut[r + 1]));
  const s1 = collectiveStats();
  const ppoWeights = flat(policy.stateDict());
  const bcPolicy = new Policy(ppoSpec(9 + 100 * r));
  const { obs, actions } = bcData();
  const rows = shares(n, BC.rows);
  const [lo, hi] = [rows[r], rows[r + 1]];
  const bcFit = await bcPolicy.fitBehaviourCloning({ data: obs.slice(lo * OBS, hi * OBS), shape: [hi - lo, OBS] },
    { data: actions.slice(lo * ACT, hi * ACT), shape: [hi - lo, ACT] }, BC.fit);
  const s2 = collectiveStats();
  const same = (await sameEverywhere(policy.stateDict())) && (await sameEverywhere(bcPolicy.stateDict()));
  const local = new PpoTrainer(policy, { ...PPO_OPTS, distributed: false });
  const c0 = collectiveStats().calls;
  local.updateSync(globalBatch('ppo', 2));
  const localCalls = collectiveStats().calls - c0;
  const localWeights = flat(policy.stateDict());
  // The other setting for one more distributed update (setGradientOverlap between updates).
  setGradientOverlap(!distributedInfo()!.overlapGradients);
  const s3 = collectiveStats();
  await ppo.update(sliceBatch(globalBatch('ppo', 3), cut[r], cut[r + 1]));
  const s4 = collectiveStats();
  out('RESULT', {
    rank: r, same, ppo: ppoWeights, bc: flat(bcPolicy.stateDict()), bcLosses: bcFit.losses, local: localWeights, localCalls,
    flipped: distributedInfo()!.overlapGradients, flippedDuring: s4.bucketsDuringBackward - s3.bucketsDuringBackward,
    flippedBuckets: s4.gradientBuckets - s3.gradientBuckets, afterFlip: flat(policy.stateDict()),
    ppoBuckets: s1.gradientBuckets - s0.gradientBuckets, ppoDuring: s1.bucketsDuringBackward - s0.bucketsDuringBackward,
    bcBuckets: s2.gradientBuckets - s1.gradientBuckets, bcDuring: s2.bucketsDuringBackward - s1.bucketsDuringBackward,
  });
  await destroyDistributed();
}

// Updates until the parent kills a rank; the survivors report the error and
// whether the failed update left the weights as the last good one did.
async function killed() {
  const r = rank();
  const policy = new Policy(ppoSpec(5));
  const ppo = new PpoTrainer(policy, { ...PPO_OPTS, klCoef: 0 });
  const batch = sliceBatch(globalBatch('ppo', 0), shares(worldSize())[r], shares(worldSize())[r + 1]);
  let before = hash(policy.stateDict());
  for (let u = 0; ; u++) {
    try {
      await ppo.update(batch);
    } catch (e) {
      const after = hash(policy.stateDict());
      const unchanged = after[0] === before[0] && after[1] === before[1];
      out('ERROR', { rank: r, at: Date.now(), name: (e as Error).name, message: (e as Error).message, unchanged, update: u });
      process.exit(3);
    }
    before = hash(policy.stateDict());
    process.stdout.write(`STEP ${u}\n`);
    if (u > 2000) return;
  }
}

/**
 * Rank 1 comes to each collective up to 2 ms late, so rank 0 waits through short wait slices
 * (FEAT2GO_DIST_WAIT_SLICE_MS, set by the test) and completions often land at a slice's end.
 */
async function slices() {
  const r = rank(); const rounds = Number(process.env.SLICE_ROUNDS ?? 400);
  let ok = 0;
  for (let i = 0; i < rounds; i++) {
    if (r === 1) { const until = performance.now() + (i % 5) * 0.5; while (performance.now() < until); }
    const a = Float32Array.of(r + 1, i);
    await allReduce(a);
    if (a[0] === 3 && a[1] === 2 * i) ok++;
  }
  out('RESULT', { rank: r, ok, rounds });
  await destroyDistributed();
}

async function main() {
  capabilities(); // load the addon first: the timings below are the rendezvous's own
  // With GO_FILE set, wait for it: the parent starts the rendezvous once every rank has loaded
  // (starting Node with libtorch can take seconds on a loaded machine; the timeouts here are short).
  const go = process.env.GO_FILE;
  if (go) {
    process.stdout.write('LOADED\n');
    while (!existsSync(go)) await new Promise((r) => setTimeout(r, 20));
  }
  const t0 = Date.now();
  try {
    await initDistributed();
  } catch (e) {
    out('ERROR', { rank: Number(process.env.RANK), ms: Date.now() - t0, name: (e as Error).name, message: (e as Error).message });
    return;
  }
  if (scenario === 'collectives') await collectives();
  else if (scenario === 'train') await train();
  else if (scenario === 'killed') await killed();
  else if (scenario === 'bc') await bc();
  else if (scenario === 'overlap') await overlap();
  else if (scenario === 'slices') await slices();
  else if (scenario === 'longest-timeout') {
    // the largest timeoutMs (set by the test through FEAT2GO_DIST_TIMEOUT_MS) joins and runs collectives
    out('RESULT', { timeoutMs: distributedInfo()!.timeoutMs, sum: Array.from(await allReduce(Float32Array.of(rank() + 1))) });
    await destroyDistributed();
  } else if (scenario === 'join') {
    await barrier();
    out('RESULT', { rank: rank() });
    await destroyDistributed();
  } else throw new Error(`unknown scenario ${scenario}`);
}

await main();
