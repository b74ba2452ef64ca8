// One PPO update of a small Gaussian policy with LoRA adapters (SPEC §8–9),
// on libtorch. Needs the libtorch addon (capabilities().torch).
import { capabilities, Policy, PpoTrainer } from 'feat2go';

if (!capabilities().torch) {
  console.log('skipped: no libtorch addon: npx feat2go build-torch (docs/install.md)');
  process.exit(0);
}

const obsDim = 8, actionDim = 2, B = 256;
const policy = new Policy({
  obsDim, trunk: { sizes: [32, 32], activation: 'tanh' },
  head: { type: 'gaussian', actionDim }, critic: { sizes: [32] }, seed: 1,
});
policy.addLora({ rank: 4, alpha: 8, targets: ['trunk.0', 'trunk.2'], seed: 2 });

// A rollout: observations, the policy's actions, and advantages that favour
// actions whose first dimension is positive (a stand-in for gae(...)).
const obs = { data: Float32Array.from({ length: B * obsDim }, (_, i) => Math.sin(i * 0.37)), shape: [B, obsDim] };
const { actions, logProbs, values } = policy.act(obs);
const advantages = Float32Array.from({ length: B }, (_, i) => Math.sign(actions.data[i * actionDim]));
const returns = Float32Array.from(values, (v, i) => v + advantages[i]);
const batch = { obs, actions, oldLogProbs: logProbs, advantages, returns };

const ppo = new PpoTrainer(policy, { clipRange: 0.2, epochs: 4, minibatches: 4, actorLr: 3e-3, criticLr: 1e-2, seed: 0 });
const before = ppo.losses(batch);
const m = await ppo.update(batch);
const after = ppo.losses(batch);
console.log(`${m.steps} minibatch steps; policy loss ${before.policyLoss.toFixed(4)} → ${after.policyLoss.toFixed(4)}, ` +
  `value loss ${before.valueLoss.toFixed(4)} → ${after.valueLoss.toFixed(4)}`);
const newLogProbs = policy.evaluate(obs, actions).logProbs;
const meanChange = (sign) => {
  let s = 0, n = 0;
  for (let i = 0; i < B; i++) if (advantages[i] === sign) { s += newLogProbs[i] - logProbs[i]; n++; }
  return (s / n).toFixed(3);
};
console.log(`log-prob change: actions with A > 0 ${meanChange(1)}, with A < 0 ${meanChange(-1)}`);
