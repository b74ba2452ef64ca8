// Process groups over c10d/Gloo, data-parallel training and its faults. The
// ranks are child processes on 127.0.0.1 with free ports, started here.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  capabilities, distributedAvailable, GrpoTrainer, initDistributed, isDistributed, MAX_DISTRIBUTED_TIMEOUT_MS, Policy, PpoTrainer, resolveDistributedOptions, setGradientOverlap, ValueHead,
} from '../../src/index.js';
import { ACT, BC, bcData, globalBatch, GRPO_OPTS, grpoSpec, OBS, PPO_OPTS, ppoSpec, VALUE, valueData } from '../helpers/dist-data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, '..', 'helpers', 'dist-child.ts');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Rank { child: ChildProcess; out: string; lines: string[]; done: Promise<number | null>; onLine?: (l: string) => void }
function startRank(scenario: string, env: Record<string, string>): Rank {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, scenario], {
    env: { ...process.env, MASTER_ADDR: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Rank = { child, out: '', lines: [], done: new Promise((res) => child.on('exit', (code) => res(code))) };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      r.lines.push(line); r.onLine?.(line);
    }
  });
  child.stderr!.on('data', (d: Buffer) => { r.out += d.toString(); });
  return r;
}
/** Resolves once every rank printed LOADED (its addon is loaded; it waits for GO_FILE). */
function allLoaded(ranks: Rank[]): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (ranks.every((r) => r.lines.includes('LOADED') || r.child.exitCode !== null)) { clearInterval(t); resolve(); }
    }, 20);
  });
}
function result(r: Rank, tag = 'RESULT'): Record<string, any> {
  const line = r.lines.find((l) => l.startsWith(`${tag} `));
  if (!line) throw new Error(`no ${tag} line from rank; stdout: ${r.lines.join('\n')}\nstderr: ${r.out}`);
  return JSON.parse(line.slice(tag.length + 1));
}
async function group(scenario: string, n: number, extra: Record<string, string> = {}): Promise<Rank[]> {
  const port = await freePort();
  const ranks = Array.from({ length: n }, (_, r) => startRank(scenario, {
    RANK: String(r), WORLD_SIZE: String(n), MASTER_PORT: String(port), FEAT2GO_DIST_TIMEOUT_MS: '20000', ...extra,
  }));
  await Promise.all(ranks.map((r) => r.done));
  return ranks;
}

// Gradient buckets per step by the documented rule: the parameters in reverse order, the
// first bucket at most min(1 MiB, cap) bytes, the others at most cap; a larger parameter alone.
function bucketCount(bytes: number[], cap: number): number {
  let n = 0; let used = 0;
  for (const b of [...bytes].reverse()) {
    if (n === 0 || used + b > (n === 1 ? Math.min(cap, 1048576) : cap)) { n++; used = 0; }
    used += b;
  }
  return n;
}

const like = (s: string, re: RegExp) => assert.ok(re.test(s), `${JSON.stringify(s)} should match ${re}`);
const maxRel = (a: number[], b: ArrayLike<number>) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]) / Math.max(1e-3, Math.abs(b[i]))), 0);

test('options default from RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; bad ones are named', () => {
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { RANK: '2', WORLD_SIZE: '4', LOCAL_RANK: '0', MASTER_ADDR: 'node7', MASTER_PORT: '1234' });
    const o = resolveDistributedOptions();
    assert.equal([o.rank, o.worldSize, o.localRank, o.masterAddr, o.masterPort, o.backend], [2, 4, 0, 'node7', 1234, 'gloo']);
    assert.is(resolveDistributedOptions({ rank: 1, worldSize: 2, masterPort: 9 }).masterPort, 9);
    assert.throws(() => resolveDistributedOptions({ rank: 4 }), (e: Error) => e instanceof RangeError && /rank/.test(e.message) && /4/.test(e.message));
    process.env.WORLD_SIZE = 'two';
    assert.throws(() => resolveDistributedOptions(), (e: Error) => e instanceof RangeError && /WORLD_SIZE/.test(e.message));
    assert.throws(() => resolveDistributedOptions({ rank: 0, worldSize: 1, backend: 'mpi' as 'gloo' }), (e: Error) => e instanceof TypeError && /backend/.test(e.message));
    assert.throws(() => resolveDistributedOptions({ rank: 0, worldSize: 1, masterPort: 70000 }), /masterPort/);
    // Gradient settings: overlap on and 25 MiB buckets unless told otherwise.
    process.env.WORLD_SIZE = '4';
    delete process.env.FEAT2GO_DIST_OVERLAP; delete process.env.FEAT2GO_DIST_BUCKET_MIB;
    assert.equal([resolveDistributedOptions().overlapGradients, resolveDistributedOptions().gradientBucketMiB], [true, 25]);
    Object.assign(process.env, { FEAT2GO_DIST_OVERLAP: '0', FEAT2GO_DIST_BUCKET_MIB: '0.5' });
    assert.equal([resolveDistributedOptions().overlapGradients, resolveDistributedOptions().gradientBucketMiB], [false, 0.5]);
    assert.equal(resolveDistributedOptions({ overlapGradients: true, gradientBucketMiB: 4 }).overlapGradients, true);
    process.env.FEAT2GO_DIST_OVERLAP = 'no';
    assert.throws(() => resolveDistributedOptions(), (e: Error) => e instanceof RangeError && /FEAT2GO_DIST_OVERLAP/.test(e.message) && /no/.test(e.message));
    process.env.FEAT2GO_DIST_OVERLAP = 'true';
    process.env.FEAT2GO_DIST_BUCKET_MIB = '0';
    assert.throws(() => resolveDistributedOptions(), (e: Error) => e instanceof RangeError && /FEAT2GO_DIST_BUCKET_MIB/.test(e.message));
    assert.throws(() => resolveDistributedOptions({ overlapGradients: 1 as unknown as boolean }), (e: Error) => e instanceof TypeError && /opts\.overlapGradients/.test(e.message));
    assert.throws(() => setGradientOverlap('no' as unknown as boolean), (e: Error) => e instanceof TypeError && /for on/.test(e.message));
    assert.throws(() => setGradientOverlap(false), /setGradientOverlap: no process group/);
    delete process.env.FEAT2GO_DIST_BUCKET_MIB;
    assert.throws(() => resolveDistributedOptions({ timeoutMs: 1e13 }), (e: Error) => e instanceof RangeError && e.message === 'Expected an integer in [1, 2147483647] for opts.timeoutMs but received the number 10000000000000');
    process.env.FEAT2GO_DIST_TIMEOUT_MS = '9300000000000';
    assert.throws(() => resolveDistributedOptions(), (e: Error) => e instanceof RangeError && /for FEAT2GO_DIST_TIMEOUT_MS but received the number 9300000000000/.test(e.message));
    process.env.FEAT2GO_DIST_TIMEOUT_MS = '2147483647';
    assert.is(resolveDistributedOptions().timeoutMs, 2147483647);
    delete process.env.FEAT2GO_DIST_TIMEOUT_MS;
    assert.throws(() => resolveDistributedOptions({ gradientBucketMiB: 1e6 }), (e: Error) => e instanceof RangeError && /opts\.gradientBucketMiB/.test(e.message) && /1000000/.test(e.message));
  } finally {
    for (const k of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'FEAT2GO_DIST_OVERLAP', 'FEAT2GO_DIST_BUCKET_MIB', 'FEAT2GO_DIST_TIMEOUT_MS']) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  }
});

if (!distributedAvailable()) {
  console.log(`SKIP distributed process-group tests: this addon was built without c10d/Gloo (capabilities().distributed = ${capabilities().distributed}; torch = ${capabilities().torch})`);
  test('without c10d initDistributed throws one clear error', async () => {
    try {
      await initDistributed({ rank: 0, worldSize: 1 });
      assert.unreachable('should throw');
    } catch (e) {
      like((e as Error).message, /capabilities\(\)\.distributed is false/);
    }
  });
} else {
  test('collectives on 3 ranks: sum/avg/max/min/product, broadcast, allGather, ordered concurrent calls, mismatch error', async () => {
    const ranks = await group('collectives', 3);
    for (const [r, rk] of ranks.entries()) {
      const x = result(rk);
      assert.is(x.rank, r);
      assert.ok(x.sameArray, 'allReduce resolves with the array it was given');
      assert.equal(x.sum, [1 + 2 + 3, 0 - 1 - 2, 0.5 + 2.5 + 4.5]);
      assert.equal(x.avg, [1, 10]);
      assert.equal(x.max, [2, 0]);
      assert.equal(x.min, [0, -2]);
      assert.equal(x.product, [2 * 3 * 4, 0.125]);
      assert.equal(x.big, [9]);
      assert.ok(x.bigOk, '4 MiB all-reduce');
      assert.equal(x.broadcast, [1, 1, 1]);
      assert.equal(x.gather, [0, 0, 1, 1, 2, 4]);
      assert.equal(x.concurrent, [0, 6, 12, 18, 24, 30]);
      like(x.mismatch, /^RangeError: allReduce: the ranks disagree/);
      like(x.mismatch, /rank 0 called allReduce with op 'sum' on a Float32Array\(3\), rank 1 called allReduce with op 'sum' on a Float32Array\(4\)/);
      like(x.opMismatch.message, /^RangeError: allReduce: the ranks disagree on the collective: rank 0 called allReduce with op 'sum' on a Float32Array\(2\), rank 1 called allReduce with op 'max' on a Float32Array\(2\), rank 2 called allReduce with op 'sum'/);
      like(x.kindMismatch.message, /the ranks disagree on the collective: rank 0 called allReduce with op 'sum' on a Float32Array\(2\), rank 1 called broadcast from root 0 on a Float32Array\(2\), rank 2 called allReduce/);
      like(x.gatherMismatch.message, /the ranks disagree on the collective: .*rank 1 called allReduce with op 'avg' on a Float32Array\(2\), rank 2 called allGather on a Float32Array\(2\)/);
      // at once, not after the group's 20 s timeout
      for (const k of ['opMismatch', 'kindMismatch', 'gatherMismatch']) assert.ok(x[k].ms < 5000, `${k} took ${x[k].ms} ms`);
      assert.equal(x.afterMismatches, [0 + 1 + 2], 'the group still works after refused calls');
      assert.is(x.afterDestroy, 1);
    }
  });

  test('2 ranks × unequal shares = 1 process × whole batch: PPO, GRPO and the value head; identical parameters after every step', async () => {
    const ranks = await group('train', 2);
    const r0 = result(ranks[0]); const r1 = result(ranks[1]);
    assert.ok(r0.distributed && r1.distributed, 'trainers detect the initialised group');
    assert.ok(r0.everyStepSame && r1.everyStepSame, 'hash all-gather after every update and the fit');
    // Reference: one process, whole batches, no group.
    assert.not.ok(isDistributed());
    const ppoPolicy = new Policy(ppoSpec(5)); const ppo = new PpoTrainer(ppoPolicy, PPO_OPTS);
    const grpoPolicy = new Policy(grpoSpec(7)); const grpo = new GrpoTrainer(grpoPolicy, GRPO_OPTS);
    const ppoM = []; const grpoM = [];
    for (let u = 0; u < 3; u++) {
      ppoM.push(ppo.updateSync(globalBatch('ppo', u)));
      grpoM.push(grpo.updateSync(globalBatch('grpo', u)));
    }
    const head = new ValueHead(VALUE.config);
    const { hidden, targets } = valueData();
    const fit = head.fitSync({ data: hidden, shape: [VALUE.rows, VALUE.config.inputDim] }, targets, VALUE.fit);
    // Tolerance: the two runs sum the same terms in a different order (float32), over 3 × 6 AdamW steps.
    const TOL = 2e-4;
    for (const [name, got, want] of [['ppo', r0.ppo, ppoPolicy.stateDict()], ['grpo', r0.grpo, grpoPolicy.stateDict()], ['value', r0.value, head.stateDict()]] as const) {
      assert.is(got.length, want.length);
      for (let i = 0; i < want.length; i++) {
        const rel = maxRel(got[i][1], want[i][1]);
        assert.ok(rel < TOL, `${name} ${want[i][0]}: max relative difference ${rel}`);
      }
    }
    for (let u = 0; u < 3; u++) {
      for (const [m, ref] of [[r0.ppoMetrics[u], ppoM[u]], [r1.ppoMetrics[u], ppoM[u]], [r0.grpoMetrics[u], grpoM[u]], [r1.grpoMetrics[u], grpoM[u]]]) {
        for (const k of ['policyLoss', 'valueLoss', 'entropy', 'clipFraction', 'approxKl', 'kl', 'loss', 'gradNorm']) {
          assert.ok(Math.abs(m[k] - ref[k]) <= 1e-4 * Math.max(1, Math.abs(ref[k])), `update ${u} ${k}: ${m[k]} vs ${ref[k]}`);
        }
        assert.is(m.steps, ref.steps);
      }
    }
    for (const f of [r0.fit, r1.fit]) assert.ok(maxRel(f, fit.losses) < 1e-4, `fit losses ${f} vs ${fit.losses}`);
  });

  test('gradient all-reduce overlapping backward = the same buckets summed after backward: identical weights; the hooks are inert in a local update', async () => {
    // Buckets of at most 1048 bytes, so that the tiny models have several and
    // most of them can start before backward ends.
    const small = { FEAT2GO_DIST_BUCKET_MIB: '0.001' };
    const [on, off] = await Promise.all([group('overlap', 2, small), group('overlap', 2, { ...small, FEAT2GO_DIST_OVERLAP: '0' })]);
    const res = [...on, ...off].map((rk) => result(rk));
    const ppoSteps = 2 * PPO_OPTS.epochs * PPO_OPTS.minibatches; const bcSteps = BC.fit.epochs * Math.ceil(BC.rows / BC.fit.batchSize);
    // PPO trains every tensor (actor, then critic: state-dict order); behaviour cloning the actor's.
    const sd = new Policy(ppoSpec(5)).stateDict();
    const cap = Math.round(0.001 * 1048576);
    const ppoPer = bucketCount(sd.map(([, d]) => d.byteLength), cap);
    const bcPer = bucketCount(sd.filter(([n]) => !n.startsWith('critic.')).map(([, d]) => d.byteLength), cap);
    assert.equal([ppoPer, bcPer], [3, 3], 'the rule gives these tiny models three buckets each');
    for (const x of res) {
      assert.ok(x.same, `rank ${x.rank}: identical weights on every rank`);
      assert.is(x.localCalls, 0, 'a local update after distributed ones launches no collective');
      // The same buckets every step, on both settings.
      assert.is(x.ppoBuckets, ppoSteps * ppoPer, 'PPO buckets'); assert.is(x.bcBuckets, bcSteps * bcPer, 'BC buckets');
    }
    for (const x of res.slice(0, 2)) {
      // Overlap on: buckets start inside backward, from its hooks (a rank with an
      // empty share has no backward and launches its buckets after it).
      assert.ok(x.ppoDuring > 0 && x.ppoDuring <= x.ppoBuckets, `rank ${x.rank}: ${x.ppoDuring} of ${x.ppoBuckets} PPO buckets during backward`);
      assert.ok(x.bcDuring > 0, `rank ${x.rank}: ${x.bcDuring} of ${x.bcBuckets} BC buckets during backward`);
    }
    for (const x of res.slice(2)) assert.equal([x.ppoDuring, x.bcDuring], [0, 0], 'overlap off: every bucket after backward');
    // setGradientOverlap flips it for the next update: on → off, off → on.
    for (const x of res) {
      assert.is(x.flipped, res.indexOf(x) >= 2);
      assert.ok(x.flippedBuckets > 0);
      if (x.flipped) assert.ok(x.flippedDuring > 0, `rank ${x.rank}: turned on`); else assert.is(x.flippedDuring, 0);
    }
    // The same sums in the same buckets: bit-identical weights and losses, whichever setting.
    for (const x of res.slice(1)) {
      for (const k of ['ppo', 'bc', 'local', 'bcLosses', 'afterFlip']) assert.equal(x[k], res[0][k], `rank ${x.rank} ${k}`);
    }
    // Trained: the weights moved from the initial ones.
    const init = new Policy(ppoSpec(5)).stateDict();
    assert.ok(maxRel(res[0].ppo[0][1], init[0][1]) > 1e-4, 'the updates changed the weights');
  });

  test('behaviour cloning: 2 ranks × unequal halves = 1 process × all demonstrations (nll, then mse); identical weights; a rank-local non-finite loss fails every rank and changes nothing', async () => {
    const ranks = await group('bc', 2);
    const r0 = result(ranks[0]); const r1 = result(ranks[1]);
    for (const x of [r0, r1]) {
      assert.ok(x.sameNll && x.sameMse, `rank ${x.rank}: weights identical on every rank after each fit (hash all-gather)`);
      assert.equal(x.epochs, [1, 2, 3]);
      // 23 rows, minibatches of 6: 4 global steps per epoch on both ranks (the last rank-local share may be empty).
      assert.is(x.nll.steps, 12); assert.is(x.mse.steps, 12);
      like(x.failure, /^NonFiniteError: Non-finite loss \(Infinity\) summed over the ranks at epoch 1 of 3, minibatch \d of 4/);
      assert.ok(x.unchanged, `rank ${x.rank}: the failed fit left the weights as they were`);
      assert.ok(x.sameAfterFailure, 'still identical after the failure');
    }
    // Reference: one process, all rows, no group, the same seeds (rank 0's initial weights).
    assert.not.ok(isDistributed());
    const policy = new Policy(ppoSpec(9));
    const { obs, actions } = bcData();
    const o = { data: obs, shape: [BC.rows, OBS] }; const a = { data: actions, shape: [BC.rows, ACT] };
    const nll = await policy.fitBehaviourCloning(o, a, BC.fit);
    const mse = policy.fitBehaviourCloningSync(o, a, { ...BC.fit, loss: 'mse', seed: 21 });
    // Tolerance: the same terms summed in another order (float32), over 2 × 12 AdamW steps with clipping.
    const TOL = 2e-4;
    const want = policy.stateDict();
    assert.is(r0.weights.length, want.length);
    for (let i = 0; i < want.length; i++) {
      const rel = maxRel(r0.weights[i][1], want[i][1]);
      assert.ok(rel < TOL, `${want[i][0]}: max relative difference ${rel}`);
    }
    for (const x of [r0, r1]) {
      assert.ok(maxRel(x.nll.losses, nll.losses) < 1e-4, `nll losses ${x.nll.losses} vs ${nll.losses}`);
      assert.ok(maxRel(x.mse.losses, mse.losses) < 1e-4, `mse losses ${x.mse.losses} vs ${mse.losses}`);
    }
    // The fit moved the weights (the comparison above is not between two untouched models).
    assert.ok(nll.losses[2] < nll.losses[0], `nll fell: ${nll.losses}`);
  });

  test('behaviour cloning: distributed: true without a group is a clear error; the flag must be a boolean', () => {
    const policy = new Policy(ppoSpec(9));
    const { obs, actions } = bcData();
    const o = { data: obs, shape: [BC.rows, OBS] }; const a = { data: actions, shape: [BC.rows, ACT] };
    assert.throws(() => policy.fitBehaviourCloningSync(o, a, { distributed: true }), /opts\.distributed is true but no process group is initialised/);
    assert.throws(() => policy.fitBehaviourCloningSync(o, a, { distributed: 1 as unknown as boolean }), (e: Error) => e instanceof TypeError && /opts\.distributed/.test(e.message));
  });

  test('a rank killed mid-update (rank 1; and rank 0, which hosts the store): the survivor fails within the timeout naming the collective and the rank', async () => {
    // Three groups at once: in A rank 1 is killed, in B rank 0; in C rank 1's 17th collective fails
    // (FEAT2GO_DIST_FAULT_AT): the 3rd gradient all-reduce of the 2nd update, after two optimizer steps of it
    // (update 1: 2 for the weight broadcast + 1 sizes + 2 epochs × (1 denominators + 3 gradients) + 1 metrics = 12;
    // the tiny model's gradients are one bucket, launched from a hook during backward, so the fault hits there).
    // In D (1 KiB gradient buckets: 3 per step, launched from backward's hooks where a rank holds part of
    // the minibatch) rank 1's 34th collective fails: the 2nd bucket of the 3rd step of the 2nd update
    // (update 1: 2 + 1 + 2 × (1 + 3 × 3) + 1 = 24; then #25 sizes, #26 denominators, #27–29 and #30–32 two
    // steps, #33 the 3rd step's 1st bucket), while rank 0 may have its 2nd and 3rd buckets in flight.
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const goFile = path.join(os.tmpdir(), `f2g-dist-go-${process.pid}-${Date.now()}`);
    const env = (port: number, r: number, extra: Record<string, string> = {}) => ({ RANK: String(r), WORLD_SIZE: '2', MASTER_PORT: String(port), FEAT2GO_DIST_TIMEOUT_MS: '3000', GO_FILE: goFile, ...extra });
    const groups = ports.slice(0, 2).map((port) => [startRank('killed', env(port, 0)), startRank('killed', env(port, 1))]);
    const faulty = [startRank('killed', env(ports[2], 0)), startRank('killed', env(ports[2], 1, { FEAT2GO_DIST_FAULT_AT: '17' }))];
    const small = { FEAT2GO_DIST_BUCKET_MIB: '0.001' };
    const bucketFault = [startRank('killed', env(ports[3], 0, small)), startRank('killed', env(ports[3], 1, { ...small, FEAT2GO_DIST_FAULT_AT: '34' }))];
    faulty.push(...bucketFault);
    const killedAt = [0, 0];
    groups.forEach((g, i) => {
      const victim = g[1 - i];
      victim.onLine = (l) => { if (l === 'STEP 1' && !killedAt[i]) { killedAt[i] = Date.now(); victim.child.kill('SIGKILL'); } };
    });
    const timer = setTimeout(() => [...groups.flat(), ...faulty].forEach((r) => r.child.kill('SIGKILL')), 90000);
    await allLoaded([...groups.flat(), ...faulty]);
    fs.writeFileSync(goFile, '');
    await Promise.all([...groups.flat(), ...faulty].map((r) => r.done));
    clearTimeout(timer);
    fs.rmSync(goFile, { force: true });
    // Deterministic: both ranks' failed update is undone (weights as after update 1).
    const f1 = result(faulty[1], 'ERROR'); const f0 = result(faulty[0], 'ERROR');
    like(f1.message, /^update \(gradient all-reduce\) failed on rank 1: injected fault/);
    // Rank 1 fails its 17th collective and exits: rank 0 sees either the store's record of the exit
    // or the closed connection first; both name rank 1 and where it stopped.
    like(f0.message, /^update \(gradient all-reduce\) failed on rank 0 of 2 \(timeout 3000 ms\): (rank 1 \(process \d+\) exited after collective #16|rank 1 did not reach it \(its last collective is #16, this one is #17\))/);
    const d1 = result(bucketFault[1], 'ERROR'); const d0 = result(bucketFault[0], 'ERROR');
    like(d1.message, /^update \(gradient all-reduce\) failed on rank 1: injected fault \(FEAT2GO_DIST_FAULT_AT=34\)/);
    like(d0.message, /^update \(gradient all-reduce\) failed on rank 0 of 2 \(timeout 3000 ms\): (rank 1 \(process \d+\) exited after collective #33|rank 1 did not reach it \(its last collective is #33, this one is #34\))/);
    for (const f of [f0, f1, d0, d1]) {
      assert.is(f.update, 1);
      assert.ok(f.unchanged, `rank ${f.rank}: the failed update left the weights unchanged`);
    }
    assert.ok(killedAt[0] > 0 && killedAt[1] > 0, 'both victims reached step 1');
    const a = result(groups[0][0], 'ERROR');
    like(a.message, /^update \((gradient all-reduce|minibatch sizes|batch sizes|metrics)\) failed on rank 0 of 2 \(timeout 3000 ms\): /);
    // Which of the two the survivor sees first depends on timing (the store's
    // record of the exit, or the broken connection); both name the missing rank.
    like(a.message, /rank 1 \(process \d+\) exited after collective #\d+|rank 1 did not reach it \(its last collective is #\d+, this one is #\d+\)/);
    assert.ok(a.at - killedAt[0] < 3000 + 3000, `failed ${a.at - killedAt[0]} ms after the kill`);
    assert.ok(a.unchanged, 'the failed update left the weights unchanged');
    const b = result(groups[1][1], 'ERROR');
    like(b.message, /^update \(.*\) failed on rank 1 of 2|^update \(.*\) failed on rank 1: /);
    like(b.message, /rank 0 \(which hosts the rendezvous store at 127\.0\.0\.1:\d+\) is unreachable|rank 0 \(process \d+\) exited/);
    assert.ok(b.at - killedAt[1] < 3000 + 3000, `failed ${b.at - killedAt[1]} ms after the kill`);
    assert.ok(b.unchanged, 'the failed update left the weights unchanged');
  });

  test('a collective that completes as a wait slice runs out is a success, not the slice\'s "Operation timed out!" (1 ms slices, 400 late arrivals)', async () => {
    const ranks = await group('slices', 2, { FEAT2GO_DIST_WAIT_SLICE_MS: '1', SLICE_ROUNDS: '400' });
    for (const [r, rk] of ranks.entries()) {
      assert.is(rk.child.exitCode, 0, `rank ${r}: ${rk.out}`);
      assert.equal(result(rk), { rank: r, ok: 400, rounds: 400 });
    }
  });

  test('timeoutMs: the largest (2^31 − 1 ms) joins and runs collectives; a longer one is a RangeError naming it, never blamed on the port', async () => {
    const ranks = await group('longest-timeout', 2, { FEAT2GO_DIST_TIMEOUT_MS: String(MAX_DISTRIBUTED_TIMEOUT_MS) });
    for (const rk of ranks) assert.equal(result(rk), { timeoutMs: 2147483647, sum: [3] });
    for (const t of [MAX_DISTRIBUTED_TIMEOUT_MS + 1, 1e13, 2 ** 53]) {
      await initDistributed({ rank: 0, worldSize: 1, masterPort: 1, timeoutMs: t }).then(() => assert.unreachable(`${t} accepted`), (e: Error) => {
        assert.ok(e instanceof RangeError && e.message === `Expected an integer in [1, 2147483647] for opts.timeoutMs but received the number ${t}`, e.message);
      });
    }
    assert.not.ok(isDistributed());
  });

  test('rendezvous faults: a rank that never starts (timeout naming it), port in use; disagreeing worldSize or bucket size and a duplicate rank stop every rank at once', async () => {
    // Started together to keep the suite short; 5 s timeouts because a loaded machine may take seconds to start Node with libtorch.
    const goFile = path.join(os.tmpdir(), `f2g-dist-go-${process.pid}-${Date.now()}`);
    const late = await freePort();
    const lone = (r: number) => startRank('join', { RANK: String(r), WORLD_SIZE: '3', MASTER_PORT: String(late), FEAT2GO_DIST_TIMEOUT_MS: '5000', GO_FILE: goFile });
    const r0 = lone(0); const r2 = lone(2);
    const blocker = net.createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', () => res()));
    const used = (blocker.address() as net.AddressInfo).port;
    const inUse = startRank('join', { RANK: '0', WORLD_SIZE: '2', MASTER_PORT: String(used), FEAT2GO_DIST_TIMEOUT_MS: '5000', GO_FILE: goFile });
    // A rank given another worldSize: every rank of the group fails at once naming both sizes (not after the timeout).
    const port = await freePort();
    const env = (r: number, w: number, p = port) => ({ RANK: String(r), WORLD_SIZE: String(w), MASTER_PORT: String(p), FEAT2GO_DIST_TIMEOUT_MS: '20000', GO_FILE: goFile });
    const worlds = [startRank('join', env(0, 3)), startRank('join', env(1, 3)), startRank('join', env(2, 4))];
    // Two processes given rank 1: one is told the rank is taken, and the group stops with that reason.
    const dport = await freePort();
    const a = startRank('join', env(0, 3, dport)); const b = startRank('join', env(1, 3, dport)); const dup = startRank('join', env(1, 3, dport));
    // Two ranks given different gradient bucket sizes (their gradient all-reduces would not pair up).
    const bport = await freePort();
    const buckets = ['25', '1'].map((mib, r) => startRank('join', { ...env(r, 2, bport), FEAT2GO_DIST_BUCKET_MIB: mib }));
    await allLoaded([r0, r2, inUse, ...worlds, a, b, dup, ...buckets]);
    fs.writeFileSync(goFile, '');
    await Promise.all([r0.done, r2.done, inUse.done, ...worlds.map((x) => x.done), a.done, b.done, dup.done, ...buckets.map((x) => x.done)]);
    fs.rmSync(goFile, { force: true });
    blocker.close();
    for (const rk of [r0, r2]) {
      const e = result(rk, 'ERROR');
      // Rank 2 may instead see rank 0 (the store's host) give up first, when it started later.
      like(e.message, rk === r0
        ? /^initDistributed: rank 1 did not join within 5000 ms \(worldSize 3, rendezvous store 127\.0\.0\.1:\d+\)$/
        : /^initDistributed: (rank 1 did not join within 5000 ms|rank 2 lost the rendezvous store on 127\.0\.0\.1:\d+ while waiting for rank 1 to join)/);
      assert.ok(e.ms < 5000 + 2000, `failed after ${e.ms} ms`);
      if (rk === r0) assert.ok(e.ms >= 4900, `failed after ${e.ms} ms`);
    }
    like(result(inUse, 'ERROR').message, new RegExp(`rank 0 could not open the rendezvous store on 127\\.0\\.0\\.1:${used} \\(is the port in use`));
    for (const [i, w] of worlds.entries()) {
      const e = result(w, 'ERROR');
      like(e.message, /^initDistributed: the ranks disagree on worldSize: rank [012] has (3|4) but rank [012] has (3|4) \(every rank must be given the same worldSize\)$/);
      like(e.message, /has 4 but|but rank 2 has 4/);
      assert.ok(e.ms < 10000, `rank ${i} failed after ${e.ms} ms (the timeout is 20000)`);
    }
    // One of the two processes given rank 1 wins; the other is told the rank is taken, and so is the rest of the group.
    const errs = [a, b, dup].map((x) => x.lines.find((l) => l.startsWith('ERROR ')) ?? '');
    assert.ok(errs.some((l) => /rank 1 is already taken by process \d+@/.test(l)), errs.join('\n'));
    assert.ok(errs.every((l) => /rank 1 is already taken by process \d+@.*two processes were given the same rank/.test(l) || l === ''), errs.join('\n'));
    for (const x of [a, b, dup]) {
      const l = x.lines.find((k) => k.startsWith('ERROR '));
      if (l) assert.ok(JSON.parse(l.slice(6)).ms < 10000, l);
      else assert.ok(x.lines.some((k) => k.startsWith('RESULT ')), `neither joined nor refused: ${x.lines.join(' | ')} ${x.out}`);
    }
    // Whichever of the two registered its bucket size second names both; the other rank learns it at once.
    const bucketErrs = buckets.map((x) => result(x, 'ERROR'));
    for (const e of bucketErrs) {
      like(e.message, /^initDistributed: the ranks disagree on the gradient bucket size: rank [01] has (26214400|1048576) bytes but rank [01] has (1048576|26214400) bytes \(every rank must be given the same gradientBucketMiB\)$/);
      assert.ok(e.ms < 10000, `failed after ${e.ms} ms`);
    }
  });
}

test.run();
