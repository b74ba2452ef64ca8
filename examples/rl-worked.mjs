// The worked example of docs/rl.md: shaped rewards → GAE (PPO) or group
// advantages (GRPO) → clipped surrogate loss, on four short episodes.
import {
  shapeTerminalRewards, terminalRewards, gae, normalizeAdvantages, grpoAdvantages, grpoGroupStats,
  stepAdvantages, clippedSurrogate,
} from 'feat2go';

const r3 = (xs) => Array.from(xs, (x) => Math.round(x * 1000) / 1000);
const B = 4;
const T = 5; // horizon; shorter episodes are padded
const lengths = [5, 3, 4, 5];
const success = [true, false, false, true];
const terminalValues = [0.97, 0.62, 0.35, 0.88]; // V̂(s_T) from the value model

// §5: successes earn 1, failures their value estimate; paid at the last step only.
const R = shapeTerminalRewards(success, terminalValues);
console.log('R =', r3(R));
const rewards = terminalRewards(lengths, R, T);

// PPO (§6). Value estimates V(s_t), 0 on padding; episode 2 hit the time limit
// (truncated: it bootstraps from the value of the observation after its last step, 0.4).
const V = [
  0.5, 0.6, 0.7, 0.8, 0.9,
  0.4, 0.45, 0.5, 0, 0,
  0.3, 0.35, 0.4, 0.4, 0,
  0.6, 0.65, 0.7, 0.8, 0.85,
];
const NV = new Float32Array(B * T);
const ended = new Uint8Array(B * T);
const terminated = new Uint8Array(B * T);
const mask = new Uint8Array(B * T);
for (let b = 0; b < B; b++) {
  for (let t = 0; t < T; t++) {
    const i = b * T + t;
    mask[i] = t < lengths[b] ? 1 : 0;
    ended[i] = t >= lengths[b] - 1 ? 1 : 0; // padding steps are "done" too
    terminated[i] = ended[i] && b !== 2 ? 1 : 0;
    NV[i] = t < lengths[b] - 1 ? V[i + 1] : 0;
  }
}
NV[2 * T + 3] = 0.4; // truncated: V(s_{t+1}) of the observation after the cut
const shape = [B, T];
const { advantages, returns } = gae({
  rewards, values: { data: Float32Array.from(V), shape }, nextValues: { data: NV, shape },
  terminated: { data: terminated, shape }, done: { data: ended, shape },
}, { gamma: 0.99, lambda: 0.95 });
console.log('GAE advantages, episode 0 =', r3(advantages.data.subarray(0, 5)));
console.log('GAE advantages, episode 2 =', r3(advantages.data.subarray(10, 15)));
console.log('returns, episode 2 =', r3(returns.data.subarray(10, 15)));
const m = { data: mask, shape };
const adv = normalizeAdvantages(advantages, m);

// The policy after one update: log-probs moved a little from the rollout's.
const oldLogProbs = { data: new Float32Array(B * T).fill(-1.2), shape };
const logProbs = { data: Float32Array.from({ length: B * T }, (_, i) => -1.2 + 0.3 * Math.sin(i)), shape };
const ppo = clippedSurrogate({ logProbs, oldLogProbs, advantages: adv, mask: m }, { clipLow: 0.2 });
console.log('PPO surrogate:', { loss: +ppo.loss.toFixed(4), clipFraction: +ppo.clipFraction.toFixed(4), approxKl: +ppo.approxKl.toFixed(5) });

// GRPO (§7): two groups of two rollouts of the same task.
const Ahat = grpoAdvantages(R, { groupSize: 2 });
console.log('GRPO advantages =', r3(Ahat), grpoGroupStats(R, { groupSize: 2 }));
const stepAdv = stepAdvantages(Ahat, lengths, T, 0.99);
console.log('step advantages, episode 0 =', r3(stepAdv.data.subarray(0, 5)));
const grpo = clippedSurrogate({ logProbs, oldLogProbs, advantages: stepAdv, mask: m },
  { clipLow: 0.2, clipHigh: 0.28, aggregation: 'seq-mean-token-mean' });
console.log('GRPO surrogate:', { loss: +grpo.loss.toFixed(4), clipFraction: +grpo.clipFraction.toFixed(4), approxKl: +grpo.approxKl.toFixed(5) });
