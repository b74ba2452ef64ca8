// RL math benchmarks: native kernels against the plain TypeScript
// reference loops of test/reference/rl.ts and against the memory-read probe
// over a buffer of as many bytes as the kernel reads.
import { clippedSurrogate, clippedValueLoss, gae, type GaeInput, grpoAdvantages, klPenalty, memoryReadProbe, stepAdvantages } from '../src/index.js';
import { refGae, refGrpo, refKl, refStepAdvantages, refSurrogate, refValueLoss } from '../test/reference/rl.js';
import { probeBuffer, randomFloats, table, time } from './common.js';

function flags(n: number, p: number, seed: number): Uint8Array {
  const u = randomFloats(n, seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (u[i] + 1) / 2 < p ? 1 : 0;
  return out;
}

async function gaeCase(B: number, T: number): Promise<void> {
  const n = B * T;
  const shape = [B, T];
  const r = randomFloats(n, 1);
  const v = randomFloats(n, 2);
  const nv = randomFloats(n, 3);
  const term = flags(n, 0.01, 4);
  const done = term.map((x, i) => x | (i % T === T - 1 ? 1 : 0));
  const input = {
    rewards: { data: r, shape }, values: { data: v, shape }, nextValues: { data: nv, shape },
    terminated: { data: term, shape }, done: { data: done, shape },
  };
  const tmShape = [T, B];
  const tmInput = {
    rewards: { data: r, shape: tmShape }, values: { data: v, shape: tmShape }, nextValues: { data: nv, shape: tmShape },
    terminated: { data: term, shape: tmShape }, done: { data: done, shape: tmShape },
  };
  const bytes = n * (3 * 4 + 2); // three float32 inputs + two uint8 flag arrays
  const probe = probeBuffer(bytes);
  const opts = { gamma: 0.99, lambda: 0.95 };
  const out = { advantages: new Float32Array(n), returns: new Float32Array(n) };
  const name = `[${B},${T}]`;
  await table(`gae ${name} (uint8 flags)`, [
    { name: `gae ${name} native`, bytes, fn: () => gae(input, { ...opts, out }) },
    { name: `gae ${name} native, new outputs`, bytes, fn: () => gae(input, opts) },
    { name: `gae [${T},${B}] time-major native`, bytes, fn: () => gae(tmInput, { ...opts, timeMajor: true, out }) },
    { name: `gae ${name} TS reference`, bytes, fn: () => refGae(r, v, nv, term, done, B, T, 0.99, 0.95) },
    { name: `read probe (${(bytes / 2 ** 20).toFixed(1)} MiB)`, bytes, fn: () => memoryReadProbe(probe) },
    { name: `gae ${name} native, 1 thread`, bytes, fn: () => gae(input, { ...opts, out, threads: 1 }) },
    { name: 'read probe, 1 thread', bytes, fn: () => memoryReadProbe(probe, { threads: 1 }) },
  ], [
    { label: `gae ${name}, 1 thread: bandwidth / 1-thread probe`, of: `gae ${name} native, 1 thread`, to: 'read probe, 1 thread', by: 'gbps' },
    { label: `gae ${name}: native vs TS reference (time)`, of: `gae ${name} TS reference`, to: `gae ${name} native`, by: 'time' },
    { label: `gae ${name}: native bandwidth / probe`, of: `gae ${name} native`, to: `read probe (${(bytes / 2 ** 20).toFixed(1)} MiB)`, by: 'gbps' },
    { label: `gae time-major: bandwidth / probe`, of: `gae [${T},${B}] time-major native`, to: `read probe (${(bytes / 2 ** 20).toFixed(1)} MiB)`, by: 'gbps' },
  ]);
  // The bandwidth target (gae ≥ 40 % of the probe's) on a loaded machine: gae and
  // the probe over its whole input footprint, timed back to back in each of 5
  // rounds; the median of the per-round ratios is less sensitive to load shifts.
  const rounds = 5;
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const g = await time({ name: 'gae', bytes, fn: () => gae(input, { ...opts, out }) }, 0.2);
    const p = await time({ name: 'probe', bytes, fn: () => memoryReadProbe(probe) }, 0.2);
    ratios.push(p.ms / g.ms);
  }
  ratios.sort((a, b) => a - b);
  console.log(`- gae ${name}: read bandwidth / probe, median of ${rounds} interleaved rounds: ${(100 * ratios[rounds >> 1]).toFixed(0)} % (range ${(100 * ratios[0]).toFixed(0)}–${(100 * ratios[rounds - 1]).toFixed(0)} %; target 40 %)`);
  if (B * T >= 1 << 18) await outputsCase(name, input, opts, n, bytes);
}

// Fresh outputs against reused ones. Each call is followed by one turn of the
// event loop, as in a training loop that awaits its update: Node runs the
// finalisers of external buffers there, so the library's outputs (host
// memory) go back to the block cache once collected and the next call reuses
// them, already mapped. A fresh Float32Array is new memory every call (a page
// fault per 4 KiB on first touch).
async function outputsCase(name: string, input: GaeInput, opts: { gamma: number; lambda: number }, n: number, bytes: number): Promise<void> {
  const turn = () => new Promise<void>((res) => setImmediate(res));
  const out = { advantages: new Float32Array(n), returns: new Float32Array(n) };
  await table(`gae ${name}: fresh vs reused outputs (one event-loop turn per call)`, [
    { name: `gae ${name}, opts.out (the same arrays every call)`, bytes, async: true, fn: async () => { gae(input, { ...opts, out }); await turn(); } },
    { name: `gae ${name}, fresh Float32Array outputs every call (as before host memory)`, bytes, async: true,
      fn: async () => { gae(input, { ...opts, out: { advantages: new Float32Array(n), returns: new Float32Array(n) } }); await turn(); } },
    { name: `gae ${name}, the library's outputs (host memory, blocks reused)`, bytes, async: true, fn: async () => { gae(input, opts); await turn(); } },
  ], [
    { label: `gae ${name}: fresh Float32Array outputs ÷ opts.out (time)`, of: `gae ${name}, fresh Float32Array outputs every call (as before host memory)`, to: `gae ${name}, opts.out (the same arrays every call)`, by: 'time' },
    { label: `gae ${name}: library outputs (host memory) ÷ opts.out (time)`, of: `gae ${name}, the library's outputs (host memory, blocks reused)`, to: `gae ${name}, opts.out (the same arrays every call)`, by: 'time' },
    { label: `gae ${name}: fresh Float32Array outputs ÷ library outputs (time)`, of: `gae ${name}, fresh Float32Array outputs every call (as before host memory)`, to: `gae ${name}, the library's outputs (host memory, blocks reused)`, by: 'time' },
  ]);
}

// A small call, where per-call overhead (thread wake-ups) rather than
// bandwidth decides: [256,80] is 20 k steps.
async function gaeSmallCase(): Promise<void> {
  const B = 256;
  const T = 80;
  const n = B * T;
  const shape = [B, T];
  const r = randomFloats(n, 21);
  const v = randomFloats(n, 22);
  const term = flags(n, 0.01, 23);
  const input = {
    rewards: { data: r, shape }, values: { data: v, shape }, nextValues: { data: r, shape },
    terminated: { data: term, shape }, done: { data: term, shape },
  };
  const out = { advantages: new Float32Array(n), returns: new Float32Array(n) };
  const opts = { gamma: 0.99, lambda: 0.95, out };
  await table(`gae [${B},${T}] (a small call)`, [
    { name: 'gae [256,80] native', bytes: n * 14, fn: () => gae(input, opts) },
    { name: 'gae [256,80] native, 1 thread', bytes: n * 14, fn: () => gae(input, { ...opts, threads: 1 }) },
    { name: 'gae [256,80] TS reference', bytes: n * 14, fn: () => refGae(r, v, r, term, term, B, T, 0.99, 0.95) },
  ], [
    { label: 'gae [256,80]: native vs TS reference (time)', of: 'gae [256,80] TS reference', to: 'gae [256,80] native', by: 'time' },
  ]);
}

async function grpoCase(): Promise<void> {
  const B = 8192;
  const H = 400;
  const g = 8;
  const u = randomFloats(B, 7);
  const R = u.map((x) => (x > 0 ? 1 : (x + 1) * 0.8));
  const lengthsU = randomFloats(B, 8);
  const lengths = Int32Array.from(lengthsU, (x) => 1 + Math.floor(((x + 1) / 2) * (H - 1)));
  const written = B * H * 4; // the [B,H] output dominates the traffic
  const probe = probeBuffer(written);
  const out = new Float32Array(B * H);
  await table(`grpoAdvantages + stepAdvantages, ${B} trajectories × ${H} steps (group ${g})`, [
    { name: 'grpo+step native', bytes: written, fn: () => stepAdvantages(grpoAdvantages(R, { groupSize: g }), lengths, H, 0.99, { out }) },
    { name: 'grpo+step native, new output', bytes: written, fn: () => stepAdvantages(grpoAdvantages(R, { groupSize: g }), lengths, H, 0.99) },
    { name: 'grpo+step TS reference', bytes: written, fn: () => refStepAdvantages(refGrpo(R, g), lengths, H, 0.99) },
    { name: 'read probe (output bytes)', bytes: written, fn: () => memoryReadProbe(probe) },
  ], [
    { label: 'grpo+step: native vs TS reference (time)', of: 'grpo+step TS reference', to: 'grpo+step native', by: 'time' },
    { label: 'grpo+step: output bandwidth / probe read bandwidth', of: 'grpo+step native', to: 'read probe (output bytes)', by: 'gbps' },
  ]);
}

async function surrogateCase(): Promise<void> {
  const B = 4096;
  const T = 256;
  const n = B * T;
  const shape = [B, T];
  const lp = randomFloats(n, 11).map((x) => x - 2);
  const noise = randomFloats(n, 12);
  const olp = lp.map((x, i) => x + 0.2 * noise[i]);
  const adv = randomFloats(n, 13);
  const mask = flags(n, 0.9, 14);
  const bytes = n * (3 * 4 + 1);
  const probe = probeBuffer(bytes);
  const input = { logProbs: { data: lp, shape }, oldLogProbs: { data: olp, shape }, advantages: { data: adv, shape }, mask: { data: mask, shape } };
  await table(`clippedSurrogate [${B},${T}] (mask, clip 0.2/0.28, dual clip 3)`, [
    { name: 'surrogate native', bytes, fn: () => clippedSurrogate(input, { clipLow: 0.2, clipHigh: 0.28, dualClip: 3 }) },
    { name: 'surrogate native seq-mean-token-mean', bytes, fn: () => clippedSurrogate(input, { clipLow: 0.2, aggregation: 'seq-mean-token-mean' }) },
    { name: 'surrogate native, 1 thread', bytes, fn: () => clippedSurrogate(input, { clipLow: 0.2, clipHigh: 0.28, dualClip: 3, threads: 1 }) },
    { name: 'surrogate TS reference', bytes, fn: () => refSurrogate(lp, olp, adv, mask, B, T, 0.2, 0.28, 3) },
    { name: 'read probe (same bytes)', bytes, fn: () => memoryReadProbe(probe) },
  ], [
    { label: 'surrogate: native vs TS reference (time)', of: 'surrogate TS reference', to: 'surrogate native', by: 'time' },
    { label: 'surrogate: native bandwidth / probe', of: 'surrogate native', to: 'read probe (same bytes)', by: 'gbps' },
  ]);
}

// The other two per-step losses over the same shape: the clipped value loss
// with Huber (the most select-heavy loop) and the k3 KL penalty (one exp).
async function valueKlCase(): Promise<void> {
  const B = 4096;
  const T = 256;
  const n = B * T;
  const shape = [B, T];
  const v = randomFloats(n, 31).map((x) => 3 * x);
  const R = randomFloats(n, 32).map((x) => 3 * x);
  const noise = randomFloats(n, 33);
  const ov = v.map((x, i) => x + 0.5 * noise[i]);
  const lp = randomFloats(n, 34).map((x) => x - 2);
  const ref = lp.map((x, i) => x + 0.2 * noise[i]);
  const mask = flags(n, 0.9, 35);
  const vInput = { values: { data: v, shape }, returns: { data: R, shape }, oldValues: { data: ov, shape }, mask: { data: mask, shape } };
  const kInput = { logProbs: { data: lp, shape }, refLogProbs: { data: ref, shape }, mask: { data: mask, shape } };
  const vOpts = { clip: 0.2, huberDelta: 1 };
  await table(`clippedValueLoss and klPenalty [${B},${T}] (mask)`, [
    { name: 'value loss native (clip 0.2, Huber 1)', bytes: n * 13, fn: () => clippedValueLoss(vInput, vOpts) },
    { name: 'value loss native, 1 thread', bytes: n * 13, fn: () => clippedValueLoss(vInput, { ...vOpts, threads: 1 }) },
    { name: 'value loss TS reference', bytes: n * 13, fn: () => refValueLoss(v, R, ov, mask, B, T, 0.2, 1) },
    { name: 'kl k3 native', bytes: n * 9, fn: () => klPenalty(kInput) },
    { name: 'kl k3 native, 1 thread', bytes: n * 9, fn: () => klPenalty(kInput, { threads: 1 }) },
    { name: 'kl k3 TS reference', bytes: n * 9, fn: () => refKl(lp, ref, mask, B, T) },
  ], [
    { label: 'value loss: native vs TS reference (time)', of: 'value loss TS reference', to: 'value loss native (clip 0.2, Huber 1)', by: 'time' },
    { label: 'kl k3: native vs TS reference (time)', of: 'kl k3 TS reference', to: 'kl k3 native', by: 'time' },
  ]);
}

/** Runs the RL benchmarks. */
export async function run(): Promise<void> {
  await gaeCase(256, 1024);
  await gaeCase(8192, 80);
  await gaeSmallCase();
  await grpoCase();
  await surrogateCase();
  await valueKlCase();
}
