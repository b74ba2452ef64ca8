// ValueHead (SPEC §4) on libtorch: targets, training, persistence, bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SafetensorsError, ValueHead } from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { hasTorch, torchTest } from '../helpers/skip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-value-'));

function randn(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

if (!hasTorch) {
  test('without libtorch the class throws one clear error', () => {
    assert.throws(() => new ValueHead({ inputDim: 4, hiddenDim: 4 }), /libtorch-dev/);
  });
}

torchTest('two-hot targets have expectation exactly v; one-hot picks the nearest atom', () => {
  const bins = 201;
  const head = new ValueHead({ inputDim: 3, hiddenDim: 4, bins });
  const vals = [0, 1, 0.5, 0.123456, 0.999, 0.001, 0.3333333, 0.005, 0.995];
  const r = rng(3);
  for (let i = 0; i < 200; i++) vals.push(r());
  const t = head.targetDistribution(vals);
  assert.equal(t.shape, [vals.length, bins]);
  for (let i = 0; i < vals.length; i++) {
    const row = t.data.subarray(i * bins, (i + 1) * bins);
    let sum = 0; let e = 0; const nz: number[] = [];
    for (let b = 0; b < bins; b++) { sum += row[b]; e += row[b] * (b / (bins - 1)); if (row[b] !== 0) nz.push(b); }
    assert.ok(Math.abs(sum - 1) < 1e-6, `row ${i} sums to ${sum}`);
    assert.ok(Math.abs(e - Math.fround(vals[i])) < 1e-6, `E = ${e} for v = ${vals[i]}`);
    assert.ok(nz.length <= 2 && (nz.length < 2 || nz[1] === nz[0] + 1), `neighbouring atoms only: ${nz}`);
  }
  const one = new ValueHead({ inputDim: 3, hiddenDim: 4, bins: 11, targets: 'one-hot' });
  const o = one.targetDistribution([0.26, 0.04, 1]);
  assert.equal(Array.from(o.data.subarray(0, 11)).indexOf(1), 3);
  assert.equal(Array.from(o.data.subarray(11, 22)).indexOf(1), 0);
  assert.equal(Array.from(o.data.subarray(22, 33)).indexOf(1), 10);
  assert.equal(o.data.reduce((a, b) => a + b, 0), 3);
});

torchTest('orthogonal weights, zero biases, identity LayerNorm at init; same seed gives same weights', () => {
  const head = new ValueHead({ inputDim: 24, hiddenDim: 8, bins: 5, seed: 7 });
  const sd = new Map(head.stateDict().map(([n, d, s]) => [n, { d, s }]));
  assert.equal([...sd.keys()], ['net.0.weight', 'net.0.bias', 'net.1.weight', 'net.1.bias', 'net.3.weight', 'net.3.bias']);
  const w = sd.get('net.0.weight')!;
  assert.equal(w.s, [8, 24]);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) {
    let dot = 0;
    for (let k = 0; k < 24; k++) dot += w.d[i * 24 + k] * w.d[j * 24 + k];
    assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-5, `W Wᵀ[${i},${j}] = ${dot}`);
  }
  const w2 = sd.get('net.3.weight')!; // [5, 8]: orthonormal rows
  for (let i = 0; i < 5; i++) { let dot = 0; for (let k = 0; k < 8; k++) dot += w2.d[i * 8 + k] ** 2; assert.ok(Math.abs(dot - 1) < 1e-5); }
  assert.ok(sd.get('net.0.bias')!.d.every((x) => x === 0) && sd.get('net.3.bias')!.d.every((x) => x === 0));
  assert.ok(sd.get('net.1.weight')!.d.every((x) => x === 1) && sd.get('net.1.bias')!.d.every((x) => x === 0));
  const again = new ValueHead({ inputDim: 24, hiddenDim: 8, bins: 5, seed: 7 });
  assert.equal(again.stateDict()[0][1], w.d);
  const other = new ValueHead({ inputDim: 24, hiddenDim: 8, bins: 5, seed: 8 });
  assert.not.equal(other.stateDict()[0][1], w.d);
});

torchTest('predict is the expectation of predictDistribution', () => {
  const head = new ValueHead({ inputDim: 6, hiddenDim: 16, bins: 21, seed: 2 });
  const h = { data: randn(5 * 6, 1), shape: [5, 6] };
  const p = head.predictDistribution(h);
  const v = head.predict(h);
  for (let i = 0; i < 5; i++) {
    let e = 0; let s = 0;
    for (let b = 0; b < 21; b++) { e += p.data[i * 21 + b] * (b / 20); s += p.data[i * 21 + b]; }
    assert.ok(Math.abs(s - 1) < 1e-5 && Math.abs(e - v[i]) < 1e-6);
  }
});

const D = 16; const N = 1024;
const hidden = randn(N * D, 11);
const dirv = randn(D, 12);
const targets = new Float32Array(N);
for (let i = 0; i < N; i++) {
  let z = 0;
  for (let k = 0; k < D; k++) z += hidden[i * D + k] * dirv[k];
  targets[i] = 1 / (1 + Math.exp(-z / 3)); // smooth mapping into (0, 1)
}
const H = { data: hidden, shape: [N, D] };

torchTest('fit on a smooth synthetic mapping reaches low error; fit and fitSync agree for a seed', async () => {
  const a = new ValueHead({ inputDim: D, hiddenDim: 64, bins: 51, seed: 1 });
  const before = a.predict(H).reduce((s, v, i) => s + Math.abs(v - targets[i]), 0) / N;
  const progress: number[] = [];
  const res = await a.fit(H, targets, { epochs: 40, batchSize: 128, lr: 3e-3, seed: 5, onProgress: (p) => progress.push(p.epoch) });
  assert.equal(progress, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.ok(res.losses[39] < res.losses[0], `loss ${res.losses[0]} → ${res.losses[39]}`);
  const pred = a.predict(H);
  const mae = pred.reduce((s, v, i) => s + Math.abs(v - targets[i]), 0) / N;
  assert.ok(mae < 0.03 && mae < before / 4, `MAE ${before} → ${mae}`);
  const b = new ValueHead({ inputDim: D, hiddenDim: 64, bins: 51, seed: 1 });
  const resB = b.fitSync(H, targets, { epochs: 40, batchSize: 128, lr: 3e-3, seed: 5 });
  assert.equal(resB.losses, res.losses);
  assert.equal(b.predict(H), pred);
});

torchTest('trainStep lowers the loss on a fixed batch; fit is busy-guarded', async () => {
  const head = new ValueHead({ inputDim: D, hiddenDim: 32, bins: 11, seed: 3 });
  const h = { data: hidden.subarray(0, 64 * D), shape: [64, D] };
  const t = targets.subarray(0, 64);
  const l0 = head.loss(h, t);
  const first = head.trainStep(h, t, { lr: 1e-2 });
  assert.ok(Math.abs(first - l0) < 1e-5);
  for (let i = 0; i < 20; i++) head.trainStep(h, t, { lr: 1e-2 });
  assert.ok(head.loss(h, t) < l0 * 0.8, `${l0} → ${head.loss(h, t)}`);
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 1);
  const p = head.fit(H, targets, { epochs: 30, batchSize: 64 });
  assert.throws(() => head.predict(h), /busy/);
  await p;
  clearInterval(timer);
  assert.ok(ticks > 0, 'the event loop ran while fit() trained off the main thread');
  assert.is(head.predict(h).length, 64);
});

torchTest('cosine schedule: step k of K uses lr·½(1 + cos(πk/K)); constant keeps lr; a throwing onProgress rejects fit', async () => {
  const h = { data: hidden.subarray(0, 32 * D), shape: [32, D] };
  const t = targets.subarray(0, 32);
  const cfg = { inputDim: D, hiddenDim: 16, bins: 11, seed: 6 };
  const near = (a: ValueHead, b: ValueHead) => a.stateDict().every(([, x], i) => x.every((v, j) => Math.abs(v - b.stateDict()[i][1][j]) < 1e-5));
  const fitted = new ValueHead(cfg);
  fitted.fitSync(h, t, { epochs: 3, batchSize: 32, lr: 1e-2, weightDecay: 0.1 }); // 3 full-batch steps
  const stepped = new ValueHead(cfg);
  for (const k of [0, 1, 2]) stepped.trainStep(h, t, { lr: 1e-2 * 0.5 * (1 + Math.cos((Math.PI * k) / 3)), weightDecay: 0.1 });
  assert.ok(near(fitted, stepped), 'cosine steps');
  const constant = new ValueHead(cfg);
  constant.fitSync(h, t, { epochs: 3, batchSize: 32, lr: 1e-2, weightDecay: 0.1, schedule: 'constant' });
  const steppedC = new ValueHead(cfg);
  for (let k = 0; k < 3; k++) steppedC.trainStep(h, t, { lr: 1e-2, weightDecay: 0.1 });
  assert.ok(near(constant, steppedC) && !near(constant, stepped), 'constant steps');
  const head = new ValueHead(cfg);
  let err: unknown;
  try { await head.fit(h, t, { epochs: 2, onProgress: () => { throw new Error('stop here'); } }); } catch (e) { err = e; }
  assert.match(String(err), /stop here/);
  assert.is(head.predict(h).length, 32); // not left busy
});

torchTest('save/load round trip gives identical predictions; files are atomic', () => {
  const head = new ValueHead({ inputDim: D, hiddenDim: 16, bins: 21, seed: 4, targets: 'one-hot' });
  head.fitSync(H, targets, { epochs: 1, batchSize: 256 });
  const file = path.join(dir, 'vh.safetensors');
  head.save(file);
  assert.ok(existsSync(path.join(dir, 'vh.json')));
  const back = ValueHead.load(file);
  assert.equal(back.config, head.config);
  assert.equal(back.predict(H), head.predict(H));
  assert.equal(readdirSync(dir).sort(), ['vh.json', 'vh.safetensors']);
  // a failed save leaves nothing behind
  assert.throws(() => head.save(path.join(dir, 'missing-dir', 'x.safetensors')), /ENOENT/);
  assert.throws(() => head.save(dir), /EISDIR|directory/);
  assert.equal(readdirSync(dir).sort(), ['vh.json', 'vh.safetensors']);
});

torchTest('weights that do not match the config are refused with the tensor named', () => {
  const file = path.join(dir, 'vh.safetensors');
  const wrong = new ValueHead({ inputDim: D, hiddenDim: 8, bins: 21 });
  assert.throws(() => wrong.loadWeights(file), (e: Error) => e instanceof SafetensorsError && /net\.0\.weight' has shape \[16,16\] but the model expects \[8,16\]/.test(e.message));
  const junk = path.join(dir, 'junk.safetensors');
  writeFileSync(junk, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x7b]));
  assert.throws(() => wrong.loadWeights(junk), /Invalid safetensors file .*junk\.safetensors: header is not valid UTF-8 JSON/);
  const hdr = Buffer.from(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }));
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(hdr.length));
  writeFileSync(junk, Buffer.concat([len, hdr, Buffer.alloc(4)]));
  assert.throws(() => wrong.loadWeights(junk), /tensor 'a' of shape \[2\] F32 needs 8 bytes but data_offsets \[0, 4\] hold 4/);
  const big = Buffer.alloc(8); big.writeBigUInt64LE(1000n);
  writeFileSync(junk, Buffer.concat([big, hdr]));
  assert.throws(() => wrong.loadWeights(junk), /header length 1000 runs past the end of the file/);
});

torchTest('bad input: config, shapes, targets outside [0,1], NaN', () => {
  assert.throws(() => new ValueHead({ inputDim: 4, hiddenDim: 4, bins: 1 }), (e: Error) => e instanceof RangeError && /config\.bins/.test(e.message));
  assert.throws(() => new ValueHead({ inputDim: 0, hiddenDim: 4 }), RangeError);
  assert.throws(() => new ValueHead({ inputDim: 4, hiddenDim: 4, targets: 'three-hot' as 'one-hot' }), TypeError);
  const head = new ValueHead({ inputDim: 4, hiddenDim: 4, bins: 5 });
  const h = { data: new Float32Array(8), shape: [2, 4] };
  assert.throws(() => head.predict({ data: new Float32Array(6), shape: [2, 3] }), (e: Error) => e instanceof RangeError && /\[B, 4\].*hidden\.shape.*\[2,3\]/.test(e.message));
  assert.throws(() => head.trainStep(h, [0.5]), (e: Error) => e instanceof RangeError && /targets\.length/.test(e.message));
  assert.throws(() => head.trainStep(h, [0.5, 1.5]), (e: Error) => e instanceof RangeError && /\[0, 1\] for targets but element 1 is 1\.5/.test(e.message));
  assert.throws(() => head.trainStep(h, [-0.1, 0.5]), /targets but element 0/);
  assert.throws(() => head.fitSync(h, [NaN, 0.5]), /element 0 is NaN/);
  const bad = new Float32Array(8); bad[5] = NaN;
  assert.throws(() => head.predict({ data: bad, shape: [2, 4] }), /finite values in hidden but element 5 is NaN/);
  // The vectorised check works in blocks of 65536 values: bad values in later blocks and in the last element.
  const rows = 40000; const big = new Float32Array(rows * 4).fill(0.25);
  head.predict({ data: big, shape: [rows, 4] });
  for (const [i, x, what] of [[150001, Infinity, 'Infinity'], [65536, -Infinity, '-Infinity'], [rows * 4 - 1, NaN, 'NaN']] as const) {
    const b2 = Float32Array.from(big); b2[i] = x;
    assert.throws(() => head.predict({ data: b2, shape: [rows, 4] }), new RegExp(`finite values in hidden but element ${i} is ${what}`));
  }
  const t2 = new Float32Array(rows).fill(0.5); t2[rows - 1] = NaN;
  assert.throws(() => head.trainStep({ data: big, shape: [rows, 4] }, t2), new RegExp(`element ${rows - 1} is NaN`));
  t2[rows - 1] = 1; t2[33333] = 1.0000001;
  assert.throws(() => head.trainStep({ data: big, shape: [rows, 4] }, t2), /\[0, 1\] for targets but element 33333/);
  assert.throws(() => head.fitSync(h, [0.1, 0.2], { schedule: 'linear' as 'cosine' }), TypeError);
  assert.throws(() => head.fitSync(h, [0.1, 0.2], { batchSize: 0 }), RangeError);
});

test.run();
