// Image feature extractors in the model hub's ONNX layout (config.json,
// preprocessor_config.json, onnx/model.onnx and its fp16 / quantized variants,
// e.g. DINOv2, DINOv2 with registers, I-JEPA, SigLIP's vision tower), by name
// from the hub or from a local folder: frames are preprocessed as the
// processor config says (C++, off the main thread), run in batches through
// onnxruntime (CUDA when its provider is installed), and the last hidden state
// [B, tokens, D] becomes per-frame patch features [T, P, D]: the CLS and
// register tokens are dropped, the patch tokens kept in grid order.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { onnxRuntime } from './ort.js';
import type { FrameChunk } from '../io/episodes.js';
import { HubError, HubRepo, parseHubName, type HubOptions } from '../io/hub.js';
import { onnxExternalDataFiles } from '../io/onnx-external.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkOptions, shapeStr, typeError, type OptionKeys } from '../core/validate.js';
import type { EncoderStream, FrameEncoder } from './encoder.js';
import { imageProcessorConfig, preprocessImages, processedSize, type ImageProcessorConfig } from './hf-preprocess.js';
import { createSession, dimsStr, tensorMeta, type TensorMeta } from './onnx.js';

/** Model variants by precision, as the hub's ONNX exports name them (transformers.js' dtypes). */
export const HUB_DTYPES = Object.freeze(['fp32', 'fp16', 'q8', 'q4', 'int8', 'uint8', 'q4f16', 'bnb4'] as const);
/** One of {@link HUB_DTYPES}. */
export type HubDtype = (typeof HUB_DTYPES)[number];
/** File name suffix of each precision: `onnx/model{suffix}.onnx`. */
export const HUB_DTYPE_SUFFIX: Readonly<Record<HubDtype, string>> = Object.freeze({
  fp32: '', fp16: '_fp16', q8: '_quantized', q4: '_q4', int8: '_int8', uint8: '_uint8', q4f16: '_q4f16', bnb4: '_bnb4',
});

/**
 * Tokens before the patch tokens, by config.json `model_type` (plus
 * `num_register_tokens`): one CLS token for DINOv2, ViT and CLIP, CLS and
 * distillation tokens for DeiT, none for I-JEPA and SigLIP.
 */
export const PREFIX_TOKENS: Readonly<Record<string, number>> = Object.freeze({
  dinov2: 1, dinov2_with_registers: 1, dinov3_vit: 1, vit: 1, clip: 1, clip_vision_model: 1, deit: 2,
  ijepa: 0, siglip: 0, siglip_vision_model: 0, siglip2: 0, siglip2_vision_model: 0,
});

/** Options of {@link OnnxImageEncoder.fromHub} and {@link OnnxImageEncoder.load}. */
export interface OnnxImageEncoderOptions extends HubOptions {
  /** Which model file: fp32 (`onnx/model.onnx`, default), fp16, q8 (`_quantized`), q4, int8, uint8, q4f16, bnb4. */
  dtype?: HubDtype;
  /** Base name of the model file in `onnx/` (default 'model', or 'vision_model' when config.json has a `vision_config`, as CLIP and SigLIP exports do). */
  modelFile?: string;
  /** Output holding the tokens (default 'last_hidden_state', else the model's only output). */
  outputName?: string;
  /** Frames per model call (default 8; a model with a fixed batch size uses that). */
  batchSize?: number;
  /** onnxruntime execution providers (default ['cuda', 'cpu'] when the CUDA provider is installed, else ['cpu']). */
  executionProviders?: string[];
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
}

const OPTION_KEYS: OptionKeys<OnnxImageEncoderOptions> = {
  dtype: 1, modelFile: 1, outputName: 1, batchSize: 1, executionProviders: 1, threads: 1,
  revision: 1, endpoint: 1, token: 1, cacheDir: 1, offline: 1, progress: 1, onWarning: 1, timeoutSeconds: 1,
};

/** What the encoder reads from config.json. */
interface VisionConfig {
  modelType: string | undefined;
  patchSize: number;
  registers: number;
  /** Tokens before the patches when the model type is known. */
  prefix: number | undefined;
}

/** onnxruntime-node, an optional peer, imported on first use (ort.ts: OnnxRuntimeUnavailableError without it). */
function onnxruntime(): Promise<typeof Ort> {
  return onnxRuntime('OnnxImageEncoder');
}

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: ${file} is not valid JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: ${file} does not hold a JSON object`);
  return v as Record<string, unknown>;
}

function visionConfig(config: Record<string, unknown>, file: string, what: string): VisionConfig {
  const vc = (config.vision_config && typeof config.vision_config === 'object' ? config.vision_config : config) as Record<string, unknown>;
  const modelType = typeof vc.model_type === 'string' ? vc.model_type : typeof config.model_type === 'string' ? config.model_type : undefined;
  let patch = vc.patch_size ?? config.patch_size;
  if (Array.isArray(patch) && patch.length === 2 && patch[0] === patch[1]) patch = patch[0];
  if (!Number.isInteger(patch) || (patch as number) < 1) {
    throw new Error(`${what}: ${file} has no usable patch_size (${JSON.stringify(patch)}), so the patch tokens cannot be told from the others; ` +
      'feat2go loads ViT-style feature extractors (DINOv2, I-JEPA, SigLIP, ViT, CLIP)');
  }
  const reg = vc.num_register_tokens ?? config.num_register_tokens ?? 0;
  if (!Number.isInteger(reg) || (reg as number) < 0) throw new Error(`${what}: ${file} num_register_tokens must be a whole number ≥ 0 but is ${JSON.stringify(reg)}`);
  const prefix = modelType !== undefined && modelType in PREFIX_TOKENS ? PREFIX_TOKENS[modelType] + (reg as number) : undefined;
  return { modelType, patchSize: patch as number, registers: reg as number, prefix };
}

/** float32 → IEEE half bits, round to nearest even. */
function toHalf(src: Float32Array): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    const e = exp - 127 + 15;
    if (e >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    out[i] = sign | Math.min(h, 0x7c00);
  }
  return out;
}

/** IEEE half bits → float32. */
function fromHalf(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/**
 * A ViT-style image feature extractor exported to ONNX in the hub's layout, as a
 * streaming {@link FrameEncoder}: frames (any size) → `[T, P, D]` patch features,
 * one step per frame. Input `pixel_values` `[B, 3, h, w]` (float32 or float16)
 * preprocessed as preprocessor_config.json says (see {@link imageProcessorConfig});
 * output `last_hidden_state` `[B, tokens, D]`, of which the tokens before the
 * `P = (h/patch)·(w/patch)` patch tokens (CLS, registers) are dropped.
 */
export class OnnxImageEncoder implements FrameEncoder {
  /** `hf:ORG/NAME@COMMIT` for a hub model, else the model folder. */
  readonly name: string;
  /** Frames are preprocessed here, so the decoder delivers them at their own size. */
  readonly imageSize = undefined;
  /** Frames per model call. */
  readonly chunkFrames: number;
  readonly batchSize: number;
  /** The model file loaded (a path inside the cache's snapshot for hub models). */
  readonly modelPath: string;
  readonly dtype: HubDtype;
  /** The resolved preprocessor_config.json. */
  readonly processor: ImageProcessorConfig;
  /** config.json's model_type, when it has one. */
  readonly modelType: string | undefined;
  readonly patchSize: number;
  /** Register tokens (config.json num_register_tokens). */
  readonly registers: number;
  readonly inputName: string;
  readonly outputName: string;
  /** Execution provider the session was created with first ('cuda' or 'cpu'). */
  readonly executionProvider: string;
  /** Hidden size D when the model declares it. */
  readonly hiddenSize: number | undefined;
  /** Model calls made so far. */
  runs = 0;
  private readonly session: Ort.InferenceSession;
  private readonly input: TensorMeta;
  private readonly output: TensorMeta;
  private readonly prefix: number | undefined;
  private readonly staticBatch: number | undefined;

  private constructor(init: {
    name: string; session: Ort.InferenceSession; provider: string; modelPath: string; dtype: HubDtype; processor: ImageProcessorConfig;
    vision: VisionConfig; input: TensorMeta; output: TensorMeta; batch: number; staticBatch: number | undefined;
  }) {
    this.name = init.name;
    this.session = init.session;
    this.executionProvider = init.provider;
    this.modelPath = init.modelPath;
    this.dtype = init.dtype;
    this.processor = init.processor;
    this.modelType = init.vision.modelType;
    this.patchSize = init.vision.patchSize;
    this.registers = init.vision.registers;
    this.prefix = init.vision.prefix;
    this.input = init.input;
    this.output = init.output;
    this.inputName = init.input.name;
    this.outputName = init.output.name;
    this.batchSize = init.batch;
    this.chunkFrames = init.batch;
    this.staticBatch = init.staticBatch;
    const d = init.output.shape[2];
    this.hiddenSize = typeof d === 'number' ? d : undefined;
  }

  /**
   * Loads an image feature extractor from the model hub by name, downloading
   * config.json, preprocessor_config.json and the ONNX file of the chosen `dtype`
   * (with its external data, `model.onnx_data`) into the Python client's cache, or
   * reading them from it (see {@link HubOptions}: HF_ENDPOINT, HF_TOKEN, HF_HOME,
   * HF_HUB_OFFLINE).
   *
   * @param name `hf:ORG/NAME[@REVISION]` (the `hf:` prefix is optional)
   * @throws {HubError} for a missing, gated or unreachable model, a cut download, or
   *   offline mode without the model in the cache; each names the model and what to do
   * @throws {Error} for a model or config that does not fit (e.g. an output that is not `[B, tokens, D]`)
   * @example
   * const dino = await OnnxImageEncoder.fromHub('hf:onnx-community/dinov2-small', { dtype: 'fp16' });
   * const features = await encodeFrames('episodes/pick_cube_03.mp4', dino);   // [T, 256, 384]
   */
  static async fromHub(name: string, opts: OnnxImageEncoderOptions = {}): Promise<OnnxImageEncoder> {
    const o = checkOptions(opts, 'opts', OPTION_KEYS);
    const { repo, revision } = parseHubName(name);
    if (revision !== undefined && o.revision !== undefined && revision !== o.revision) {
      throw new TypeError(`Expected one revision but received '${revision}' in the name and '${o.revision}' as opts.revision`);
    }
    const dtype = checkDtype(o.dtype);
    const what = `hf:${repo}`;
    const hub = new HubRepo(repo, { ...pickHub(o), revision: revision ?? o.revision });
    const config = readJson(await hub.file('config.json'), what);
    const pre = readJson(await hub.file('preprocessor_config.json'), what);
    const file = `onnx/${modelBase(o.modelFile, config)}${HUB_DTYPE_SUFFIX[dtype]}.onnx`;
    let modelPath: string;
    try {
      modelPath = await hub.file(file);
    } catch (err) {
      const e = err as HubError;
      if (!(e instanceof HubError) || (e.code !== 'ENTRY_NOT_FOUND' && e.code !== 'OFFLINE_NOT_CACHED') || hub.commit === undefined) throw e;
      const files = await hub.listFiles();
      const variants = files ? onnxVariants(files) : [];
      const where = hub.settings.offline ? 'the cached copy has' : 'the repository has';
      e.message = `${hub.label}: no ${dtype} model (${file})${e.code === 'OFFLINE_NOT_CACHED' ? ' in the cache, and HF_HUB_OFFLINE is set' : ''}; ` +
        `${variants.length ? `${where} ${variants.join(', ')}: choose one with --dtype (opts.dtype${o.modelFile ? ', opts.modelFile' : ''})` : `${where} no onnx/*.onnx files${files ? '' : ' (or its file list could not be read)'}`}`;
      throw e;
    }
    const dir = path.posix.dirname(file);
    for (const ext of onnxExternalDataFiles(modelPath)) await hub.file(`${dir}/${ext}`);
    return OnnxImageEncoder.build(`hf:${repo}@${hub.commit}`, modelPath, config, pre, 'config.json', 'preprocessor_config.json', dtype, o);
  }

  /**
   * Loads an image feature extractor from a local folder in the hub's layout
   * (config.json, preprocessor_config.json and `onnx/model{suffix}.onnx`), such as a
   * snapshot copied to a machine without network.
   *
   * @throws {Error} naming the folder and the missing or unfit file
   * @example
   * const enc = await OnnxImageEncoder.load('models/dinov2-small', { dtype: 'q8' });
   */
  static async load(dir: string, opts: OnnxImageEncoderOptions = {}): Promise<OnnxImageEncoder> {
    const o = checkOptions(opts, 'opts', OPTION_KEYS);
    if (typeof dir !== 'string' || dir === '') throw typeError('dir', 'a model folder', dir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`OnnxImageEncoder.load: ${dir} is not a folder (expected config.json, preprocessor_config.json and onnx/model.onnx in it)`);
    const dtype = checkDtype(o.dtype);
    const what = `OnnxImageEncoder.load ${dir}`;
    const config = readJson(path.join(dir, 'config.json'), what);
    const pre = readJson(path.join(dir, 'preprocessor_config.json'), what);
    const file = `${modelBase(o.modelFile, config)}${HUB_DTYPE_SUFFIX[dtype]}.onnx`;
    const modelPath = [path.join(dir, 'onnx', file), path.join(dir, file)].find((p) => existsSync(p));
    if (!modelPath) throw new Error(`${what}: no ${dtype} model: neither onnx/${file} nor ${file} exists`);
    for (const ext of onnxExternalDataFiles(modelPath)) {
      if (!existsSync(path.join(path.dirname(modelPath), ext))) throw new Error(`${what}: ${path.basename(modelPath)} stores its weights in ${ext}, which is missing next to it`);
    }
    return OnnxImageEncoder.build(path.resolve(dir), modelPath, config, pre, path.join(dir, 'config.json'), path.join(dir, 'preprocessor_config.json'), dtype, o);
  }

  private static async build(name: string, modelPath: string, config: Record<string, unknown>, pre: Record<string, unknown>,
    configFile: string, preFile: string, dtype: HubDtype, o: Partial<OnnxImageEncoderOptions>): Promise<OnnxImageEncoder> {
    const what = name;
    const vision = visionConfig(config, configFile, what);
    let processor: ImageProcessorConfig;
    try {
      processor = imageProcessorConfig(pre, preFile, vision.modelType);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
    const threads = o.threads === undefined ? undefined : checkInt(o.threads, 'opts.threads', 0, 4096);
    if (o.outputName !== undefined && typeof o.outputName !== 'string') throw typeError('opts.outputName', 'a string', o.outputName);
    const { session, provider } = await createSession(modelPath, what, o.executionProviders, threads);
    const inputs = tensorMeta(session, 'input');
    const outputs = tensorMeta(session, 'output');
    const list = (ms: TensorMeta[]) => ms.map((m) => `'${m.name}' ${m.type} ${dimsStr(m.shape)}`).join(', ');
    const input = inputs.length === 1 ? inputs[0] : inputs.find((m) => m.name === 'pixel_values');
    if (!input || inputs.length > 1) {
      throw new Error(`${what}: ${path.basename(modelPath)} takes ${list(inputs)}, but an image feature extractor takes only pixel_values [B, 3, H, W]` +
        `${config.vision_config ? '' : '; for a CLIP/SigLIP-style dual encoder pick its vision tower with opts.modelFile'}`);
    }
    if ((input.type !== 'float32' && input.type !== 'float16') || (input.shape.length > 0 && input.shape.length !== 4) || (typeof input.shape[1] === 'number' && input.shape[1] !== 3)) {
      throw new Error(`${what}: ${path.basename(modelPath)} input '${input.name}' is ${input.type} ${dimsStr(input.shape)}, but the encoder feeds float pixel_values [B, 3, H, W]`);
    }
    const output = o.outputName !== undefined ? outputs.find((m) => m.name === o.outputName)
      : outputs.find((m) => m.name === 'last_hidden_state') ?? (outputs.length === 1 ? outputs[0] : undefined);
    if (!output) {
      throw new Error(`${what}: ${path.basename(modelPath)} has outputs ${list(outputs)}; ${o.outputName !== undefined ? `none is named '${o.outputName}'` : "none is 'last_hidden_state'"}: pass opts.outputName`);
    }
    if ((output.type !== 'float32' && output.type !== 'float16') || (output.shape.length > 0 && output.shape.length !== 3)) {
      throw new Error(`${what}: ${path.basename(modelPath)} output '${output.name}' is ${output.type} ${dimsStr(output.shape)}, not tokens [B, tokens, D]: ` +
        'feat2go needs a model whose output is the last hidden state (a pooled [B, D] embedding has no patches)');
    }
    const [, , sh, sw] = input.shape;
    if (typeof sh === 'number' && typeof sw === 'number') {
      const fixed = processor.crop ?? (processor.resize && 'height' in processor.resize ? processor.resize : undefined);
      if (fixed && (fixed.height !== sh || fixed.width !== sw)) {
        throw new Error(`${what}: ${path.basename(modelPath)} takes ${sh}×${sw} images but preprocessor_config.json makes ${fixed.height}×${fixed.width}`);
      }
    }
    const b0 = input.shape[0];
    const staticBatch = typeof b0 === 'number' ? b0 : undefined;
    const batch = staticBatch ?? (o.batchSize === undefined ? 8 : checkInt(o.batchSize, 'opts.batchSize', 1, 4096));
    return new OnnxImageEncoder({ name, session, provider, modelPath, dtype, processor, vision, input, output, batch, staticBatch });
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }

  /** Runs one batch of preprocessed frames `[n, 3, h, w]` → patch tokens `[n, P, D]`. */
  private async runBatch(pixels: Float32Array, n: number, h: number, w: number, label: string): Promise<Tensor> {
    const ort = await onnxruntime();
    const B = this.staticBatch ?? n;
    const per = 3 * h * w;
    let x = pixels;
    if (B > n) { // a fixed batch size: repeat the last frame
      x = new Float32Array(B * per);
      x.set(pixels);
      for (let i = n; i < B; i++) x.copyWithin(i * per, (n - 1) * per, n * per);
    }
    const dims = [B, 3, h, w];
    const feed = this.input.type === 'float16' ? new ort.Tensor('float16', toHalf(x), dims) : new ort.Tensor('float32', x, dims);
    let out: Ort.Tensor;
    try {
      out = (await this.session.run({ [this.inputName]: feed }, [this.outputName]))[this.outputName];
    } catch (err) {
      throw new Error(`${label}: model ${this.name} failed on a batch ${shapeStr(dims)}: ${String((err as Error).message).split('\n')[0]}`);
    }
    this.runs++;
    const od = out.dims;
    if (od.length !== 3 || od[0] !== B) {
      throw new Error(`${label}: model ${this.name} output '${this.outputName}' has shape ${shapeStr(od)} for a batch ${shapeStr(dims)}; expected tokens [${B}, tokens, D]`);
    }
    const [, tokens, D] = od;
    const gh = Math.floor(h / this.patchSize);
    const gw = Math.floor(w / this.patchSize);
    const P = gh * gw;
    const prefix = tokens - P;
    if (P < 1 || prefix < 0 || (this.prefix !== undefined && prefix !== this.prefix)) {
      const expect = this.prefix === undefined ? 'at least that many tokens'
        : `${this.prefix} token${this.prefix === 1 ? '' : 's'} before them (${this.prefix - this.registers} CLS${this.registers ? ` + ${this.registers} register${this.registers === 1 ? '' : 's'}` : ''}) for model_type ${this.modelType}`;
      throw new Error(`${label}: model ${this.name} returned ${tokens} tokens for ${h}×${w} images; with ${this.patchSize}-pixel patches that is ${gh}×${gw} = ${P} patch tokens, ` +
        `and it should have ${expect}: check patch_size / num_register_tokens in config.json`);
    }
    const data = out.type === 'float16' ? fromHalf(out.data as Uint16Array)
      : out.type === 'float32' ? out.data as Float32Array
        : (() => { throw new Error(`${label}: model ${this.name} output '${this.outputName}' is ${out.type}, expected float32 or float16`); })();
    const res = new Float32Array(n * P * D);
    for (let b = 0; b < n; b++) res.set(data.subarray((b * tokens + prefix) * D, (b + 1) * tokens * D), b * P * D);
    return { data: res, shape: [n, P, D] };
  }

  /**
   * Starts one episode: each pushed chunk is preprocessed (C++, off the main
   * thread) while the previous batch runs in onnxruntime; batches run one at a
   * time, in order.
   */
  begin(label: string): EncoderStream {
    const parts: Tensor[] = [];
    let PD: [number, number] | undefined;
    let frames = 0;
    let inflight: Promise<void> | undefined;
    const keep = (t: Tensor): void => {
      const [, P, D] = t.shape;
      if (PD && (PD[0] !== P || PD[1] !== D)) throw new Error(`${label}: model ${this.name} changed its output from [P=${PD[0]}, D=${PD[1]}] to [P=${P}, D=${D}] within the episode`);
      PD = [P, D];
      parts.push(t);
    };
    return {
      push: async (chunk: FrameChunk) => {
        const pre = await preprocessImages({ data: chunk.data, shape: [chunk.count, chunk.height, chunk.width, 3] }, this.processor);
        const [n, , h, w] = pre.shape;
        const per = 3 * h * w;
        for (let s = 0; s < n; s += this.batchSize) {
          const e = Math.min(n, s + this.batchSize);
          if (inflight) await inflight;
          const p = this.runBatch(pre.data.subarray(s * per, e * per), e - s, h, w, label).then(keep);
          p.catch(() => undefined); // surfaced by the next push or finish
          inflight = p;
        }
        frames += n;
      },
      finish: async () => {
        if (inflight) await inflight;
        if (frames === 0 || !PD) throw new Error(`${label}: the episode has zero frames`);
        const [P, D] = PD;
        if (parts.length === 1) return parts[0];
        const data = new Float32Array(frames * P * D);
        let off = 0;
        for (const t of parts) { data.set(t.data, off); off += t.data.length; }
        return { data, shape: [frames, P, D] };
      },
    };
  }

  /**
   * Encodes RGB frames `[n, H, W, 3]` uint8 to patch features `[n, P, D]`.
   *
   * @example
   * const f = await enc.encode({ data: frames, shape: [16, 480, 640, 3] });   // DINOv2-S: [16, 256, 384]
   */
  async encode(frames: { data: Uint8Array; shape: number[] }): Promise<Tensor> {
    if (frames === null || typeof frames !== 'object' || !(frames.data instanceof Uint8Array)) throw typeError('frames', 'a { data: Uint8Array, shape: [n, H, W, 3] } tensor', frames);
    const s = frames.shape;
    if (!Array.isArray(s) || s.length !== 4 || s[3] !== 3 || !s.every((d) => Number.isInteger(d) && d > 0) || frames.data.length !== s[0] * s[1] * s[2] * 3) {
      throw new RangeError(`Expected frames of shape [n, H, W, 3] holding n·H·W·3 bytes but received shape ${Array.isArray(s) ? shapeStr(s) : typeof s} with ${frames.data.length} bytes`);
    }
    const stream = this.begin('frames');
    await stream.push({ data: frames.data, count: s[0], height: s[1], width: s[2], start: 0 });
    return stream.finish();
  }

  /** The size `[h, w]` frames of `H × W` are fed to the model at. */
  inputSize(H: number, W: number): [number, number] {
    return processedSize(H, W, this.processor);
  }
}

function checkDtype(v: unknown): HubDtype {
  if (v === undefined) return 'fp32';
  if (typeof v !== 'string' || !(HUB_DTYPES as readonly string[]).includes(v)) throw typeError('opts.dtype', HUB_DTYPES.map((d) => `'${d}'`).join(', '), v);
  return v as HubDtype;
}

function modelBase(modelFile: unknown, config: Record<string, unknown>): string {
  if (modelFile === undefined) return config.vision_config && typeof config.vision_config === 'object' ? 'vision_model' : 'model';
  if (typeof modelFile !== 'string' || !/^[\w.-]+$/.test(modelFile) || modelFile.endsWith('.onnx')) {
    throw typeError('opts.modelFile', "a base name inside onnx/ such as 'model' or 'vision_model' (no folder, no .onnx)", modelFile);
  }
  return modelFile;
}

/** `fp32 (onnx/model.onnx)`-style names of the model variants among `files`. */
function onnxVariants(files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const m = /^onnx\/([\w.-]+?)(_fp16|_quantized|_q4f16|_q4|_int8|_uint8|_bnb4)?\.onnx$/.exec(f);
    if (!m) continue;
    const dtype = (Object.entries(HUB_DTYPE_SUFFIX).find(([, s]) => s === (m[2] ?? ''))?.[0]) ?? '?';
    out.push(`${dtype} (${f})`);
  }
  return out;
}

function pickHub(o: Partial<OnnxImageEncoderOptions>): HubOptions {
  const h: HubOptions = {};
  for (const k of ['endpoint', 'token', 'cacheDir', 'offline', 'progress', 'onWarning', 'timeoutSeconds'] as const) {
    if (o[k] !== undefined) (h as Record<string, unknown>)[k] = o[k];
  }
  return h;
}
