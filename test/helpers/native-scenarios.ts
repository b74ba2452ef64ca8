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
  addonPaths, capabilities, hostTensor, ImageValueModel, isHostMemory, native, PpoTrainer, Policy, progressTargets, progressTargetsBatch, progressTargetsSync, ValueHead, PAPER_PROGRESS_OPTIONS,
  type PolicySpec, type RolloutBatch,
} from '../../src/index.js';
import { patchStatsEncoder } from '../../src/encoders/builtin.js';
import { hostArray } from '../../src/core/host.js';
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
  // Host memory (an external ArrayBuffer) read by the async call when the worker is terminated.
  'progress-host': `
    const T = 120, N = 64, D = 128;
    const x = new Float32Array(addon.systemHostBuffer({}, { bytes: T * N * D * 4, always: true })); x.set(data(T * N * D, 7));
    (async () => { parentPort.postMessage('go'); for (;;) await addon.progressTargets({ features: x }, { ...P, T, N, D }); })();`,
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

/**
 * Starts the call, then moves every buffer away with ArrayBuffer.prototype.transfer
 * (Node 20: --harmony-rab-gsab-transfer; detaches external buffers too), drops
 * the new owners, collects them and hands memory out again, filled with NaN.
 */
async function transferDuring<T>(bufs: ArrayBuffer[], start: () => Promise<T>): Promise<T> {
  const p = start();
  const bytes = bufs.reduce((a, b) => a + b.byteLength, 0);
  for (const b of bufs) if (b.byteLength > 0) (b as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
  if (bufs.some((b) => b.byteLength !== 0)) throw new Error('transfer() did not detach a buffer');
  const junk: Float32Array[] = [];
  for (let k = 0; k < 4; k++) {
    gc();
    await sleep(5);
    junk.push(new Float32Array(bytes / 4 + 1).fill(Number.NaN));
    junk.push(hostArray(Float32Array, bytes / 4 + 1, { zero: false, always: true }).fill(Number.NaN));
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
  async 'detach-host-progress'() {
    // Host memory detached by ArrayBuffer.prototype.transfer while the call reads
    // it: moved whole to a new ArrayBuffer that is dropped and collected, and
    // (second call) copied to a shorter one, which frees the old memory at once.
    const shape = [400, 128, 128];
    const n = shape[0] * shape[1] * shape[2];
    const plain = randomFloats(n, 5);
    const expected = progressTargetsSync({ data: plain, shape });
    const results: boolean[] = [];
    let detached = true;
    for (const shorter of [false, true]) {
      const x = hostTensor(shape);
      x.data.set(plain);
      if (!isHostMemory(x.data)) throw new Error('hostTensor did not give host memory');
      const p = progressTargets(x);
      const buf = x.data.buffer as ArrayBuffer & { transfer(n?: number): ArrayBuffer };
      // The new ArrayBuffer is dropped at once (nothing keeps it).
      const movedBytes = (shorter ? buf.transfer(16) : buf.transfer()).byteLength;
      detached = detached && x.data.length === 0 && movedBytes === (shorter ? 16 : n * 4);
      const junk: Float32Array[] = [];
      for (let k = 0; k < 4; k++) {
        gc();
        await sleep(5);
        junk.push(new Float32Array(n).fill(Number.NaN));
        junk.push(hostTensor([n], 'float32', { zero: false }).data.fill(Number.NaN));
      }
      const got = await p;
      junk.length = 0;
      results.push(sameArray(got.values, expected.values) && sameArray(got.similarity, expected.similarity));
    }
    return { same: results.every(Boolean), detached };
  },
  async 'drop-host-progress'() {
    // Every reference to host memory dropped while a call reads it: collected,
    // finalised on the next turns, memory handed out again — not under the call.
    const shape = [400, 128, 128];
    const n = shape[0] * shape[1] * shape[2];
    const plain = randomFloats(n, 6);
    const expected = progressTargetsSync({ data: plain, shape });
    let x: { data: Float32Array; shape: number[] } | null = hostTensor(shape);
    x.data.set(plain);
    const p = progressTargets(x);
    const pb = progressTargetsBatch([x, x]);
    x = null;
    const junk: Float32Array[] = [];
    for (let k = 0; k < 4; k++) {
      gc();
      await sleep(5);
      junk.push(hostTensor([n], 'float32', { zero: false }).data.fill(Number.NaN));
    }
    const [got, gotB] = await Promise.all([p, pb]);
    junk.length = 0;
    return { same: sameArray(got.values, expected.values) && gotB.every((r) => sameArray(r.values, expected.values)) };
  },
  async 'detach-host-patch-stats'() {
    const enc = patchStatsEncoder({ grid: 4, bins: 8 });
    const T = 12, H = 96, W = 96;
    const r = rng(3);
    const plain = Uint8Array.from({ length: T * H * W * 3 }, () => Math.floor(r() * 256));
    const expected = enc.encodeSync({ data: plain, shape: [T, H, W, 3] });
    const frames = hostTensor([T, H, W, 3], 'uint8');
    frames.data.set(plain);
    const p = enc.encode(frames);
    const movedBytes = (frames.data.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer().byteLength;
    const detached = frames.data.length === 0 && movedBytes === plain.length;
    for (let k = 0; k < 4; k++) { gc(); await sleep(5); hostTensor([T, H, W, 3], 'uint8', { zero: false }).data.fill(255); }
    const got = await p;
    return { same: sameArray(got.data, expected.data), detached };
  },
  async 'terminate-host-progress'() {
    return { terminated: await terminateMidCall(bodies['progress-host'], 12, (i) => i % 6) };
  },
  async 'host-fallback'() {
    // FEAT2GO_HOST_EXTERNAL=0 (as where a V8 sandbox refuses external buffers).
    const shape = [200, 64, 128];
    const n = shape[0] * shape[1] * shape[2];
    const plain = randomFloats(n, 9);
    const expected = progressTargetsSync({ data: plain, shape });
    const x = hostTensor(shape);
    x.data.set(plain);
    const host = isHostMemory(x.data) || native().systemHostStats({}, {}).external;
    const got = await detachDuring(x.data.buffer as ArrayBuffer, () => progressTargets(x));
    return { host, same: sameArray(got.values, expected.values) && x.data.length === 0 };
  },
  async 'host-turn-budget'() {
    // FEAT2GO_HOST_TURN_MB=8: 40 outputs of 1 MiB in one synchronous turn.
    let outs: Float32Array[] | null = Array.from({ length: 40 }, () => hostArray(Float32Array, 262144, { zero: false }));
    const hostInFirstTurn = outs.filter((a) => isHostMemory(a)).length;
    const plainInFirstTurn = outs.length - hostInFirstTurn;
    outs = null;
    for (let k = 0; k < 4; k++) { gc(); await sleep(10); }
    const liveBlocksAfterTurn = native().systemHostStats({}, {}).blocks;
    const hostAfterTurn = isHostMemory(hostArray(Float32Array, 262144, { zero: false }));
    return { hostInFirstTurn, plainInFirstTurn, liveBlocksAfterTurn, hostAfterTurn };
  },
  async 'detach-every-core'() {
    // Every async call of the core addon, with its inputs in host memory and
    // in plain ArrayBuffers, each buffer moved away by
    // ArrayBuffer.prototype.transfer while the call runs (which detaches
    // external buffers too), the new owner dropped, collected, and memory
    // handed out again filled with garbage. Each call must give what the
    // synchronous twin gives on a copy made before.
    const out: Record<string, boolean> = {};
    for (const host of [true, false]) {
      const tag = host ? 'host' : 'plain';
      const f32 = (n: number, seed: number) => { const a = host ? hostArray(Float32Array, n, { always: true }) : new Float32Array(n); a.set(randomFloats(n, seed)); return a; };
      const u8 = (n: number, seed: number) => { const a = host ? hostArray(Uint8Array, n, { always: true }) : new Uint8Array(n); const r = rng(seed); for (let i = 0; i < n; i++) a[i] = Math.floor(r() * 256); return a; };
      // progressTargets and progressTargetsBatch
      const shape = [200, 64, 128];
      const x = f32(shape[0] * shape[1] * shape[2], 31);
      const exp = progressTargetsSync({ data: x.slice(), shape });
      const got = await transferDuring([x.buffer as ArrayBuffer], () => progressTargets({ data: x, shape }));
      out[`progressTargets-${tag}`] = x.length === 0 && sameArray(got.values, exp.values);
      const y = f32(shape[0] * shape[1] * shape[2], 32);
      const expY = progressTargetsSync({ data: y.slice(), shape });
      const gotB = await transferDuring([y.buffer as ArrayBuffer], () => progressTargetsBatch([{ data: y, shape }, { data: y, shape }]));
      out[`progressTargetsBatch-${tag}`] = gotB.every((r) => sameArray(r.values, expY.values));
      // the built-in encoder
      const enc = patchStatsEncoder({ grid: 8, bins: 8 });
      const fr = u8(16 * 96 * 96 * 3, 33);
      const expE = enc.encodeSync({ data: fr.slice(), shape: [16, 96, 96, 3] });
      const gotE = await transferDuring([fr.buffer as ArrayBuffer], () => enc.encode({ data: fr, shape: [16, 96, 96, 3] }));
      out[`encode-${tag}`] = sameArray(gotE.data, expE.data);
      // framesToChw (the ONNX encoder's preprocessing): frames and out moved away
      const n = 8, S = 96, per = 3 * S * S;
      const frames = u8(n * S * S * 3, 34);
      const mean = new Float32Array([0.4, 0.5, 0.6]), std = new Float32Array([0.2, 0.25, 0.3]);
      const ref = new Float32Array(n * per);
      await native().encoderFramesToChw({ frames: frames.slice(), mean, std }, { n, H: S, W: S, threads: 0 }, { chw: ref });
      const chw = host ? hostArray(Float32Array, n * per, { always: true }) : new Float32Array(n * per);
      const p = native().encoderFramesToChw({ frames, mean, std }, { n, H: S, W: S, threads: 0 }, { chw });
      const moved = await transferDuring([frames.buffer as ArrayBuffer, chw.buffer as ArrayBuffer], () => p.then(() => 'resolved', (e: Error) => e.message));
      // Host memory: written in place, into memory that moved with the transfer
      // (not observable any more); a plain out: the call reports that it was detached.
      out[`framesToChw-${tag}`] = host ? moved === 'resolved' : /detached/.test(moved);
    }
    return { same: Object.values(out).every(Boolean), calls: out };
  },
  async 'detach-every-torch'() {
    if (!hasTorch) return { skip: 'libtorch not built in' };
    const out: Record<string, boolean> = {};
    for (const host of [true, false]) {
      const tag = host ? 'host' : 'plain';
      const f32 = (n: number, seed: number, lo = -1) => {
        const a = host ? hostArray(Float32Array, n, { always: true }) : new Float32Array(n);
        a.set(Float32Array.from(randomFloats(n, seed), (v) => (lo === 0 ? (v + 1) / 2 : v)));
        return a;
      };
      // ValueHead.fit
      const B = 8192, H = 64;
      const h = f32(B * H, 41), v = f32(B, 42, 0);
      const cfg = { inputDim: H, hiddenDim: 32, bins: 21, seed: 4 };
      const fo = { epochs: 3, batchSize: 256, seed: 2 };
      const ref = new ValueHead(cfg).fitSync({ data: h.slice(), shape: [B, H] }, v.slice(), fo);
      const head = new ValueHead(cfg);
      // Host memory (the core addon's) is pinned by the libtorch addon through the core's table: counted among its readers.
      let readers = -1;
      const got = await transferDuring([h.buffer as ArrayBuffer, v.buffer as ArrayBuffer], () => {
        const p = head.fit({ data: h, shape: [B, H] }, v, fo);
        readers = native().systemHostInfo({ view: h }, {}).readers;
        return p;
      });
      out[`ValueHead.fit-${tag}`] = sameArray(ref.losses, got.losses);
      out[`ValueHead.fit-${tag}-read-in-place`] = readers === (host ? 1 : 0);
      // ImageValueModel.fit on uint8 frames
      const S = 16, F = 256;
      const fr = host ? hostArray(Uint8Array, F * S * S * 3, { always: true }) : new Uint8Array(F * S * S * 3);
      const rf = rng(48);
      for (let i = 0; i < fr.length; i++) fr[i] = Math.floor(rf() * 256);
      const fy = f32(F, 49, 0);
      const icfg = { backbone: { imageSize: S, layers: [{ channels: 8, kernel: 4, stride: 4 }], embedDim: 12, seed: 1 }, head: { hiddenDim: 16, bins: 21, seed: 2 } };
      const io = { stage: 'joint' as const, epochs: 2, batchSize: 32, seed: 1 };
      const refI = new ImageValueModel(icfg).fitSync({ data: fr.slice(), shape: [F, S, S, 3] }, fy.slice(), io);
      const vm = new ImageValueModel(icfg);
      const gotI = await transferDuring([fr.buffer as ArrayBuffer, fy.buffer as ArrayBuffer], () => vm.fit({ data: fr, shape: [F, S, S, 3] }, fy, io));
      out[`ImageValueModel.fit-${tag}`] = sameArray(refI.losses, gotI.losses);
      // PpoTrainer.update
      const spec: PolicySpec = { obsDim: 4, trunk: { sizes: [16] }, head: { type: 'gaussian', actionDim: 2 }, critic: { sizes: [16] }, seed: 5 };
      const Bs = 64, Ts = 64, m = Bs * Ts;
      const make = (pol: Policy, copy: boolean): RolloutBatch => {
        const obs = f32(m * 4, 43);
        const act = pol.act({ data: obs, shape: [m, 4] }, { deterministic: true });
        const c = (a: Float32Array) => (copy ? a.slice() : a);
        return {
          obs: { data: c(obs), shape: [Bs, Ts, 4] }, actions: { data: c(act.actions.data), shape: [Bs, Ts, 2] },
          oldLogProbs: { data: c(act.logProbs), shape: [Bs, Ts] }, advantages: { data: c(f32(m, 44)), shape: [Bs, Ts] },
          returns: { data: c(f32(m, 45)), shape: [Bs, Ts] },
        };
      };
      const p1 = new Policy(spec), p2 = new Policy(spec);
      const refU = new PpoTrainer(p1, { epochs: 3, minibatches: 4, seed: 1 }).updateSync(make(p1, true));
      const batch = make(p2, false);
      const bufs = [batch.obs, batch.actions, batch.oldLogProbs, batch.advantages, batch.returns].map((t) => (t as { data: Float32Array }).data.buffer as ArrayBuffer);
      const gotU = await transferDuring(bufs, () => new PpoTrainer(p2, { epochs: 3, minibatches: 4, seed: 1 }).update(batch));
      out[`update-${tag}`] = refU.loss === gotU.loss && refU.policyLoss === gotU.policyLoss;
      // Policy.fitBehaviourCloning
      const N = 4096;
      const obs = f32(N * 4, 46), acts = f32(N * 2, 47);
      const bo = { epochs: 3, batchSize: 128, seed: 3 };
      const refB = new Policy(spec).fitBehaviourCloningSync({ data: obs.slice(), shape: [N, 4] }, { data: acts.slice(), shape: [N, 2] }, bo);
      const pol = new Policy(spec);
      const gotB = await transferDuring([obs.buffer as ArrayBuffer, acts.buffer as ArrayBuffer],
        () => pol.fitBehaviourCloning({ data: obs, shape: [N, 4] }, { data: acts, shape: [N, 2] }, bo));
      out[`fitBehaviourCloning-${tag}`] = sameArray(refB.losses, gotB.losses);
    }
    return { same: Object.values(out).every(Boolean), calls: out };
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

// One scenario, or several separated by commas, run one after the other in
// this process (one start-up instead of several): their reports under their names.
const names = process.argv[2].split(',');
const unknown = names.filter((n) => !scenarios[n]);
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
(async () => {
  if (names.length === 1) {
    const r = await scenarios[names[0]]();
    return r.skip ? r : { ok: true, ...r };
  }
  const all: Record<string, unknown> = {};
  for (const n of names) {
    const r = await scenarios[n]();
    all[n] = r.skip ? r : { ok: true, ...r };
  }
  return { ok: true, ...all };
})().then(report, (err) => { console.error(err); process.exit(1); });
