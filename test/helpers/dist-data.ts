// Deterministic models and batches shared by the data-parallel test and its
// rank processes: the global batch, and the share rank r of n holds (the
// shares concatenated in rank order are the global batch).
import { Policy, type PolicySpec, type RolloutBatch, type Tensor } from '../../src/index.js';
import { rng } from './data.js';

export const OBS = 4; export const ACT = 2; export const B = 8; export const T = 3;
export const ppoSpec = (seed: number): PolicySpec => ({ obsDim: OBS, trunk: { sizes: [16, 16] }, head: { type: 'gaussian', actionDim: ACT, initLogStd: -0.5 }, critic: { sizes: [16] }, seed });
export const grpoSpec = (seed: number): PolicySpec => ({ obsDim: OBS, trunk: { sizes: [12] }, head: { type: 'categorical', actionDims: 2, bins: 5 }, seed });
export const PPO_OPTS = { epochs: 2, minibatches: 3, klCoef: 0.05, entropyCoef: 0.01, valueClip: 0.3, seed: 11 } as const;
export const GRPO_OPTS = { epochs: 2, minibatches: 2, aggregation: 'seq-mean-token-mean', seed: 3 } as const;
export const VALUE = { config: { inputDim: 6, hiddenDim: 8, bins: 11, seed: 2 }, rows: 26, fit: { epochs: 3, batchSize: 7, lr: 3e-3, seed: 4 } } as const;

/** Sequence boundaries of each rank's share: unequal on purpose (e.g. 5 | 3 of 8). */
export function shares(n: number, total = B): number[] {
  const cuts = [0];
  for (let r = 1; r < n; r++) cuts.push(Math.min(total - (n - r), Math.round((total * r) / n) + (r === 1 ? 1 : 0)));
  cuts.push(total);
  return cuts;
}

/** A global rollout batch for `p` (actions sampled from the reference policy seed 5 / 7). */
export function globalBatch(kind: 'ppo' | 'grpo', update: number): RolloutBatch & { mask: Uint8Array } {
  const p = new Policy(kind === 'ppo' ? ppoSpec(5) : grpoSpec(7));
  const r = rng(100 + update + (kind === 'ppo' ? 0 : 50));
  const n = B * T;
  const obs = Float32Array.from({ length: n * OBS }, () => r() * 2 - 1);
  const a = p.act({ data: obs, shape: [n, OBS] });
  const W = kind === 'ppo' ? ACT : 2;
  const mask = Uint8Array.from({ length: n }, (_, i) => (Math.floor(i / T) === 1 ? 0 : r() < 0.8 ? 1 : 0));
  return {
    obs: { data: obs, shape: [B, T, OBS] }, actions: { data: a.actions.data, shape: [B, T, W] },
    oldLogProbs: { data: Float32Array.from(a.logProbs, (x) => x + (r() - 0.5) * 0.6), shape: [B, T] },
    advantages: { data: Float32Array.from({ length: n }, () => r() * 2 - 1), shape: [B, T] },
    returns: { data: Float32Array.from(a.values, (v) => v + r() - 0.5), shape: [B, T] },
    oldValues: { data: Float32Array.from(a.values, (v) => v + (r() - 0.5) * 0.4), shape: [B, T] },
    mask,
  };
}

/** Sequences [lo, hi) of a batch. */
export function sliceBatch(b: RolloutBatch & { mask: Uint8Array }, lo: number, hi: number): RolloutBatch & { mask: Uint8Array } {
  const cut = (t: Tensor) => {
    const per = t.data.length / t.shape[0];
    return { data: t.data.slice(lo * per, hi * per), shape: [hi - lo, ...t.shape.slice(1)] };
  };
  return {
    obs: cut(b.obs), actions: cut(b.actions), oldLogProbs: cut(b.oldLogProbs as Tensor), advantages: cut(b.advantages as Tensor),
    returns: cut(b.returns as Tensor), oldValues: cut(b.oldValues as Tensor), mask: b.mask.slice(lo * T, hi * T),
  };
}

/** Value-head data: hidden rows and targets in [0, 1]. */
export function valueData(): { hidden: Float32Array; targets: Float32Array } {
  const r = rng(77);
  const hidden = Float32Array.from({ length: VALUE.rows * VALUE.config.inputDim }, () => r() * 2 - 1);
  const targets = Float32Array.from({ length: VALUE.rows }, (_, i) => (Math.tanh(hidden[i * 6] + hidden[i * 6 + 1]) + 1) / 2);
  return { hidden, targets };
}

/** Behaviour-cloning demonstrations: a Gaussian-head policy (seed 9) and BC.rows (obs, action) pairs. */
export const BC = { rows: 23, fit: { epochs: 3, batchSize: 6, lr: 3e-3, maxGradNorm: 0.5, seed: 8 } } as const;
export function bcData(): { obs: Float32Array; actions: Float32Array } {
  const r = rng(91);
  const obs = Float32Array.from({ length: BC.rows * OBS }, () => r() * 2 - 1);
  const actions = Float32Array.from({ length: BC.rows * ACT }, (_, i) => Math.sin(obs[Math.floor(i / ACT) * OBS + (i % ACT)] * 2) * 0.8 + (r() - 0.5) * 0.1);
  return { obs, actions };
}
