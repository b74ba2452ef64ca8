// Child process of test/unit/worker-threads.test.ts and native-safety.test.ts:
// runs one scenario that used to crash the process (a worker_thread terminated
// mid-call, an input buffer detached while an async call reads it, ...) and
// prints one JSON line `{"ok": true, ...}` or `{"skip": "<reason>"}`. A crash
// shows as a signal or a non-zero exit code in the parent.
//
//   node --expose-gc --import tsx test/helpers/native-scenarios.ts <scenario>
//
// Workers load the addon directly (plain CommonJS, no TypeScript): they test
// the native layer, which is where the process aborted.
import { Worker } from 'node:worker_threads';
import {
  addonPaths, capabilities, PpoTrainer, Policy, progressTargets, progressTargetsBatch, progressTargetsSync, ValueHead, PAPER_PROGRESS_OPTIONS,
  type PolicySpec, type RolloutBatch,
} from '../../src/index.js';
import { patchStatsEncoder } from '../../src/encoders/builtin.js';
import { rng } from './data.js';

// The files the loader picked (FEAT2GO_ADDON, a local build or the platform package; the libtorch addon beside them).
const hasTorch = capabilities().torch;
const { core: addonPath, torch: torchPath } = addonPaths();
const gc = (globalThis as { gc?: () => void }).gc ?? (() => { throw new Error('run with --expose-gc'); });

function report(x: Record<string, unknown>): void {
  console.log(JSON.stringify(x));
}

function randomFloats(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

// ---- worker bodies (CommonJS, evaluated) ----
const prelude = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addon);
const torch = workerData.torch ? require(workerData.torch) : undefined;
const P = { lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.01, segmenter: 'paper', threads: 0 };
function data(n, seed) { let s = seed >>> 0; const a = new Float32Array(n); for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = s / 4294967296 - 0.5; } return a; }
`;

const bodies: Record<string, string> = {
  // Same numbers in a worker as on the main thread, several workers at once.
  concurrent: `
    (async () => {
      const T = 40, N = 16, D = 32;
      const x = data(T * N * D, workerData.seed);
      const sync = addon.progressTargetsSync({ features: x }, { ...P, T, N, D });
      const asyncR = await addon.progressTargets({ features: x }, { ...P, T, N, D });
      const B = 64, L = 50, n = B * L;
      const adv = new Float32Array(n), ret = new Float32Array(n);
      addon.rlGae({ rewards: data(n, 1), values: data(n, 2), nextValues: data(n, 3), terminated: new Uint8Array(n), done: new Uint8Array(n) },
        { B, T: L, gamma: 0.99, lambda: 0.95, timeMajor: false, threads: 0 }, { advantages: adv, returns: ret });
      parentPort.postMessage({ values: Array.from(sync.values), asyncValues: Array.from(asyncR.values), adv: Array.from(adv) });
    })();`,
  'progress-async': `
    const T = 120, N = 64, D = 128; const x = data(T * N * D, 7);
    (async () => { parentPort.postMessage('go'); for (;;) await addon.progressTargets({ features: x }, { ...P, T, N, D }); })();`,
  'progress-batch': `
    const T = 60, N = 64, D = 128; const episodes = [0, 1, 2, 3].map((k) => ({ features: data(T * N * D, k), T, N, D }));
    (async () => { parentPort.postMessage('go'); for (;;) await addon.progressTargetsBatch({ episodes }, P); })();`,
  'progress-sync': `
    const T = 120, N = 64, D = 128; const x = data(T * N * D, 7);
    parentPort.postMessage('go'); for (;;) addon.progressTargetsSync({ features: x }, { ...P, T, N, D });`,
  'patch-stats': `
    const T = 8, H = 96, W = 96; const f = new Uint8Array(T * H * W * 3).fill(77);
    const opts = { T, H, W, gridH: 8, gridW: 8, bins: 8, threads: 0 };
    (async () => { parentPort.postMessage('go'); for (;;) await addon.encoderPatchStats({ frames: f }, opts, { features: new Float32Array(T * 64 * 14) }); })();`,
  // Loads the addon again and again: each require() in a fresh module cache runs the module init.
  load: `
    parentPort.postMessage('go');
    for (;;) { delete require.cache[workerData.addon]; process.dlopen({ exports: {} }, workerData.addon); }`,
  'value-head-predict': `
    const h = new torch.ValueHeadNative({}, { inputDim: 64, hiddenDim: 64, bins: 51, oneHot: false, seed: 1 });
    const B = 4096; const x = data(B * 64, 3);
    parentPort.postMessage('go'); for (;;) h.predict({ hidden: x }, { B });`,
  'value-head-fit': `
    const h = new torch.ValueHeadNative({}, { inputDim: 64, hiddenDim: 64, bins: 51, oneHot: false, seed: 1 });
    const B = 2048; const x = data(B * 64, 3); const v = new Float32Array(B).fill(0.5);
    const o = { B, epochs: 2, batchSize: 256, lr: 1e-3, weightDecay: 0.01, cosine: true, seed: 0, distributed: false, onProgress: () => {} };
    (async () => { parentPort.postMessage('go'); for (;;) await h.fit({ hidden: x, targets: v }, o); })();`,
};

function startWorker(body: string, extra: Record<string, unknown> = {}): Worker {
  return new Worker(prelude + body, { eval: true, workerData: { addon: addonPath, torch: torchPath, ...extra } });
}

/** Starts `rounds` workers one after the other, terminating each `delay(i)` ms after it said 'go' (or after start). */
async function terminateMidCall(body: string, rounds: number, delay: (i: number) => number, waitGo = true): Promise<number> {
  let terminated = 0;
  for (let i = 0; i < rounds; i++) {
    const w = startWorker(body);
    w.on('error', () => {}); // an error inside the worker is not what this tests
    if (waitGo) await new Promise<void>((res) => { w.once('message', () => res()); w.once('exit', () => res()); });
    await sleep(delay(i));
    await w.terminate();
    terminated++;
  }
  return terminated;
}

async function detachDuring<T>(buf: ArrayBuffer, start: () => Promise<T>): Promise<T> {
  const p = start();
  // Transfer the buffer away (detaching it here), drop the clone, let the GC
  // free its memory and hand that memory out again, filled with garbage.
  const bytes = buf.byteLength;
  structuredClone(buf, { transfer: [buf] });
  const junk: Float32Array[] = [];
  for (let k = 0; k < 4; k++) {
    gc();
    await sleep(5);
    junk.push(new Float32Array(bytes / 4).fill(Number.NaN));
  }
  const r = await p;
  junk.length = 0;
  return r;
}

function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  async concurrent() {
    const results = await Promise.all([11, 12, 13, 14].map((seed) => new Promise<{ seed: number; r: Record<string, number[]> }>((res, rej) => {
      const w = startWorker(bodies.concurrent, { seed });
      w.once('message', (r) => { res({ seed, r }); void w.terminate(); });
      w.once('error', rej);
    })));
    // The same computation on this thread (through the public API).
    let same = 0;
    for (const { seed, r } of results) {
      const x = lcg(40 * 16 * 32, seed);
      const main = progressTargetsSync({ data: x, shape: [40, 16, 32] }, PAPER_PROGRESS_OPTIONS); // the workers' P
      if (!sameArray(main.values, r.values) || !sameArray(main.values, r.asyncValues)) throw new Error(`worker ${seed} values differ from the main thread's`);
      same++;
    }
    if (!sameArray(results[0].r.adv, results[1].r.adv)) throw new Error('gae differs between workers');
    return { workers: results.length, same };
  },
  async 'terminate-progress-async'() {
    return { terminated: await terminateMidCall(bodies['progress-async'], 12, (i) => i % 6) };
  },
  async 'terminate-progress-batch'() {
    return { terminated: await terminateMidCall(bodies['progress-batch'], 12, (i) => i % 6) };
  },
  async 'terminate-progress-sync'() {
    return { terminated: await terminateMidCall(bodies['progress-sync'], 12, (i) => i % 6) };
  },
  async 'terminate-patch-stats'() {
    return { terminated: await terminateMidCall(bodies['patch-stats'], 12, (i) => i % 4) };
  },
  async 'terminate-load'() {
    // Terminated while the module init runs: the worker runs it in a loop.
    return { terminated: await terminateMidCall(bodies.load, 30, (i) => i % 3) };
  },
  async 'terminate-value-head'() {
    if (!hasTorch) return { skip: 'libtorch not built in' };
    const a = await terminateMidCall(bodies['value-head-predict'], 8, (i) => i % 5);
    const b = await terminateMidCall(bodies['value-head-fit'], 8, (i) => i % 5);
    return { terminated: a + b };
  },
  async 'worker-loop-rss'() {
    const body = `${bodies.concurrent}`;
    const once = () => new Promise<void>((res, rej) => {
      const w = startWorker(body, { seed: 3 });
      w.once('message', () => { void w.terminate().then(() => res()); });
      w.once('error', rej);
    });
    for (let i = 0; i < 8; i++) await once();
    gc(); await sleep(50); gc();
    const before = process.memoryUsage();
    const rounds = 60;
    for (let i = 0; i < rounds; i++) await once();
    gc(); await sleep(50); gc();
    const after = process.memoryUsage();
    return { rounds, rssBeforeMB: before.rss / 2 ** 20, rssAfterMB: after.rss / 2 ** 20, externalBeforeMB: before.external / 2 ** 20, externalAfterMB: after.external / 2 ** 20 };
  },
  async 'detach-progress'() {
    const shape = [400, 128, 128];
    const n = shape[0] * shape[1] * shape[2];
    const x = randomFloats(n, 5);
    const expected = progressTargetsSync({ data: x.slice(), shape });
    const got = await detachDuring(x.buffer as ArrayBuffer, () => progressTargets({ data: x, shape }));
    if (x.length !== 0) throw new Error('the buffer was not detached');
    const batchX = randomFloats(n, 6);
    const expectedB = progressTargetsSync({ data: batchX.slice(), shape });
    const gotB = await detachDuring(batchX.buffer as ArrayBuffer, () => progressTargetsBatch([{ data: batchX, shape }, { data: batchX, shape }]));
    return {
      same: sameArray(got.values, expected.values) && sameArray(got.similarity, expected.similarity),
      sameBatch: gotB.every((r) => sameArray(r.values, expectedB.values)),
    };
  },
  async 'shared-progress'() {
    // Inputs over a SharedArrayBuffer are read in place (no copy): the memory
    // cannot be detached, and the call's reference keeps it alive when the
    // caller drops its own.
    const shape = [400, 128, 128];
    const n = shape[0] * shape[1] * shape[2];
    const plain = randomFloats(n, 7);
    const expected = progressTargetsSync({ data: plain, shape });
    const sharedCopy = (): Float32Array => { const a = new Float32Array(new SharedArrayBuffer(n * 4)); a.set(plain); return a; };
    let x: Float32Array | null = sharedCopy();
    let transferThrows = false;
    try {
      structuredClone(x.buffer, { transfer: [x.buffer as unknown as ArrayBuffer] });
    } catch {
      transferThrows = true;
    }
    const p = progressTargets({ data: x, shape });
    let xb: Float32Array | null = sharedCopy();
    const pb = progressTargetsBatch([{ data: xb, shape }, { data: xb, shape }]);
    x = null; xb = null;
    const junk: Float32Array[] = [];
    for (let k = 0; k < 4; k++) {
      gc();
      await sleep(5);
      junk.push(new Float32Array(n).fill(Number.NaN));
    }
    const [got, gotB] = await Promise.all([p, pb]);
    junk.length = 0;
    return {
      same: sameArray(got.values, expected.values) && sameArray(got.similarity, expected.similarity),
      sameBatch: gotB.every((r) => sameArray(r.values, expected.values)),
      transferThrows,
    };
  },
  async 'shared-patch-stats'() {
    const enc = patchStatsEncoder({ grid: [4, 4], bins: 8 });
    const T = 6, H = 64, W = 64;
    const r = rng(3);
    const plain = Uint8Array.from({ length: T * H * W * 3 }, () => Math.floor(r() * 256));
    const expected = enc.encodeSync({ data: plain, shape: [T, H, W, 3] });
    let frames: Uint8Array | null = new Uint8Array(new SharedArrayBuffer(plain.length));
    frames.set(plain);
    let transferThrows = false;
    try {
      structuredClone(frames.buffer, { transfer: [frames.buffer as unknown as ArrayBuffer] });
    } catch {
      transferThrows = true;
    }
    const p = enc.encode({ data: frames, shape: [T, H, W, 3] });
    frames = null;
    for (let k = 0; k < 4; k++) { gc(); await sleep(5); }
    const got = await p;
    return { same: sameArray(got.data, expected.data), transferThrows };
  },
  async 'detach-patch-stats'() {
    const enc = patchStatsEncoder({ grid: [4, 4], bins: 8 });
    const T = 6, H = 64, W = 64;
    const r = rng(3);
    const frames = Uint8Array.from({ length: T * H * W * 3 }, () => Math.floor(r() * 256));
    const expected = enc.encodeSync({ data: frames.slice(), shape: [T, H, W, 3] });
    const got = await detachDuring(frames.buffer as ArrayBuffer, () => enc.encode({ data: frames, shape: [T, H, W, 3] }));
    return { same: sameArray(got.data, expected.data) };
  },
  async 'detach-value-head-fit'() {
    if (!hasTorch) return { skip: 'libtorch not built in' };
    const B = 8192, H = 64;
    const h = randomFloats(B * H, 8);
    const v = Float32Array.from(randomFloats(B, 9), (x) => (x + 1) / 2);
    const a = new ValueHead({ inputDim: H, hiddenDim: 32, bins: 21, seed: 4 });
    const b = new ValueHead({ inputDim: H, hiddenDim: 32, bins: 21, seed: 4 });
    const opts = { epochs: 4, batchSize: 256, seed: 2 };
    const ref = a.fitSync({ data: h.slice(), shape: [B, H] }, v.slice(), opts);
    const got = await detachDuring(h.buffer as ArrayBuffer, () => b.fit({ data: h, shape: [B, H] }, v, opts));
    return { same: sameArray(ref.losses, got.losses) };
  },
  async 'detach-ppo-update'() {
    if (!hasTorch) return { skip: 'libtorch not built in' };
    const spec: PolicySpec = { obsDim: 4, trunk: { sizes: [16] }, head: { type: 'gaussian', actionDim: 2 }, critic: { sizes: [16] }, seed: 5 };
    const B = 64, T = 64, n = B * T;
    const make = (p: Policy): RolloutBatch => {
      const obs = randomFloats(n * 4, 1);
      const act = p.act({ data: obs, shape: [n, 4] }, { deterministic: true });
      return {
        obs: { data: obs, shape: [B, T, 4] }, actions: { data: act.actions.data, shape: [B, T, 2] },
        oldLogProbs: { data: act.logProbs, shape: [B, T] }, advantages: { data: randomFloats(n, 2), shape: [B, T] },
        returns: { data: randomFloats(n, 3), shape: [B, T] },
      };
    };
    const p1 = new Policy(spec), p2 = new Policy(spec);
    const ref = new PpoTrainer(p1, { epochs: 4, minibatches: 4, seed: 1 }).updateSync(make(p1));
    const batch = make(p2);
    const got = await detachDuring((batch.obs as { data: Float32Array }).data.buffer as ArrayBuffer, () => new PpoTrainer(p2, { epochs: 4, minibatches: 4, seed: 1 }).update(batch));
    return { same: ref.loss === got.loss && ref.policyLoss === got.policyLoss };
  },
};

function lcg(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = s / 4294967296 - 0.5; }
  return a;
}

const name = process.argv[2];
const fn = scenarios[name];
if (!fn) {
  console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
fn().then((r) => { report(r.skip ? r : { ok: true, ...r }); }, (err) => { console.error(err); process.exit(1); });
