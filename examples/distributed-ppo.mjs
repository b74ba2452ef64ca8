// Data-parallel PPO on a toy reaching task: every rank steps its own
// environments and the ranks train one policy together.
//   npx feat2go launch -n 2 examples/distributed-ppo.mjs
// (or set RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT yourself: see docs/distributed.md)
import { allReduce, destroyDistributed, initDistributed, Policy, PpoTrainer, rank, worldSize } from 'feat2go';

await initDistributed();
const policy = new Policy({ obsDim: 2, trunk: { sizes: [32, 32] }, head: { type: 'gaussian', actionDim: 2, initLogStd: -0.5 }, critic: { sizes: [32] }, seed: 1 });
const ppo = new PpoTrainer(policy, { epochs: 4, minibatches: 4, actorLr: 3e-3, criticLr: 3e-3 }); // distributed: a group is initialised

let seed = 1000 + rank(); // each rank's environments differ
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
const envs = 256; // per rank: the global batch is envs × worldSize()
for (let it = 0; it <= 30; it++) {
  // One-step episodes: observe a target, act, reward = −distance to it.
  const obs = Float32Array.from({ length: envs * 2 }, rand);
  const a = policy.act({ data: obs, shape: [envs, 2] });
  const rewards = Float32Array.from({ length: envs }, (_, i) => -Math.hypot(a.actions.data[2 * i] - obs[2 * i], a.actions.data[2 * i + 1] - obs[2 * i + 1]));
  const m = await ppo.update({
    obs: { data: obs, shape: [envs, 2] }, actions: a.actions, oldLogProbs: a.logProbs,
    advantages: Float32Array.from(rewards, (r, i) => r - a.values[i]), returns: rewards,
  });
  const mean = await allReduce(Float64Array.of(rewards.reduce((s, r) => s + r, 0) / envs), 'avg'); // over every rank's envs
  if (rank() === 0 && it % 10 === 0) console.log(`iteration ${it}: mean reward ${mean[0].toFixed(3)} over ${worldSize()} ranks, policy loss ${m.policyLoss.toFixed(4)}`);
}
await destroyDistributed();
