// Child-process script for torch-cache.test.ts: a fixed PPO update, then an
// async PPO update and a value-head fit at the same time, printing their
// metrics and the exact bytes of every trained tensor as one JSON line (run
// with and without the CPU tensor cache).
import { createHash } from 'node:crypto';
import { capabilities, Policy, PpoTrainer, ValueHead } from '../../src/index.js';
import { rng } from './data.js';

function floats(seed: number, n: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

const digest = (named: Array<[string, Float32Array, ...unknown[]]>) => {
  const h = createHash('sha256');
  for (const [name, d] of named) h.update(name).update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return h.digest('hex');
};

const N = 1024;
const policy = new Policy({ obsDim: 64, trunk: { sizes: [256, 256] }, head: { type: 'gaussian', actionDim: 8 }, critic: { sizes: [256, 256] }, seed: 3 });
policy.addLora({ rank: 16, alpha: 32, targets: ['trunk.0', 'trunk.2', 'head.mean'], seed: 4 });
const obs = { data: floats(1, N * 64), shape: [N, 64] };
const act = policy.act(obs);
const batch = {
  obs, actions: act.actions, oldLogProbs: act.logProbs, advantages: floats(2, N), returns: floats(3, N),
};
const ppo = new PpoTrainer(policy, { epochs: 2, minibatches: 2, seed: 7 });
const m1 = ppo.updateSync(batch);

const head = new ValueHead({ inputDim: 512, hiddenDim: 256, bins: 51, seed: 5 });
const hidden = { data: floats(4, 256 * 512), shape: [256, 512] };
const targets = Float32Array.from(floats(5, 256), (x) => (x + 1) / 2);
// The async update and fit run at the same time on two worker threads, so
// the cache sees concurrent allocations and frees.
const [m2, losses] = await Promise.all([ppo.update(batch), head.fit(hidden, targets, { epochs: 3, batchSize: 64, seed: 1 })]);
const step = head.trainStep(hidden, targets);

console.log(JSON.stringify({
  cacheMB: capabilities().torchCpuCacheMB, m1, m2, losses, step,
  policy: digest([...policy.stateDict(), ['logProbs', policy.evaluate(obs, act.actions).logProbs]]),
  head: digest(head.stateDict()),
}));
