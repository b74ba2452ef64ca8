// One rank of bench/distributed.ts (started by launchRanks): all-reduce
// times for 1–64 MiB (skipped with BENCH_PART=ppo) and a data-parallel PPO
// update with the collectives' share, with the gradient all-reduce's overlap
// on and off in alternate rounds (buckets: FEAT2GO_DIST_BUCKET_MIB); rank 0
// prints `BENCH {json}`.
import { allReduce, barrier, collectiveStats, destroyDistributed, distributedInfo, initDistributed, PpoTrainer, rank, setGradientOverlap, worldSize } from '../src/index.js';
import { randomFloats } from './common.js';
import { PPO_N, PPO_OPTS, ppoBatch, ppoPolicy } from './distributed-ppo.js';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

await initDistributed();
const r = rank(); const n = worldSize();
const allreduce: Array<{ mib: number; ms: number }> = [];
for (const mib of process.env.BENCH_PART === 'ppo' ? [] : [1, 4, 16, 64]) {
  const buf = randomFloats(mib * 262144, 10 + r);
  await allReduce(buf); // warm-up (Gloo sets up the algorithm on first use)
  const reps = Math.max(3, Math.round(32 / mib));
  const t: number[] = [];
  for (let k = 0; k < reps; k++) {
    await barrier();
    const t0 = now();
    await allReduce(buf);
    t.push(now() - t0);
  }
  allreduce.push({ mib, ms: median(t) });
}
const policy = ppoPolicy();
const lo = Math.floor((PPO_N * r) / n); const hi = Math.floor((PPO_N * (r + 1)) / n);
const batch = ppoBatch(policy, lo, hi);
const ppo = new PpoTrainer(policy, { ...PPO_OPTS, distributed: true });
await ppo.update(batch); // warm-up (and the parameter broadcast)
const updates: Array<{ overlap: boolean; ms: number; collectiveMs: number; calls: number; bytes: number; buckets: number; during: number }> = [];
// Overlap on and off alternate, so that both see the same outside load.
for (let k = 0; k < 2 * Number(process.env.BENCH_ROUNDS ?? 5); k++) {
  const overlap = k % 2 === 0;
  setGradientOverlap(overlap);
  await barrier();
  const s0 = collectiveStats(); const t0 = now();
  await ppo.update(batch);
  const ms = now() - t0; const s1 = collectiveStats();
  updates.push({
    overlap, ms, collectiveMs: s1.ms - s0.ms, calls: s1.calls - s0.calls, bytes: s1.bytes - s0.bytes,
    buckets: s1.gradientBuckets - s0.gradientBuckets, during: s1.bucketsDuringBackward - s0.bucketsDuringBackward,
  });
}
const { gradientBucketMiB } = distributedInfo()!;
if (r === 0) process.stdout.write(`BENCH ${JSON.stringify({ worldSize: n, gradientBucketMiB, allreduce, updates })}\n`);
await destroyDistributed();
