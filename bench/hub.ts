// Image feature extractors by name (OnnxImageEncoder, the hub layout) on
// stand-in ViTs with random weights and the real models' shapes (real weights
// cannot be downloaded on the development machine):
// 1. overhead: OnnxImageEncoder.encode on a batch of frames vs calling
//    onnxruntime-node directly on the same model with an already preprocessed
//    [B, 3, 224, 224] tensor, paired rounds (each round times both, order
//    alternating), median ratio with its 10th–90th percentiles; and, when
//    @huggingface/transformers is installed (it is not a dependency; set
//    FEAT2GO_BENCH_TRANSFORMERS_JS to its folder), transformers.js on the same
//    model and tensor, and its image-feature-extraction pipeline on the frames;
// 2. frames/s of each family's stand-in through encodeFrames (480×640 frames,
//    bicubic resize, crop, batches of 8). BENCH_LARGE=1 adds I-JEPA ViT-H/14.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { encodeFrames, framesFromArray, OnnxImageEncoder, imageProcessorConfig, preprocessImages } from '../src/index.js';
import { vitModel, type VitSpec } from '../test/fixtures/onnx-models.js';
import { randomBytes } from '../src/core/random.js';
import { table } from './common.js';

const IMAGENET = { image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] };
const DINO_PRE = {
  image_processor_type: 'BitImageProcessor', size: { shortest_edge: 256 }, crop_size: { height: 224, width: 224 }, do_center_crop: true,
  resample: 3, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, ...IMAGENET, do_convert_rgb: true,
};
const SIGLIP_PRE = { image_processor_type: 'SiglipImageProcessor', size: { height: 224, width: 224 }, resample: 3, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] };
const VIT_PRE = { image_processor_type: 'ViTImageProcessor', size: { height: 224, width: 224 }, resample: 2, ...IMAGENET };

interface Family { name: string; spec: VitSpec; config: Record<string, unknown>; pre: Record<string, unknown>; large?: boolean }
const FAMILIES: Family[] = [
  { name: 'DINOv2 ViT-S/14', spec: { size: 224, patch: 14, dim: 384, depth: 12, heads: 6 }, config: { model_type: 'dinov2', patch_size: 14, hidden_size: 384 }, pre: DINO_PRE },
  { name: 'DINOv2 ViT-S/14 + 4 registers', spec: { size: 224, patch: 14, dim: 384, depth: 12, heads: 6, registers: 4 }, config: { model_type: 'dinov2_with_registers', patch_size: 14, hidden_size: 384, num_register_tokens: 4 }, pre: DINO_PRE },
  { name: 'DINOv2 ViT-B/14', spec: { size: 224, patch: 14, dim: 768, depth: 12, heads: 12 }, config: { model_type: 'dinov2', patch_size: 14, hidden_size: 768 }, pre: DINO_PRE },
  { name: 'SigLIP ViT-B/16 224 (vision tower)', spec: { size: 224, patch: 16, dim: 768, depth: 12, heads: 12, noCls: true }, config: { model_type: 'siglip_vision_model', patch_size: 16, hidden_size: 768 }, pre: SIGLIP_PRE },
  { name: 'I-JEPA ViT-H/14', spec: { size: 224, patch: 14, dim: 1280, depth: 32, heads: 16, mlp: 5120, noCls: true }, config: { model_type: 'ijepa', patch_size: 14, hidden_size: 1280 }, pre: VIT_PRE, large: true },
];

/** A model folder in the hub layout. */
function modelFolder(root: string, f: Family): string {
  const dir = join(root, f.name.replace(/[^\w]+/g, '-'));
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(f.config));
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(f.pre));
  // Large stand-ins keep their weights in model.onnx_data, as the hub's exports past 2 GB do.
  const external = f.large ? { file: join(dir, 'onnx', 'model.onnx_data'), location: 'model.onnx_data' } : undefined;
  writeFileSync(join(dir, 'onnx', 'model.onnx'), vitModel(f.spec, 7, external));
  return dir;
}

/** Smooth frames with sharp edges (a gradient, waves and a grid of bars), closer to camera images than noise. */
function patternFrames(T: number, H: number, W: number): { data: Uint8Array; shape: number[] } {
  const data = new Uint8Array(T * H * W * 3);
  for (let t = 0; t < T; t++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const bar = (Math.floor((x + 7 * t) / 40) + Math.floor(y / 40)) % 2 ? 40 : -40;
        for (let c = 0; c < 3; c++) {
          const v = 110 + 0.1 * x + 50 * Math.sin((x + 13 * c) / 17) * Math.cos(y / 23) + bar;
          data[((t * H + y) * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return { data, shape: [T, H, W, 3] };
}

const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Paired rounds: per round, time `a` and `b` (order alternating); returns the median of a/b and its 10th/90th percentiles. */
async function paired(a: () => Promise<unknown>, b: () => Promise<unknown>, rounds: number): Promise<{ median: number; lo: number; hi: number; aMs: number; bMs: number }> {
  await a(); await b(); // warm-up
  const ratios: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let ta: number;
    let tb: number;
    if (r % 2 === 0) { ta = await timeMs(a); tb = await timeMs(b); } else { tb = await timeMs(b); ta = await timeMs(a); }
    as.push(ta); bs.push(tb); ratios.push(ta / tb);
  }
  return { median: quantile(ratios, 0.5), lo: quantile(ratios, 0.1), hi: quantile(ratios, 0.9), aMs: quantile(as, 0.5), bMs: quantile(bs, 0.5) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function transformersJs(): Promise<any | undefined> {
  const where = process.env.FEAT2GO_BENCH_TRANSFORMERS_JS;
  try {
    return where ? await import(pathToFileURL(join(where, 'dist', 'transformers.node.mjs')).href) : await import('@huggingface/transformers' as string);
  } catch {
    return undefined;
  }
}

export async function run(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'f2g-bench-hub-'));
  const B = 8;
  const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
  // onnxruntime intra-op threads for the overhead comparison (BENCH_ORT_THREADS, default 1: on a
  // shared machine a single thread per session varies far less than spinning thread pools).
  const threads = Number(process.env.BENCH_ORT_THREADS ?? 1);
  const dino = FAMILIES[0];
  const dir = modelFolder(root, dino);
  const enc = await OnnxImageEncoder.load(dir, { batchSize: B, threads, executionProviders: ['cpu'] });
  const direct = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads });
  const crop = { data: randomBytes(B * 256 * 256 * 3, 1), shape: [B, 256, 256, 3] };
  const vga = { data: randomBytes(B * 480 * 640 * 3, 2), shape: [B, 480, 640, 3] };
  const pixels = await preprocessImages(vga, imageProcessorConfig(DINO_PRE, 'dino'));
  const feed = { pixel_values: new ort.Tensor('float32', pixels.data, pixels.shape) };
  const runDirect = () => direct.run(feed);

  console.log(`\n### hub encoders: ${dino.name} stand-in (random weights), batch ${B}, ${enc.executionProvider}, ${threads} onnxruntime thread(s); ${rounds} paired rounds\n`);
  console.log('| case | median ms | ratio to onnxruntime-node direct (median, p10–p90) |');
  console.log('|---|---:|---|');
  const rows: Array<[string, () => Promise<unknown>]> = [
    [`OnnxImageEncoder.encode, ${B} frames 256² (crop + normalise) → [${B}, 256, 384]`, () => enc.encode(crop)],
    [`OnnxImageEncoder.encode, ${B} frames 480×640 (bicubic resize + crop) → [${B}, 256, 384]`, () => enc.encode(vga)],
  ];
  const tjs = await transformersJs();
  let tjsModel: { (x: unknown): Promise<unknown>; dispose?: () => Promise<void> } | undefined;
  if (tjs) {
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = root;
    const name = dir.slice(root.length + 1);
    const sessionOptions = { intraOpNumThreads: threads };
    const model = await tjs.AutoModel.from_pretrained(name, { dtype: 'fp32', device: 'cpu', session_options: sessionOptions });
    const tensor = new tjs.Tensor('float32', pixels.data, pixels.shape);
    tjsModel = (x: unknown) => model(x);
    rows.push([`transformers.js ${tjs.env.version} AutoModel on the same [${B}, 3, 224, 224] tensor`, () => model({ pixel_values: tensor })]);
    const pipe = await tjs.pipeline('image-feature-extraction', name, { dtype: 'fp32', device: 'cpu', session_options: sessionOptions });
    const images = Array.from({ length: B }, (_, i) => new tjs.RawImage(vga.data.subarray(i * 480 * 640 * 3, (i + 1) * 480 * 640 * 3), 640, 480, 3));
    rows.push([`transformers.js pipeline('image-feature-extraction'), ${B} RawImages 480×640`, () => pipe(images)]);
  } else {
    console.log('(transformers.js rows skipped: @huggingface/transformers is not installed; set FEAT2GO_BENCH_TRANSFORMERS_JS to its folder)\n');
  }
  const base = await paired(runDirect, runDirect, 1);
  console.log(`| onnxruntime-node InferenceSession.run, ready [${B}, 3, 224, 224] tensor | ${base.aMs.toFixed(1)} | 1 |`);
  for (const [name, fn] of rows) {
    const r = await paired(fn, runDirect, rounds);
    console.log(`| ${name} | ${r.aMs.toFixed(1)} | ${r.median.toFixed(3)} (${r.lo.toFixed(3)}–${r.hi.toFixed(3)}) |`);
  }
  void tjsModel;
  if (tjs) {
    // How far transformers.js' preprocessing (sharp) is from Pillow's, which OnnxImageEncoder matches:
    // on the random frames above, and on smooth frames with edges (closer to camera images).
    const name = dir.slice(root.length + 1);
    const proc = await tjs.AutoProcessor.from_pretrained(name);
    const cfg = imageProcessorConfig(DINO_PRE, 'dino');
    for (const [what, frames] of [['random', vga], ['smooth with edges', patternFrames(B, 480, 640)]] as const) {
      const ours = await preprocessImages(frames, cfg);
      const images = Array.from({ length: B }, (_, i) => new tjs.RawImage(frames.data.subarray(i * 480 * 640 * 3, (i + 1) * 480 * 640 * 3), 640, 480, 3));
      const theirs = (await proc(images)).pixel_values;
      const std = IMAGENET.image_std;
      const plane = 224 * 224;
      let worst = 0;
      let sum = 0;
      let over = 0;
      for (let i = 0; i < ours.data.length; i++) {
        const d = Math.abs(ours.data[i] - theirs.data[i]) * std[Math.floor(i / plane) % 3] * 255;
        worst = Math.max(worst, d);
        sum += d;
        if (d > 1 + 1e-3) over++;
      }
      console.log(`\ntransformers.js preprocessing of ${B} ${what} 480×640 frames (DINOv2 config: bicubic shortest edge 256, crop 224) vs Pillow's (= OnnxImageEncoder's): ` +
        `largest difference ${worst.toFixed(1)}/255, mean ${(sum / ours.data.length).toFixed(2)}/255, ${(100 * over / ours.data.length).toFixed(1)}% of values more than 1/255 apart`);
    }
  }
  await enc.dispose();
  await direct.release();

  // frames/s per family
  const T = 16;
  const episode = framesFromArray({ data: randomBytes(T * 480 * 640 * 3, 3), shape: [T, 480, 640, 3] });
  const cases = [];
  const encoders: OnnxImageEncoder[] = [];
  const large: Family[] = [];
  for (const f of FAMILIES) {
    if (f.large) { large.push(f); continue; }
    const e = await OnnxImageEncoder.load(modelFolder(root, f), { batchSize: B });
    encoders.push(e);
    cases.push({ name: `${f.name}: ${T} frames 480×640 → encodeFrames`, async: true, fn: () => encodeFrames(episode, e) });
  }
  const timed = await table(`hub encoder stand-ins: ${T} frames 480×640 through encodeFrames, batch ${B}`, cases);
  console.log('');
  timed.forEach((r, i) => {
    const e = encoders[i];
    console.log(`- ${r.name}: ${(T / (r.ms / 1000)).toFixed(2)} frames/s, features [${T}, ${(224 / e.patchSize) ** 2}, ${e.hiddenSize}]`);
  });
  for (const e of encoders) await e.dispose();
  for (const f of large) {
    if (process.env.BENCH_LARGE !== '1') { console.log(`- ${f.name}: not run (BENCH_LARGE=1 runs it: weights of several GB, minutes per frame batch)`); continue; }
    const e = await OnnxImageEncoder.load(modelFolder(root, f), { batchSize: 4 });
    const few = framesFromArray({ data: randomBytes(4 * 480 * 640 * 3, 4), shape: [4, 480, 640, 3] });
    await encodeFrames(few, e); // warm-up
    const ms = await timeMs(() => encodeFrames(few, e));
    console.log(`- ${f.name}: 4 frames 480×640 → encodeFrames (one timed run, weights in model.onnx_data): ${(4 / (ms / 1000)).toFixed(3)} frames/s, features [4, ${(224 / e.patchSize) ** 2}, ${e.hiddenSize}]`);
    await e.dispose();
  }
  rmSync(root, { recursive: true, force: true });
}
