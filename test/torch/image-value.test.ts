// ImageValueModel: ConvBackbone + the SPEC §4 value head,
// trained in two stages with augmentation. Checks: predictions and their
// distributions, no augmentation at prediction, training batches = the
// documented augmentation, the stages (head: backbone bit-identical; joint:
// backbone trained), determinism per seed, a visual task that only joint
// training learns, all-or-nothing fits, save/load, busy, bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { augmentFrames, ConvBackbone, ImageValueModel, NonFiniteError, SafetensorsError, ValueHead, writeSafetensors } from '../../src/index.js';
import { rand, rng } from '../helpers/data.js';
import { hasTorch, torchTest } from '../helpers/skip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-image-value-'));
const S = 16; // frame side of the small models
const small = () => ({ imageSize: S, layers: [{ channels: 8, kernel: 4, stride: 4 }, { channels: 8, kernel: 3, stride: 1 }], embedDim: 12 });

function frames(B: number, seed: number, side = S): { data: Uint8Array; shape: number[] } {
  return { data: rand(B * side * side * 3, seed), shape: [B, side, side, 3] };
}
const targetsOf = (B: number, seed: number) => { const r = rng(seed); return Float32Array.from({ length: B }, () => r()); };
const copy = (sd: Array<[string, Float32Array, number[]]>) => sd.map(([n, d]) => [n, Float32Array.from(d)] as const);
function sameTensors(a: ReadonlyArray<readonly [string, Float32Array]>, b: ReadonlyArray<readonly [string, Float32Array, ...unknown[]]>, prefix = ''): boolean {
  return a.filter(([n]) => n.startsWith(prefix)).every(([n, d]) => {
    const o = b.find(([m]) => m === n)![1];
    return d.length === o.length && d.every((v, i) => Object.is(v, o[i]));
  });
}

if (!hasTorch) {
  test('without libtorch the class throws one clear error', () => {
    assert.throws(() => new ImageValueModel(), /libtorch-dev/);
  });
}

torchTest('predict [B] in [0, 1] = expectation of predictDistribution; the head sees backbone.embed (no augmentation at prediction)', async () => {
  const vm = new ImageValueModel({ backbone: { ...small(), seed: 1 }, head: { hiddenDim: 16, bins: 21, seed: 2 } });
  const f = frames(7, 1);
  const before = vm.predict(f);
  // train with strong augmentation: predictions stay deterministic functions of the frames
  await vm.fit(f, targetsOf(7, 1), { epochs: 2, batchSize: 4, augment: { shift: 3, brightness: 0.5, contrast: 0.5, gain: 0.5 } });
  const v = vm.predict(f);
  assert.is(v.length, 7);
  assert.ok(v.some((x, i) => x !== before[i]), 'the fit changed the model');
  assert.equal(vm.predict(f), v);
  const d = vm.predictDistribution(f);
  assert.equal(d.shape, [7, 21]);
  for (let b = 0; b < 7; b++) {
    let sum = 0; let e = 0;
    for (let k = 0; k < 21; k++) { sum += d.data[b * 21 + k]; e += d.data[b * 21 + k] * (k / 20); }
    assert.ok(Math.abs(sum - 1) < 1e-5 && Math.abs(e - v[b]) < 1e-5 && v[b] >= 0 && v[b] <= 1);
  }
  // the same head weights in a ValueHead, on the backbone's embeddings of the plain frames
  const head = new ValueHead({ inputDim: 12, hiddenDim: 16, bins: 21 });
  const file = path.join(dir, 'head-only.safetensors');
  writeSafetensors(file, new Map(vm.stateDict().filter(([n]) => n.startsWith('head.')).map(([n, data, shape]) => [n.slice(5), { data, shape }])));
  head.loadWeights(file);
  const e = vm.embed(f);
  assert.equal(e.data, vm.backbone.embed(f).data, 'the model embeds with its (shared) backbone');
  const want = head.predict(e);
  for (let b = 0; b < 7; b++) assert.ok(Math.abs(want[b] - v[b]) < 1e-6, `${want[b]} vs ${v[b]}`);
  // loss = mean cross-entropy against two-hot targets, from the predicted distributions
  const t = targetsOf(7, 3);
  const td = head.targetDistribution(t).data;
  let ce = 0;
  for (let b = 0; b < 7; b++) for (let k = 0; k < 21; k++) if (td[b * 21 + k] > 0) ce -= td[b * 21 + k] * Math.log(d.data[b * 21 + k]);
  assert.ok(Math.abs(vm.loss(f, t) - ce / 7) < 1e-4, `${vm.loss(f, t)} vs ${ce / 7}`);
});

torchTest('the training batches are exactly augmentFrames(frames, { augment, seed, epoch }) (lr 0: nothing changes)', async () => {
  for (const stage of ['head', 'joint'] as const) {
    const vm = new ImageValueModel({ backbone: { ...small(), seed: 5 }, head: { hiddenDim: 16, bins: 11 } });
    const f = frames(9, 4); const t = targetsOf(9, 4);
    const augment = { shift: 2, brightness: 0.3, contrast: 0.3, gain: 0.2 };
    const before = copy(vm.stateDict());
    const { losses } = vm.fitSync(f, t, { stage, epochs: 3, batchSize: 9, lr: 0, augment, seed: 21 });
    assert.ok(sameTensors(before, vm.stateDict()), 'lr 0 leaves every weight as it was');
    for (let e = 0; e < 3; e++) {
      const x = augmentFrames(f, { augment, seed: 21, epoch: e });
      assert.ok(Math.abs(losses[e] - vm.loss(x, t)) < 1e-5, `${stage} epoch ${e}: ${losses[e]} vs ${vm.loss(x, t)}`);
    }
    assert.ok(Math.abs(losses[0] - losses[1]) > 1e-6, 'each epoch draws new augmentations');
    const plain = vm.fitSync(f, t, { stage, epochs: 1, batchSize: 9, lr: 0, augment: false, seed: 21 }).losses[0];
    assert.ok(Math.abs(plain - vm.loss(f, t)) < 1e-5, 'augment: false trains on the plain frames');
  }
});

torchTest('stages: the head stage leaves every backbone tensor bit-identical (also after a joint stage); the joint stage trains both', async () => {
  const vm = new ImageValueModel({ backbone: { ...small(), seed: 2 }, head: { hiddenDim: 16, bins: 11 } });
  const f = frames(24, 6); const t = targetsOf(24, 6);
  const b0 = copy(vm.stateDict());
  await vm.fit(f, t, { stage: 'head', epochs: 2, batchSize: 8 });
  assert.ok(sameTensors(b0, vm.stateDict(), 'backbone.'), 'head stage: backbone unchanged');
  assert.not.ok(sameTensors(b0, vm.stateDict(), 'head.'), 'head stage: head trained');
  await vm.fit(f, t, { stage: 'joint', epochs: 2, batchSize: 8, weightDecay: 0.1 });
  const b1 = copy(vm.stateDict());
  for (const [n, d] of b0) if (n.startsWith('backbone.conv') && n.endsWith('weight')) assert.not.ok(sameTensors([[n, d]], vm.stateDict()), `joint stage trains ${n}`);
  // After the joint stage the backbone has AdamW moments; a head stage must still not touch it (nor decay it).
  await vm.fit(f, t, { stage: 'head', epochs: 2, batchSize: 8, weightDecay: 0.1 });
  assert.ok(sameTensors(b1, vm.stateDict(), 'backbone.'), 'head stage after joint: backbone unchanged');
  // with augmentation the head stage runs the frozen backbone every epoch; still untouched
  await vm.fit(f, t, { stage: 'head', epochs: 1, batchSize: 8, augment: { shift: 2 } });
  assert.ok(sameTensors(b1, vm.stateDict(), 'backbone.'));
  const r = await vm.fitStages(f, t, { common: { batchSize: 8, seed: 3 }, head: { epochs: 2 }, joint: { epochs: 1 } });
  assert.is(r.head.length, 2); assert.is(r.joint.length, 1);
});

torchTest('deterministic per seed: the same config and seeds give bit-identical losses and weights; another seed differs', async () => {
  const run = async (seed: number) => {
    const vm = new ImageValueModel({ backbone: { ...small(), seed: 8 }, head: { hiddenDim: 16, seed: 9 } });
    const f = frames(20, 7); const t = targetsOf(20, 7);
    const a = await vm.fit(f, t, { stage: 'head', epochs: 2, batchSize: 6, seed });
    const b = await vm.fit(f, t, { stage: 'joint', epochs: 2, batchSize: 6, seed: seed + 1 });
    return { losses: [...a.losses, ...b.losses], sd: copy(vm.stateDict()) };
  };
  const x = await run(1); const y = await run(1); const z = await run(2);
  assert.equal(x.losses, y.losses);
  assert.ok(sameTensors(x.sd, y.sd));
  assert.not.equal(x.losses, z.losses);
});

/**
 * Frames S2×S2 with dim noise, a green 3×3 distractor and a red 3×3 square
 * drawn on top; the value is the red square's x position in [0, 1].
 */
function squares(B: number, seed: number, side: number): { frames: { data: Uint8Array; shape: number[] }; values: Float32Array } {
  const r = rng(seed);
  const data = new Uint8Array(B * side * side * 3);
  const values = new Float32Array(B);
  const k = 3;
  for (let b = 0; b < B; b++) {
    const img = data.subarray(b * side * side * 3, (b + 1) * side * side * 3);
    for (let i = 0; i < img.length; i++) img[i] = Math.floor(r() * 50);
    const paint = (x0: number, y0: number, rgb: number[]) => {
      for (let y = y0; y < y0 + k; y++) for (let x = x0; x < x0 + k; x++) for (let c = 0; c < 3; c++) img[(y * side + x) * 3 + c] = rgb[c];
    };
    paint(Math.floor(r() * (side - k + 1)), Math.floor(r() * (side - k + 1)), [40, 230, 40]);
    const x = Math.floor(r() * (side - k + 1));
    paint(x, Math.floor(r() * (side - k + 1)), [230, 40, 40]);
    values[b] = x / (side - k);
  }
  return { frames: { data, shape: [B, side, side, 3] }, values };
}
const r2 = (pred: Float32Array, y: Float32Array) => {
  const m = y.reduce((a, b) => a + b, 0) / y.length;
  let ss = 0; let st = 0;
  for (let i = 0; i < y.length; i++) { ss += (pred[i] - y[i]) ** 2; st += (y[i] - m) ** 2; }
  return 1 - ss / st;
};

torchTest('a visual task the frozen random backbone cannot learn and joint training can: the x of a red square among a green distractor', async () => {
  const side = 24;
  const train = squares(768, 1, side); const held = squares(256, 2, side);
  const cfg = { backbone: { imageSize: side, layers: [{ channels: 16, kernel: 3, stride: 2 }, { channels: 16, kernel: 3, stride: 2 }], embedDim: 16, seed: 3 }, head: { hiddenDim: 32, bins: 51, seed: 4 } };
  const augment = { shift: 0, brightness: 0.1, contrast: 0.1, gain: 0.1 }; // no shift: the target is a position
  const frozen = new ImageValueModel(cfg);
  await frozen.fit(train.frames, train.values, { stage: 'head', epochs: 24, batchSize: 64, lr: 3e-3, augment, seed: 1 });
  const joint = new ImageValueModel(cfg);
  await joint.fit(train.frames, train.values, { stage: 'head', epochs: 4, batchSize: 64, lr: 3e-3, augment, seed: 1 });
  await joint.fit(train.frames, train.values, { stage: 'joint', epochs: 20, batchSize: 64, lr: 3e-3, augment, seed: 2 });
  const rf = r2(frozen.predict(held.frames), held.values); const rj = r2(joint.predict(held.frames), held.values);
  assert.ok(rj > 0.85, `joint R² on held-out frames ${rj.toFixed(3)}`);
  assert.ok(rf < 0.5, `frozen-backbone R² ${rf.toFixed(3)}`);
  assert.ok(rj - rf > 0.4, `joint ${rj.toFixed(3)} vs frozen ${rf.toFixed(3)}`);
});

torchTest('all or nothing: a non-finite step throws NonFiniteError naming the step; backbone, head and AdamW state are as before', async () => {
  const mk = () => new ImageValueModel({ backbone: { ...small(), seed: 6 }, head: { hiddenDim: 16, bins: 11 } });
  const f = frames(16, 8); const t = targetsOf(16, 8);
  const a = mk(); const b = mk();
  for (const m of [a, b]) await m.fit(f, t, { epochs: 1, batchSize: 8, seed: 1 }); // AdamW state exists
  const before = copy(a.stateDict());
  let err: unknown;
  try { await a.fit(f, t, { stage: 'joint', epochs: 3, batchSize: 8, lr: 1e30, schedule: 'constant', seed: 2 }); } catch (e) { err = e; }
  assert.instance(err, NonFiniteError);
  assert.match((err as Error).message, /^Non-finite .*(epoch \d of 3, minibatch \d of 2|after)/);
  assert.match((err as Error).message, /as before the call/);
  assert.ok(sameTensors(before, a.stateDict()), 'weights restored bit for bit');
  assert.throws(() => a.fitSync(f, t, { epochs: 2, batchSize: 8, lr: 1e30, schedule: 'constant' }), (e: Error) => e instanceof NonFiniteError && e.step !== undefined);
  assert.ok(sameTensors(before, a.stateDict()));
  // the optimizer state was restored too: the next fit matches a twin that never failed
  await a.fit(f, t, { epochs: 2, batchSize: 8, seed: 3 });
  await b.fit(f, t, { epochs: 2, batchSize: 8, seed: 3 });
  assert.ok(sameTensors(copy(a.stateDict()), b.stateDict()));
});

torchTest('save/load after training: bit-exact weights, predictions and config; strict layout; a shared backbone', async () => {
  const vm = new ImageValueModel({ backbone: { ...small(), pool: 'spatial-softmax', seed: 2 }, head: { hiddenDim: 16, bins: 31, targets: 'one-hot', seed: 5 } });
  const f = frames(12, 9); const t = targetsOf(12, 9);
  await vm.fit(f, t, { stage: 'joint', epochs: 2, batchSize: 6 });
  const file = path.join(dir, 'vm.safetensors');
  vm.save(file);
  assert.ok(readdirSync(dir).includes('vm.json'));
  const back = ImageValueModel.load(file);
  assert.equal(back.head, vm.head);
  assert.equal(back.backbone.config, vm.backbone.config);
  assert.ok(sameTensors(copy(vm.stateDict()), back.stateDict()));
  assert.equal(back.predict(f), vm.predict(f));
  assert.equal(vm.stateDict().map(([n]) => n).slice(-6), ['head.net.0.weight', 'head.net.0.bias', 'head.net.1.weight', 'head.net.1.bias', 'head.net.3.weight', 'head.net.3.bias']);
  // the trained backbone saved alone and loaded into a fresh one embeds identically
  vm.backbone.save(path.join(dir, 'trained-bb.safetensors'));
  const bb = ConvBackbone.load(path.join(dir, 'trained-bb.safetensors'));
  assert.equal(bb.embed(f).data, vm.embed(f).data);
  // a model on a shared backbone sees the other model's training
  const other = new ImageValueModel({ backbone: bb, head: { hiddenDim: 8 } });
  const e0 = other.embed(f).data;
  await new ImageValueModel({ backbone: bb }).fit(f, t, { stage: 'joint', epochs: 1 });
  assert.not.equal(other.embed(f).data, e0);
  // strict: another head size
  const wrong = new ImageValueModel({ backbone: { ...small(), pool: 'spatial-softmax' }, head: { hiddenDim: 17, bins: 31 } });
  assert.throws(() => wrong.loadWeights(file), (e: Error) => e instanceof SafetensorsError && /head\.net\.0\.weight' has shape \[16,12\] but the model expects \[17,12\]/.test(e.message));
});

torchTest('busy while an async fit runs; the fit trains on a copy of the frames', async () => {
  const vm = new ImageValueModel({ backbone: { ...small(), seed: 1 }, head: { hiddenDim: 8 } });
  const twin = new ImageValueModel({ backbone: { ...small(), seed: 1 }, head: { hiddenDim: 8 } });
  const f = frames(64, 10); const t = targetsOf(64, 10);
  const keep = Uint8Array.from(f.data);
  const p = vm.fit(f, t, { epochs: 3, batchSize: 16 });
  f.data.fill(0); // the caller reuses its buffer
  assert.throws(() => vm.predict({ data: keep, shape: f.shape }), /busy/);
  assert.throws(() => vm.backbone.embed({ data: keep, shape: f.shape }), /busy/);
  await p;
  await twin.fit({ data: keep, shape: f.shape }, t, { epochs: 3, batchSize: 16 });
  assert.ok(sameTensors(copy(vm.stateDict()), twin.stateDict()));
});

torchTest('bad input: TypeError/RangeError naming the argument, the expected and the received value', () => {
  const vm = new ImageValueModel({ backbone: small() });
  const f = frames(4, 11);
  assert.throws(() => vm.fitSync(f, [0.1, 0.2, 0.3]), (e: Error) => e instanceof RangeError && /4 \(one per batch row\) for targets\.length but received 3/.test(e.message));
  assert.throws(() => vm.fitSync(f, [0.1, 0.2, 0.3, 1.5]), (e: Error) => e instanceof RangeError && /\[0, 1\] for targets but element 3 is 1\.5/.test(e.message));
  assert.throws(() => vm.fitSync(f, [0, 0, 0, 0], { stage: 'both' as never }), (e: Error) => e instanceof TypeError && /'head' or 'joint' for opts\.stage but received the string 'both'/.test(e.message));
  assert.throws(() => vm.fitSync(f, [0, 0, 0, 0], { epoch: 2 } as never), (e: Error) => e instanceof TypeError && /did you mean opts\.epochs/.test(e.message));
  assert.throws(() => vm.fitSync(f, [0, 0, 0, 0], { lr: -1 }), (e: Error) => e instanceof RangeError && /opts\.lr/.test(e.message));
  assert.throws(() => vm.fitSync(f, [0, 0, 0, 0], { augment: { gain: 1 } }), (e: Error) => e instanceof RangeError && /opts\.augment\.gain/.test(e.message));
  assert.throws(() => vm.predict(frames(2, 1, 32)), (e: Error) => e instanceof RangeError && /\[B, 16, 16, 3\].* for frames\.shape but received \[2,32,32,3\]/.test(e.message));
  assert.throws(() => new ImageValueModel({ head: { bins: 1 } }), (e: Error) => e instanceof RangeError && /config\.head\.bins/.test(e.message));
  assert.throws(() => new ImageValueModel({ backbone: { imageSize: 0 } }), (e: Error) => e instanceof RangeError && /config\.backbone\.imageSize/.test(e.message));
  assert.throws(() => new ImageValueModel({ heads: {} } as never), (e: Error) => e instanceof TypeError && /did you mean config\.head/.test(e.message));
});

// The native layer checks memory safety only: these ranges have one owner,
// the TypeScript options, which refuse them (naming key, bound and value)
// before anything reaches libtorch; the model is left as it was.
torchTest('option ranges owned by TypeScript alone: learning rates, augmentation strengths and shift, backbone sizes', () => {
  const vm = new ImageValueModel({ backbone: small(), head: { hiddenDim: 8, bins: 5 } });
  const f = frames(4, 12);
  const t = [0.1, 0.2, 0.3, 0.4];
  const before = copy(vm.stateDict());
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ backboneLr: -1e-3 }, /Expected a finite number ≥ 0 for opts\.backboneLr but received the number -0\.001/],
    [{ weightDecay: -0.5 }, /Expected a finite number ≥ 0 for opts\.weightDecay but received the number -0\.5/],
    [{ lr: Number.NaN }, /for opts\.lr but received the number NaN/],
    [{ augment: { brightness: 1 } }, /≤ 0\.999 for opts\.augment\.brightness but received the number 1$/],
    [{ augment: { contrast: -0.1 } }, /opts\.augment\.contrast but received the number -0\.1$/],
    [{ augment: { shift: 1025 } }, /\[0, 1024\] for opts\.augment\.shift but received the number 1025$/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => vm.fitSync(f, t, { epochs: 1, batchSize: 4, ...opts }), (e: Error) => e instanceof RangeError && re.test(e.message), JSON.stringify(opts));
  }
  assert.ok(sameTensors(before, vm.stateDict()), 'no refused call changed a weight');
  const sizes: Array<[Record<string, unknown>, RegExp]> = [
    [{ imageSize: 4097 }, /config\.imageSize but received the number 4097$/],
    [{ imageSize: 64, layers: [{ channels: 4097, kernel: 3 }] }, /config\.layers\[0\]\.channels but received the number 4097$/],
    [{ imageSize: 64, layers: [{ channels: 4, kernel: 65 }] }, /config\.layers\[0\]\.kernel but received the number 65$/],
    [{ imageSize: 64, layers: [{ channels: 4, kernel: 3, padding: 65 }] }, /config\.layers\[0\]\.padding but received the number 65$/],
    [{ imageSize: 64, layers: [{ channels: 4, kernel: 3, pool: 65 }] }, /config\.layers\[0\]\.pool but received the number 65$/],
  ];
  for (const [cfg, re] of sizes) {
    assert.throws(() => new ConvBackbone(cfg), (e: Error) => e instanceof RangeError && re.test(e.message), JSON.stringify(cfg));
  }
});

test.run();
