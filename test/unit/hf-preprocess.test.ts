// The hub image preprocessing (preprocessor_config.json → pixel_values):
// config parsing with transformers' defaults, output sizes, hand-computed
// pixels for each step (crop offsets, zero padding, Pillow's fixed-point
// bilinear / box / bicubic / nearest), and random images against the
// independent reference in test/reference/pil-resize.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { imageProcessorConfig, preprocessImages, resizedSize, processedSize } from '../../src/index.js';
import { centerCrop, pilResize, toPixelValues } from '../reference/pil-resize.js';
import { rand } from '../helpers/data.js';

const RAW = { do_rescale: false, do_normalize: false };

/** Asserts that `fn()` rejects with an error of `type` whose message matches `re`. */
async function rejects(fn: () => Promise<unknown>, type: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, type);
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

/** Preprocesses one RGB image given as rows of [r, g, b] triples. */
async function run(cfgJson: Record<string, unknown>, img: Uint8Array, H: number, W: number) {
  const cfg = imageProcessorConfig(cfgJson, 'test');
  return preprocessImages({ data: img, shape: [1, H, W, 3] }, cfg);
}

/** An image whose three channels hold the same row values. */
function grey(H: number, W: number, v: (y: number, x: number) => number): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out.fill(v(y, x), (y * W + x) * 3, (y * W + x) * 3 + 3);
  return out;
}

test('config: DINOv2 (BitImageProcessor), SigLIP, ViT and legacy forms resolve as transformers does', () => {
  const dino = imageProcessorConfig({
    crop_size: { height: 224, width: 224 }, do_center_crop: true, do_convert_rgb: true, do_normalize: true, do_rescale: true, do_resize: true,
    image_mean: [0.485, 0.456, 0.406], image_processor_type: 'BitImageProcessor', image_std: [0.229, 0.224, 0.225], resample: 3,
    rescale_factor: 0.00392156862745098, size: { shortest_edge: 256 },
  }, 'dinov2');
  assert.equal(dino, {
    processor: 'BitImageProcessor', resize: { shortestEdge: 256 }, resample: 3, crop: { height: 224, width: 224 },
    rescale: 0.00392156862745098, normalize: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  });
  const siglip = imageProcessorConfig({ image_processor_type: 'SiglipImageProcessor', size: { height: 384, width: 384 }, resample: 3, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }, 'siglip');
  assert.equal(siglip.resize, { height: 384, width: 384 });
  assert.is(siglip.crop, null);
  // ViT with an integer size: a square; the class default resample is bilinear (2), mean/std 0.5
  const vit = imageProcessorConfig({ image_processor_type: 'ViTImageProcessorFast', size: 224 }, 'vit');
  assert.equal([vit.resize, vit.resample, vit.normalize], [{ height: 224, width: 224 }, 2, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }]);
  // Bit with an integer size: the shortest edge; legacy feature_extractor_type; crop_size as an integer
  const legacy = imageProcessorConfig({ feature_extractor_type: 'BitFeatureExtractor', size: 256, crop_size: 224 }, 'legacy');
  assert.equal([legacy.processor, legacy.resize, legacy.crop, legacy.resample], ['BitImageProcessor', { shortestEdge: 256 }, { height: 224, width: 224 }, 3]);
  // no processor named: model_type decides (I-JEPA → ViT processor)
  assert.is(imageProcessorConfig({ size: { height: 224, width: 224 } }, 'x', 'ijepa').processor, 'ViTImageProcessor');
  // everything off
  assert.equal(imageProcessorConfig({ do_resize: false, do_rescale: false, do_normalize: false }, 'x'), {
    processor: 'unknown', resize: null, resample: 2, crop: null, rescale: null, normalize: null,
  });
});

test('config: what feat2go does not implement, and malformed values, are errors naming the key', () => {
  assert.throws(() => imageProcessorConfig({ do_pad: true, size: 224 }, 'p.json'), /p\.json: do_pad is true/);
  assert.throws(() => imageProcessorConfig({ image_processor_type: 'ConvNextImageProcessor', crop_pct: 0.875, size: { shortest_edge: 224 } }, 'p.json'), /crop_pct/);
  assert.throws(() => imageProcessorConfig({ size: { max_height: 10, max_width: 10 } }, 'p.json'), /size has keys \{max_height,max_width\}/);
  assert.throws(() => imageProcessorConfig({ size: 224, resample: 7 }, 'p.json'), /resample must be a Pillow filter number/);
  assert.throws(() => imageProcessorConfig({ size: 224, image_mean: [0.5, 0.5], image_std: [1, 1, 1] }, 'p.json'), /image_mean must be three finite numbers/);
  assert.throws(() => imageProcessorConfig({ size: 224, image_mean: [0, 0, 0], image_std: [1, 0, 1] }, 'p.json'), /image_std must be three numbers > 0/);
  assert.throws(() => imageProcessorConfig({ size: 0 }, 'p.json'), /size.height must be a whole number/);
  assert.throws(() => imageProcessorConfig({ size: 224 }, 'p.json'), /no image_mean/); // an unknown class has no default mean
  assert.throws(() => imageProcessorConfig([1], 'p.json'), /expected a JSON object, found an array/);
  assert.throws(() => imageProcessorConfig({ do_resize: 'yes' }, 'p.json'), /do_resize must be true or false/);
});

test('sizes: shortest edge truncates the long side; longest edge caps it (round half to even); height × width as given', () => {
  assert.equal(resizedSize(480, 640, { shortestEdge: 256 }), [256, 341]); // 256·640/480 = 341.33
  assert.equal(resizedSize(640, 480, { shortestEdge: 256 }), [341, 256]);
  assert.equal(resizedSize(300, 300, { shortestEdge: 224 }), [224, 224]);
  assert.equal(resizedSize(100, 150, { shortestEdge: 224 }), [224, 336]); // upscaling
  assert.equal(resizedSize(480, 640, { height: 224, width: 224 }), [224, 224]);
  // longest edge 400: 640/480·300 = 400 is not above it → 300 × 400
  assert.equal(resizedSize(480, 640, { shortestEdge: 300, longestEdge: 400 }), [300, 400]);
  // 1000 × 100, shortest 50, longest 300: 1000/100·50 = 500 > 300 → raw = 300·100/1000 = 30 → [300, 30]
  assert.equal(resizedSize(1000, 100, { shortestEdge: 50, longestEdge: 300 }), [300, 30]);
  // raw 12.5 rounds to 12 (half to even): 800 × 100, longest 100, shortest 20 → short side 12, long int(12.5·8) = 100
  assert.equal(resizedSize(800, 100, { shortestEdge: 20, longestEdge: 100 }), [100, 12]);
  const dino = imageProcessorConfig({ image_processor_type: 'BitImageProcessor', size: { shortest_edge: 256 }, crop_size: { height: 224, width: 224 } }, 'x');
  assert.equal(processedSize(480, 640, dino), [224, 224]);
});

test('pixels: no resize, centre crop at floor((size − crop)/2), rescale and normalise in float32 (hand-computed)', async () => {
  const img = new Uint8Array(4 * 4 * 3);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 3; c++) img[(y * 4 + x) * 3 + c] = 10 * y + x + 100 * c;
  const out = await run({ do_resize: false, do_center_crop: true, crop_size: { height: 2, width: 3 }, rescale_factor: 1 / 255, image_mean: [0.5, 0.25, 0], image_std: [0.25, 0.5, 2] }, img, 4, 4);
  assert.equal(out.shape, [1, 3, 2, 3]);
  // rows 1..2 (top = 1), columns 0..2 (left = floor(1/2) = 0)
  const f = Math.fround;
  const want = (y: number, x: number, c: number) => {
    const v = f((10 * y + x + 100 * c) / 255);
    return f(f(v - f([0.5, 0.25, 0][c])) / f([0.25, 0.5, 2][c]));
  };
  for (let c = 0; c < 3; c++) for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) assert.is(out.data[c * 6 + y * 3 + x], want(y + 1, x, c), `c${c} y${y} x${x}`);
  // e.g. channel 0 at (1, 0): 10/255 = 0.0392157 → (0.0392157 − 0.5) / 0.25 = −1.8431373
  assert.ok(Math.abs(out.data[0] - -1.8431373) < 1e-6);
});

test('pixels: a crop larger than the image pads with zeros, the image placed at ceil((crop − size)/2)', async () => {
  const img = new Uint8Array(2 * 3 * 3).map((_, i) => 1 + i); // 2 × 3, values 1…18
  const out = await run({ ...RAW, do_resize: false, do_center_crop: true, crop_size: { height: 3, width: 4 } }, img, 2, 3);
  assert.equal(out.shape, [1, 3, 3, 4]);
  // top = floor((2 − 3)/2) = −1, left = floor((3 − 4)/2) = −1: output (y, x) = source (y − 1, x − 1)
  const px = (c: number, y: number, x: number) => out.data[c * 12 + y * 4 + x];
  for (let x = 0; x < 4; x++) assert.is(px(0, 0, x), 0);
  for (let y = 0; y < 3; y++) assert.is(px(1, y, 0), 0);
  assert.is(px(0, 1, 1), img[0]);
  assert.is(px(2, 2, 3), img[(1 * 3 + 2) * 3 + 2]);
});

test('pixels: Pillow bilinear 4 → 2 (antialiased: 3 taps of weight 3/7, 3/7, 1/7), hand-computed', async () => {
  const img = grey(1, 4, (_, x) => [0, 100, 200, 255][x]);
  const out = await run({ ...RAW, size: { height: 1, width: 2 }, resample: 2 }, img, 1, 4);
  // left: (0·3 + 100·3 + 200·1)/7 = 71.43 → 71; right: (100·1 + 200·3 + 255·3)/7 = 209.29 → 209
  assert.equal(Array.from(out.data.subarray(0, 2)), [71, 209]);
});

test('pixels: Pillow box 4 → 2 averages pairs, halves rounding up; nearest picks floor((i + ½)·step)', async () => {
  const box = await run({ ...RAW, size: { height: 1, width: 2 }, resample: 4 }, grey(1, 4, (_, x) => [10, 21, 30, 41][x]), 1, 4);
  assert.equal(Array.from(box.data.subarray(0, 2)), [16, 36]); // 15.5 → 16, 35.5 → 36
  const down = await run({ ...RAW, size: { height: 1, width: 2 }, resample: 0 }, grey(1, 5, (_, x) => 10 * x), 1, 5);
  assert.equal(Array.from(down.data.subarray(0, 2)), [10, 30]); // positions 1.25, 3.75
  const up = await run({ ...RAW, size: { height: 1, width: 5 }, resample: 0 }, grey(1, 2, (_, x) => 7 + x), 1, 2);
  assert.equal(Array.from(up.data.subarray(0, 5)), [7, 7, 8, 8, 8]); // positions 0.2, 0.6, 1.0, 1.4, 1.8
});

test('pixels: Pillow bicubic (a = −0.5) 2 → 4 of a step edge overshoots and clips, hand-computed', async () => {
  const out = await run({ ...RAW, size: { height: 1, width: 4 }, resample: 3 }, grey(1, 2, (_, x) => 255 * x), 1, 2);
  // weights at centres 0.25, 0.75, 1.25, 1.75 (normalised over the two pixels):
  // −0.088 → clip 0; 0.2071·255 = 52.8 → 53; 0.7929·255 = 202.2 → 202; 1.088·255 → clip 255
  assert.equal(Array.from(out.data.subarray(0, 4)), [0, 53, 202, 255]);
});

test('pixels: random images, every filter, resize + crop + normalise match the reference (bytes exact)', async () => {
  const cases: Array<[number, number, Record<string, unknown>]> = [
    [37, 53, { size: { shortest_edge: 24 }, crop_size: { height: 20, width: 20 }, do_center_crop: true }],
    [40, 30, { size: { shortest_edge: 64 }, crop_size: { height: 56, width: 48 }, do_center_crop: true }], // upscale
    [25, 61, { size: { height: 16, width: 16 } }],
    [31, 17, { size: { height: 31, width: 9 } }], // vertical pass skipped
    [12, 12, { size: { height: 29, width: 12 } }], // horizontal pass skipped
    [20, 24, { size: { shortest_edge: 20 }, crop_size: { height: 26, width: 30 }, do_center_crop: true }], // crop larger: pads
  ];
  let seed = 5;
  for (const [H, W, size] of cases) {
    for (const resample of [0, 1, 2, 3, 4, 5]) {
      const img = rand(2 * H * W * 3, seed++);
      const json = { ...size, resample, rescale_factor: 1 / 255, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] };
      const cfg = imageProcessorConfig(json, 'case');
      const out = await preprocessImages({ data: img, shape: [2, H, W, 3] }, cfg);
      const [rh, rw] = resizedSize(H, W, cfg.resize);
      const [oh, ow] = processedSize(H, W, cfg);
      assert.equal(out.shape, [2, 3, oh, ow]);
      for (let t = 0; t < 2; t++) {
        let ref = pilResize(img.subarray(t * H * W * 3, (t + 1) * H * W * 3), H, W, rh, rw, resample);
        if (cfg.crop) ref = centerCrop(ref, rh, rw, oh, ow);
        const want = toPixelValues(ref, oh, ow, cfg.rescale, cfg.normalize!.mean, cfg.normalize!.std);
        const got = out.data.subarray(t * 3 * oh * ow, (t + 1) * 3 * oh * ow);
        // Lanczos and Hamming weights go through sin/cos: V8's and the C library's may differ in the
        // last bit, moving a byte by one at most; the other filters are exact.
        const tol = resample === 1 || resample === 5 ? 1.01 / 255 / 0.224 : 0;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        assert.ok(worst <= tol, `${H}×${W} ${JSON.stringify(size)} resample ${resample} frame ${t}: max diff ${worst}`);
      }
    }
  }
});

test('preprocessImages: bad frames are TypeError/RangeError naming frames', async () => {
  const cfg = imageProcessorConfig({ size: { height: 4, width: 4 }, image_mean: [0, 0, 0], image_std: [1, 1, 1] }, 'x');
  await rejects(() => preprocessImages({ data: new Float32Array(12) as unknown as Uint8Array, shape: [1, 2, 2, 3] }, cfg), TypeError, /frames/);
  await rejects(() => preprocessImages({ data: new Uint8Array(12), shape: [1, 2, 2, 4] }, cfg), RangeError, /frames\.shape \[n, H, W, 3\]/);
  await rejects(() => preprocessImages({ data: new Uint8Array(11), shape: [1, 2, 2, 3] }, cfg), RangeError, /hold 12 bytes/);
  await rejects(() => preprocessImages({ data: new Uint8Array(12), shape: [1, 2, 2, 3] }, cfg, { threads: -1 }), RangeError, /opts\.threads/);
});

test.run();
