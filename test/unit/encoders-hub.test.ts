// Image feature extractors by name (OnnxImageEncoder.fromHub, --encoder hf:…)
// against the local fake hub serving tiny models generated here in the hub
// layout: patch features equal an independent reference (preprocessing from
// test/reference/pil-resize.ts, the patch convolution in float64), CLS and
// register tokens are dropped, patch tokens stay in grid order, the cache is
// reused, offline mode makes no request, the dtype picks the file, external
// data loads, and each error names the model.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  HubError, OnnxImageEncoder, OnnxVisualEncoder, createEncoder, encodeFrames, framesFromArray, imageProcessorConfig, processedSize, readNpy, resizedSize, writeNpy,
  type OnnxImageEncoderOptions,
} from '../../src/index.js';
import { externalizeModel, tokenModel, type TokenModelWeights } from '../fixtures/onnx-models.js';
import { centerCrop, pilResize, toPixelValues } from '../reference/pil-resize.js';
import { cliAsync, commitOf, startFakeHub, type FakeHub } from '../helpers/hub-server.js';
import { rand } from '../helpers/data.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-hubenc-'));
let n = 0;
const freshCache = () => path.join(root, `cache-${n++}`);

const PATCH = 4;
const DIM = 6;
const BIT = {
  image_processor_type: 'BitImageProcessor', do_resize: true, size: { shortest_edge: 10 }, resample: 3, do_center_crop: true,
  crop_size: { height: 8, width: 8 }, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true,
  image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], do_convert_rgb: true,
};
const VIT = { image_processor_type: 'ViTImageProcessor', size: { height: 8, width: 12 }, resample: 2, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };
const json = (v: unknown) => JSON.stringify(v, null, 2);

const dino = tokenModel({ patch: PATCH, dim: DIM, prefix: 1, pooler: true });
const dinoHalf = tokenModel({ patch: PATCH, dim: DIM, prefix: 1, half: true, pooler: true });
const reg = externalizeModel(tokenModel({ patch: PATCH, dim: DIM, prefix: 5 }).bytes, 'model.onnx_data');
const ijepa = tokenModel({ patch: PATCH, dim: DIM, prefix: 0 }, 9);
const siglip = tokenModel({ patch: PATCH, dim: DIM, prefix: 0, size: 8 }, 4);

let hub: FakeHub;
test.before(async () => {
  hub = await startFakeHub({
    'org/dinov2-tiny': { files: {
      'config.json': json({ model_type: 'dinov2', patch_size: PATCH, hidden_size: DIM }), 'preprocessor_config.json': json(BIT),
      'onnx/model.onnx': dino.bytes, 'onnx/model_fp16.onnx': dinoHalf.bytes, 'README.md': '# tiny',
    } },
    'org/dinov2-reg-tiny': { files: {
      'config.json': json({ model_type: 'dinov2_with_registers', patch_size: PATCH, num_register_tokens: 4 }), 'preprocessor_config.json': json(BIT),
      'onnx/model.onnx': reg.model, 'onnx/model.onnx_data': reg.data,
    } },
    'org/ijepa-tiny': { files: {
      'config.json': json({ model_type: 'ijepa', patch_size: PATCH }), 'preprocessor_config.json': json(VIT), 'onnx/model.onnx': ijepa.bytes,
    } },
    'org/siglip-tiny': { files: {
      'config.json': json({ model_type: 'siglip', vision_config: { model_type: 'siglip_vision_model', patch_size: PATCH } }),
      'preprocessor_config.json': json({ image_processor_type: 'SiglipImageProcessor', size: { height: 8, width: 8 }, resample: 3, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }),
      'onnx/vision_model.onnx': siglip.bytes,
    } },
    'org/pooled': { files: {
      'config.json': json({ model_type: 'dinov2', patch_size: PATCH }), 'preprocessor_config.json': json(BIT),
      'onnx/model.onnx': tokenModel({ patch: PATCH, dim: DIM, pooledOnly: true }).bytes,
    } },
    'org/miscounted': { files: {
      'config.json': json({ model_type: 'dinov2_with_registers', patch_size: PATCH, num_register_tokens: 4 }), 'preprocessor_config.json': json(BIT),
      'onnx/model.onnx': dino.bytes,
    } },
  });
});
test.after(async () => { await hub.close(); });

const opts = (extra: OnnxImageEncoderOptions = {}): OnnxImageEncoderOptions => ({ endpoint: hub.endpoint, cacheDir: freshCache(), token: null, ...extra });

/** T random frames H × W. */
function frames(T: number, H: number, W: number, seed: number) {
  return { data: rand(T * H * W * 3, seed), shape: [T, H, W, 3] };
}

/** Reference patch features [T, P, D] in float64: reference preprocessing, then the stand-in's patch convolution in grid order. */
function reference(fr: { data: Uint8Array; shape: number[] }, pre: Record<string, unknown>, w: TokenModelWeights): { data: Float64Array; P: number } {
  const [T, H, W] = fr.shape;
  const cfg = imageProcessorConfig(pre, 'ref');
  const [rh, rw] = resizedSize(H, W, cfg.resize);
  const [h, wd] = processedSize(H, W, cfg);
  const gh = Math.floor(h / PATCH);
  const gw = Math.floor(wd / PATCH);
  const P = gh * gw;
  const out = new Float64Array(T * P * DIM);
  for (let t = 0; t < T; t++) {
    let img = pilResize(fr.data.subarray(t * H * W * 3, (t + 1) * H * W * 3), H, W, rh, rw, cfg.resample);
    if (cfg.crop) img = centerCrop(img, rh, rw, h, wd);
    const px = toPixelValues(img, h, wd, cfg.rescale, cfg.normalize!.mean, cfg.normalize!.std);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++) {
        for (let d = 0; d < DIM; d++) {
          let acc = w.bias[d];
          for (let c = 0; c < 3; c++) {
            for (let ky = 0; ky < PATCH; ky++) {
              for (let kx = 0; kx < PATCH; kx++) acc += w.conv[((d * 3 + c) * PATCH + ky) * PATCH + kx] * px[(c * h + gy * PATCH + ky) * wd + gx * PATCH + kx];
            }
          }
          out[((t * P) + gy * gw + gx) * DIM + d] = acc;
        }
      }
    }
  }
  return { data: out, P };
}

function close(got: Float32Array, want: Float64Array, rel: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > rel * (1 + Math.abs(want[i]))) assert.unreachable(`${what}: element ${i}: ${got[i]} vs ${want[i]}`);
  }
}

test('DINOv2 layout: frames → [T, P, D] patch features equal to the reference, CLS dropped, grid order, in batches', async () => {
  const enc = await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', opts({ batchSize: 2 }));
  assert.is(enc.name, `hf:org/dinov2-tiny@${commitOf('org/dinov2-tiny')}`);
  assert.equal([enc.patchSize, enc.registers, enc.modelType, enc.dtype, enc.inputName, enc.outputName, enc.hiddenSize], [PATCH, 0, 'dinov2', 'fp32', 'pixel_values', 'last_hidden_state', DIM]);
  assert.is(enc.imageSize, undefined);
  const fr = frames(5, 12, 15, 1); // short side 12 → 10 × 12 (bicubic), crop 8 × 8 → 2 × 2 patches
  const f = await encodeFrames(framesFromArray(fr), enc);
  assert.equal(f.shape, [5, 4, DIM]);
  const ref = reference(fr, BIT, dino.weights);
  close(f.data, ref.data, 1e-4, 'dinov2');
  assert.ok(f.data.every((v) => Math.abs(v) < 900), 'a CLS token (≥ 1000) survived');
  assert.is(enc.runs, 3); // 5 frames in batches of 2
  const one = await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', opts({ batchSize: 1 }));
  assert.equal(Array.from((await one.encode(fr)).data), Array.from(f.data));
  await enc.dispose();
  await one.dispose();
});

test('registers dropped (DINOv2 with registers, weights in model.onnx_data); no prefix for I-JEPA; SigLIP vision_model.onnx picked', async () => {
  const o = opts();
  const enc = await OnnxImageEncoder.fromHub('org/dinov2-reg-tiny', o);
  assert.is(enc.registers, 4);
  const fr = frames(3, 10, 10, 2);
  close((await enc.encode(fr)).data, reference(fr, BIT, tokenModel({ patch: PATCH, dim: DIM, prefix: 5 }).weights).data, 1e-4, 'registers');
  const snap = path.join(o.cacheDir!, 'models--org--dinov2-reg-tiny', 'snapshots', commitOf('org/dinov2-reg-tiny'), 'onnx');
  assert.equal(fs.readdirSync(snap).sort(), ['model.onnx', 'model.onnx_data']);
  const ij = await OnnxImageEncoder.fromHub('hf:org/ijepa-tiny', opts());
  const fi = frames(2, 9, 20, 3); // ViT processor: 8 × 12 (bilinear), no crop → 2 × 3 patches, all kept
  const gi = await ij.encode(fi);
  assert.equal(gi.shape, [2, 6, DIM]);
  close(gi.data, reference(fi, VIT, ijepa.weights).data, 1e-4, 'ijepa');
  const sg = await OnnxImageEncoder.fromHub('hf:org/siglip-tiny', opts());
  assert.match(sg.modelPath, /onnx[/\\]vision_model\.onnx$/);
  assert.equal((await sg.encode(frames(1, 16, 16, 4))).shape, [1, 4, DIM]);
  for (const e of [enc, ij, sg]) await e.dispose();
});

test('--dtype picks the file: fp16 runs model_fp16.onnx (float16 in and out); a missing variant lists the ones there', async () => {
  const half = await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', opts({ dtype: 'fp16' }));
  assert.match(half.modelPath, /model_fp16\.onnx$/);
  const fr = frames(2, 12, 12, 5);
  close((await half.encode(fr)).data, reference(fr, BIT, dino.weights).data, 2e-2, 'fp16');
  await half.dispose();
  try {
    await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', opts({ dtype: 'q4' }));
    assert.unreachable('q4 loaded');
  } catch (err) {
    assert.instance(err, HubError);
    assert.is((err as HubError).code, 'ENTRY_NOT_FOUND');
    assert.match((err as Error).message, /org\/dinov2-tiny@main: no q4 model \(onnx\/model_q4\.onnx\); the repository has fp32 \(onnx\/model\.onnx\), fp16 \(onnx\/model_fp16\.onnx\): choose one with --dtype/);
  }
  try {
    await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', opts({ dtype: 'fp64' as 'fp32' }));
    assert.unreachable('fp64 accepted');
  } catch (err) {
    assert.instance(err, TypeError);
    assert.match((err as Error).message, /opts\.dtype/);
  }
});

test('cache reused, then offline: the second load downloads nothing, the offline one asks nothing and gives the same features', async () => {
  const o = opts();
  const fr = frames(2, 12, 12, 6);
  const first = await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', o);
  const a = await first.encode(fr);
  const before = hub.requests.length;
  const second = await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', o);
  assert.ok(hub.requests.slice(before).every((r) => r.method === 'HEAD'), 'a GET on the second run');
  const mid = hub.requests.length;
  const offline = await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', { ...o, offline: true });
  assert.is(hub.requests.length, mid, 'offline mode made a request');
  assert.equal(Array.from((await offline.encode(fr)).data), Array.from(a.data));
  try {
    await OnnxImageEncoder.fromHub('hf:org/dinov2-tiny', { ...o, offline: true, dtype: 'fp16' });
    assert.unreachable('fp16 offline without cache');
  } catch (err) {
    assert.is((err as HubError).code, 'OFFLINE_NOT_CACHED');
    assert.match((err as Error).message, /no fp16 model \(onnx\/model_fp16\.onnx\) in the cache, and HF_HUB_OFFLINE is set; the cached copy has fp32 \(onnx\/model\.onnx\)/);
  }
  assert.is(hub.requests.length, mid);
  for (const e of [first, second, offline]) await e.dispose();
});

test('errors name the model: not [B, tokens, D], miscounted registers, missing model, cut download', async () => {
  try {
    await OnnxImageEncoder.fromHub('hf:org/pooled', opts());
    assert.unreachable('pooled output accepted');
  } catch (err) {
    assert.match((err as Error).message, /^hf:org\/pooled@[0-9a-f]{40}: model\.onnx output 'pooler_output' is float32 \[batch, 6\], not tokens \[B, tokens, D\]/);
  }
  const bad = await OnnxImageEncoder.fromHub('hf:org/miscounted', opts());
  try {
    await bad.encode(frames(1, 8, 8, 7));
    assert.unreachable('miscounted accepted');
  } catch (err) {
    assert.match((err as Error).message, /model hf:org\/miscounted@[0-9a-f]{40} returned 5 tokens for 8×8 images; with 4-pixel patches that is 2×2 = 4 patch tokens, and it should have 5 tokens before them \(1 CLS \+ 4 registers\)/);
  }
  await bad.dispose();
  try {
    await OnnxImageEncoder.fromHub('hf:org/nope', opts());
    assert.unreachable('missing model');
  } catch (err) {
    assert.is((err as HubError).code, 'REPO_NOT_FOUND');
    assert.match((err as Error).message, /org\/nope@main: no such model/);
  }
  const o = opts();
  hub.faults.set('onnx/model.onnx_data', 'cut');
  try {
    await OnnxImageEncoder.fromHub('hf:org/dinov2-reg-tiny', o);
    assert.unreachable('cut download');
  } catch (err) {
    assert.is((err as HubError).code, 'TRUNCATED');
    assert.match((err as Error).message, /org\/dinov2-reg-tiny@main: the download of onnx\/model\.onnx_data .*nothing was cached/);
  } finally {
    hub.faults.delete('onnx/model.onnx_data');
  }
  const blobs = fs.readdirSync(path.join(o.cacheDir!, 'models--org--dinov2-reg-tiny', 'blobs'));
  assert.is(blobs.filter((b) => b.includes('incomplete')).length, 0);
  assert.is(blobs.length, 3, 'config, preprocessor config and model.onnx cached; not the cut data file');
});

test('createEncoder: hf: names and hub-layout folders; OnnxVisualEncoder.fromHub; options that do not apply are refused', async () => {
  const saved = { e: process.env.HF_ENDPOINT, h: process.env.HF_HUB_CACHE, t: process.env.HF_TOKEN };
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HUB_CACHE = freshCache();
  delete process.env.HF_TOKEN;
  try {
    const enc = await createEncoder('hf:org/ijepa-tiny', { batchSize: 3 });
    assert.instance(enc, OnnxImageEncoder);
    assert.is(enc.chunkFrames, 3);
    const alias = await OnnxVisualEncoder.fromHub('hf:org/ijepa-tiny');
    assert.instance(alias, OnnxImageEncoder);
    const folder = path.join(process.env.HF_HUB_CACHE, 'models--org--ijepa-tiny', 'snapshots', commitOf('org/ijepa-tiny'));
    const local = await createEncoder(folder);
    assert.instance(local, OnnxImageEncoder);
    const fr = frames(2, 8, 12, 8);
    assert.equal(Array.from((await (local as OnnxImageEncoder).encode(fr)).data), Array.from((await alias.encode(fr)).data));
    try {
      await createEncoder('hf:org/ijepa-tiny', { imageSize: 224 });
      assert.unreachable('imageSize accepted');
    } catch (err) {
      assert.instance(err, TypeError);
      assert.match((err as Error).message, /opts\.imageSize .*preprocessor_config\.json sets the image size/);
    }
    try {
      await createEncoder('builtin', { dtype: 'fp16' });
      assert.unreachable('dtype accepted for builtin');
    } catch (err) {
      assert.match((err as Error).message, /opts\.dtype for the builtin encoder/);
    }
  } finally {
    for (const [k, v] of [['HF_ENDPOINT', saved.e], ['HF_HUB_CACHE', saved.h], ['HF_TOKEN', saved.t]] as const) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }
});

test('CLI: encode and label --encoder hf:ORG/NAME with HF_ENDPOINT and HF_HOME; --dtype; offline rerun; errors exit 2', async () => {
  const home = path.join(root, 'cli-home');
  const env = { HF_ENDPOINT: hub.endpoint, HF_HOME: home, HF_TOKEN: '', HF_HUB_OFFLINE: '' };
  const ep = path.join(root, 'ep.npy');
  const fr = frames(4, 12, 16, 9);
  writeNpy(ep, fr as never);
  const out = path.join(root, 'feat');
  const r = await cliAsync(['encode', ep, '--encoder', 'hf:org/dinov2-tiny', '--dtype', 'fp16', '--batch-size', '3', '--out', out], env);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`encoded 1 of 1 episode with hf:org/dinov2-tiny@${commitOf('org/dinov2-tiny')}`));
  const t = readNpy(path.join(out, 'ep.npy'));
  assert.equal(t.shape, [4, 4, DIM]);
  close(t.data as Float32Array, reference(fr, BIT, dino.weights).data, 2e-2, 'cli fp16');
  assert.ok(fs.existsSync(path.join(home, 'hub', 'models--org--dinov2-tiny', 'snapshots', commitOf('org/dinov2-tiny'), 'onnx', 'model_fp16.onnx')));
  const before = hub.requests.length;
  const off = await cliAsync(['label', ep, '--encoder', 'hf:org/dinov2-tiny', '--dtype', 'fp16', '--out', path.join(root, 'labels'), '--json', '--window', '2'], { ...env, HF_HUB_OFFLINE: '1' });
  assert.is(off.code, 0, off.stderr);
  assert.is(hub.requests.length, before, 'offline label made a request');
  assert.is(JSON.parse(off.stdout).encoder, `hf:org/dinov2-tiny@${commitOf('org/dinov2-tiny')}`);
  const badDtype = await cliAsync(['encode', ep, '--encoder', 'hf:org/dinov2-tiny', '--dtype', 'q3', '--out', out], env);
  assert.is(badDtype.code, 2);
  assert.match(badDtype.stderr, /--dtype expects one of fp32, fp16, q8, q4, int8, uint8, q4f16, bnb4 but received 'q3'/);
  const missing = await cliAsync(['encode', ep, '--encoder', 'hf:org/nope', '--out', out], env);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /--encoder hf:org\/nope: org\/nope@main: no such model on http/);
  const stray = await cliAsync(['label', ep, '--dtype', 'fp16'], env);
  assert.is(stray.code, 2);
  assert.match(stray.stderr, /--dtype needs --encoder/);
});

test.run();
