// ConvBackbone: shapes and names, the forward pass against an
// independent float64 reference, both frame layouts, seeded orthogonal
// init, safetensors save/load (bit-exact, strict), bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { augmentFrames, ConvBackbone, SafetensorsError } from '../../src/index.js';
import { rand } from '../helpers/data.js';
import { hasTorch, torchTest } from '../helpers/skip.js';
import { convBackboneEmbed, type RefLayer } from '../reference/conv-backbone.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-backbone-'));

function frames(B: number, H: number, W: number, seed: number): { data: Uint8Array; shape: number[] } {
  return { data: rand(B * H * W * 3, seed), shape: [B, H, W, 3] };
}

if (!hasTorch) {
  test('without libtorch the class throws one clear error', () => {
    assert.throws(() => new ConvBackbone(), /libtorch-dev/);
  });
}

torchTest('defaults: 64×64 → 16×16 → 8×8 → 8×8, flatten 2048 → embedding [B, 64] in (−1, 1); PyTorch names and shapes', () => {
  const bb = new ConvBackbone({ seed: 3 });
  assert.equal(bb.config.imageSize, [64, 64]);
  assert.equal(bb.config.layers, [
    { channels: 16, kernel: 4, stride: 4, padding: 0, pool: 1 },
    { channels: 32, kernel: 3, stride: 2, padding: 1, pool: 1 },
    { channels: 32, kernel: 3, stride: 1, padding: 1, pool: 1 },
  ]);
  assert.is(bb.featureDim, 32 * 8 * 8);
  assert.equal(bb.stateDict().map(([n, , s]) => [n, s]), [
    ['conv.0.weight', [16, 3, 4, 4]], ['conv.0.bias', [16]], ['conv.1.weight', [32, 16, 3, 3]], ['conv.1.bias', [32]],
    ['conv.2.weight', [32, 32, 3, 3]], ['conv.2.bias', [32]], ['proj.weight', [64, 2048]], ['proj.bias', [64]],
    ['norm.weight', [64]], ['norm.bias', [64]],
  ]);
  const e = bb.embed(frames(5, 64, 64, 1));
  assert.equal(e.shape, [5, 64]);
  assert.is(e.data.length, 5 * 64);
  for (const v of e.data) assert.ok(v > -1 && v < 1);
  assert.is(new ConvBackbone({ pool: 'avg' }).featureDim, 32);
  assert.is(new ConvBackbone({ pool: 'spatial-softmax' }).featureDim, 64);
  assert.is(new ConvBackbone({ imageSize: [32, 48], layers: [{ channels: 4, kernel: 5, stride: 2, pool: 2 }] }).featureDim, 4 * 8 * 12);
});

torchTest('forward = an independent float64 reference for each reduction and activation (padding, stride, max-pool)', () => {
  const H = 9; const W = 11;
  const layers = [{ channels: 4, kernel: 3, stride: 2 }, { channels: 5, kernel: 2, stride: 1, pool: 2 }];
  const f = frames(3, H, W, 2);
  const x = augmentFrames(f, { augment: false }).data;
  for (const [pool, activation] of [['flatten', 'relu'], ['avg', 'gelu'], ['max', 'silu'], ['spatial-softmax', 'tanh']] as const) {
    const bb = new ConvBackbone({ imageSize: [H, W], layers, pool, activation, embedDim: 6, seed: 7 });
    const got = bb.embed(f);
    const resolved = bb.config.layers as RefLayer[];
    for (let b = 0; b < 3; b++) {
      const want = convBackboneEmbed(bb.stateDict(), resolved, activation, pool, x.subarray(b * 3 * H * W, (b + 1) * 3 * H * W), H, W);
      for (let j = 0; j < 6; j++) {
        assert.ok(Math.abs(got.data[b * 6 + j] - want[j]) < 2e-5, `${pool}/${activation} frame ${b} [${j}]: ${got.data[b * 6 + j]} vs ${want[j]}`);
      }
    }
  }
});

torchTest('RGB bytes [B, H, W, 3] and floats [B, 3, H, W] of the same images embed identically', () => {
  const bb = new ConvBackbone({ imageSize: 16, layers: [{ channels: 8, kernel: 4, stride: 4 }], seed: 1 });
  const f = frames(4, 16, 16, 5);
  const chw = augmentFrames(f, { augment: false });
  assert.equal(bb.embed(chw).data, bb.embed(f).data);
});

torchTest('seeded orthogonal init: W·Wᵀ = 2·I for the convolutions, I for the projection; zero biases; same seed, same weights', () => {
  const a = new ConvBackbone({ seed: 11 });
  const sd = new Map(a.stateDict().map(([n, d, s]) => [n, { d, s }]));
  for (const [name, gain2] of [['conv.0.weight', 2], ['conv.1.weight', 2], ['proj.weight', 1]] as const) {
    const { d, s } = sd.get(name)!;
    const rows = s[0]; const cols = d.length / rows;
    for (let i = 0; i < rows; i += 5) for (let j = 0; j < rows; j += 3) {
      let dot = 0;
      for (let k = 0; k < cols; k++) dot += d[i * cols + k] * d[j * cols + k];
      assert.ok(Math.abs(dot - (i === j ? gain2 : 0)) < 1e-4, `${name} row ${i}·row ${j} = ${dot}`);
    }
  }
  for (const n of ['conv.0.bias', 'conv.2.bias', 'proj.bias', 'norm.bias']) assert.ok(sd.get(n)!.d.every((v) => v === 0), n);
  assert.ok(sd.get('norm.weight')!.d.every((v) => v === 1));
  const same = new ConvBackbone({ seed: 11 }).stateDict();
  a.stateDict().forEach(([n, d], i) => assert.equal(d, same[i][1], n));
  const other = new ConvBackbone({ seed: 12 }).stateDict();
  assert.ok(other[0][1].some((v, i) => v !== a.stateDict()[0][1][i]));
});

torchTest('save/load: bit-exact weights, config and embeddings; atomic; strict about names and shapes', () => {
  const cfg = { imageSize: [24, 20] as [number, number], layers: [{ channels: 6, kernel: 3, stride: 2 }, { channels: 8, kernel: 3, stride: 2, pool: 2 }], pool: 'spatial-softmax' as const, embedDim: 10, activation: 'gelu' as const, seed: 4 };
  const bb = new ConvBackbone(cfg);
  const file = path.join(dir, 'bb.safetensors');
  bb.save(file);
  assert.equal(readdirSync(dir).sort(), ['bb.json', 'bb.safetensors']);
  const back = ConvBackbone.load(file);
  assert.equal(back.config, bb.config);
  back.stateDict().forEach(([n, d], i) => assert.equal(d, bb.stateDict()[i][1], n));
  const f = frames(3, 24, 20, 9);
  assert.equal(back.embed(f).data, bb.embed(f).data);
  // loading into a backbone of another layout names what does not match, and changes nothing
  const wide = new ConvBackbone({ ...cfg, layers: [{ channels: 7, kernel: 3, stride: 2 }, { channels: 8, kernel: 3, stride: 2, pool: 2 }] });
  const before = wide.stateDict();
  assert.throws(() => wide.loadWeights(file), (e: Error) => e instanceof SafetensorsError && /conv\.0\.weight' has shape \[6,3,3,3\] but the model expects \[7,3,3,3\]/.test(e.message));
  wide.stateDict().forEach(([n, d], i) => assert.equal(d, before[i][1], n));
  assert.throws(() => new ConvBackbone({ ...cfg, layers: cfg.layers.slice(0, 1) }).loadWeights(file), (e: Error) => e instanceof SafetensorsError && /unexpected tensor 'conv\.1\.weight'/.test(e.message));
  writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ format: 'feat2go.value-head.v1' }));
  writeFileSync(path.join(dir, 'other.safetensors'), '');
  assert.throws(() => ConvBackbone.load(path.join(dir, 'other.safetensors')), (e: Error) => e instanceof RangeError && /'feat2go\.conv-backbone\.v1' for config\.format/.test(e.message));
  assert.throws(() => bb.save(dir), (e: Error) => e instanceof RangeError && /directory/.test(e.message));
});

torchTest('bad config and bad frames: TypeError/RangeError naming the argument, the expected and the received value', () => {
  assert.throws(() => new ConvBackbone({ imageSize: 16, layers: [{ channels: 4, kernel: 4, stride: 4 }, { channels: 4, kernel: 3, stride: 2 }, { channels: 4, kernel: 5, stride: 1, padding: 0 }] }),
    (e: Error) => e instanceof RangeError && /config\.layers\[2\].*1×1.*2×2 gives 0×0/.test(e.message));
  assert.throws(() => new ConvBackbone({ pool: 'mean' as never }), (e: Error) => e instanceof TypeError && /'spatial-softmax' for config\.pool but received the string 'mean'/.test(e.message));
  assert.throws(() => new ConvBackbone({ layers: [{ channels: 0, kernel: 3 }] }), (e: Error) => e instanceof RangeError && /config\.layers\[0\]\.channels/.test(e.message));
  assert.throws(() => new ConvBackbone({ embedDims: 3 } as never), (e: Error) => e instanceof TypeError && /did you mean config\.embedDim/.test(e.message));
  assert.throws(() => new ConvBackbone({ imageSize: [64] as never }), (e: Error) => e instanceof TypeError && /config\.imageSize/.test(e.message));
  const bb = new ConvBackbone({ imageSize: 32 });
  assert.throws(() => bb.embed(frames(2, 64, 64, 1)), (e: Error) => e instanceof RangeError && /\[B, 32, 32, 3\].* for frames\.shape but received \[2,64,64,3\]/.test(e.message));
  assert.throws(() => bb.embed({ data: new Float32Array(3 * 32 * 32), shape: [1, 32, 32, 3] }), (e: Error) => e instanceof RangeError && /\[B, 3, 32, 32\].*received \[1,32,32,3\]/.test(e.message));
  assert.throws(() => bb.embed({ data: new Float32Array(3 * 32 * 32).fill(-0.5), shape: [1, 3, 32, 32] }), (e: Error) => e instanceof RangeError && /\[0, 1\].*element 0 is -0\.5/.test(e.message));
  assert.throws(() => bb.embed({ data: [1, 2, 3] as never, shape: [1, 32, 32, 3] }), (e: Error) => e instanceof TypeError && /Uint8Array.* for frames\.data but received the array/.test(e.message));
  assert.throws(() => bb.embed({ data: new Uint8Array(3), shape: [0, 32, 32, 3] }), (e: Error) => e instanceof RangeError && /frames\.shape\[0\]/.test(e.message));
});

test.run();
