import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OnnxVisualEncoder, OnnxBackbone, planClips, encodeFrames, framesFromArray } from '../../src/index.js';
import { patchifyEncoderModel, poolingBackboneModel, castModel, ONNX_INT64, type PatchifySpec } from '../fixtures/onnx-models.js';
import { patchifyRef, patchifyRefFloat, normalise } from '../reference/patchify.js';
import { rand } from '../helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'f2g-onnx-'));
function save(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

function frames(n: number, H: number, W: number, seed: number): Uint8Array[] {
  const all = rand(n * H * W * 3, seed);
  return Array.from({ length: n }, (_, i) => all.slice(i * H * W * 3, (i + 1) * H * W * 3));
}
function stack(fs: Uint8Array[], H: number, W: number) {
  const data = new Uint8Array(fs.length * H * W * 3);
  fs.forEach((f, i) => data.set(f, i * H * W * 3));
  return { data, shape: [fs.length, H, W, 3] };
}
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-3): void {
  assert.is(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol * (1 + Math.abs(b[i]))) assert.unreachable(`element ${i}: ${a[i]} vs ${b[i]}`);
}

const spec: PatchifySpec = { frames: 4, tubelet: 2, size: 8, patch: 4, dim: 3, proj: 2 };
const fixed = patchifyEncoderModel(spec);
const fixedPath = save('patchify-fixed.onnx', fixed.bytes);

test('planClips: hand-worked plans', () => {
  // T=8, F=4: two disjoint clips
  assert.equal(planClips(8, 4, 2), [{ start: 0, frames: 4, padded: 0, keep: [0, 2] }, { start: 4, frames: 4, padded: 0, keep: [0, 2] }]);
  // T=7 → padded to 8 by repeating frame 6 once
  assert.equal(planClips(7, 4, 2), [{ start: 0, frames: 4, padded: 0, keep: [0, 2] }, { start: 4, frames: 4, padded: 1, keep: [0, 2] }]);
  // T=5 → 6 frames, 3 steps: clip [0,4) then a clip aligned to the end [2,6) keeping only its step 1
  assert.equal(planClips(5, 4, 2), [{ start: 0, frames: 4, padded: 0, keep: [0, 2] }, { start: 2, frames: 4, padded: 1, keep: [1, 2] }]);
  // a lone frame: repeated to fill the tubelet (dynamic time) or the whole clip (fixed)
  assert.equal(planClips(1, 4, 2, 4, true), [{ start: 0, frames: 2, padded: 1, keep: [0, 1] }]);
  assert.equal(planClips(1, 4, 2), [{ start: 0, frames: 4, padded: 3, keep: [0, 1] }]);
  // overlapping clips, stride 2: every later clip adds its last step
  assert.equal(planClips(8, 4, 2, 2), [
    { start: 0, frames: 4, padded: 0, keep: [0, 2] }, { start: 2, frames: 4, padded: 0, keep: [1, 2] }, { start: 4, frames: 4, padded: 0, keep: [1, 2] },
  ]);
  assert.throws(() => planClips(8, 5, 2), /multiple of tubelet/);
  assert.throws(() => planClips(8, 4, 2, 6), /clipStride/);
});

test('loads the model, reads names from metadata, reshapes [1, steps·P, D] → [steps, P, D]', async () => {
  const enc = await OnnxVisualEncoder.load(fixedPath, { tubelet: 2 });
  assert.is(enc.inputName, 'pixel_values');
  assert.is(enc.outputName, 'last_hidden_state');
  assert.is(enc.framesPerClip, 4, 'frames per clip from the static time axis');
  assert.is(enc.imageSize, 8, 'image size from the static H');
  assert.is(enc.executionProvider, 'cpu');
  const fs = frames(4, 8, 8, 1);
  const out = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc);
  assert.equal(out.shape, [2, 4, 2]);
  const ref = patchifyRef(fs, { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, fixed.weights);
  close(out.data, ref.data);
  assert.is(enc.runs, 1);
});

test('rank-4 output [1, steps, P, D] is read as is', async () => {
  const m = patchifyEncoderModel({ ...spec, rank4Output: true }, 31);
  const enc = await OnnxVisualEncoder.load(save('patchify-r4.onnx', m.bytes));
  const fs = frames(6, 8, 8, 12);
  const out = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc);
  assert.equal(out.shape, [3, 4, 2]);
  close(out.data, patchifyRef(fs, { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, m.weights).data);
});

test('sliding clips over a longer episode; the last frame repeated to fill a tubelet', async () => {
  const enc = await OnnxVisualEncoder.load(fixedPath, { tubelet: 2 });
  const fs = frames(9, 8, 8, 2);
  const out = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc, { chunkFrames: 3 });
  // 9 frames → 10 (frame 8 twice) → 5 steps; clips [0,4), [4,8), then [6,10) keeping its last step
  assert.equal(out.shape, [5, 4, 2]);
  assert.is(enc.runs, 3);
  const padded = [...fs, fs[8]];
  close(out.data, patchifyRef(padded, { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, fixed.weights).data);
});

test('clip-dependent model: hand-computed clips [0,4) and the end-aligned [2,6) for a 5-frame episode', async () => {
  // The model adds each clip's mean frame to its frames before patchifying, so a step's
  // features depend on the whole clip: this pins down exactly which frames form each clip.
  const m = patchifyEncoderModel({ ...spec, clipMean: true }, 21);
  const enc = await OnnxVisualEncoder.load(save('patchify-clipmean.onnx', m.bytes));
  const fs = frames(5, 8, 8, 9);
  const out = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc, { chunkFrames: 2 });
  assert.equal(out.shape, [3, 4, 2]);
  const n = fs.map((f) => normalise(f, 8));
  const withMean = (clip: Float64Array[]) => {
    const mean = new Float64Array(clip[0].length);
    for (const f of clip) for (let i = 0; i < f.length; i++) mean[i] += f[i] / clip.length;
    return clip.map((f) => f.map((v, i) => v + mean[i]));
  };
  const sp = { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 };
  const clipA = patchifyRefFloat(withMean([n[0], n[1], n[2], n[3]]), sp, m.weights); // steps 0, 1
  const clipB = patchifyRefFloat(withMean([n[2], n[3], n[4], n[4]]), sp, m.weights); // keep its step 1 (= episode step 2)
  const want = [...clipA.data, ...clipB.data.subarray(8, 16)];
  close(out.data, want);
  // and with a stride of 2 frames: clips [0,4), [2,6) — the second keeps its last step
  const enc2 = await OnnxVisualEncoder.load(save('patchify-clipmean.onnx', m.bytes), { clipStride: 2 });
  const out2 = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc2);
  close(out2.data, want);
  assert.is(enc2.runs, 2);
});

test('overlapping clips (clipStride) give the same per-step features for a tubelet-local model', async () => {
  const enc = await OnnxVisualEncoder.load(fixedPath, { clipStride: 2 });
  const fs = frames(8, 8, 8, 3);
  const out = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc);
  assert.equal(out.shape, [4, 4, 2]);
  assert.is(enc.runs, 3);
  close(out.data, patchifyRef(fs, { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, fixed.weights).data);
});

test('a lone frame and a short episode on a fixed-length model are padded by repeating the last frame', async () => {
  const enc = await OnnxVisualEncoder.load(fixedPath);
  const [f] = frames(1, 8, 8, 4);
  const one = await encodeFrames(framesFromArray(stack([f], 8, 8)), enc);
  assert.equal(one.shape, [1, 4, 2]);
  close(one.data, patchifyRef([f, f], { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, fixed.weights).data);
});

test('dynamic time axis: a short episode runs as one unpadded clip', async () => {
  const dyn = patchifyEncoderModel({ ...spec, frames: 'time' }, 11);
  const enc = await OnnxVisualEncoder.load(save('patchify-dyn.onnx', dyn.bytes), { framesPerClip: 8, imageSize: 8 });
  assert.ok(enc.dynamicTime);
  const fs = frames(3, 8, 8, 5);
  const out = await encodeFrames(framesFromArray(stack(fs, 8, 8)), enc);
  assert.equal(out.shape, [2, 4, 2]);
  assert.is(enc.runs, 1);
  close(out.data, patchifyRef([...fs, fs[2]], { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, dyn.weights).data);
});

test('frames are centre-cropped (short side already at size) and mean/std are applied', async () => {
  const enc = await OnnxVisualEncoder.load(fixedPath, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] });
  const wide = frames(4, 8, 16, 6);
  const out = await encodeFrames(framesFromArray(stack(wide, 8, 16)), enc);
  const cropped = wide.map((f) => {
    const c = new Uint8Array(8 * 8 * 3);
    for (let y = 0; y < 8; y++) c.set(f.subarray((y * 16 + 4) * 3, (y * 16 + 12) * 3), y * 24);
    return c;
  });
  close(out.data, patchifyRef(cropped, { size: 8, patch: 4, dim: 3, proj: 2, tubelet: 2 }, fixed.weights, [0.5, 0.5, 0.5], [0.25, 0.5, 1]).data);
});

test('bad models: missing, corrupt, wrong rank, wrong dtype, mismatched sizes → errors naming the file and what it expects', async () => {
  const missing = join(dir, 'nope.onnx');
  await OnnxVisualEncoder.load(missing).then(() => assert.unreachable('loaded'), (e: Error) => {
    assert.match(e.message, missing); assert.match(e.message, 'does not exist');
  });
  const corrupt = save('corrupt.onnx', new Uint8Array([8, 7, 1, 2, 3, 250, 251, 99]));
  await OnnxVisualEncoder.load(corrupt).then(() => assert.unreachable('loaded'), (e: Error) => {
    assert.match(e.message, corrupt); assert.match(e.message, 'cannot load');
  });
  await OnnxBackbone.load(corrupt).then(() => assert.unreachable('loaded'), (e: Error) => assert.match(e.message, corrupt));
  const rank4 = save('rank4.onnx', castModel(1, ['batch', 3, 8, 8]));
  await OnnxVisualEncoder.load(rank4).then(() => assert.unreachable('loaded'), (e: Error) => {
    assert.match(e.message, rank4); assert.match(e.message, "input 'x' expects rank 4 [batch, 3, 8, 8]"); assert.match(e.message, 'rank-5');
  });
  const i64 = save('int64.onnx', castModel(ONNX_INT64, ['batch', 4, 3, 8, 8]));
  await OnnxVisualEncoder.load(i64).then(() => assert.unreachable('loaded'), (e: Error) => {
    assert.match(e.message, i64); assert.match(e.message, 'expects int64'); assert.match(e.message, 'float32');
  });
  const outRank = save('out-rank5.onnx', castModel(1, ['batch', 4, 3, 8, 8]));
  await OnnxVisualEncoder.load(outRank).then(() => assert.unreachable('loaded'), (e: Error) => {
    assert.match(e.message, outRank); assert.match(e.message, "output 'y' has rank 5"); assert.match(e.message, '[B, steps·P, D]');
  });
  await OnnxVisualEncoder.load(fixedPath, { imageSize: 16 }).then(() => assert.unreachable('loaded'), (e: Error) => assert.match(e.message, 'expects 8×8 frames'));
  await OnnxVisualEncoder.load(fixedPath, { framesPerClip: 8 }).then(() => assert.unreachable('loaded'), (e: Error) => assert.match(e.message, 'clips of 4 frames'));
  await OnnxVisualEncoder.load(fixedPath, { inputName: 'frames' }).then(() => assert.unreachable('loaded'), (e: Error) => assert.match(e.message, "no input named 'frames'; its inputs are 'pixel_values' float32"));
  await OnnxVisualEncoder.load(fixedPath, { layout: 'BCTHW' }).then(() => assert.unreachable('loaded'), (e: Error) => assert.match(e.message, 'has 4 channels at axis 1'));
  await OnnxVisualEncoder.load(fixedPath, { tubelet: 3 }).then(() => assert.unreachable('loaded'), (e: Error) => assert.ok(e instanceof RangeError && /multiple of opts\.tubelet/.test(e.message)));
  await OnnxVisualEncoder.load(fixedPath, { std: [1, 0, 1] }).then(() => assert.unreachable('loaded'), (e: Error) => assert.ok(e instanceof RangeError && /opts\.std\[1\]/.test(e.message)));
  await OnnxVisualEncoder.load(42 as unknown as string).then(() => assert.unreachable('loaded'), (e: Error) => assert.ok(e instanceof TypeError && /path/.test(e.message)));
});

test('backbone: pooling + linear → [B, H], hand-computed', async () => {
  const H = 5;
  const m = poolingBackboneModel({ size: 8, hidden: H });
  const bb = await OnnxBackbone.load(save('bb.onnx', m.bytes));
  assert.is(bb.hiddenSize, H);
  const B = 2;
  const x = new Float32Array(B * 3 * 64);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7) % 13) / 13;
  const out = await bb.embed({ data: x, shape: [B, 3, 8, 8] });
  assert.equal(out.shape, [B, H]);
  const want: number[] = [];
  for (let b = 0; b < B; b++) {
    const mean = [0, 1, 2].map((c) => x.subarray((b * 3 + c) * 64, (b * 3 + c + 1) * 64).reduce((s, v) => s + v, 0) / 64);
    for (let h = 0; h < H; h++) want.push(mean.reduce((s, v, c) => s + v * m.w[c * H + h], 0));
  }
  close(out.data, want, 1e-5);
});

test('backbone: [B, L, H] hidden states pooled by last token / mean', async () => {
  const E = 3, H = 4;
  const m = poolingBackboneModel({ hidden: H, sequence: { embed: E } });
  const path = save('bb-seq.onnx', m.bytes);
  const x = new Float32Array(2 * 3 * E).map((_, i) => i - 8);
  const hs = (b: number, l: number, h: number) => [0, 1, 2].reduce((s, e) => s + x[(b * 3 + l) * E + e] * m.w[e * H + h], 0);
  const last = await (await OnnxBackbone.load(path)).embed({ data: x, shape: [2, 3, E] });
  close(last.data, [0, 1].flatMap((b) => [0, 1, 2, 3].map((h) => hs(b, 2, h))), 1e-5);
  const mean = await (await OnnxBackbone.load(path, { pooling: 'mean' })).embed({ inputs_embeds: { data: x, shape: [2, 3, E] } });
  close(mean.data, [0, 1].flatMap((b) => [0, 1, 2, 3].map((h) => (hs(b, 0, h) + hs(b, 1, h) + hs(b, 2, h)) / 3)), 1e-5);
});

test('backbone: inputs checked against declared dtype, rank, sizes and names', async () => {
  const bb = await OnnxBackbone.load(save('bb2.onnx', poolingBackboneModel({ size: 8, hidden: 3 }).bytes));
  const rejects = async (p: Promise<unknown>, type: new (...args: never[]) => Error, re: RegExp) => {
    await p.then(() => assert.unreachable('resolved'), (e: Error) => { assert.ok(e instanceof type, `${e.name}: ${e.message}`); assert.match(e.message, re); });
  };
  await rejects(bb.embed({ data: new BigInt64Array(192), shape: [1, 3, 8, 8] }), TypeError, /float32 data for inputs\.pixel_values .*received int64/);
  await rejects(bb.embed({ data: new Float32Array(192), shape: [3, 8, 8] }), RangeError, /rank 4 \[batch, 3, 8, 8\] for inputs\.pixel_values but received shape \[3,8,8\]/);
  await rejects(bb.embed({ data: new Float32Array(48), shape: [1, 3, 4, 4] }), RangeError, /inputs\.pixel_values\.shape\[2\] = 8/);
  await rejects(bb.embed({ data: new Float32Array(10), shape: [1, 3, 8, 8] }), RangeError, /192 elements/);
  await rejects(bb.embed({ images: { data: new Float32Array(192), shape: [1, 3, 8, 8] } }), TypeError, /inputs\.pixel_values/);
});

test.run();
