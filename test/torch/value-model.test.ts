import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OnnxBackbone, ValueHead, ValueModel } from '../../src/index.js';
import { poolingBackboneModel } from '../fixtures/onnx-models.js';
import { hasTorch, torchTest } from '../helpers/skip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-vm-'));
const H = 6, S = 4, B = 5;
const model = poolingBackboneModel({ size: S, hidden: H });
const bbPath = path.join(dir, 'bb.onnx');
writeFileSync(bbPath, model.bytes);
const pixels = { data: Float32Array.from({ length: B * 3 * S * S }, (_, i) => Math.sin(i * 0.37)), shape: [B, 3, S, S] };

if (!hasTorch) {
  test('without libtorch the value head a ValueModel needs throws one clear error', () => {
    assert.throws(() => new ValueHead({ inputDim: H, hiddenDim: 8 }), /libtorch/);
  });
}

torchTest('predict = head.predict(backbone.embed(x)); load from files', async () => {
  const bb = await OnnxBackbone.load(bbPath);
  const head = new ValueHead({ inputDim: H, hiddenDim: 8, bins: 11, seed: 3 });
  const vm = new ValueModel(bb, head);
  const h = await bb.embed(pixels);
  const want = head.predict(h);
  const got = await vm.predict(pixels);
  assert.equal(Array.from(got), Array.from(want));
  const dist = await vm.predictDistribution(pixels);
  assert.equal(dist.shape, [B, 11]);
  const headPath = path.join(dir, 'head.safetensors');
  head.save(headPath);
  const again = await ValueModel.load(bbPath, headPath);
  assert.equal(Array.from(await again.predict(pixels)), Array.from(want));
});

torchTest('fitHead trains the head on frozen backbone features', async () => {
  const vm = new ValueModel(await OnnxBackbone.load(bbPath), new ValueHead({ inputDim: H, hiddenDim: 16, bins: 21, seed: 1 }));
  const targets = Float32Array.from({ length: B }, (_, i) => i / (B - 1));
  const before = await vm.predict(pixels);
  const { losses } = await vm.fitHead(pixels, targets, { epochs: 60, batchSize: B, lr: 1e-2, seed: 0 });
  assert.ok(losses[losses.length - 1] < losses[0], `loss ${losses[0]} → ${losses[losses.length - 1]}`);
  const after = await vm.predict(pixels);
  const err = (v: Float32Array) => v.reduce((a, x, i) => a + Math.abs(x - targets[i]), 0) / B;
  assert.ok(err(after) < err(before), `error ${err(before)} → ${err(after)}`);
});

torchTest('a head whose inputDim differs from the backbone hidden size is refused', async () => {
  const bb = await OnnxBackbone.load(bbPath);
  assert.throws(() => new ValueModel(bb, new ValueHead({ inputDim: H + 1, hiddenDim: 4 })),
    (e: any) => e instanceof RangeError && /Expected the backbone's hidden size 6 .* for head\.config\.inputDim but received the number 7/.test(e.message));
  assert.throws(() => new ValueModel({} as any, new ValueHead({ inputDim: H, hiddenDim: 4 })), (e: any) => e instanceof TypeError && /OnnxBackbone/.test(e.message));
});

test.run();
