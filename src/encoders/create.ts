// `createEncoder`: the one place that turns an `--encoder` value ('builtin',
// a model path, a model folder or an `hf:ORG/NAME` name) into a
// FrameEncoder, shared by `feat2go encode`, `feat2go label --encoder` and the
// library.
import { existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { patchStatsEncoder } from './builtin.js';
import type { FrameEncoder } from './encoder.js';
import { OnnxVisualEncoder } from './onnx.js';
import { OnnxImageEncoder, type HubDtype } from './onnx-image.js';
import { checkOptions, typeError } from '../core/validate.js';

/** Settings shared by `--encoder` users (encode and label). */
export interface EncoderSpecOptions {
  /** Frame side (short-side resize + centre crop); builtin default: native size, ONNX default: the model's. */
  imageSize?: number;
  /** ONNX: frames per clip. */
  framesPerClip?: number;
  /** ONNX: frames per step. */
  tubelet?: number;
  /** Builtin: patch grid side (default 16). */
  grid?: number;
  /** ONNX: execution providers. */
  executionProviders?: string[];
  /** Models by name or folder: which model file (precision), default 'fp32'. */
  dtype?: HubDtype;
  /** Models by name or folder: frames per model call (default 8). */
  batchSize?: number;
}

const isModelFolder = (p: string): boolean => {
  try {
    return statSync(p).isDirectory() && existsSync(join(p, 'config.json')) && existsSync(join(p, 'preprocessor_config.json'));
  } catch {
    return false;
  }
};

/**
 * Turns an `--encoder` value into an encoder: `'builtin'` → {@link patchStatsEncoder},
 * a path ending in `.onnx` → {@link OnnxVisualEncoder.load} (a video encoder),
 * `hf:ORG/NAME[@REVISION]` → {@link OnnxImageEncoder.fromHub} (an image feature
 * extractor from the model hub) and a folder in the hub's layout (config.json,
 * preprocessor_config.json, onnx/model.onnx) → {@link OnnxImageEncoder.load}.
 *
 * @throws {Error} for a missing/corrupt/unfit model (naming it), {@link TypeError} for other values or options that do not apply
 * @example
 * const encoder = await createEncoder('builtin', { grid: 8 });
 * const dino = await createEncoder('hf:onnx-community/dinov2-small', { dtype: 'fp16' });
 * const features = await encodeFrames('episodes/ep_000', dino);
 */
export async function createEncoder(spec: string, opts: EncoderSpecOptions = {}): Promise<FrameEncoder> {
  checkOptions(opts, 'opts', { imageSize: 1, framesPerClip: 1, tubelet: 1, grid: 1, executionProviders: 1, dtype: 1, batchSize: 1 });
  if (typeof spec !== 'string' || spec.length === 0) throw typeError('encoder', "'builtin', the path of an .onnx model or a model name 'hf:ORG/NAME'", spec);
  const given = (keys: Array<keyof EncoderSpecOptions>) => keys.filter((k) => opts[k] !== undefined);
  const refuse = (keys: Array<keyof EncoderSpecOptions>, what: string) => {
    const bad = given(keys);
    if (bad.length) throw new TypeError(`Expected no opts.${bad[0]} for ${what} (it does not apply there) but received ${JSON.stringify(opts[bad[0]])}`);
  };
  const named = spec.startsWith('hf:');
  if (named || isModelFolder(spec)) {
    refuse(['imageSize', 'framesPerClip', 'tubelet', 'grid'], `${named ? 'a hub model' : 'a model folder'} (${spec}: its preprocessor_config.json sets the image size)`);
    const o = { dtype: opts.dtype, batchSize: opts.batchSize, executionProviders: opts.executionProviders };
    return named ? OnnxImageEncoder.fromHub(spec, o) : OnnxImageEncoder.load(spec, o);
  }
  if (spec === 'builtin') {
    refuse(['dtype', 'batchSize'], 'the builtin encoder');
    return patchStatsEncoder({ imageSize: opts.imageSize, grid: opts.grid });
  }
  if (extname(spec).toLowerCase() !== '.onnx') {
    throw new TypeError(`Expected 'builtin', the path of an .onnx model, a model folder (config.json, preprocessor_config.json, onnx/) or a model name 'hf:ORG/NAME[@REVISION]' for --encoder but received '${spec}'`);
  }
  refuse(['dtype', 'batchSize'], `an ONNX video encoder (${spec})`);
  return OnnxVisualEncoder.load(spec, {
    imageSize: opts.imageSize, framesPerClip: opts.framesPerClip, tubelet: opts.tubelet, executionProviders: opts.executionProviders,
  });
}
