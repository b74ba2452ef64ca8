// Child process of test/unit/zero-copy.test.ts: measures what one
// `await progressTargets(x)` costs the calling process — the extra resident
// memory (peak RSS during the call minus RSS before it) and the longest stall
// of the event loop (perf_hooks.monitorEventLoopDelay) — for features that
// come from readNpy, hostTensor, readNpy(…, { shared: true }) or a plain
// Float32Array, on the first call and on a second one. Prints one JSON line.
// Used by test/unit/zero-copy.test.ts (RSS) and bench/zero-copy.ts (both).
//
//   node --expose-gc --import tsx test/helpers/rss-lag-child.ts <readNpy|hostTensor|shared|plain> [T N D]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as lib from '../../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => { throw new Error('run with --expose-gc'); });
const [mode = 'readNpy', Ts = '300', Ns = '256', Ds = '1024'] = process.argv.slice(2);
const shape = [Number(Ts), Number(Ns), Number(Ds)];
const n = shape[0] * shape[1] * shape[2];

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
  await lib.progressTargets({ data: new Float32Array(4 * 2 * 8).fill(1), shape: [4, 2, 8] });
  // The first call on the episode (nothing cached: what labelling one episode
  // costs) and a second one (blocks of the first kept for reuse).
  const measure = async () => {
    for (let k = 0; k < 3; k++) { gc(); await sleep(20); }
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 2);
    const t0 = performance.now();
    const r = await lib.progressTargets({ data: x, shape });
    const ms = performance.now() - t0;
    peak = Math.max(peak, process.memoryUsage.rss());
    clearInterval(sampler);
    h.disable();
    return { extraRssMB: (peak - rss0) / 2 ** 20, maxLagMs: h.max / 1e6, callMs: ms, stages: r.segments.length };
  };
  const first = await measure();
  const second = await measure();
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  console.log(JSON.stringify({ ok: true, mode, host, shape, inputMB: (n * 4) / 2 ** 20, first, second }));
}

main().catch((err) => { console.error(err); process.exit(1); });
