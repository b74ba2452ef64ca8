// Child process of test/unit/zero-copy.test.ts: measures what one
// `await progressTargets(x)` costs the calling process — the extra resident
// memory (peak RSS during the call minus RSS before it) and the longest stall
// of the event loop (the longest gap between ticks of a 2 ms interval) — for features that
// come from readNpy, hostTensor, readNpy(…, { shared: true }) or a plain
// Float32Array, on the first call and on a second one. Prints one JSON line.
// Used by test/unit/zero-copy.test.ts (RSS) and bench/zero-copy.ts (both).
// With FEAT2GO_RSS_CALL=valueHeadFit the call is instead one epoch of
// ValueHead.fit on the same memory as [T·N, D] rows (the libtorch addon
// reading the core addon's host memory).
//
//   node --expose-gc --import tsx test/helpers/rss-lag-child.ts <readNpy|hostTensor|shared|plain> [T N D]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lib from '../../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => { throw new Error('run with --expose-gc'); });
const [mode = 'readNpy', Ts = '300', Ns = '256', Ds = '1024'] = process.argv.slice(2);
const shape = [Number(Ts), Number(Ns), Number(Ds)];
const n = shape[0] * shape[1] * shape[2];
const callKind = process.env.FEAT2GO_RSS_CALL ?? 'progressTargets';
if (callKind !== 'progressTargets' && callKind !== 'valueHeadFit') throw new Error(`unknown FEAT2GO_RSS_CALL ${callKind}`);
const rows = shape[0] * shape[1];
const targets = Float32Array.from({ length: callKind === 'valueHeadFit' ? rows : 0 }, (_, i) => (i % 100) / 100);
const fitOptions = { epochs: 1, batchSize: 8192, seed: 1 };
// The call measured: what it returns is only counted (stages, or epochs).
async function call(x: Float32Array): Promise<number> {
  if (callKind === 'progressTargets') return (await lib.progressTargets({ data: x, shape })).segments.length;
  const head = new lib.ValueHead({ inputDim: shape[2], hiddenDim: 16, bins: 21, seed: 1 });
  return (await head.fit({ data: x, shape: [rows, shape[2]] }, targets, fitOptions)).losses.length;
}

// A smooth episode (frames drift towards a goal), written straight into `a`.
function fill(a: Float32Array): void {
  const F = shape[1] * shape[2];
  for (let t = 0; t < shape[0]; t++) {
    const w = t / Math.max(1, shape[0] - 1);
    const row = a.subarray(t * F, (t + 1) * F);
    for (let i = 0; i < F; i++) row[i] = Math.sin(i * 0.013) * (1 - w) + Math.cos(i * 0.007) * w;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  let x: Float32Array;
  let file: string | undefined;
  if (mode === 'readNpy' || mode === 'shared') {
    let tmp: Float32Array | null = new Float32Array(n);
    fill(tmp);
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-rss-')), 'x.npy');
    lib.writeNpy(file, { data: tmp, shape });
    tmp = null;
    x = lib.readNpyFloat32(file, 3, mode === 'shared' ? { shared: true } : {}).data;
  } else if (mode === 'hostTensor') {
    x = lib.hostTensor(shape, 'float32').data;
    fill(x);
  } else if (mode === 'plain') {
    x = new Float32Array(n);
    fill(x);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const host = lib.isHostMemory(x);
  // One small call first: it loads what every first call loads (under tsx,
  // the source maps that the call's stack capture reads: ~20 ms here), which
  // is not what this measures.
  if (callKind === 'progressTargets') await lib.progressTargets({ data: new Float32Array(4 * 2 * 8).fill(1), shape: [4, 2, 8] });
  else await new lib.ValueHead({ inputDim: 8, hiddenDim: 4, bins: 5, seed: 1 }).fit({ data: new Float32Array(64 * 8).fill(0.5), shape: [64, 8] }, new Float32Array(64).fill(0.5));
  // The first call on the episode (nothing cached: what labelling one episode
  // costs) and a second one (blocks of the first kept for reuse).
  const measure = async () => {
    for (let k = 0; k < 3; k++) { gc(); await sleep(20); }
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    // Event-loop lag: the longest gap between two ticks of a 2 ms interval,
    // less the 2 ms (perf_hooks.monitorEventLoopDelay was tried first: it did
    // not see a 2 s synchronous stall on Node 20, so it is not used).
    let last = performance.now();
    let maxGap = 0;
    const sampler = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 2);
    await sleep(30);
    maxGap = 0;
    last = performance.now();
    const t0 = performance.now();
    const pending = call(x);
    const returnMs = performance.now() - t0; // the calling thread is blocked this long
    const r = await pending;
    const ms = performance.now() - t0;
    await sleep(10); // one more tick after the call, so a stall at its end is seen
    peak = Math.max(peak, process.memoryUsage.rss());
    clearInterval(sampler);
    return { extraRssMB: (peak - rss0) / 2 ** 20, maxLagMs: Math.max(0, maxGap - 2), returnMs, callMs: ms, count: r };
  };
  const first = await measure();
  const second = await measure();
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  console.log(JSON.stringify({ ok: true, call: callKind, mode, host, shape, inputMB: (n * 4) / 2 ** 20, first, second }));
}

main().catch((err) => { console.error(err); process.exit(1); });
