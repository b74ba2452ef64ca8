// Progress-target benchmarks on V-JEPA 2 ViT-L sized episodes [300, 256, 1024]
// float32 (315 MB): native kernels vs a tight TypeScript loop vs the
// memory-read probe (the physical limit: the same buffer summed by the same threads).
// The rows compare the paper's rule (PAPER_PROGRESS_OPTIONS: the same work as
// these tables always measured) and, in one row, the default motion segmenter.
import {
  PAPER_PROGRESS_OPTIONS, capabilities, hostTensor, memoryReadProbe, patchSimilarity, progressTargets, progressTargetsBatch, progressTargetsSync,
} from '../src/index.js';
import { refProgress, stagedEpisode } from '../test/reference/progress.js';
import { table } from './common.js';

/** The fastest plain TypeScript form of SPEC §1: one fused pass per patch, goal norms once. */
function tsPatchSimilarity(x: Float32Array, T: number, N: number, D: number, goal: number, lambda: number): Float32Array {
  const F = N * D, out = new Float32Array(T), gn = new Float64Array(N), go = goal * F;
  for (let p = 0; p < N; p++) { let s = 0; for (let i = 0; i < D; i++) { const b = x[go + p * D + i]; s += b * b; } gn[p] = Math.sqrt(s); }
  for (let t = 0; t < T; t++) {
    let total = 0;
    for (let p = 0; p < N; p++) {
      let dot = 0, nx = 0, l1 = 0;
      const xo = t * F + p * D, gp = go + p * D;
      for (let i = 0; i < D; i++) { const a = x[xo + i], b = x[gp + i]; dot += a * b; nx += a * a; l1 += Math.abs(a - b); }
      total += (dot / Math.max(Math.sqrt(nx) * gn[p], 1e-8)) * Math.exp(-lambda * l1 / D);
    }
    out[t] = total / N;
  }
  return out;
}

export async function run(): Promise<void> {
  const T = 300, N = 256, D = 1024;
  const data = stagedEpisode(T, N, D, 5, 42, 0.02, 6);
  const bytes = data.byteLength;
  const f = { data, shape: [T, N, D] };
  // The same episode over a SharedArrayBuffer: async calls read it in place (no copy).
  const shared = new Float32Array(new SharedArrayBuffer(bytes));
  shared.set(data);
  const fs = { data: shared, shape: [T, N, D] };
  // And in host memory (as readNpy, readSafetensors and the encoders return it): read in place too.
  const fh = hostTensor([T, N, D], 'float32', { zero: false });
  fh.data.set(data);
  const P = PAPER_PROGRESS_OPTIONS;
  const stages = progressTargetsSync(f, P).segments.length;
  const motionStages = progressTargetsSync(f).segments.length;
  const threads = capabilities().threads;
  console.log(`\nprogress: episode [${T}, ${N}, ${D}] float32 = ${(bytes / 1e6).toFixed(0)} MB, ${stages} stages found by the paper's rule (${motionStages} by the motion segmenter), ${threads} threads`);
  // Frames the segmentation actually reads: Σ over clusters of min(M, g+1).
  const rows = await table('Progress targets, one V-JEPA 2 ViT-L sized episode', [
    { name: 'memory-read probe (addon, all threads)', bytes, fn: () => memoryReadProbe(data) },
    { name: 'patchSimilarity native', bytes, fn: () => patchSimilarity(f, T - 1) },
    { name: 'patchSimilarity native, 1 thread', bytes, fn: () => patchSimilarity(f, T - 1, { threads: 1 }) },
    { name: 'memory-read probe, 1 thread', bytes, fn: () => memoryReadProbe(data, { threads: 1 }) },
    { name: 'patchSimilarity TypeScript loop', bytes, fn: () => tsPatchSimilarity(data, T, N, D, T - 1, 1) },
    { name: 'progressTargets native (async)', bytes, async: true, fn: () => progressTargets(f, P) },
    { name: 'progressTargets native (async, SharedArrayBuffer input)', bytes, async: true, fn: () => progressTargets(fs, P) },
    { name: 'progressTargets native (async, host memory input)', bytes, async: true, fn: () => progressTargets(fh, P) },
    { name: 'progressTargetsSync native', bytes, fn: () => progressTargetsSync(f, P) },
    { name: 'progressTargetsSync native, default (motion segmenter)', bytes, fn: () => progressTargetsSync(f) },
    { name: 'progressTargets TypeScript reference', bytes, fn: () => refProgress(data, T, N, D, P) },
  ], [
    { label: 'patchSimilarity GB/s ÷ read probe GB/s (target ≥ 0.60)', of: 'patchSimilarity native', to: 'memory-read probe (addon, all threads)', by: 'gbps' },
    { label: 'patchSimilarity 1 thread ÷ probe 1 thread', of: 'patchSimilarity native, 1 thread', to: 'memory-read probe, 1 thread', by: 'gbps' },
    { label: 'patchSimilarity native speed-up over TypeScript (target ≥ 5)', of: 'patchSimilarity TypeScript loop', to: 'patchSimilarity native', by: 'time' },
    { label: 'progressTargets time ÷ one patchSimilarity pass (target ≤ 3)', of: 'progressTargets native (async)', to: 'patchSimilarity native', by: 'time' },
    { label: 'progressTargets, SharedArrayBuffer input (no input copy), ÷ one patchSimilarity pass (target ≤ 3)', of: 'progressTargets native (async, SharedArrayBuffer input)', to: 'patchSimilarity native', by: 'time' },
    { label: 'progressTargets, host memory input (no input copy), ÷ one patchSimilarity pass (target ≤ 3)', of: 'progressTargets native (async, host memory input)', to: 'patchSimilarity native', by: 'time' },
    { label: 'progressTargets: plain input (copied) ÷ host memory input (zero-copy)', of: 'progressTargets native (async)', to: 'progressTargets native (async, host memory input)', by: 'time' },
    { label: 'progressTargetsSync ÷ one patchSimilarity pass', of: 'progressTargetsSync native', to: 'patchSimilarity native', by: 'time' },
    { label: 'progressTargetsSync, default (motion segmenter) ÷ the paper\'s rule (target ≤ 1.2)', of: 'progressTargetsSync native, default (motion segmenter)', to: 'progressTargetsSync native', by: 'time' },
    { label: 'progressTargets native speed-up over the TypeScript reference', of: 'progressTargets TypeScript reference', to: 'progressTargets native (async)', by: 'time' },
  ]);
  void rows;

  // What the calling thread pays before the call returns (the event loop is
  // blocked that long): the input copy for a plain array, nothing for host memory.
  const held = async (x: { data: Float32Array; shape: number[] }) => {
    const ms: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const p = progressTargets(x);
      ms.push(performance.now() - t0);
      await p;
    }
    return ms.sort((a, b) => a - b)[3];
  };
  const plainMs = await held(f), hostMs = await held(fh), sharedMs = await held(fs);
  console.log('\n### progressTargets: time until the call returns (the event loop is blocked meanwhile), median of 7\n');
  console.log('| input | ms |\n|---|---:|');
  console.log(`| plain Float32Array (copied) | ${plainMs.toFixed(2)} |`);
  console.log(`| host memory (readNpy, hostTensor: read in place) | ${hostMs.toFixed(2)} |`);
  console.log(`| SharedArrayBuffer (read in place) | ${sharedMs.toFixed(2)} |`);

  // Many episodes: batch across threads vs one call after another.
  const eps = Array.from({ length: 8 }, (_, i) => ({ data: stagedEpisode(100, 256, 256, 3, 7 + i, 0.02, 4), shape: [100, 256, 256] }));
  const batchBytes = eps.reduce((a, e) => a + e.data.byteLength, 0);
  await table('Batch of 8 episodes [100, 256, 256]', [
    { name: 'progressTargetsBatch', bytes: batchBytes, async: true, fn: () => progressTargetsBatch(eps, P) },
    { name: 'progressTargets one after another', bytes: batchBytes, async: true, fn: async () => { for (const e of eps) await progressTargets(e, P); } },
    { name: 'progressTargets all at once (Promise.all)', bytes: batchBytes, async: true, fn: () => Promise.all(eps.map((e) => progressTargets(e, P))) },
  ], [{ label: 'batch speed-up over sequential', of: 'progressTargets one after another', to: 'progressTargetsBatch', by: 'time' }]);
}
