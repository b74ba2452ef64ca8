// A small trainable convolutional backbone on libtorch and the
// frame augmentation its training batches go through (native/kernels/augment.h).
import { existsSync, readFileSync } from 'node:fs';
import { hostArray } from '../core/host.js';
import { native } from '../core/native.js';
import type { NativeAugment, NativeConvBackbone, NativeConvBackboneConfig } from '../core/native-types.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkNumber, checkOptions, rangeError, shapeStr, typeError } from '../core/validate.js';
import { checkFileTarget, writeFileAtomic } from '../io/atomic.js';
import { checkSeed, torchAddon } from './common.js';
import { matchTensors, readStateDict, SafetensorsError, writeStateDict, type NamedTensor } from './files.js';

/**
 * A batch of frames in one of the two layouts the backbone takes:
 * - `{ data: Uint8Array, shape: [B, H, W, 3] }`: RGB bytes, row-major, channel
 *   last — what `PickPlaceEnv.frames` and video decoders give; scaled by 1/255;
 * - `{ data: Float32Array, shape: [B, 3, H, W] }`: channel-first floats in
 *   [0, 1] (PyTorch's layout); used as they are.
 * The layout follows from the data's type. `data` is read in place (async
 * training calls take a copy first).
 */
export interface Frames {
  data: Uint8Array | Float32Array;
  shape: number[];
}

/** One convolution of the stack: Conv2d → activation → optional max-pool. */
export interface ConvLayerConfig {
  /** Output channels. */
  channels: number;
  /** Square kernel size. */
  kernel: number;
  /** Stride. Default 1. */
  stride?: number;
  /** Zero padding on each side. Default max(0, ⌊(kernel − stride + 1) / 2⌋): the output is ⌈size / stride⌉ for odd kernels and for kernel = stride. */
  padding?: number;
  /** Max-pool window and stride after the activation; 1 (default) for none. */
  pool?: number;
}

/** Construction options of {@link ConvBackbone}. */
export interface ConvBackboneConfig {
  /** Frame size: a side, or [height, width]. Default 64 (the simulator's). */
  imageSize?: number | [number, number];
  /** The conv stack, input first. Default {@link ConvBackbone.defaultLayers}: 16 channels k4 s4, 32 k3 s2, 32 k3 s1 (64×64 → 8×8). */
  layers?: ConvLayerConfig[];
  /** Activation after each convolution. Default 'relu'. */
  activation?: 'relu' | 'gelu' | 'silu' | 'tanh';
  /**
   * Reduction of the last feature map [C, h, w] before the projection:
   * 'flatten' (C·h·w features, default: keeps where things are), 'avg' or 'max'
   * (C), 'spatial-softmax' (2C: each channel's expected x and y in [−1, 1]
   * under a softmax over positions).
   */
  pool?: 'flatten' | 'avg' | 'max' | 'spatial-softmax';
  /** Embedding size E (Linear → LayerNorm → tanh). Default 64. */
  embedDim?: number;
  /** Seed of the orthogonal initialisation. Default 0. */
  seed?: number;
}

/** The configuration with every default filled in (as saved beside the weights). */
export interface ResolvedConvBackboneConfig {
  imageSize: [number, number];
  layers: Array<Required<ConvLayerConfig>>;
  activation: 'relu' | 'gelu' | 'silu' | 'tanh';
  pool: 'flatten' | 'avg' | 'max' | 'spatial-softmax';
  embedDim: number;
  seed: number;
}

/**
 * Training-time image augmentation, applied in native code to each training
 * batch (never at prediction): a random shift by whole pixels (the image is
 * padded with its edge pixels, then cropped back: DrQ's pad-and-crop), then
 * colour jitter `x ← clamp(((x − m)·c + m)·b·g_ch, 0, 1)` with m the shifted
 * image's mean over channels and pixels. Unset keys take their defaults; 0
 * turns a part off.
 */
export interface AugmentOptions {
  /** Largest shift in pixels per axis: dx, dy uniform integers in [−shift, shift]. Default 4. */
  shift?: number;
  /** Brightness factor b uniform in [1 − brightness, 1 + brightness], per image. Default 0.2. */
  brightness?: number;
  /** Contrast factor c uniform in [1 − contrast, 1 + contrast], per image. Default 0.2. */
  contrast?: number;
  /** Per-channel gain g_ch uniform in [1 − gain, 1 + gain], per image and channel. Default 0.1. */
  gain?: number;
}

/** The default augmentation (see {@link AugmentOptions}). */
export const DEFAULT_AUGMENT: Readonly<Required<AugmentOptions>> = Object.freeze({ shift: 4, brightness: 0.2, contrast: 0.2, gain: 0.1 });

/** Resolves `augment` (undefined: defaults; false: off; an object: defaults for its unset keys). */
export function resolveAugment(v: unknown, name: string): NativeAugment | null {
  if (v === false) return null;
  if (v === true) return { ...DEFAULT_AUGMENT };
  const o = checkOptions(v as AugmentOptions | undefined, name, { shift: 1, brightness: 1, contrast: 1, gain: 1 });
  return {
    shift: checkInt(o.shift ?? DEFAULT_AUGMENT.shift, `${name}.shift`, 0, 1024),
    brightness: checkNumber(o.brightness ?? DEFAULT_AUGMENT.brightness, `${name}.brightness`, 0, 0.999),
    contrast: checkNumber(o.contrast ?? DEFAULT_AUGMENT.contrast, `${name}.contrast`, 0, 0.999),
    gain: checkNumber(o.gain ?? DEFAULT_AUGMENT.gain, `${name}.gain`, 0, 0.999),
  };
}

/**
 * Checks a frame batch: a Uint8Array `[B, H, W, 3]` or a Float32Array
 * `[B, 3, H, W]`, B ≥ 1, and (when given) the expected H×W. Returns the data
 * cut to the batch and its size. Float values outside [0, 1] are refused by the addon.
 */
export function checkFrames(frames: unknown, name: string, size?: [number, number]): { data: Uint8Array | Float32Array; B: number; H: number; W: number } {
  const what = 'frames { data: Uint8Array, shape: [B, H, W, 3] } or { data: Float32Array, shape: [B, 3, H, W] }';
  if (frames === null || typeof frames !== 'object' || Array.isArray(frames)) throw typeError(name, what, frames);
  const { data, shape } = frames as Frames;
  const bytes = data instanceof Uint8Array;
  if (!bytes && !(data instanceof Float32Array)) throw typeError(`${name}.data`, 'a Uint8Array (RGB bytes) or a Float32Array (floats in [0, 1])', data);
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw typeError(`${name}.shape`, bytes ? 'an integer shape [B, H, W, 3]' : 'an integer shape [B, 3, H, W]', shape);
  }
  const [B, a, b, c] = shape;
  const [H, W, C] = bytes ? [a, b, c] : [b, c, a];
  const layout = bytes ? `[B, ${size?.[0] ?? 'H'}, ${size?.[1] ?? 'W'}, 3] (Uint8Array: RGB bytes, channel last)` : `[B, 3, ${size?.[0] ?? 'H'}, ${size?.[1] ?? 'W'}] (Float32Array: channel first)`;
  if (C !== 3 || (size && (H !== size[0] || W !== size[1])) || H < 1 || W < 1) throw rangeError(`${name}.shape`, layout, shapeStr(shape), true);
  if (B < 1) throw rangeError(`${name}.shape[0]`, 'a batch of at least 1 frame', B);
  const n = B * 3 * H * W;
  if (data.length < n) throw new RangeError(`Expected ${name}.data to hold at least ${n} elements for shape ${shapeStr(shape)} but received ${data.length}`);
  return { data: data.subarray(0, n), B, H, W };
}

/**
 * The frames as the backbone's training batches see them: float32
 * `[B, 3, H, W]` in [0, 1], shifted and colour-jittered as described in
 * {@link AugmentOptions}. The draws of frame i depend only on (seed, epoch,
 * i): `ImageValueModel.fit` with the same seed augments frame i of its set in
 * epoch e (0-based) exactly as this function does with `epoch: e`. Works
 * without libtorch (plain native code).
 * @param opts.augment strengths (defaults {@link DEFAULT_AUGMENT}); false: conversion only
 * @example
 * const x = augmentFrames({ data: env.frames, shape: [n, 64, 64, 3] }, { seed: 1 }); // { data, shape: [n, 3, 64, 64] }
 */
export function augmentFrames(frames: Frames, opts?: { augment?: AugmentOptions | false; seed?: number; epoch?: number }): Tensor {
  const o = checkOptions(opts, 'opts', { augment: 1, seed: 1, epoch: 1 });
  const f = checkFrames(frames, 'frames');
  const aug = resolveAugment(o.augment, 'opts.augment');
  const seed = checkSeed(o.seed ?? 0, 'opts.seed');
  const epoch = checkInt(o.epoch ?? 0, 'opts.epoch', 0);
  const augmented = hostArray(Float32Array, f.B * 3 * f.H * f.W, { zero: false });
  native().encoderAugmentFrames({ frames: f.data }, { n: f.B, H: f.H, W: f.W, augment: aug, seed, stream: epoch }, { augmented });
  return { data: augmented, shape: [f.B, 3, f.H, f.W] };
}

const FORMAT = 'feat2go.conv-backbone.v1';
const ACTIVATIONS = ['relu', 'gelu', 'silu', 'tanh'] as const;
const POOLS = ['flatten', 'avg', 'max', 'spatial-softmax'] as const;

/** `<name>.json` beside `<name>.safetensors`. */
export function configPath(file: string): string {
  return `${file.replace(/\.safetensors$/, '')}.json`;
}

/** Output size of a convolution or pooling along one axis. */
function convOut(n: number, k: number, s: number, p: number): number {
  return Math.floor((n + 2 * p - k) / s) + 1;
}

/** Fills in the defaults of a backbone config and checks every value (sizes included). */
export function resolveBackboneConfig(config: ConvBackboneConfig | undefined, name = 'config'): ResolvedConvBackboneConfig {
  const c = checkOptions(config, name, { imageSize: 1, layers: 1, activation: 1, pool: 1, embedDim: 1, seed: 1 });
  const size = c.imageSize ?? 64;
  let imageSize: [number, number];
  if (typeof size === 'number') imageSize = [checkInt(size, `${name}.imageSize`, 1, 4096), checkInt(size, `${name}.imageSize`, 1, 4096)];
  else if (Array.isArray(size) && size.length === 2) imageSize = [checkInt(size[0], `${name}.imageSize[0]`, 1, 4096), checkInt(size[1], `${name}.imageSize[1]`, 1, 4096)];
  else throw typeError(`${name}.imageSize`, 'a size or [height, width]', size);
  const layersIn = c.layers ?? ConvBackbone.defaultLayers;
  if (!Array.isArray(layersIn)) throw typeError(`${name}.layers`, 'an array of { channels, kernel, stride?, padding?, pool? }', layersIn);
  let [h, w] = imageSize;
  const layers = layersIn.map((l, i) => {
    const n = `${name}.layers[${i}]`;
    if (l === null || typeof l !== 'object' || Array.isArray(l)) throw typeError(n, 'a layer { channels, kernel, stride?, padding?, pool? }', l);
    const o = checkOptions(l, n, { channels: 1, kernel: 1, stride: 1, padding: 1, pool: 1 });
    const kernel = checkInt(o.kernel, `${n}.kernel`, 1, 64);
    const stride = checkInt(o.stride ?? 1, `${n}.stride`, 1, 64);
    const r = {
      channels: checkInt(o.channels, `${n}.channels`, 1, 4096),
      kernel, stride,
      padding: checkInt(o.padding ?? Math.max(0, Math.floor((kernel - stride + 1) / 2)), `${n}.padding`, 0, 64),
      pool: checkInt(o.pool ?? 1, `${n}.pool`, 1, 64),
    };
    const ho = convOut(h, kernel, stride, r.padding), wo = convOut(w, kernel, stride, r.padding);
    const hp = Math.floor(ho / r.pool), wp = Math.floor(wo / r.pool);
    if (ho < 1 || wo < 1 || hp < 1 || wp < 1) {
      throw new RangeError(`Expected ${n} to leave a feature map of at least 1×1 but its input of ${h}×${w} gives ${Math.max(ho, 0)}×${Math.max(wo, 0)}${r.pool > 1 ? ` before a max-pool of ${r.pool}` : ''}`);
    }
    [h, w] = [hp, wp];
    return r;
  });
  const activation = c.activation ?? 'relu';
  if (!ACTIVATIONS.includes(activation)) throw typeError(`${name}.activation`, ACTIVATIONS.map((a) => `'${a}'`).join(', '), activation);
  const pool = c.pool ?? 'flatten';
  if (!POOLS.includes(pool)) throw typeError(`${name}.pool`, POOLS.map((a) => `'${a}'`).join(', '), pool);
  return {
    imageSize, layers, activation, pool,
    embedDim: checkInt(c.embedDim ?? 64, `${name}.embedDim`, 1, 1 << 16),
    seed: checkSeed(c.seed ?? 0, `${name}.seed`),
  };
}

/** Reads `<file>.json` (or the file's metadata) as a config of the given format. */
export function readModelConfig(file: string, format: string): Record<string, unknown> {
  if (typeof file !== 'string' || file.length === 0) throw typeError('path', 'a file path string', file);
  let cfg: Record<string, unknown>;
  if (existsSync(configPath(file))) cfg = JSON.parse(readFileSync(configPath(file), 'utf8')) as Record<string, unknown>;
  else {
    const meta = readStateDict(file).metadata;
    if (!meta.config) throw new SafetensorsError(file, `no ${configPath(file)} beside it and no config in its metadata`);
    cfg = JSON.parse(meta.config) as Record<string, unknown>;
  }
  if (cfg.format !== format) throw rangeError('config.format', `'${format}'`, cfg.format);
  return cfg;
}

/** Writes weights (.safetensors, the config in its metadata) and `<name>.json`, each atomically. */
export function saveModel(file: string, tensors: NamedTensor[], config: Record<string, unknown>): void {
  if (typeof file !== 'string' || file.length === 0) throw typeError('path', 'a file path string', file);
  checkFileTarget(file, 'path');
  checkFileTarget(configPath(file), 'path (its .json config)');
  writeStateDict(file, tensors, { format: config.format as string, config: JSON.stringify(config) });
  writeFileAtomic(configPath(file), `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * A small trainable convolutional backbone on libtorch: frames → a conv
 * stack (each layer `Conv2d → activation → optional max-pool`) → a spatial
 * reduction ({@link ConvBackboneConfig.pool}) → `Linear → LayerNorm → tanh`,
 * an embedding `[B, E]` in (−1, 1). Orthogonal weights (gain √2 for the
 * convolutions, 1 for the projection), zero biases, seeded. Parameter names
 * are those of a PyTorch module with `conv` an `nn.ModuleList` of `Conv2d`:
 * `conv.<i>.weight` `[C_out, C_in, k, k]`, `conv.<i>.bias`, `proj.weight`
 * `[E, F]`, `proj.bias`, `norm.weight`, `norm.bias`.
 *
 * Frames are RGB bytes `[B, H, W, 3]` (Uint8Array, the simulator's) or floats
 * `[B, 3, H, W]` in [0, 1] (Float32Array); see {@link Frames}. Train it inside
 * an {@link ImageValueModel}; a backbone may be shared by several models.
 *
 * @example
 * const backbone = new ConvBackbone({ imageSize: 64, embedDim: 64, seed: 1 });
 * const e = backbone.embed({ data: env.frames, shape: [env.numEnvs, 64, 64, 3] }); // { data, shape: [B, 64] }
 * backbone.save('backbone.safetensors'); // + backbone.json
 */
export class ConvBackbone {
  /** The default conv stack: 64×64 → 16×16 → 8×8 → 8×8. */
  static readonly defaultLayers: ReadonlyArray<Readonly<ConvLayerConfig>> = Object.freeze([
    Object.freeze({ channels: 16, kernel: 4, stride: 4 }),
    Object.freeze({ channels: 32, kernel: 3, stride: 2 }),
    Object.freeze({ channels: 32, kernel: 3, stride: 1 }),
  ]);

  /** The resolved configuration. */
  readonly config: Readonly<ResolvedConvBackboneConfig>;
  /** Embedding size E. */
  readonly embedDim: number;
  /** Size of the reduced features the projection maps to E. */
  readonly featureDim: number;
  /** @internal the native object */
  readonly native: NativeConvBackbone;

  /**
   * @throws {TorchUnavailableError} when the addon was built without libtorch
   * @param name the config's name in error messages
   * @throws {TypeError|RangeError} on a bad config (naming the key), or a layer that leaves no pixels
   */
  constructor(config?: ConvBackboneConfig, name = 'config') {
    const addon = torchAddon('ConvBackbone');
    this.config = Object.freeze(resolveBackboneConfig(config, name));
    const c = this.config;
    const n: NativeConvBackboneConfig = {
      height: c.imageSize[0], width: c.imageSize[1], layers: c.layers.map((l) => ({ ...l })),
      activation: c.activation, pool: c.pool, embedDim: c.embedDim, seed: c.seed,
    };
    this.native = new addon.ConvBackboneNative({}, Object.freeze(n));
    this.embedDim = c.embedDim;
    this.featureDim = this.native.featureDim();
  }

  /** Checks frames against this backbone's size; returns the data cut to the batch and B. */
  checkFrames(frames: Frames, name = 'frames'): { data: Uint8Array | Float32Array; B: number } {
    return checkFrames(frames, name, this.config.imageSize);
  }

  /**
   * Embeddings `[B, E]` (no augmentation, no gradient; computed in chunks of 256 frames).
   * @throws {TypeError|RangeError} for frames of another layout or size, or float values outside [0, 1]
   */
  embed(frames: Frames): Tensor {
    const f = this.checkFrames(frames);
    return { data: this.native.embed({ frames: f.data }, { B: f.B }), shape: [f.B, this.embedDim] };
  }

  /** Copies of the weights with the PyTorch names (`conv.0.weight`, …, `norm.bias`). */
  stateDict(): NamedTensor[] {
    return this.native.stateDict();
  }

  /** The config as saved beside the weights. */
  toJSON(): Record<string, unknown> {
    return { format: FORMAT, ...this.config };
  }

  /** Saves the weights to `file` (.safetensors) and the config to `<name>.json`, each written atomically. */
  save(file: string): void {
    saveModel(file, this.stateDict(), this.toJSON());
  }

  /** Replaces the weights with those of a .safetensors file (names and shapes must match exactly; nothing changes otherwise). */
  loadWeights(file: string): void {
    const { tensors } = readStateDict(file);
    matchTensors(file, tensors, this.stateDict().map(([n, , s]) => [n, s]));
    this.native.loadStateDict({ weights: tensors }, {});
  }

  /**
   * Loads a backbone saved by {@link save}: the config from `<name>.json` (or
   * the file's metadata), then the weights.
   * @throws {SafetensorsError} when the tensors do not match the config
   */
  static load(file: string): ConvBackbone {
    const cfg = readModelConfig(file, FORMAT);
    const { format: _format, ...rest } = cfg;
    const b = new ConvBackbone(rest as ConvBackboneConfig);
    b.loadWeights(file);
    return b;
  }
}
