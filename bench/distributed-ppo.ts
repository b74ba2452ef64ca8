// The PPO problem bench/distributed.ts times, shared by the launcher side
// (1 process × the whole batch) and the ranks (each its share).
import { Policy, type RolloutBatch } from '../src/index.js';
import { randomFloats } from './common.js';

export const PPO_N = 2048;
export const PPO_OPTS = { epochs: 2, minibatches: 4, actorLr: 3e-4, criticLr: 1e-3, maxGradNorm: 0.5 } as const;

/** A [64 → 256 → 256 → 8] Gaussian policy with a [256, 256] critic (no adapters: every weight is trained). */
export const ppoPolicy = () => new Policy({ obsDim: 64, trunk: { sizes: [256, 256] }, head: { type: 'gaussian', actionDim: 8 }, critic: { sizes: [256, 256] }, seed: 1 });

/** Rows [lo, hi) of the global batch of PPO_N steps. */
export function ppoBatch(policy: Policy, lo = 0, hi = PPO_N): RolloutBatch {
  const obsAll = randomFloats(PPO_N * 64, 1);
  const actAll = randomFloats(PPO_N * 8, 2);
  const lp = policy.evaluate({ data: obsAll, shape: [PPO_N, 64] }, { data: actAll, shape: [PPO_N, 8] }).logProbs;
  const noise = randomFloats(PPO_N, 3);
  const n = hi - lo;
  return {
    obs: { data: obsAll.slice(lo * 64, hi * 64), shape: [n, 64] }, actions: { data: actAll.slice(lo * 8, hi * 8), shape: [n, 8] },
    oldLogProbs: Float32Array.from(lp.subarray(lo, hi), (x, i) => x + 0.1 * noise[lo + i]),
    advantages: randomFloats(PPO_N, 4).slice(lo, hi), returns: randomFloats(PPO_N, 5).slice(lo, hi),
  };
}
