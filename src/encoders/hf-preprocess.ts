// Image preprocessing as a model hub repository's preprocessor_config.json
// describes it, with the semantics of transformers' image processors (PIL
// backend): resize (shortest edge, shortest/longest edge, or height × width)
// with the named Pillow filter, centre crop (zero padding when the crop is
// larger), rescale, normalise; frames come in as RGB uint8. The pixel work is
// the C++ kernel native/kernels/resample.cc, run off the main thread.
import { native } from '../core/native.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkOptions, shapeStr, typeError } from '../core/validate.js';

/** Pillow's resampling filters by number (`resample` in preprocessor_config.json). */
export const RESAMPLE_FILTERS = Object.freeze(['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'] as const);

/** How frames are resized before the crop. */
export type ImageResize =
  | { shortestEdge: number; longestEdge?: number }
  | { height: number; width: number };

/** A resolved preprocessor_config.json (see {@link imageProcessorConfig}). */
export interface ImageProcessorConfig {
  /** The processor class the file names (e.g. 'BitImageProcessor'), or 'unknown'. */
  processor: string;
  /** Resize rule, or null when `do_resize` is false. */
  resize: ImageResize | null;
  /** Pillow filter number 0…5 ({@link RESAMPLE_FILTERS}). */
  resample: number;
  /** Centre crop, or null when `do_center_crop` is false. */
  crop: { height: number; width: number } | null;
  /** Multiplier of the 0…255 values, or null when `do_rescale` is false. */
  rescale: number | null;
  /** Per-channel mean and std, or null when `do_normalize` is false. */
  normalize: { mean: [number, number, number]; std: [number, number, number] } | null;
}

interface ClassDefaults {
  resample: number;
  mean?: number[];
  std?: number[];
  size?: Record<string, number>;
  squareInt: boolean;
  crop?: Record<string, number>;
  doCrop: boolean;
}

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];
const HALF = [0.5, 0.5, 0.5];

/** Class defaults of the processors of the model families feat2go loads from the hub (transformers 5). */
const CLASS_DEFAULTS: Record<string, ClassDefaults> = {
  BitImageProcessor: { resample: 3, mean: CLIP_MEAN, std: CLIP_STD, size: { shortest_edge: 224 }, squareInt: false, crop: { height: 224, width: 224 }, doCrop: true },
  CLIPImageProcessor: { resample: 3, mean: CLIP_MEAN, std: CLIP_STD, size: { shortest_edge: 224 }, squareInt: false, crop: { height: 224, width: 224 }, doCrop: true },
  ViTImageProcessor: { resample: 2, mean: HALF, std: HALF, size: { height: 224, width: 224 }, squareInt: true, doCrop: false },
  SiglipImageProcessor: { resample: 3, mean: HALF, std: HALF, size: { height: 224, width: 224 }, squareInt: false, doCrop: false },
  DeiTImageProcessor: { resample: 3, mean: HALF, std: HALF, size: { height: 256, width: 256 }, squareInt: true, crop: { height: 224, width: 224 }, doCrop: true },
};

/** The processor transformers picks for a model type when the file names none. */
const MODEL_TYPE_PROCESSOR: Record<string, string> = {
  dinov2: 'BitImageProcessor', dinov2_with_registers: 'BitImageProcessor', dinov3_vit: 'ViTImageProcessor',
  ijepa: 'ViTImageProcessor', vit: 'ViTImageProcessor', siglip: 'SiglipImageProcessor',
  siglip_vision_model: 'SiglipImageProcessor', clip: 'CLIPImageProcessor', clip_vision_model: 'CLIPImageProcessor', deit: 'DeiTImageProcessor',
};

function processorClass(cfg: Record<string, unknown>, modelType: string | undefined): string {
  const named = typeof cfg.image_processor_type === 'string' ? cfg.image_processor_type
    : typeof cfg.feature_extractor_type === 'string' ? cfg.feature_extractor_type.replace(/FeatureExtractor$/, 'ImageProcessor') : undefined;
  if (named) return named.replace(/(Fast|Pil)$/, '');
  return (modelType && MODEL_TYPE_PROCESSOR[modelType]) || 'unknown';
}

/**
 * Reads preprocessor_config.json (already parsed) the way transformers' image
 * processors do: keys the file leaves out take the processor class's defaults
 * (BitImageProcessor, CLIPImageProcessor, ViTImageProcessor, SiglipImageProcessor,
 * DeiTImageProcessor), an integer `size` means a square or a shortest edge as that
 * class decides, and `crop_size` as an integer is a square. Settings feat2go does
 * not implement (padding, `crop_pct`, `max_height`/`max_width`) are errors rather
 * than silently different pixels.
 *
 * @param json the parsed file
 * @param source names the file in error messages
 * @param modelType config.json's `model_type`, used when the file names no processor class
 * @throws {Error} naming `source` and the key for a value that is missing, malformed or unsupported
 * @example
 * const cfg = imageProcessorConfig(JSON.parse(readFileSync('preprocessor_config.json', 'utf8')), 'preprocessor_config.json');
 * // DINOv2: { resize: { shortestEdge: 256 }, resample: 3, crop: { height: 224, width: 224 }, rescale: 1/255, … }
 */
export function imageProcessorConfig(json: unknown, source: string, modelType?: string): ImageProcessorConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${source}: expected a JSON object, found ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  const cfg = json as Record<string, unknown>;
  const processor = processorClass(cfg, modelType);
  const d: ClassDefaults = CLASS_DEFAULTS[processor] ?? { resample: 2, squareInt: true, doCrop: false };
  const bad = (key: string, expected: string): never => {
    throw new Error(`${source}: ${key} must be ${expected} but is ${JSON.stringify(cfg[key])}`);
  };
  const flag = (key: string, dflt: boolean): boolean => {
    const v = cfg[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') bad(key, 'true or false');
    return v as boolean;
  };
  const side = (v: unknown, key: string): number => {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 32768) bad(key, 'a whole number of pixels from 1 to 32768');
    return v as number;
  };
  if (flag('do_pad', false)) throw new Error(`${source}: do_pad is true; padding to a fixed size is not supported (feat2go feeds one frame size per episode)`);
  if (cfg.crop_pct !== undefined && cfg.crop_pct !== null && processor !== 'BitImageProcessor' && processor !== 'CLIPImageProcessor') {
    throw new Error(`${source}: crop_pct (${JSON.stringify(cfg.crop_pct)}) of ${processor} is not supported; feat2go implements shortest_edge / height×width resizes with a centre crop`);
  }

  let resize: ImageResize | null = null;
  if (flag('do_resize', true)) {
    let size = cfg.size ?? d.size;
    const key = cfg.size === undefined ? `size (the ${processor} default)` : 'size';
    if (size === undefined || size === null) throw new Error(`${source}: do_resize is true but there is no size`);
    if (typeof size === 'number') size = d.squareInt ? { height: size, width: size } : { shortest_edge: size };
    else if (Array.isArray(size) && size.length === 2) size = { height: size[0], width: size[1] };
    if (typeof size !== 'object' || size === null || Array.isArray(size)) bad('size', 'a number, [height, width] or an object');
    const s = size as Record<string, unknown>;
    const keys = Object.keys(s).filter((k) => s[k] !== null && s[k] !== undefined).sort().join(',');
    if (keys === 'shortest_edge') resize = { shortestEdge: side(s.shortest_edge, `${key}.shortest_edge`) };
    else if (keys === 'longest_edge,shortest_edge') {
      resize = { shortestEdge: side(s.shortest_edge, `${key}.shortest_edge`), longestEdge: side(s.longest_edge, `${key}.longest_edge`) };
    } else if (keys === 'height,width') resize = { height: side(s.height, `${key}.height`), width: side(s.width, `${key}.width`) };
    else throw new Error(`${source}: ${key} has keys {${keys}}; supported: {shortest_edge}, {shortest_edge, longest_edge} or {height, width}`);
  }

  const r = cfg.resample ?? d.resample;
  if (!Number.isInteger(r) || (r as number) < 0 || (r as number) > 5) bad('resample', `a Pillow filter number 0…5 (${RESAMPLE_FILTERS.map((f, i) => `${i} ${f}`).join(', ')})`);

  let crop: ImageProcessorConfig['crop'] = null;
  if (flag('do_center_crop', d.doCrop)) {
    let c = cfg.crop_size ?? d.crop;
    if (c === undefined || c === null) throw new Error(`${source}: do_center_crop is true but there is no crop_size`);
    if (typeof c === 'number') c = { height: c, width: c };
    else if (Array.isArray(c) && c.length === 2) c = { height: c[0], width: c[1] };
    const o = c as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || o.height === undefined || o.width === undefined) bad('crop_size', 'a number or { height, width }');
    crop = { height: side(o.height, 'crop_size.height'), width: side(o.width, 'crop_size.width') };
  }

  let rescale: number | null = null;
  if (flag('do_rescale', true)) {
    const f = cfg.rescale_factor ?? 1 / 255;
    if (typeof f !== 'number' || !Number.isFinite(f)) bad('rescale_factor', 'a finite number');
    rescale = f as number;
  }

  let normalize: ImageProcessorConfig['normalize'] = null;
  if (flag('do_normalize', true)) {
    const triple = (key: 'image_mean' | 'image_std', dflt: number[] | undefined): [number, number, number] => {
      let v = cfg[key] ?? dflt;
      if (v === undefined) throw new Error(`${source}: do_normalize is true but there is no ${key} (and ${processor} has no default)`);
      if (typeof v === 'number') v = [v, v, v];
      if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) bad(key, 'three finite numbers (R, G, B) or one number');
      return v as [number, number, number];
    };
    const mean = triple('image_mean', d.mean);
    const std = triple('image_std', d.std);
    if (!std.every((x) => x > 0)) bad('image_std', 'three numbers > 0');
    normalize = { mean, std };
  }
  return { processor, resize, resample: r as number, crop, rescale, normalize };
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The size `[height, width]` a frame of `H × W` has after the resize step, by
 * transformers' rules: a shortest edge `s` scales the short side to `s` and the
 * long side to ⌊s · long / short⌋; with a longest edge too, the short side is
 * first lowered so the long side stays within it (DETR's rule); height × width is
 * taken as is.
 *
 * @example
 * resizedSize(480, 640, { shortestEdge: 256 });   // [256, 341]
 */
export function resizedSize(H: number, W: number, resize: ImageResize | null): [number, number] {
  checkInt(H, 'H', 1);
  checkInt(W, 'W', 1);
  if (resize === null) return [H, W];
  if ('height' in resize) return [resize.height, resize.width];
  const size = resize.shortestEdge;
  if (resize.longestEdge === undefined) {
    const [short, long] = W <= H ? [W, H] : [H, W];
    const newLong = Math.trunc(size * long / short);
    return W <= H ? [newLong, size] : [size, newLong];
  }
  // transformers' get_size_with_aspect_ratio
  const maxSize = resize.longestEdge;
  let s = size;
  let raw: number | undefined;
  const minO = Math.min(H, W);
  const maxO = Math.max(H, W);
  if (maxO / minO * s > maxSize) {
    raw = maxSize * minO / maxO;
    s = roundHalfEven(raw);
  }
  if ((H <= W && H === s) || (W <= H && W === s)) return [H, W];
  if (W < H) return [Math.trunc((raw ?? s) * H / W), s];
  return [s, Math.trunc((raw ?? s) * W / H)];
}

/** The size `[height, width]` of a preprocessed frame of `H × W` (after resize and crop). */
export function processedSize(H: number, W: number, cfg: ImageProcessorConfig): [number, number] {
  return cfg.crop ? [cfg.crop.height, cfg.crop.width] : resizedSize(H, W, cfg.resize);
}

/** Options of {@link preprocessImages}. */
export interface PreprocessImagesOptions {
  /** Threads of the shared C++ pool to use (0 = all, the default). */
  threads?: number;
}

/**
 * Preprocesses RGB frames as the hub processor `cfg` does (transformers' PIL
 * backend): `[n, H, W, 3]` uint8 → `pixel_values` `[n, 3, h, w]` float32. The
 * resize is Pillow's own algorithm (the same bytes as `Image.resize`), the crop
 * offsets, rescale and normalisation follow transformers' numpy code; frames run
 * in parallel in C++, off the main thread.
 *
 * @throws {TypeError|RangeError} for frames that are not a `[n, H, W, 3]` uint8 tensor
 * @example
 * const cfg = imageProcessorConfig(json, 'preprocessor_config.json');
 * const px = await preprocessImages({ data: frames, shape: [8, 480, 640, 3] }, cfg);   // [8, 3, 224, 224]
 */
export async function preprocessImages(frames: { data: Uint8Array; shape: number[] }, cfg: ImageProcessorConfig, opts?: PreprocessImagesOptions): Promise<Tensor> {
  const o = checkOptions(opts, 'opts', { threads: 1 });
  if (frames === null || typeof frames !== 'object' || !(frames.data instanceof Uint8Array)) throw typeError('frames', 'a { data: Uint8Array, shape: [n, H, W, 3] } tensor', frames);
  const s = frames.shape;
  if (!Array.isArray(s) || s.length !== 4 || s[3] !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`Expected frames.shape [n, H, W, 3] (RGB, sizes ≥ 1) but received ${Array.isArray(s) ? shapeStr(s) : typeof s}`);
  }
  const [n, H, W] = s;
  if (frames.data.length !== n * H * W * 3) throw new RangeError(`Expected frames.data to hold ${n * H * W * 3} bytes for shape ${shapeStr(s)} but received ${frames.data.length}`);
  const threads = o.threads === undefined ? 0 : checkInt(o.threads, 'opts.threads', 0, 4096);
  const [rh, rw] = resizedSize(H, W, cfg.resize);
  const [oh, ow] = processedSize(H, W, cfg);
  const out = new Float32Array(n * 3 * oh * ow);
  await native().encoderImagePrep({
    frames: frames.data,
    mean: new Float32Array(cfg.normalize?.mean ?? [0, 0, 0]), std: new Float32Array(cfg.normalize?.std ?? [1, 1, 1]),
  }, {
    n, H, W, resize: cfg.resize !== null, resizeH: rh, resizeW: rw, filter: cfg.resample,
    crop: cfg.crop !== null, outH: oh, outW: ow,
    rescaleOn: cfg.rescale !== null, rescale: cfg.rescale ?? 1,
    normalize: cfg.normalize !== null, threads,
  }, { pixels: out });
  return { data: out, shape: [n, 3, oh, ow] };
}
