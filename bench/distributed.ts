// Process groups (c10d/Gloo) on this machine: all-reduce over loopback for
// 1–64 MiB against a plain memory copy of the same bytes, and a PPO update
// with 2 ranks × half the batch against 1 process × the whole batch, with
// the share of the update the collectives take. The ranks are started with
// launchRanks (as `feat2go launch` does) and run bench/distributed-rank.ts.
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { capabilities, distributedAvailable, launchRanks, PpoTrainer } from '../src/index.js';
import { randomFloats } from './common.js';
import { PPO_OPTS, ppoBatch, ppoPolicy } from './distributed-ppo.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

export async function run(): Promise<void> {
  if (!distributedAvailable()) {
    console.log('\n### distributed (c10d/Gloo)\n\nskipped: the addon was built without c10d/Gloo (capabilities().distributed is false)');
    return;
  }
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  // Memory copy of the same bytes (Float32Array.set: one read + one write stream).
  const copy: Record<number, number> = {};
  for (const mib of [1, 4, 16, 64]) {
    const src = randomFloats(mib * 262144, 1); const dst = randomFloats(mib * 262144, 2);
    dst.set(src);
    const t: number[] = [];
    for (let k = 0; k < Math.max(5, Math.round(64 / mib)); k++) { const t0 = now(); dst.set(src); t.push(now() - t0); }
    copy[mib] = median(t);
  }
  // 1 process × the whole batch, with this process's libtorch threads.
  const policy = ppoPolicy();
  const whole = ppoBatch(policy);
  const ppo = new PpoTrainer(policy, PPO_OPTS);
  await ppo.update(whole);
  const one: number[] = [];
  for (let k = 0; k < rounds; k++) { const t0 = now(); await ppo.update(whole); one.push(now() - t0); }

  // 2 ranks, one libtorch thread each (2 ranks × 1 thread = the cores the single process used),
  // with the default 25 MiB gradient buckets (this model's 0.66 MiB of gradients fit in the
  // 1 MiB first bucket: one bucket) and with 0.125 MiB buckets; the gradient all-reduce's
  // overlap with backward on and off in alternate updates.
  type Update = { overlap: boolean; ms: number; collectiveMs: number; calls: number; bytes: number; buckets: number; during: number };
  type RankBench = { gradientBucketMiB: number; allreduce: Array<{ mib: number; ms: number }>; updates: Update[] };
  const runs: RankBench[] = [];
  for (const [k, mib] of ['25', '0.125'].entries()) {
    let text = '';
    const sink = new Writable({ write(c, _e, cb) { text += c.toString(); cb(); } });
    const res = await launchRanks({
      nproc: 2, script: path.join(here, 'distributed-rank.ts'), stdout: sink, stderr: process.stderr, handleSignals: false,
      env: { FEAT2GO_TORCH_THREADS: '1', BENCH_ROUNDS: String(rounds), FEAT2GO_DIST_BUCKET_MIB: mib, ...(k > 0 ? { BENCH_PART: 'ppo' } : {}) },
      timeoutMs: 120000,
    });
    const line = text.split('\n').find((l) => l.startsWith('[rank 0] BENCH '));
    if (res.status !== 0 || !line) {
      console.log(`\n### distributed (c10d/Gloo)\n\nfailed: the ranks exited with status ${res.status}\n${text}`);
      return;
    }
    runs.push(JSON.parse(line.slice('[rank 0] BENCH '.length)) as RankBench);
  }
  const b = runs[0];
  console.log(`\n### distributed (c10d/Gloo over 127.0.0.1, 2 ranks, ${capabilities().threads} cores)\n`);
  console.log('| size | all-reduce ms | all-reduce GB/s (size / time) | memory copy ms | copy GB/s | all-reduce / copy |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const a of b.allreduce) {
    const bytes = a.mib * 1048576;
    console.log(`| ${a.mib} MiB | ${a.ms.toFixed(2)} | ${(bytes / a.ms / 1e6).toFixed(2)} | ${copy[a.mib].toFixed(2)} | ${(bytes / copy[a.mib] / 1e6).toFixed(2)} | ${(a.ms / copy[a.mib]).toFixed(1)}× |`);
  }
  const pick = (x: RankBench, overlap: boolean) => x.updates.filter((u) => u.overlap === overlap);
  const med = (us: Update[], k: 'ms' | 'collectiveMs') => median(us.map((u) => u[k]));
  const share = (us: Update[]) => median(us.map((u) => u.collectiveMs / u.ms));
  const on = pick(b, true);
  const per = on[0];
  const steps = PPO_OPTS.epochs * PPO_OPTS.minibatches;
  console.log('');
  console.log(`| PPO update, ${PPO_OPTS.epochs} epochs × ${PPO_OPTS.minibatches} minibatches of 2048 steps | ms (median of ${rounds}) |`);
  console.log('|---|---:|');
  console.log(`| 1 process × whole batch (${capabilities().torchThreads} libtorch threads) | ${median(one).toFixed(1)} |`);
  console.log(`| 2 ranks × half batch (1 libtorch thread each) | ${med(on, 'ms').toFixed(1)} |`);
  console.log(`| … of which collectives (rank 0: ${per.calls} calls, ${(per.bytes / 1048576).toFixed(2)} MiB in; includes waiting for the other rank) | ${med(on, 'collectiveMs').toFixed(1)} (${(share(on) * 100).toFixed(0)}% of the update) |`);
  console.log(`\n- 2 ranks / 1 process: ${(med(on, 'ms') / median(one)).toFixed(2)}× the time`);
  console.log('');
  console.log(`| gradient all-reduce, 2 ranks (on / off alternate, median of ${rounds} each) | buckets per step | launched during backward | update ms | collectives ms (time waited) | share |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const x of runs) {
    for (const overlap of [true, false]) {
      const us = pick(x, overlap); const u = us[0];
      console.log(`| ${x.gradientBucketMiB} MiB buckets, overlap ${overlap ? 'on' : 'off'} | ${(u.buckets / steps).toFixed(0)} | ${u.during} of ${u.buckets} | ${med(us, 'ms').toFixed(1)} | ${med(us, 'collectiveMs').toFixed(1)} | ${(share(us) * 100).toFixed(0)}% |`);
    }
  }
}
