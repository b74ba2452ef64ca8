// `createEncoder`: the one place that turns an `--encoder` value ('builtin' or
// a model path) into a FrameEncoder, shared by `feat2go encode`, `feat2go
// label --encoder` and the library.
import { extname } from 'node:path';
import { patchStatsEncoder } from './builtin.js';
import type { FrameEncoder } from './encoder.js';
import { OnnxVisualEncoder } from './onnx.js';
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
}

/**
 * Turns an `--encoder` value into an encoder: `'builtin'` → {@link patchStatsEncoder},
 * a path ending in `.onnx` → {@link OnnxVisualEncoder.load}.
 *
 * @throws {Error} for a missing/corrupt/unfit model (naming the file), {@link TypeError} for other values
 * @example
 * const encoder = await createEncoder('builtin', { grid: 8 });
 * const features = await encodeFrames('episodes/ep_000', encoder);
 */
export async function createEncoder(spec: string, opts: EncoderSpecOptions = {}): Promise<FrameEncoder> {
  checkOptions(opts, 'opts', { imageSize: 1, framesPerClip: 1, tubelet: 1, grid: 1, executionProviders: 1 });
  if (typeof spec !== 'string' || spec.length === 0) throw typeError('encoder', "'builtin' or the path of an .onnx model", spec);
  if (spec === 'builtin') return patchStatsEncoder({ imageSize: opts.imageSize, grid: opts.grid });
  if (extname(spec).toLowerCase() !== '.onnx') throw new TypeError(`Expected 'builtin' or the path of an .onnx model for --encoder but received '${spec}'`);
  return OnnxVisualEncoder.load(spec, {
    imageSize: opts.imageSize, framesPerClip: opts.framesPerClip, tubelet: opts.tubelet, executionProviders: opts.executionProviders,
  });
}
