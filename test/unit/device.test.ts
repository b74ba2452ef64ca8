// DeviceTensor and the CUDA paths. Without a usable CUDA device only the
// checks that need none run (the reason in capabilities(), bad arguments, the
// one clear error of every CUDA path); the rest is reported as skipped with
// the reason ("SKIP ...: no CUDA device (...)"), not counted as passed.
// FEAT2GO_REQUIRE_CUDA=1 turns those skips into failures (for GPU machines).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  capabilities, clippedSurrogate, clippedValueLoss, klPenalty, CudaUnavailableError, cudaStatus, DeviceTensor, gae, grpoAdvantages, native,
  patchSimilarity, progressTargets, progressTargetsDeviceBatch, progressTargetsSync, slidingSlopes, stepAdvantages,
} from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { testIf } from '../helpers/skip.js';

const caps = capabilities();
const status = cudaStatus();
const cudaTest = testIf(status.available, `no CUDA device (${status.reason})`, { requiredBy: 'FEAT2GO_REQUIRE_CUDA' });
const noCudaTest = testIf(!status.available, 'a CUDA device is present (this checks the errors without one)');

function normals(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])))) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

test('capabilities: cuda is a boolean with a reason when false', () => {
  assert.type(caps.cuda, 'boolean');
  if (!caps.cuda) {
    assert.ok(['no driver', 'no device', 'not built'].includes(caps.cudaReason as string), String(caps.cudaReason));
    assert.is(status.available, false);
    assert.is(status.reason, caps.cudaReason);
  } else {
    assert.is(caps.cudaReason, undefined);
    assert.ok((caps.cudaDevices ?? 0) >= 1);
  }
});

test('DeviceTensor.fromHost: bad arguments are TypeError/RangeError before any CUDA call', () => {
  assert.throws(() => DeviceTensor.fromHost(new Float64Array(2) as unknown as Float32Array), (e: Error) =>
    e instanceof TypeError && /data/.test(e.message) && /Float32Array, Uint8Array or Int32Array/.test(e.message) && /Float64Array/.test(e.message));
  assert.throws(() => DeviceTensor.fromHost(new Float32Array(6), [4, 2]), (e: Error) =>
    e instanceof RangeError && /shape/.test(e.message) && /6 elements/.test(e.message) && /\[4,2\]/.test(e.message));
  assert.throws(() => DeviceTensor.empty('float64' as 'float32', [2]), (e: Error) => e instanceof RangeError && /dtype/.test(e.message));
  assert.throws(() => DeviceTensor.empty('float32', [2, -1]), (e: Error) => e instanceof RangeError && /shape\[1\]/.test(e.message));
});

noCudaTest('every CUDA path throws one clear error without a device', async () => {
  const calls: Array<[string, () => unknown]> = [
    ['DeviceTensor.fromHost', () => DeviceTensor.fromHost(new Float32Array(4))],
    ['DeviceTensor.empty', () => DeviceTensor.empty('uint8', [3])],
  ];
  for (const [call, fn] of calls) {
    assert.throws(fn, (e: Error) => e instanceof CudaUnavailableError && e.message.startsWith(`${call}: CUDA is not available (${status.reason}`)
      && (e as CudaUnavailableError).reason === status.reason);
  }
  const n = native();
  if (status.reason === 'not built') {
    // The native entry points exist and say so too (nothing reads memory).
    for (const call of ['progressPatchSimilarityCuda', 'rlGaeCuda', 'rlClippedSurrogateCuda', 'rlGrpoAdvantagesCuda'] as const) {
      assert.throws(() => (n[call] as (...a: unknown[]) => unknown)({}, {}, {}), (e: Error) => e.message.startsWith(`${call}: CUDA is not available (not built`));
    }
  }
  // The native allocator itself refuses with the same reason (a CUDA build
  // without a driver links the runtime statically, so it loads and says so).
  assert.throws(() => new n.DeviceBufferNative({}, { bytes: 16, device: 0 }), (e: Error) => e.message.includes(`CUDA is not available (${status.reason}`));
  // Host tensors still take the CPU paths.
  assert.is(patchSimilarity({ data: new Float32Array([1, 0]), shape: [1, 1, 2] }, 0)[0], 1);
});

cudaTest('DeviceTensor round trip, dispose, use after dispose', () => {
  const f = Float32Array.from([1, -2.5, 3, 4e-8, 5, 6]);
  const t = DeviceTensor.fromHost(f, [2, 3]);
  assert.equal([t.dtype, [...t.shape], t.device, t.byteSize, t.size], ['float32', [2, 3], 0, 24, 6]);
  assert.equal(Array.from(t.toHost()), Array.from(f));
  const c = t.clone();
  t.dispose();
  t.dispose();  // idempotent
  assert.ok(t.disposed);
  assert.throws(() => t.toHost(), (e: Error) => /DeviceTensor\.toHost: the DeviceTensor was disposed/.test(e.message));
  assert.throws(() => patchSimilarity(t, 0), (e: Error) => /disposed/.test(e.message));
  assert.equal(Array.from(c.toHost()), Array.from(f));
  c.dispose();
  const u = DeviceTensor.fromHost(Uint8Array.from([0, 1, 255]));
  assert.equal(Array.from(u.toHost()), [0, 1, 255]);
  u.dispose();
  const i = DeviceTensor.fromHost(Int32Array.from([-7, 2 ** 30]));
  assert.equal(Array.from(i.toHost()), [-7, 2 ** 30]);
  i.dispose();
  // Forgotten tensors are freed by their finaliser (no way to observe it
  // here beyond not running out of memory: 64 × 64 MiB).
  for (let k = 0; k < 64; k++) DeviceTensor.empty('float32', [16 << 20]);
});

cudaTest('CUDA patchSimilarity/slidingSlopes match the CPU', () => {
  const T = 9, N = 5, D = 12;
  const x = { data: normals(T * N * D, 1), shape: [T, N, D] };
  const g = { data: normals(N * D, 2), shape: [N, D] };
  const dx = DeviceTensor.fromHost(x.data, x.shape), dg = DeviceTensor.fromHost(g.data, g.shape);
  for (const goal of [-1, 3]) {
    const d = patchSimilarity(dx, goal, { lambda: 2 });
    close(d.toHost() as Float32Array, patchSimilarity(x, goal, { lambda: 2 }), 1e-5, `goal ${goal}`);
    d.dispose();
  }
  const d = patchSimilarity(dx, dg);
  close(d.toHost() as Float32Array, patchSimilarity(x, g), 1e-5, 'goal tensor');
  const s = { data: normals(3 * 20, 3), shape: [3, 20] };
  const ds = DeviceTensor.fromHost(s.data, s.shape);
  const sl = slidingSlopes(ds, 4);
  assert.equal([...sl.shape], [3, 17]);
  close(sl.toHost() as Float32Array, slidingSlopes(s, 4).data, 1e-6, 'slopes');
  for (const t of [dx, dg, d, ds, sl]) t.dispose();
});

cudaTest('CUDA patchSimilarity: zero patches, extreme scales and NaN as the CPU; slidingSlopes refuses NaN', () => {
  // Frame 0: [zero | (3,4)], goal [zero | (4,3)], λ = 0: (1 + 0.96) / 2.
  // Frames 1–2: frame 0 scaled by 1e-30 and 1e30 (float squares under/overflow).
  const x = { data: new Float32Array([0, 0, 3, 4, 0, 0, 3e-30, 4e-30, 0, 0, 3e30, 4e30, NaN, 0, 3, 4]), shape: [4, 2, 2] };
  const g = { data: new Float32Array([0, 0, 4, 3]), shape: [2, 2] };
  const dx = DeviceTensor.fromHost(x.data, x.shape), dg = DeviceTensor.fromHost(g.data, g.shape);
  const d = patchSimilarity(dx, dg, { lambda: 0 });
  const got = d.toHost() as Float32Array;
  for (let t = 0; t < 3; t++) assert.ok(Math.abs(got[t] - 0.98) < 1e-6, `frame ${t}: ${got[t]}`);
  assert.ok(Number.isNaN(got[3]), `frame 3 (NaN against a zero patch): ${got[3]}`);
  const s = DeviceTensor.fromHost(new Float32Array([1, 2, 3, Infinity, 5]), [1, 5]);
  assert.throws(() => slidingSlopes(s, 2), (e: Error) => e instanceof RangeError && /slidingSlopes/.test(e.message) && /series/.test(e.message));
  for (const t of [dx, dg, d, s]) t.dispose();
});

cudaTest('CUDA progressTargets matches the CPU (one episode and a batch)', async () => {
  const N = 4, D = 8, lens = [40, 1, 25];
  const eps = lens.map((T, e) => ({ data: normals(T * N * D, 10 + e).map((v, i) => v * 0.1 + Math.floor(i / (N * D) / 8)), shape: [T, N, D] }));
  const packed = new Float32Array(lens.reduce((a, b) => a + b, 0) * N * D);
  let off = 0;
  for (const ep of eps) { packed.set(ep.data, off); off += ep.data.length; }
  const dev = DeviceTensor.fromHost(packed, [packed.length / (N * D), N, D]);
  const r = await progressTargetsDeviceBatch(dev, lens, { segmenter: 'paper', window: 3 });
  const values = r.values.toHost(), sim = r.similarity.toHost();
  let o = 0;
  lens.forEach((T, e) => {
    const cpu = progressTargetsSync(eps[e], { segmenter: 'paper', window: 3 });
    assert.equal(r.segments[e], cpu.segments, `episode ${e} segments`);
    close(values.subarray(o, o + T), cpu.values, 1e-5, `episode ${e} values`);
    close(sim.subarray(o, o + T), cpu.similarity, 1e-5, `episode ${e} similarity`);
    o += T;
  });
  const one = DeviceTensor.fromHost(eps[0].data, eps[0].shape);
  const r1 = await progressTargets(one, { segmenter: 'paper', window: 3 });
  assert.equal(r1.segments, progressTargetsSync(eps[0], { segmenter: 'paper', window: 3 }).segments);
  for (const t of [dev, r.values, r.similarity, one, r1.values, r1.similarity]) t.dispose();
});

cudaTest('CUDA gae/grpo/stepAdvantages/clippedSurrogate match the CPU; bad data is a RangeError', () => {
  const B = 6, T = 30, n = B * T;
  const rw = normals(n, 20), v = normals(n, 21), nv = normals(n, 22);
  const r = rng(23);
  const term = Uint8Array.from({ length: n }, () => (r() < 0.05 ? 1 : 0));
  const done = term.map((x) => (x || r() < 0.1 ? 1 : 0));
  const host = {
    rewards: { data: rw, shape: [B, T] }, values: { data: v, shape: [B, T] }, nextValues: { data: nv, shape: [B, T] },
    terminated: { data: term, shape: [B, T] }, done: { data: done, shape: [B, T] },
  };
  const d = {
    rewards: DeviceTensor.fromHost(rw, [B, T]), values: DeviceTensor.fromHost(v, [B, T]),
    nextValues: DeviceTensor.fromHost(nv, [B, T]), terminated: DeviceTensor.fromHost(term, [B, T]),
    done: DeviceTensor.fromHost(done, [B, T]),
  };
  const cpu = gae(host, { gamma: 0.99, lambda: 0.95 });
  const gpu = gae(d, { gamma: 0.99, lambda: 0.95 });
  close(gpu.advantages.toHost() as Float32Array, cpu.advantages.data, 1e-5, 'advantages');
  close(gpu.returns.toHost() as Float32Array, cpu.returns.data, 1e-5, 'returns');
  const bad = DeviceTensor.fromHost(Uint8Array.from(done, (x, i) => (i === 7 ? 2 : x)), [B, T]);
  assert.throws(() => gae({ ...d, done: bad }, { gamma: 0.99, lambda: 0.95 }), (e: Error) => e instanceof RangeError && /gae/.test(e.message));

  const R = normals(24, 30);
  const dR = DeviceTensor.fromHost(R);
  const ga = grpoAdvantages(dR, { groupSize: 4 });
  close(ga.toHost() as Float32Array, grpoAdvantages(R, { groupSize: 4 }), 1e-5, 'grpo');
  const L = [3, 1, 5, 2];
  const A = normals(4, 31);
  const sa = stepAdvantages(DeviceTensor.fromHost(A), L, 5, 0.9);
  close(sa.toHost() as Float32Array, stepAdvantages(A, L, 5, 0.9).data, 1e-6, 'step advantages');

  const lp = normals(n, 40), olp = lp.map((x, i) => x + 0.3 * Math.sin(i));
  const adv = normals(n, 41);
  const mask = Uint8Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : 1));
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
    const c = clippedSurrogate({ logProbs: { data: lp, shape: [B, T] }, oldLogProbs: { data: olp, shape: [B, T] },
      advantages: { data: adv, shape: [B, T] }, mask: { data: mask, shape: [B, T] } }, { clipLow: 0.2, dualClip: 3, aggregation });
    const g = clippedSurrogate({ logProbs: DeviceTensor.fromHost(lp, [B, T]), oldLogProbs: DeviceTensor.fromHost(olp, [B, T]),
      advantages: DeviceTensor.fromHost(adv, [B, T]), mask: DeviceTensor.fromHost(mask, [B, T]) }, { clipLow: 0.2, dualClip: 3, aggregation });
    close([g.loss, g.clipFraction, g.dualClipFraction, g.approxKl], [c.loss, c.clipFraction, c.dualClipFraction, c.approxKl], 1e-6, aggregation);
    const h = (x: Float32Array) => ({ data: x, shape: [B, T] });
    const dv = (x: Float32Array | Uint8Array) => DeviceTensor.fromHost(x, [B, T]);
    const cv = clippedValueLoss({ values: h(lp), returns: h(adv), oldValues: h(olp), mask: { data: mask, shape: [B, T] } },
      { clip: 0.2, huberDelta: 1, aggregation });
    const gv = clippedValueLoss({ values: dv(lp), returns: dv(adv), oldValues: dv(olp), mask: dv(mask) }, { clip: 0.2, huberDelta: 1, aggregation });
    close([gv.loss, gv.clipFraction], [cv.loss, cv.clipFraction], 1e-6, `value ${aggregation}`);
    close([klPenalty({ logProbs: dv(lp), refLogProbs: dv(olp) }, { aggregation })],
      [klPenalty({ logProbs: h(lp), refLogProbs: h(olp) }, { aggregation })], 1e-6, `kl ${aggregation}`);
  }
});

test.run();
