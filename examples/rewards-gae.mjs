// Reward shaping (SPEC §5) and GAE (SPEC §6): four episodes of horizon 5 with
// success flags and value-model estimates of their terminal states.
import { shapeTerminalRewards, terminalRewards, gae } from 'feat2go';

const B = 4, T = 5;
const lengths = [5, 3, 4, 5];
const success = [true, false, false, true];
const terminalValues = [0.97, 0.62, 0.35, 0.88];       // V̂(s_T) from the value model

const R = shapeTerminalRewards(success, terminalValues);   // successes 1, failures their value
const rewards = terminalRewards(lengths, R, T);            // [B, T], paid at each episode's last step

// Value estimates V(s_t) (0 on padding); every episode ends by termination.
const values = Float32Array.from([0.5, 0.6, 0.7, 0.8, 0.9, 0.4, 0.45, 0.5, 0, 0, 0.3, 0.35, 0.4, 0.4, 0, 0.6, 0.65, 0.7, 0.8, 0.85]);
const nextValues = new Float32Array(B * T);
const done = new Uint8Array(B * T);
for (let b = 0; b < B; b++) {
  for (let t = 0; t < T; t++) {
    const i = b * T + t;
    done[i] = t >= lengths[b] - 1 ? 1 : 0;                 // padding steps are done too
    nextValues[i] = t < lengths[b] - 1 ? values[i + 1] : 0;
  }
}
const shape = [B, T];
const { advantages, returns } = gae({
  rewards, values: { data: values, shape }, nextValues: { data: nextValues, shape },
  terminated: { data: done, shape }, done: { data: done, shape },
}, { gamma: 0.99, lambda: 0.95 });

const r3 = (xs) => Array.from(xs, (x) => x.toFixed(3)).join(' ');
console.log('shaped rewards R:', r3(R));
console.log('advantages, episode 1:', r3(advantages.data.subarray(T, 2 * T)));
console.log('returns, episode 1:   ', r3(returns.data.subarray(T, 2 * T)));
