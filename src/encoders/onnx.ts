// ONNX encoders through onnxruntime-node: a V-JEPA-2-style video encoder
// (frames → per-step patch tokens, sliding clips over long episodes) and a
// vision-language backbone (inputs → last hidden state [B, H]). Inference runs
// on onnxruntime's own threads, off the JS main thread.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type * as ort from 'onnxruntime-node';
import type { FrameChunk } from '../io/episodes.js';
import { hostArray } from '../core/host.js';
import { native } from '../core/native.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkNumber, checkOptions, shapeStr, typeError, type OptionKeys } from '../core/validate.js';
import { concatSteps, type EncoderStream, type FrameEncoder } from './encoder.js';
import { loadedOnnxRuntime, onnxRuntime } from './ort.js';
import type { OnnxImageEncoder, OnnxImageEncoderOptions } from './onnx-image.js';

/** Terminal colour codes that onnxruntime puts in some messages. */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** ImageNet channel means, as used by V-JEPA 2 preprocessing. */
export const IMAGENET_MEAN = Object.freeze([0.485, 0.456, 0.406]) as readonly [number, number, number];
/** ImageNet channel standard deviations. */
export const IMAGENET_STD = Object.freeze([0.229, 0.224, 0.225]) as readonly [number, number, number];

/** A declared dimension: a size, or a symbolic name. */
export type Dim = number | string;
/** A model input or output as onnxruntime declares it. */
export interface TensorMeta { name: string; type: string; shape: Dim[] }

/** True when onnxruntime-node's CUDA provider library is installed next to its binding. */
export function cudaProviderAvailable(): boolean {
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(dirname(req.resolve('onnxruntime-node')));
    const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(dir, 'libonnxruntime_providers_cuda.so')) || existsSync(join(dir, 'onnxruntime_providers_cuda.dll'));
  } catch {
    return false;
  }
}

/** `[batch, 3, 224, 224]` for messages. */
export function dimsStr(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Creates an onnxruntime session for a model file (CUDA first when its provider is installed, falling back
 * to the CPU when it cannot start); errors name `what` and the path. Shared by the ONNX encoders.
 */
export async function createSession(path: unknown, what: string, eps: unknown, threads: number | undefined): Promise<{ session: ort.InferenceSession; provider: string }> {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path', 'the path of an .onnx model file', path);
  if (!existsSync(path)) throw new Error(`${what}: model file ${path} does not exist`);
  if (!statSync(path).isFile()) throw new Error(`${what}: model path ${path} is not a file`);
  let providers: string[];
  if (eps === undefined) providers = cudaProviderAvailable() ? ['cuda', 'cpu'] : ['cpu'];
  else if (Array.isArray(eps) && eps.length > 0 && eps.every((e) => typeof e === 'string')) providers = eps as string[];
  else throw typeError('opts.executionProviders', "a non-empty array of provider names such as ['cuda', 'cpu']", eps);
  const options: ort.InferenceSession.SessionOptions = { executionProviders: providers, graphOptimizationLevel: 'all' };
  if (threads !== undefined) options.intraOpNumThreads = threads;
  const { InferenceSession } = await onnxRuntime(what);
  try {
    const session = await InferenceSession.create(path, options);
    return { session, provider: providers[0] };
  } catch (err) {
    const msg = String((err as Error).message ?? err).split('\n')[0].replace(ANSI_ESCAPE, '');
    if (eps === undefined && providers[0] === 'cuda') {
      // CUDA library present but unusable (no GPU / driver): fall back to the CPU.
      try {
        return { session: await InferenceSession.create(path, { ...options, executionProviders: ['cpu'] }), provider: 'cpu' };
      } catch { /* report the original error below */ }
    }
    throw new Error(`${what}: cannot load ${path} as an ONNX model (onnxruntime: ${msg})`);
  }
}

/** The declared inputs or outputs of a session (name, element type, shape). */
export function tensorMeta(session: ort.InferenceSession, which: 'input' | 'output'): TensorMeta[] {
  const metas = which === 'input' ? session.inputMetadata : session.outputMetadata;
  const names = which === 'input' ? session.inputNames : session.outputNames;
  return names.map((name, i) => {
    const m = metas?.[i] as { isTensor?: boolean; type?: string; shape?: readonly Dim[] } | undefined;
    return { name, type: m?.isTensor === false ? 'non-tensor' : (m?.type ?? 'unknown'), shape: [...(m?.shape ?? [])] };
  });
}

function pick(metas: TensorMeta[], wanted: string | undefined, which: 'input' | 'output', path: string, what: string): TensorMeta {
  const list = metas.map((m) => `'${m.name}' ${m.type} ${dimsStr(m.shape)}`).join(', ');
  if (wanted !== undefined) {
    if (typeof wanted !== 'string') throw typeError(`opts.${which}Name`, 'a string', wanted);
    const m = metas.find((x) => x.name === wanted);
    if (!m) throw new Error(`${what}: model ${path} has no ${which} named '${wanted}'; its ${which}s are ${list}`);
    return m;
  }
  if (metas.length !== 1) throw new Error(`${what}: model ${path} has ${metas.length} ${which}s (${list}); pass opts.${which}Name to choose one`);
  return metas[0];
}

// ------------------------------------------------------------ clip planning

/** One model call of a sliding-clip plan. */
export interface ClipRun {
  /** First frame of the clip in the (padded) episode. */
  start: number;
  /** Frames fed to the model (the clip length, or fewer for a short episode with a dynamic time axis). */
  frames: number;
  /** Frames appended by repeating the episode's last frame (to fill a tubelet, or a fixed-length clip). */
  padded: number;
  /** Steps of this clip's output kept: [firstStep, lastStep) in clip-local step indices. */
  keep: [number, number];
}

/**
 * Plans the model calls for an episode of `T` frames (pure function, exported for tests).
 * Frames are padded to a whole number of tubelets by repeating the last frame
 * (so a lone frame becomes a full tubelet); steps = ⌈T/τ⌉. Clips of `F` frames
 * start at 0, S, 2S … while they fit; the first clip keeps all its F/τ steps,
 * each later one keeps only its steps not yet produced (its last S/τ). Frames
 * left over are covered by one final clip aligned to the end of the episode,
 * keeping only the new steps. An episode shorter than one clip is run as one
 * clip of its own length when the model's time axis is dynamic, else padded to
 * F frames by repeating the last frame.
 */
export function planClips(T: number, framesPerClip: number, tubelet: number, clipStride = framesPerClip, dynamicTime = false): ClipRun[] {
  checkInt(T, 'T', 1);
  const F = checkInt(framesPerClip, 'framesPerClip', 1);
  const tau = checkInt(tubelet, 'tubelet', 1);
  const S = checkInt(clipStride, 'clipStride', 1);
  if (F % tau !== 0) throw new RangeError(`Expected framesPerClip to be a multiple of tubelet (${tau}) but received ${F}`);
  if (S % tau !== 0 || S > F) throw new RangeError(`Expected clipStride to be a multiple of tubelet (${tau}) and ≤ framesPerClip (${F}) but received ${S}`);
  const Tpad = Math.ceil(T / tau) * tau;
  const steps = Tpad / tau;
  if (Tpad < F) {
    if (dynamicTime) return [{ start: 0, frames: Tpad, padded: Tpad - T, keep: [0, steps] }];
    return [{ start: 0, frames: F, padded: F - T, keep: [0, steps] }];
  }
  const runs: ClipRun[] = [];
  let emitted = 0;
  let start = 0;
  for (; start + F <= Tpad; start += S) {
    const first = start / tau;
    runs.push({ start, frames: F, padded: Math.max(0, start + F - T), keep: [emitted - first, F / tau] });
    emitted = first + F / tau;
  }
  if (emitted < steps) {
    const s0 = Tpad - F;
    runs.push({ start: s0, frames: F, padded: Tpad - T, keep: [emitted - s0 / tau, F / tau] });
  }
  return runs;
}

// ------------------------------------------------------------ visual encoder

/** Options of {@link OnnxVisualEncoder.load}. */
export interface OnnxVisualEncoderOptions {
  /** Input to feed (default: the model's only input). */
  inputName?: string;
  /** Output to read (default: the model's only output). */
  outputName?: string;
  /** Input layout: 'BTCHW' (V-JEPA 2, default) or 'BCTHW'. */
  layout?: 'BTCHW' | 'BCTHW';
  /** Frames per clip F (default: the model's static time dimension, else 64). */
  framesPerClip?: number;
  /** Frames per output step τ (default 2, V-JEPA 2's tubelet). */
  tubelet?: number;
  /** Frame side after short-side resize + centre crop (default: the model's static H, else 256). */
  imageSize?: number;
  /** Per-channel mean subtracted from pixels in [0, 1] (default ImageNet). */
  mean?: readonly [number, number, number];
  /** Per-channel std dividing pixels in [0, 1] (default ImageNet). */
  std?: readonly [number, number, number];
  /** Frames between clip starts (default framesPerClip: non-overlapping clips). Multiple of tubelet. */
  clipStride?: number;
  /** onnxruntime execution providers (default ['cuda', 'cpu'] when the CUDA provider is installed, else ['cpu']). */
  executionProviders?: string[];
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
}

/**
 * A video encoder exported to ONNX (V-JEPA 2 style), as a streaming {@link FrameEncoder}.
 * Input `[B, T, C, H, W]` float32 frames (C = 3, short side resized + centre-cropped
 * to `imageSize`, `(x/255 − mean)/std`); output `[B, (T/τ)·P, D]` tokens, time-major
 * (or `[B, T/τ, P, D]`), reshaped to per-step patch features `[T/τ, P, D]`.
 */
export class OnnxVisualEncoder implements FrameEncoder {
  readonly name: string;
  readonly imageSize: number;
  readonly chunkFrames: number;
  readonly framesPerClip: number;
  readonly tubelet: number;
  readonly clipStride: number;
  readonly layout: 'BTCHW' | 'BCTHW';
  readonly inputName: string;
  readonly outputName: string;
  /** Execution provider the session was created with first ('cuda' or 'cpu'). */
  readonly executionProvider: string;
  /** True when the model's time axis is symbolic (short episodes then run unpadded). */
  readonly dynamicTime: boolean;
  /** Number of model calls made so far (for tests and progress displays). */
  runs = 0;
  private readonly session: ort.InferenceSession;
  private readonly mean: readonly number[];
  private readonly std: readonly number[];
  private readonly outMeta: TensorMeta;

  private constructor(session: ort.InferenceSession, path: string, provider: string, cfg: {
    input: TensorMeta; output: TensorMeta; layout: 'BTCHW' | 'BCTHW'; F: number; tau: number; size: number;
    stride: number; mean: readonly number[]; std: readonly number[]; dynamicTime: boolean;
  }) {
    this.session = session;
    this.name = path;
    this.executionProvider = provider;
    this.inputName = cfg.input.name;
    this.outputName = cfg.output.name;
    this.outMeta = cfg.output;
    this.layout = cfg.layout;
    this.framesPerClip = cfg.F;
    this.tubelet = cfg.tau;
    this.imageSize = cfg.size;
    this.clipStride = cfg.stride;
    this.chunkFrames = cfg.F;
    this.mean = cfg.mean;
    this.std = cfg.std;
    this.dynamicTime = cfg.dynamicTime;
  }

  /**
   * Loads an ONNX video encoder and checks its declared input and output against
   * what feat2go feeds and reads: one float32 rank-5 input in `layout` (C = 3,
   * static T/H/W must equal framesPerClip/imageSize), one float32 output of rank 3
   * `[B, steps·P, D]` or rank 4 `[B, steps, P, D]`.
   *
   * @throws {Error} for a missing or corrupt model file, naming the path
   * @throws {Error} when an input/output name, type or rank does not fit, saying what the model expects
   * @example
   * const enc = await OnnxVisualEncoder.load('vjepa2-vitl-fpc64-256.onnx', { framesPerClip: 64, tubelet: 2, imageSize: 256 });
   * const features = await encodeFrames('episodes/ep_000', enc);   // [T/2, 256, 1024]
   */
  static async load(path: string, opts?: OnnxVisualEncoderOptions): Promise<OnnxVisualEncoder> {
    const o = checkOptions(opts, 'opts', ONNX_ENCODER_KEYS);
    const what = 'OnnxVisualEncoder.load';
    const layout = o.layout ?? 'BTCHW';
    if (layout !== 'BTCHW' && layout !== 'BCTHW') throw typeError('opts.layout', "'BTCHW' or 'BCTHW'", layout);
    const tau = o.tubelet === undefined ? 2 : checkInt(o.tubelet, 'opts.tubelet', 1);
    const mean = checkTriple(o.mean ?? IMAGENET_MEAN, 'opts.mean', false);
    const std = checkTriple(o.std ?? IMAGENET_STD, 'opts.std', true);
    const threads = o.threads === undefined ? undefined : checkInt(o.threads, 'opts.threads', 0, 4096);
    if (o.framesPerClip !== undefined) checkInt(o.framesPerClip, 'opts.framesPerClip', 1);
    if (o.imageSize !== undefined) checkInt(o.imageSize, 'opts.imageSize', 1);
    const { session, provider } = await createSession(path, what, o.executionProviders, threads);
    const input = pick(tensorMeta(session, 'input'), o.inputName, 'input', path, what);
    const output = pick(tensorMeta(session, 'output'), o.outputName, 'output', path, what);
    const feeds = layout === 'BTCHW' ? '[B, T, C, H, W]' : '[B, C, T, H, W]';
    if (input.type !== 'float32') {
      throw new Error(`${what}: model ${path} input '${input.name}' expects ${input.type} ${dimsStr(input.shape)}, but the encoder feeds float32 frames ${feeds}`);
    }
    if (input.shape.length !== 5) {
      throw new Error(`${what}: model ${path} input '${input.name}' expects rank ${input.shape.length} ${dimsStr(input.shape)}, but the encoder feeds rank-5 frames ${feeds} (layout ${layout}); export a video encoder or pass the right inputName`);
    }
    const [tAx, cAx] = layout === 'BTCHW' ? [1, 2] : [2, 1];
    const dT = input.shape[tAx];
    const dC = input.shape[cAx];
    const [dH, dW] = [input.shape[3], input.shape[4]];
    if (typeof dC === 'number' && dC !== 3) {
      throw new Error(`${what}: model ${path} input '${input.name}' ${dimsStr(input.shape)} has ${dC} channels at axis ${cAx}, but the encoder feeds RGB (3) in layout ${layout}; check opts.layout`);
    }
    if (typeof dH === 'number' && typeof dW === 'number' && dH !== dW) {
      throw new Error(`${what}: model ${path} input '${input.name}' expects ${dH}×${dW} frames, but the encoder feeds square centre crops`);
    }
    const staticSize = typeof dH === 'number' ? dH : typeof dW === 'number' ? dW : undefined;
    const size = o.imageSize ?? staticSize ?? 256;
    if (staticSize !== undefined && size !== staticSize) {
      throw new Error(`${what}: model ${path} input '${input.name}' ${dimsStr(input.shape)} expects ${staticSize}×${staticSize} frames but opts.imageSize is ${size}`);
    }
    const dynamicTime = typeof dT !== 'number';
    const F = o.framesPerClip ?? (typeof dT === 'number' ? dT : 64);
    if (typeof dT === 'number' && F !== dT) {
      throw new Error(`${what}: model ${path} input '${input.name}' ${dimsStr(input.shape)} takes clips of ${dT} frames but opts.framesPerClip is ${F}`);
    }
    if (F % tau !== 0) throw new RangeError(`Expected opts.framesPerClip to be a multiple of opts.tubelet (${tau}) but received ${F}`);
    const stride = o.clipStride === undefined ? F : checkInt(o.clipStride, 'opts.clipStride', tau);
    if (stride % tau !== 0 || stride > F) throw new RangeError(`Expected opts.clipStride to be a multiple of opts.tubelet (${tau}) and ≤ framesPerClip (${F}) but received ${stride}`);
    if (output.type !== 'float32') {
      throw new Error(`${what}: model ${path} output '${output.name}' is ${output.type} ${dimsStr(output.shape)}, but the encoder reads float32 tokens [B, steps·P, D]`);
    }
    if (output.shape.length !== 3 && output.shape.length !== 4) {
      throw new Error(`${what}: model ${path} output '${output.name}' has rank ${output.shape.length} ${dimsStr(output.shape)}, but the encoder reads tokens [B, steps·P, D] (rank 3) or [B, steps, P, D] (rank 4)`);
    }
    return new OnnxVisualEncoder(session, path, provider, { input, output, layout, F, tau, size, stride, mean, std, dynamicTime });
  }

  /**
   * Loads an image feature extractor by name from the model hub (DINOv2, I-JEPA,
   * SigLIP… in the hub's ONNX layout): the same as {@link OnnxImageEncoder.fromHub},
   * which it returns.
   *
   * @example
   * const dino = await OnnxVisualEncoder.fromHub('hf:onnx-community/dinov2-small');
   */
  static async fromHub(name: string, opts?: OnnxImageEncoderOptions): Promise<OnnxImageEncoder> {
    const { OnnxImageEncoder: Image } = await import('./onnx-image.js');
    return Image.fromHub(name, opts);
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }

  /** Runs one clip of preprocessed frames (each `[3, S, S]` float32) → `[F/τ, P, D]`. */
  private async runClip(frames: Float32Array[], label: string): Promise<Tensor> {
    const n = frames.length;
    const S = this.imageSize;
    const plane = S * S;
    const data = new Float32Array(n * 3 * plane);
    if (this.layout === 'BTCHW') {
      frames.forEach((f, t) => data.set(f, t * 3 * plane));
    } else {
      for (let t = 0; t < n; t++) for (let c = 0; c < 3; c++) data.set(frames[t].subarray(c * plane, (c + 1) * plane), (c * n + t) * plane);
    }
    const dims = this.layout === 'BTCHW' ? [1, n, 3, S, S] : [1, 3, n, S, S];
    let out: ort.Tensor;
    try {
      const r = await this.session.run({ [this.inputName]: new (loadedOnnxRuntime().Tensor)('float32', data, dims) }, [this.outputName]);
      out = r[this.outputName];
    } catch (err) {
      throw new Error(`${label}: model ${this.name} failed on a clip ${shapeStr(dims)}: ${String((err as Error).message).split('\n')[0]}`);
    }
    this.runs++;
    const steps = n / this.tubelet;
    const od = out.dims;
    let P: number;
    let D: number;
    if (od.length === 3 && od[0] === 1 && od[1] % steps === 0) { P = od[1] / steps; D = od[2]; } else if (od.length === 4 && od[0] === 1 && od[1] === steps) { P = od[2]; D = od[3]; } else {
      throw new Error(`${label}: model ${this.name} output '${this.outputName}' has shape ${shapeStr(od)} for a clip of ${n} frames; expected [1, ${steps}·P, D] (tubelet ${this.tubelet})`);
    }
    if (out.type !== 'float32') throw new Error(`${label}: model ${this.name} output '${this.outputName}' is ${out.type}, expected float32`);
    return { data: out.data as Float32Array, shape: [steps, P, D] };
  }

  /** Converts a chunk of RGB frames `[n, S, S, 3]` uint8 to normalised `[3, S, S]` float32 views, in C++ off the main thread. */
  private async preprocess(chunk: FrameChunk): Promise<Float32Array[]> {
    const S = this.imageSize;
    const per = 3 * S * S;
    const out = hostArray(Float32Array, chunk.count * per, { zero: false }); // written in place by the async call
    await native().encoderFramesToChw({ frames: chunk.data, mean: new Float32Array(this.mean), std: new Float32Array(this.std) }, { n: chunk.count, H: S, W: S, threads: 0 }, { chw: out });
    return Array.from({ length: chunk.count }, (_, i) => out.subarray(i * per, (i + 1) * per));
  }

  /** Starts streaming one episode: clips run as soon as enough frames arrived; only the last F frames are kept. */
  begin(label: string): EncoderStream {
    const F = this.framesPerClip;
    const tau = this.tubelet;
    const S = this.clipStride;
    const buf: Float32Array[] = []; // frames [bufStart, bufStart + buf.length)
    let bufStart = 0;
    let seen = 0;
    let nextStart = 0;
    let emitted = 0; // steps produced
    const pieces: Tensor[] = [];
    let PD: [number, number] | undefined;
    const frame = (i: number): Float32Array => buf[i - bufStart];
    const keepSteps = (t: Tensor, from: number, to: number): void => {
      const [, P, D] = t.shape;
      if (PD && (PD[0] !== P || PD[1] !== D)) throw new Error(`${label}: model ${this.name} changed its output from [P=${PD[0]}, D=${PD[1]}] to [P=${P}, D=${D}] between clips`);
      PD = [P, D];
      pieces.push({ data: t.data.subarray(from * P * D, to * P * D), shape: [to - from, P, D] });
      emitted += to - from;
    };
    return {
      push: async (chunk: FrameChunk) => {
        if (chunk.width !== this.imageSize || chunk.height !== this.imageSize) {
          throw new Error(`${label}: frames must be ${this.imageSize}×${this.imageSize} for ${this.name} but a chunk is ${chunk.width}×${chunk.height}`);
        }
        const pre = await this.preprocess(chunk);
        for (let i = 0; i < chunk.count; i++) {
          buf.push(pre[i]);
          seen++;
          while (nextStart + F <= seen) {
            const clip = Array.from({ length: F }, (_, k) => frame(nextStart + k));
            const out = await this.runClip(clip, label);
            keepSteps(out, emitted - nextStart / tau, F / tau);
            nextStart += S;
          }
          const drop = Math.min(nextStart, seen - F) - bufStart;
          if (drop > 0) { buf.splice(0, drop); bufStart += drop; }
        }
      },
      finish: async () => {
        if (seen === 0) throw new Error(`${label}: the episode has zero frames`);
        const plan = planClips(seen, F, tau, S, this.dynamicTime);
        const last = buf[buf.length - 1];
        const at = (i: number): Float32Array => (i < seen ? frame(i) : last);
        for (const run of plan) {
          const firstStep = run.start / tau;
          if (firstStep + run.keep[1] <= emitted) continue; // already produced while streaming
          const clip = Array.from({ length: run.frames }, (_, k) => at(run.start + k));
          const out = await this.runClip(clip, label);
          keepSteps(out, emitted - firstStep, run.keep[1]);
        }
        const [P, D] = PD!;
        return pieces.length === 1 ? { data: pieces[0].data.slice(), shape: pieces[0].shape } : concatSteps(pieces, P, D);
      },
    };
  }

  /** Declared output of the model (name, type, shape), e.g. for sizing buffers. */
  get outputInfo(): { name: string; type: string; shape: Dim[] } {
    return { ...this.outMeta, shape: [...this.outMeta.shape] };
  }
}

function checkTriple(v: unknown, name: string, positive: boolean): readonly number[] {
  if (!Array.isArray(v) || v.length !== 3) throw typeError(name, 'three numbers (R, G, B)', v);
  return v.map((x, i) => checkNumber(x, `${name}[${i}]`, positive ? Number.MIN_VALUE : -Infinity, Infinity, positive ? 'a finite number > 0' : undefined));
}

// ------------------------------------------------------------ backbone

/** Options of {@link OnnxBackbone.load}. */
const ONNX_ENCODER_KEYS: OptionKeys<OnnxVisualEncoderOptions> = {
  inputName: 1, outputName: 1, layout: 1, framesPerClip: 1, tubelet: 1, imageSize: 1, mean: 1, std: 1, clipStride: 1,
  executionProviders: 1, threads: 1,
};

export interface OnnxBackboneOptions {
  /** Output holding the hidden state (default: the model's only output, else 'last_hidden_state' / 'hidden_states'). */
  outputName?: string;
  /** How a `[B, L, H]` output becomes `[B, H]`: 'last' token (default), 'first' or 'mean'. */
  pooling?: 'last' | 'first' | 'mean';
  executionProviders?: string[];
  threads?: number;
}

/** A feed value for {@link OnnxBackbone.embed}: a float32 tensor, or integer ids. */
export interface BackboneInput {
  data: Float32Array | BigInt64Array | Int32Array;
  shape: number[];
}

const DATA_TYPES: Array<[new (...a: never[]) => unknown, string]> = [[Float32Array, 'float32'], [BigInt64Array, 'int64'], [Int32Array, 'int32']];

/**
 * The last hidden state of an exported vision-language model (e.g. Qwen3-VL-4B,
 * H = 2560) as value-model input: `embed(inputs) → [B, H]`.
 */
export class OnnxBackbone {
  readonly name: string;
  readonly inputs: ReadonlyArray<{ name: string; type: string; shape: Dim[] }>;
  readonly outputName: string;
  readonly pooling: 'last' | 'first' | 'mean';
  readonly executionProvider: string;
  /** Hidden size H when the model declares it statically. */
  readonly hiddenSize: number | undefined;
  private readonly session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession, path: string, provider: string, inputs: TensorMeta[], output: TensorMeta, pooling: 'last' | 'first' | 'mean') {
    this.session = session;
    this.name = path;
    this.executionProvider = provider;
    this.inputs = inputs;
    this.outputName = output.name;
    this.pooling = pooling;
    const h = output.shape[output.shape.length - 1];
    this.hiddenSize = typeof h === 'number' ? h : undefined;
  }

  /**
   * Loads an exported backbone and checks that the chosen output is a float32
   * `[B, H]` or `[B, L, H]` hidden state.
   *
   * @throws {Error} for a missing or corrupt model file, or an output that does not fit, naming the path
   * @example
   * const bb = await OnnxBackbone.load('qwen3-vl-4b-vision.onnx');
   * const h = await bb.embed({ pixel_values: { data, shape: [8, 3, 448, 448] } });   // [8, 2560]
   */
  static async load(path: string, opts?: OnnxBackboneOptions): Promise<OnnxBackbone> {
    const o = checkOptions(opts, 'opts', { outputName: 1, pooling: 1, executionProviders: 1, threads: 1 });
    const what = 'OnnxBackbone.load';
    const pooling = o.pooling ?? 'last';
    if (pooling !== 'last' && pooling !== 'first' && pooling !== 'mean') throw typeError('opts.pooling', "'last', 'first' or 'mean'", pooling);
    const threads = o.threads === undefined ? undefined : checkInt(o.threads, 'opts.threads', 0, 4096);
    const { session, provider } = await createSession(path, what, o.executionProviders, threads);
    const outs = tensorMeta(session, 'output');
    let output: TensorMeta;
    if (o.outputName === undefined && outs.length > 1) {
      const guess = outs.find((m) => m.name === 'last_hidden_state' || m.name === 'hidden_states');
      output = guess ?? pick(outs, undefined, 'output', path, what);
    } else output = pick(outs, o.outputName, 'output', path, what);
    if (output.type !== 'float32') throw new Error(`${what}: model ${path} output '${output.name}' is ${output.type} ${dimsStr(output.shape)}, but a hidden state must be float32`);
    if (output.shape.length !== 2 && output.shape.length !== 3) {
      throw new Error(`${what}: model ${path} output '${output.name}' has rank ${output.shape.length} ${dimsStr(output.shape)}, but a hidden state is [B, H] or [B, L, H]`);
    }
    return new OnnxBackbone(session, path, provider, tensorMeta(session, 'input'), output, pooling);
  }

  /**
   * Runs the backbone and returns one hidden vector per batch row, `[B, H]`
   * (a `[B, L, H]` output is pooled by `pooling`). Every input is checked
   * against the model's declared name, element type, rank and static sizes.
   *
   * @param inputs one tensor (for a single-input model) or a map from input name to tensor
   * @throws {TypeError|RangeError} naming the input and what the model expects
   */
  async embed(inputs: BackboneInput | Record<string, BackboneInput>): Promise<Tensor> {
    if (inputs === null || typeof inputs !== 'object') throw typeError('inputs', 'a tensor or a { name: tensor } map', inputs);
    const feeds: Record<string, BackboneInput> = 'data' in inputs && 'shape' in inputs
      ? (this.inputs.length === 1 ? { [this.inputs[0].name]: inputs as BackboneInput }
        : (() => { throw new TypeError(`Expected a { name: tensor } map for inputs (model ${this.name} has inputs ${this.inputs.map((i) => `'${i.name}'`).join(', ')}) but received one tensor`); })())
      : inputs as Record<string, BackboneInput>;
    const ortFeeds: Record<string, ort.Tensor> = {};
    let B: number | undefined;
    for (const m of this.inputs) {
      const t = feeds[m.name];
      const name = `inputs.${m.name}`;
      if (t === undefined) throw new TypeError(`Expected a tensor for ${name} (model ${this.name} expects ${m.type} ${dimsStr(m.shape)}) but received undefined`);
      if (t === null || typeof t !== 'object') throw typeError(name, `a ${m.type} tensor ${dimsStr(m.shape)}`, t);
      const dt = DATA_TYPES.find(([C]) => t.data instanceof C)?.[1];
      if (dt === undefined) throw typeError(`${name}.data`, 'a Float32Array, BigInt64Array or Int32Array', t.data);
      if (dt !== m.type) throw new TypeError(`Expected ${m.type} data for ${name} (model ${this.name} declares ${m.type} ${dimsStr(m.shape)}) but received ${dt}`);
      if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw typeError(`${name}.shape`, 'an array of sizes', t.shape);
      if (m.shape.length > 0 && t.shape.length !== m.shape.length) {
        throw new RangeError(`Expected rank ${m.shape.length} ${dimsStr(m.shape)} for ${name} but received shape ${shapeStr(t.shape)}`);
      }
      m.shape.forEach((d, i) => {
        if (typeof d === 'number' && d !== t.shape[i]) throw new RangeError(`Expected ${name}.shape[${i}] = ${d} (model declares ${dimsStr(m.shape)}) but received shape ${shapeStr(t.shape)}`);
      });
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new RangeError(`Expected ${name}.data to hold ${n} elements for shape ${shapeStr(t.shape)} but received ${t.data.length}`);
      if (B !== undefined && t.shape[0] !== B) throw new RangeError(`Expected ${name}.shape[0] = ${B} (the batch of the other inputs) but received ${t.shape[0]}`);
      B = t.shape[0];
      ortFeeds[m.name] = new (loadedOnnxRuntime().Tensor)(dt as 'float32', t.data as Float32Array, t.shape);
    }
    for (const k of Object.keys(feeds)) {
      if (!this.inputs.some((m) => m.name === k)) throw new TypeError(`Unknown input '${k}' for model ${this.name}; its inputs are ${this.inputs.map((i) => `'${i.name}'`).join(', ')}`);
    }
    let out: ort.Tensor;
    try {
      out = (await this.session.run(ortFeeds, [this.outputName]))[this.outputName];
    } catch (err) {
      throw new Error(`OnnxBackbone.embed: model ${this.name} failed: ${String((err as Error).message).split('\n')[0]}`);
    }
    const od = out.dims;
    const x = out.data as Float32Array;
    if (od.length === 2) return { data: x.slice(), shape: [od[0], od[1]] };
    const [b, L, H] = od;
    const res = new Float32Array(b * H);
    for (let i = 0; i < b; i++) {
      if (this.pooling === 'mean') {
        for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) res[i * H + h] += x[(i * L + l) * H + h] / L;
      } else {
        const l = this.pooling === 'last' ? L - 1 : 0;
        res.set(x.subarray((i * L + l) * H, (i * L + l + 1) * H), i * H);
      }
    }
    return { data: res, shape: [b, H] };
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
