// Parity with the Python side of the hub (a venv built from wheels on disk,
// test/helpers/hf-venv.ts; SKIP without them):
// - preprocessing: transformers' own image processors (PIL backend, and the
//   torchvision backend when torch is installed there) on the processor
//   configs of the model families feat2go loads, random frames of several
//   sizes and every resample filter: pixel values within 1/255 before
//   normalisation (printed per case);
// - the cache: files huggingface_hub downloads from the fake hub are found by
//   feat2go offline, and files feat2go downloads are found by huggingface_hub
//   offline (one cache serves both).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeNpy, hubFile, imageProcessorConfig, preprocessImages, readNpy } from '../../src/index.js';
import { hfPython } from '../helpers/hf-venv.js';
import { runAsync, startFakeHub } from '../helpers/hub-server.js';
import { testIf } from '../helpers/skip.js';
import { rand } from '../helpers/data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', 'fixtures', 'hf_parity.py');
const py = hfPython();
const withPython = testIf('python' in py, 'skip' in py ? py.skip : '');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-hfparity-'));
const quiet = { HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_UPDATE_CHECK: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', TRANSFORMERS_VERBOSITY: 'error', HF_TOKEN: '' };

const CLIP = { image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711] };
const IMAGENET = { image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] };
const HALF = { image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };
/** The processor configs of the families (as their hub repositories publish them), and the other filters. */
const CONFIGS: Record<string, Record<string, unknown>> = {
  'dinov2 (Bit, shortest 256, crop 224, bicubic)': { image_processor_type: 'BitImageProcessor', size: { shortest_edge: 256 }, crop_size: { height: 224, width: 224 }, do_center_crop: true, resample: 3, ...IMAGENET, do_convert_rgb: true },
  'siglip (224×224, bicubic)': { image_processor_type: 'SiglipImageProcessor', size: { height: 224, width: 224 }, resample: 3, ...HALF },
  'ijepa/vit (224×224, bilinear)': { image_processor_type: 'ViTImageProcessor', size: { height: 224, width: 224 }, resample: 2, ...IMAGENET },
  'clip (shortest 224, crop 224)': { image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: 224 }, crop_size: { height: 224, width: 224 }, do_center_crop: true, resample: 3, ...CLIP },
  'deit (256×256, crop 224)': { image_processor_type: 'DeiTImageProcessor', size: { height: 256, width: 256 }, crop_size: { height: 224, width: 224 }, do_center_crop: true, resample: 3, ...HALF },
  'nearest': { image_processor_type: 'ViTImageProcessor', size: { height: 97, width: 131 }, resample: 0, ...HALF },
  'lanczos': { image_processor_type: 'ViTImageProcessor', size: { height: 97, width: 131 }, resample: 1, ...HALF },
  'box': { image_processor_type: 'ViTImageProcessor', size: { height: 97, width: 131 }, resample: 4, ...HALF },
  'hamming': { image_processor_type: 'ViTImageProcessor', size: { height: 97, width: 131 }, resample: 5, ...HALF },
  'crop larger than the image (pads)': { image_processor_type: 'BitImageProcessor', size: { shortest_edge: 64 }, crop_size: { height: 81, width: 90 }, do_center_crop: true, resample: 3, ...CLIP },
};
const SIZES: Array<[number, number]> = [[480, 640], [333, 517], [100, 80], [224, 224]];

withPython('preprocessing: transformers\' processors (PIL and torchvision backends) within 1/255 before normalisation', async () => {
  const cases: Array<{ name: string; H: number; W: number; caseDir: string; out: string; frames: Uint8Array; cfg: Record<string, unknown> }> = [];
  let k = 0;
  for (const [name, cfg] of Object.entries(CONFIGS)) {
    for (const [H, W] of SIZES) {
      const caseDir = path.join(dir, `case${k}`);
      fs.mkdirSync(caseDir);
      fs.writeFileSync(path.join(caseDir, 'preprocessor_config.json'), JSON.stringify(cfg));
      const frames = rand(2 * H * W * 3, 100 + k);
      const npy = path.join(caseDir, 'frames.npy');
      writeNpy(npy, { data: frames, shape: [2, H, W, 3] } as never);
      cases.push({ name, H, W, caseDir, out: path.join(caseDir, 'py'), frames, cfg });
      k++;
    }
  }
  const job = path.join(dir, 'job.json');
  fs.writeFileSync(job, JSON.stringify({ cases: cases.map((c) => ({ dir: c.caseDir, frames: path.join(c.caseDir, 'frames.npy'), out: c.out })) }));
  const r = await runAsync((py as { python: string }).python, [script, 'preprocess', job], quiet);
  assert.is(r.code, 0, r.stderr.slice(-2000));
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!) as { backends: string[]; transformers: string; pillow: string };
  console.log(`  transformers ${info.transformers}, Pillow ${info.pillow}, backends ${info.backends.join(', ')}`);
  const worstBy: Record<string, number> = {};
  let values = 0;
  let unequal = 0;
  for (const c of cases) {
    const cfg = imageProcessorConfig(c.cfg, c.name);
    const ours = await preprocessImages({ data: c.frames, shape: [2, c.H, c.W, 3] }, cfg);
    const mean = cfg.normalize!.mean;
    const std = cfg.normalize!.std;
    for (const backend of info.backends) {
      const theirs = readNpy(`${c.out}.${backend}.npy`);
      assert.equal(theirs.shape, ours.shape, `${c.name} ${c.H}×${c.W} ${backend}: shape`);
      const plane = ours.shape[2] * ours.shape[3];
      let worst = 0;
      for (let i = 0; i < ours.data.length; i++) {
        const ch = Math.floor(i / plane) % 3;
        // back to 0…255 units: x·std + mean, divided by the rescale factor
        const a = (ours.data[i] * std[ch] + mean[ch]) * 255;
        const b = ((theirs.data as Float32Array)[i] * std[ch] + mean[ch]) * 255;
        worst = Math.max(worst, Math.abs(a - b));
        values++;
        if (ours.data[i] !== (theirs.data as Float32Array)[i]) unequal++;
      }
      const key = `${backend}: ${c.name}`;
      worstBy[key] = Math.max(worstBy[key] ?? 0, worst);
      assert.ok(worst <= 1 + 1e-3, `${c.name} ${c.H}×${c.W} (${backend}): ${worst.toFixed(4)} / 255 apart`);
    }
  }
  for (const [key, w] of Object.entries(worstBy)) console.log(`  ${key}: largest difference ${w.toFixed(4)} / 255`);
  console.log(`  ${unequal} of ${values} pixel_values differ at all (float32 compared bit for bit)`);
});

withPython('cache: one cache serves huggingface_hub and feat2go, both ways, offline', async () => {
  const weights = rand(200_000, 4);
  const hub = await startFakeHub({ 'org/model': { files: { 'config.json': '{"model_type":"dinov2"}', 'onnx/model.onnx': weights } } });
  try {
    const files = ['config.json', 'onnx/model.onnx'];
    // Python downloads, feat2go reads offline
    const homeA = path.join(dir, 'homeA');
    const dl = await runAsync((py as { python: string }).python, [script, 'download', 'org/model', ...files], { ...quiet, HF_ENDPOINT: hub.endpoint, HF_HOME: homeA });
    assert.is(dl.code, 0, dl.stderr.slice(-2000));
    const pyPaths = JSON.parse(dl.stdout.trim().split('\n').pop()!) as string[];
    const before = hub.requests.length;
    for (const [i, f] of files.entries()) {
      const p = await hubFile('org/model', f, { cacheDir: path.join(homeA, 'hub'), offline: true });
      assert.is(p, pyPaths[i]);
    }
    assert.is(hub.requests.length, before);
    // feat2go downloads, Python reads offline
    const homeB = path.join(dir, 'homeB');
    const ours = [];
    for (const f of files) ours.push(await hubFile('org/model', f, { endpoint: hub.endpoint, cacheDir: path.join(homeB, 'hub'), token: null }));
    const mid = hub.requests.length;
    const cached = await runAsync((py as { python: string }).python, [script, 'cached', 'org/model', ...files], { ...quiet, HF_HOME: homeB, HF_HUB_OFFLINE: '1', HF_ENDPOINT: hub.endpoint });
    assert.is(cached.code, 0, cached.stderr.slice(-2000));
    assert.equal(JSON.parse(cached.stdout.trim().split('\n').pop()!), ours);
    assert.is(hub.requests.length, mid);
    assert.ok(Buffer.from(weights).equals(fs.readFileSync(ours[1])));
  } finally {
    await hub.close();
  }
});

test.run();
