// Label one synthetic episode: 3 stages, features moving from anchor to anchor.
import { progressTargets, patchSimilarity, stepsToGoTargets } from 'feat2go';

const T = 60, N = 16, D = 64;
let seed = 7;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
const anchors = Array.from({ length: 4 }, () => Float32Array.from({ length: N * D }, rand));
const data = new Float32Array(T * N * D);
for (let t = 0; t < T; t++) {
  const stage = Math.min(2, Math.floor(t / 20)), a = Math.min(1, (t % 20) / 15);
  for (let i = 0; i < N * D; i++) data[t * N * D + i] = anchors[stage][i] * (1 - a) + anchors[stage + 1][i] * a + 0.01 * rand();
}
const features = { data, shape: [T, N, D] };

const toGoal = patchSimilarity(features, -1);            // similarity of every frame to the last one
const { values, segments } = await progressTargets(features, { window: 5, maxClusterFrames: 30, threshold: 0.01 });
console.log('stages:', segments.map((s) => `${s.start}-${s.end}`).join(' '));
console.log('S(t, goal) at t = 0, 30, 59:', [0, 30, 59].map((t) => toGoal[t].toFixed(3)).join(' '));
console.log('V(t)       at t = 0, 30, 59:', [0, 30, 59].map((t) => values[t].toFixed(3)).join(' '));
console.log('steps-to-go baseline at t = 30:', stepsToGoTargets(T)[30].toFixed(3));
