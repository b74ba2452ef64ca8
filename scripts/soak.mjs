#!/usr/bin/env node
// Soak test (not part of `npm test`): 100k mixed calls into the addon (sync
// and async, good and bad arguments, every error path of the glue) and the
// process's RSS, external and heap memory at the start (after a warm-up) and
// at the end. Memory that grows with the number of calls is a leak.
//
//   node scripts/soak.mjs [calls=100000]
//
// Re-runs itself under `node --expose-gc --import tsx` (the library is TypeScript).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (typeof globalThis.gc !== 'function' || !process.execArgv.some((a) => a.includes('tsx'))) {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const f2g = await import('../src/index.ts');
const { patchStatsEncoder } = await import('../src/encoders/builtin.ts');
const total = Number(process.argv[2] ?? 100_000);

let seed = 12345;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
const floats = (n, s = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);

const ep = { data: floats(20 * 8 * 16), shape: [20, 8, 16] };
const B = 8, T = 32, n = B * T;
const gaeIn = {
  rewards: { data: floats(n), shape: [B, T] }, values: { data: floats(n), shape: [B, T] },
  nextValues: { data: floats(n), shape: [B, T] }, terminated: { data: new Uint8Array(n), shape: [B, T] },
  done: { data: Uint8Array.from({ length: n }, (_, i) => (i % T === T - 1 ? 1 : 0)), shape: [B, T] },
};
const lp = { data: floats(n, 0.1), shape: [B, T] };
const olp = { data: floats(n, 0.1), shape: [B, T] };
const adv = { data: floats(n), shape: [B, T] };
const enc = patchStatsEncoder({ grid: [2, 2], bins: 4 });
const frames = { data: Uint8Array.from({ length: 2 * 16 * 16 * 3 }, () => Math.floor(rand() * 256)), shape: [2, 16, 16, 3] };
const head = f2g.capabilities().torch ? new f2g.ValueHead({ inputDim: 16, hiddenDim: 16, bins: 11 }) : null;
const hidden = { data: floats(64 * 16), shape: [64, 16] };
const bad = new Float32Array(n); bad[3] = Number.NaN;

const expectThrow = (fn) => { try { fn(); } catch { return; } throw new Error('expected a throw'); };
const syncCalls = [
  () => f2g.progressTargetsSync(ep),
  () => f2g.gae(gaeIn, { gamma: 0.99, lambda: 0.95 }),
  () => f2g.grpoAdvantages(floats(16), { groupSize: 4 }),
  () => f2g.stepAdvantages([1, -1], [3, 5], 8, 0.9),
  () => f2g.normalizeAdvantages(adv),
  () => f2g.clippedSurrogate({ logProbs: lp, oldLogProbs: olp, advantages: adv }, { clipLow: 0.2 }),
  () => f2g.klPenalty({ logProbs: lp, refLogProbs: olp }),
  () => f2g.clippedValueLoss({ values: adv, returns: lp }),
  () => f2g.patchSimilarity(ep, -1),
  () => f2g.slidingSlopes({ data: floats(64), shape: [2, 32] }, 5),
  () => enc.encodeSync(frames),
  () => expectThrow(() => f2g.clippedSurrogate({ logProbs: { data: bad, shape: [B, T] }, oldLogProbs: olp, advantages: adv }, { clipLow: 0.2 })),
  () => expectThrow(() => f2g.native().rlGae({}, {}, {})),
  () => expectThrow(() => f2g.native().progressTargetsSync({ features: new Float32Array(3) }, { T: 1, N: 1, D: 3 })),
  () => head && head.predict(hidden),
];
const asyncCalls = [
  () => f2g.progressTargets(ep),
  () => f2g.progressTargetsBatch([ep, ep]),
  () => enc.encode(frames),
  () => f2g.progressTargets({ data: floats(3), shape: [1, 1, 3] }, { window: 1 }).then(() => { throw new Error('expected a rejection'); }, () => {}),
];

const mem = () => { globalThis.gc(); const m = process.memoryUsage(); return { rss: m.rss, external: m.external, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers }; };
const mb = (x) => `${(x / 2 ** 20).toFixed(1)} MB`;
const show = (label, m) => console.log(`${label.padEnd(12)} rss ${mb(m.rss).padStart(9)}  external ${mb(m.external).padStart(9)}  heapUsed ${mb(m.heapUsed).padStart(9)}  arrayBuffers ${mb(m.arrayBuffers).padStart(9)}`);

async function run(calls) {
  let done = 0;
  while (done < calls) {
    const pending = [];
    for (let k = 0; k < 16 && done < calls; k++, done++) {
      if (done % 5 === 4) pending.push(asyncCalls[done % asyncCalls.length]());
      else syncCalls[done % syncCalls.length]();
    }
    await Promise.all(pending);
  }
}

await run(2000); // warm-up: pool threads, caches, JIT
const start = mem();
show('start', start);
const t0 = Date.now();
const step = Math.max(1, Math.floor(total / 5));
for (let done = 0; done < total; done += step) {
  await run(Math.min(step, total - done));
  show(`${Math.min(done + step, total)} calls`, mem());
}
const end = mem();
show('end', end);
console.log(`${total} calls in ${((Date.now() - t0) / 1000).toFixed(1)} s; growth: rss ${mb(end.rss - start.rss)}, external ${mb(end.external - start.external)}`);
