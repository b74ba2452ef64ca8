// Child process of rl.test.ts: runs gae at the level FEAT2GO_GAE_ISA caps it
// to (read once when the addon loads: 4 runs the AVX-512 blocked scan, 3 and 0
// the step-by-step kernel) and reports, as JSON, the level,
// the largest error against the reference, and whether the batch-major and
// time-major layouts agree bit for bit.
import { gae } from '../../src/index.js';
import { native } from '../../src/core/native.js';
import { refGae } from '../reference/rl.js';
import { rng } from './data.js';

function transpose<A extends Float32Array | Uint8Array>(x: A, rows: number, cols: number): A {
  const out = new (x.constructor as { new (n: number): A })(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j];
  return out;
}

let maxErr = 0;
let layoutsEqual = true;
for (const [B, T] of [[37, 53], [130, 80], [5, 300]]) {
  const r = rng(B + T);
  const n = B * T;
  const f = (s: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
  const rew = f(1), val = f(2), nxt = f(2);
  const term = Uint8Array.from({ length: n }, () => (r() < 0.01 ? 1 : 0));
  const done = term.map((x, i) => x | (i % T === T - 1 ? 1 : 0));
  const ref = refGae(rew, val, nxt, term, done, B, T, 0.99, 0.95);
  const s = [B, T];
  const bm = gae({ rewards: { data: rew, shape: s }, values: { data: val, shape: s }, nextValues: { data: nxt, shape: s }, terminated: { data: term, shape: s }, done: { data: done, shape: s } }, { gamma: 0.99, lambda: 0.95 });
  for (let i = 0; i < n; i++) {
    maxErr = Math.max(maxErr, Math.abs(bm.advantages.data[i] - ref.adv[i]) / (1 + Math.abs(ref.adv[i])));
    maxErr = Math.max(maxErr, Math.abs(bm.returns.data[i] - ref.ret[i]) / (1 + Math.abs(ref.ret[i])));
  }
  const ts = [T, B];
  const tm = gae({
    rewards: { data: transpose(rew, B, T), shape: ts }, values: { data: transpose(val, B, T), shape: ts },
    nextValues: { data: transpose(nxt, B, T), shape: ts }, terminated: { data: transpose(term, B, T), shape: ts },
    done: { data: transpose(done, B, T), shape: ts },
  }, { gamma: 0.99, lambda: 0.95, timeMajor: true });
  const ta = transpose(tm.advantages.data, T, B), tr = transpose(tm.returns.data, T, B);
  for (let i = 0; i < n; i++) if (ta[i] !== bm.advantages.data[i] || tr[i] !== bm.returns.data[i]) layoutsEqual = false;
}
process.stdout.write(JSON.stringify({ level: native().rlGaeIsa(), maxErr, layoutsEqual }));
