// libtorch training benchmarks: PpoTrainer.update on a [64 → 256 → 256 → 8]
// policy with LoRA rank 16 (batch 4096, 4 epochs × 4 minibatches) and a
// ValueHead training step at inputDim 2560 (Qwen3-VL-4B), batch 256, each
// compared in the same run with the same computation in Python PyTorch
// (bench/torch_ref.py, same thread count and OpenMP wait policy). Also one
// epoch of ImageValueModel.fit over 1024 RGB frames of 64×64 (default
// ConvBackbone, batch 128, default augmentation), head stage and joint stage,
// reported in frames per second.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilities, ImageValueModel, Policy, PpoTrainer, ValueHead } from '../src/index.js';
import { randomFloats } from './common.js';

const here = path.dirname(fileURLToPath(import.meta.url));


interface PyServer { python: string; info: { torch: string; threads: number; omp_wait_policy: string | null }; call(what: 'ppo' | 'value' | 'bb_head' | 'bb_joint'): Promise<[number, number]>; close(): void }

/**
 * A Python with torch: Debian's python3-torch, else $FEAT2GO_PEFT_PYTHON or
 * the virtual environment the parity tests build from wheels on disk
 * (test/helpers/peft-venv.ts), when it exists.
 */
function torchPython(): string {
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) return '/usr/bin/python3';
  for (const p of [process.env.FEAT2GO_PEFT_PYTHON, path.join(tmpdir(), 'feat2go-peft-venv', 'bin', 'python')]) if (p && existsSync(p)) return p;
  return '/usr/bin/python3';
}

/** Starts bench/torch_ref.py in serve mode: one timed call per request line. */
async function pythonServer(threads: number): Promise<PyServer | string> {
  const python = torchPython();
  const child = spawn(python, [path.join(here, 'torch_ref.py'), String(threads), 'serve'], { env: { ...process.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await Promise.race([lines.next(), new Promise<{ done: true; value: undefined }>((res) => child.on('error', () => res({ done: true, value: undefined })))]);
  if (first.done) {
    child.kill();
    return /No module named 'torch'/.test(err) ? 'python3 has no torch module (apt-get install python3-torch)' : `python3 failed: ${err.trim().split('\n').pop() ?? 'could not start'}`;
  }
  return {
    python,
    info: JSON.parse(first.value),
    async call(what) {
      child.stdin.write(`${what}\n`);
      const r = await lines.next();
      if (r.done) throw new Error(`python3 exited: ${err.trim().split('\n').pop()}`);
      const [ms, faults] = r.value.split(' ').map(Number);
      return [ms, faults];
    },
    close() { child.stdin.end(); },
  };
}

export async function run(): Promise<void> {
  const caps = capabilities();
  if (!caps.torch) {
    console.log('\n### libtorch training\n\nskipped: the addon was built without libtorch (capabilities().torch is false)');
    return;
  }
  const threads = caps.torchThreads ?? 1;

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

  const NF = 1024;
  const frames = { data: Uint8Array.from(randomFloats(NF * 64 * 64 * 3, 8), (x) => Math.floor((x + 1) * 127.99)), shape: [NF, 64, 64, 3] };
  const frameTargets = Float32Array.from(randomFloats(NF, 9), (x) => (x + 1) / 2);
  const vm = new ImageValueModel({ backbone: { seed: 1 }, head: { hiddenDim: 128, seed: 1 } });
  const fitOpts = { epochs: 1, batchSize: 128 } as const;
  await vm.fit(frames, frameTargets, { ...fitOpts, stage: 'joint' });

  // The machine may be shared: one persistent Python process answers one
  // timed call per request, and the two sides alternate call by call, so
  // both see the same background load. Both processes run with the same
  // OMP_WAIT_POLICY (src/core/native.ts sets PASSIVE before loading libgomp; the
  // child inherits it) and the same libtorch thread count.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const ppoCalls = 3, valueCalls = 10;
  const py = await pythonServer(threads);
  const keys = ['async', 'sync', 'pyPpo', 'value', 'pyValue', 'bbHead', 'pyBbHead', 'bbJoint', 'pyBbJoint'];
  const s: Record<string, number[][]> = Object.fromEntries(keys.map((k) => [k, []]));
  const faults: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  const push = (k: string, r: number, [ms, f]: [number, number]) => { (s[k][r] ??= []).push(ms); faults[k].push(f); };
  const timed = async (fn: () => unknown): Promise<[number, number]> => {
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    await fn();
    return [performance.now() - t0, process.resourceUsage().minorPageFault - f0];
  };
  await ppo.update(batch);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < ppoCalls; i++) {
      push('async', r, await timed(() => ppo.update(batch)));
      if (typeof py !== 'string') push('pyPpo', r, await py.call('ppo'));
      push('sync', r, await timed(() => ppo.updateSync(batch)));
      if (typeof py !== 'string') push('pyPpo', r, await py.call('ppo'));
    }
    for (let i = 0; i < valueCalls; i++) {
      push('value', r, await timed(() => head.trainStep(hidden, targets)));
      if (typeof py !== 'string') push('pyValue', r, await py.call('value'));
    }
    push('bbHead', r, await timed(() => vm.fit(frames, frameTargets, { ...fitOpts, stage: 'head', seed: r })));
    if (typeof py !== 'string') push('pyBbHead', r, await py.call('bb_head'));
    push('bbJoint', r, await timed(() => vm.fit(frames, frameTargets, { ...fitOpts, stage: 'joint', seed: r })));
    if (typeof py !== 'string') push('pyBbJoint', r, await py.call('bb_joint'));
  }
  if (typeof py !== 'string') py.close();
  const med = (a: number[]) => { const b = [...a].sort((x, y) => x - y); return b.length % 2 ? b[b.length >> 1] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2; };
  const all = (k: string) => s[k].flat();
  const ok = typeof py !== 'string';
  console.log(`\n### libtorch training (libtorch ${caps.torchVersion}, ${threads} threads, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY} on both sides, ${rounds} rounds of calls alternating with PyTorch)\n`);
  console.log('| case | feat2go median (min) ms | PyTorch median (min) ms | ratio of medians | ratio of mins | per-round ratio range | page faults / call feat2go : PyTorch |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const line = (name: string, k: string, p: string) => {
    const m = med(all(k)), mn = Math.min(...all(k));
    const fl = (x: string) => med(faults[x]).toFixed(0);
    if (!ok) return console.log(`| ${name} | ${m.toFixed(1)} (${mn.toFixed(1)}) | n/a | | | | ${fl(k)} |`);
    const pm = med(all(p)), pmn = Math.min(...all(p));
    const per = s[k].map((x, r) => med(x) / med(s[p][r]));
    console.log(`| ${name} | ${m.toFixed(1)} (${mn.toFixed(1)}) | ${pm.toFixed(1)} (${pmn.toFixed(1)}) | ${(m / pm).toFixed(2)}× | ${(mn / pmn).toFixed(2)}× | ${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)}× | ${fl(k)} : ${fl(p)} |`);
  };
  line(`PpoTrainer.update (async), 4 × 4 minibatches of 1024 [${rounds}×${ppoCalls} calls]`, 'async', 'pyPpo');
  line(`PpoTrainer.updateSync [${rounds}×${ppoCalls} calls]`, 'sync', 'pyPpo');
  line(`ValueHead.trainStep [256 × 2560] → 512 → 201 [${rounds}×${valueCalls} calls]`, 'value', 'pyValue');
  line(`ImageValueModel.fit, head stage (frozen backbone, augmented): 1 epoch of ${NF} frames 64×64 [${rounds} calls]`, 'bbHead', 'pyBbHead');
  line(`ImageValueModel.fit, joint stage (augmented): 1 epoch of ${NF} frames 64×64 [${rounds} calls]`, 'bbJoint', 'pyBbJoint');
  const fps = (k: string) => (NF / (med(all(k)) / 1000)).toFixed(0);
  console.log(`\nImageValueModel.fit throughput (median): head stage ${fps('bbHead')} frames/s, joint stage ${fps('bbJoint')} frames/s${ok ? ` (PyTorch: ${fps('pyBbHead')} and ${fps('pyBbJoint')})` : ''}.`);
  if (typeof py === 'string') console.log(`\nPyTorch comparison skipped: ${py}`);
  else console.log(`\nPyTorch ${py.info.torch} (${py.python} bench/torch_ref.py ${threads} serve, ${py.info.threads} threads, OMP_WAIT_POLICY=${py.info.omp_wait_policy}); target ≤ 1.10×.`);
}
