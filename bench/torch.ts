// libtorch training benchmarks: PpoTrainer.update on a [64 → 256 → 256 → 8]
// policy with LoRA rank 16 (batch 4096, 4 epochs × 4 minibatches) and a
// ValueHead training step at inputDim 2560 (Qwen3-VL-4B), batch 256, each
// compared in the same run with the same computation in Python PyTorch
// (bench/torch_ref.py, same thread count and OpenMP wait policy).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilities, Policy, PpoTrainer, ValueHead } from '../src/index.js';
import { randomFloats } from './common.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function python(threads: number, minTime: number): { ppo_ms: number; value_ms: number; torch: string } | string {
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'torch_ref.py'), String(threads), String(minTime)], {
    encoding: 'utf8', env: { ...process.env }, timeout: 600_000,
  });
  if (r.error) return `python3 could not run (${r.error.message})`;
  if (r.status !== 0) return /No module named 'torch'/.test(r.stderr) ? 'python3 has no torch module (apt-get install python3-torch)' : `python3 failed: ${r.stderr.trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Median per-call time (ms) over at least 5 calls and `minTime` seconds, after a warm-up call. */
async function median(fn: () => unknown, minTime: number): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 5 || performance.now() - start < minTime * 1e3) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

export async function run(): Promise<void> {
  const caps = capabilities();
  if (!caps.torch) {
    console.log('\n### libtorch training\n\nskipped: the addon was built without libtorch (capabilities().torch is false)');
    return;
  }
  const threads = caps.torchThreads ?? 1;
  const minTime = Number(process.env.BENCH_MIN_TIME ?? 1);

  const policy = new Policy({ obsDim: 64, trunk: { sizes: [256, 256] }, head: { type: 'gaussian', actionDim: 8 }, critic: { sizes: [256, 256] }, seed: 1 });
  policy.addLora({ rank: 16, alpha: 32, targets: ['trunk.0', 'trunk.2', 'head.mean'], seed: 1 });
  const N = 4096;
  const obs = { data: randomFloats(N * 64, 1), shape: [N, 64] };
  const actions = { data: randomFloats(N * 8, 2), shape: [N, 8] };
  const lp = policy.evaluate(obs, actions).logProbs;
  const noise = randomFloats(N, 3);
  const batch = {
    obs, actions, oldLogProbs: Float32Array.from(lp, (x, i) => x + 0.1 * noise[i]),
    advantages: randomFloats(N, 4), returns: randomFloats(N, 5),
  };
  const ppo = new PpoTrainer(policy, { epochs: 4, minibatches: 4, actorLr: 3e-4, criticLr: 1e-3, maxGradNorm: 0.5 });
  ppo.updateSync(batch); // warm-up (adapters non-zero from here on, as in the reference)

  const head = new ValueHead({ inputDim: 2560, hiddenDim: 512, bins: 201, seed: 1 });
  const hidden = { data: randomFloats(256 * 2560, 6), shape: [256, 2560] };
  const targets = Float32Array.from(randomFloats(256, 7), (x) => (x + 1) / 2);
  head.trainStep(hidden, targets);

  // The machine may be shared: alternate feat2go and PyTorch rounds and keep
  // each side's best median, so both see the same background load.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const best = { async: Infinity, sync: Infinity, value: Infinity, pyPpo: Infinity, pyValue: Infinity };
  let py: ReturnType<typeof python> = '';
  for (let r = 0; r < rounds; r++) {
    best.async = Math.min(best.async, await median(() => ppo.update(batch), minTime));
    best.sync = Math.min(best.sync, await median(() => ppo.updateSync(batch), minTime));
    best.value = Math.min(best.value, await median(() => head.trainStep(hidden, targets), minTime));
    py = python(threads, minTime);
    if (typeof py === 'string') continue;
    best.pyPpo = Math.min(best.pyPpo, py.ppo_ms);
    best.pyValue = Math.min(best.pyValue, py.value_ms);
  }
  console.log(`\n### libtorch training (libtorch ${caps.torchVersion}, ${threads} threads, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}, best median of ${rounds} alternating rounds)\n`);
  console.log('| case | feat2go ms | PyTorch ms | ratio |');
  console.log('|---|---:|---:|---:|');
  const ok = typeof py !== 'string';
  const line = (name: string, ms: number, p: number) => console.log(`| ${name} | ${ms.toFixed(1)} | ${ok ? p.toFixed(1) : 'n/a'} | ${ok ? `${(ms / p).toFixed(2)}×` : ''} |`);
  line('PpoTrainer.update (async), 4 × 4 minibatches of 1024', best.async, best.pyPpo);
  line('PpoTrainer.updateSync', best.sync, best.pyPpo);
  line('ValueHead.trainStep [256 × 2560] → 512 → 201', best.value, best.pyValue);
  if (typeof py === 'string') console.log(`\nPyTorch comparison skipped: ${py}`);
  else console.log(`\nPyTorch ${py.torch} (python3 bench/torch_ref.py ${threads}); target ≤ 1.10×.`);
}
