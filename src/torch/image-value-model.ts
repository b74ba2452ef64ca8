// A value model that sees the task: a trainable ConvBackbone and the
// distributional value head of SPEC §4, trained in the paper's two stages
// (the head on the frozen backbone, then everything jointly) with image
// augmentation on the training batches.
import type { NativeImageFitOptions, NativeImageValueModel } from '../core/native-types.js';
import type { Tensor } from '../core/types.js';
import { cancellable, checkSignal } from '../core/cancel.js';
import { checkInt, checkNumber, checkOptions, typeError, withCallerStack } from '../core/validate.js';
import { asNonFinite, checkSeed, checkVector, torchAddon, training } from './common.js';
import { matchTensors, readStateDict, type NamedTensor } from './files.js';
import { resolveDistributedFlag } from './distributed.js';
import {
  ConvBackbone, readModelConfig, resolveAugment, saveModel, type AugmentOptions, type ConvBackboneConfig, type Frames,
} from './backbone.js';

/** The value head of an {@link ImageValueModel} (its input size is the backbone's embedDim). */
export interface ImageValueHeadConfig {
  /** Width Hh of the head's hidden layer. Default 128. */
  hiddenDim?: number;
  /** Number of atoms on [0, 1] (≥ 2). Default 201. */
  bins?: number;
  /** Target distribution: 'two-hot' (default) or 'one-hot'. */
  targets?: 'two-hot' | 'one-hot';
  /** Seed of the head's orthogonal initialisation. Default 0. */
  seed?: number;
}

/** Construction options of {@link ImageValueModel}. */
export interface ImageValueModelConfig {
  /** A backbone to train (shared, not copied) or the config of a new one. Default: a new `ConvBackbone()`. */
  backbone?: ConvBackbone | ConvBackboneConfig;
  /** The value head. */
  head?: ImageValueHeadConfig;
}

/** Options of {@link ImageValueModel.fit}. */
export interface ImageValueFitOptions {
  /**
   * 'head': the paper's first stage, the head alone on the frozen backbone
   * (the backbone's weights and optimizer moments stay bit for bit); 'joint'
   * (default): backbone and head together.
   */
  stage?: 'head' | 'joint';
  /** Passes over the frames. Default 1. */
  epochs?: number;
  /** Minibatch frames. Default 128. */
  batchSize?: number;
  /** AdamW learning rate of the head. Default 1e-3. */
  lr?: number;
  /** AdamW learning rate of the backbone in the joint stage. Default: `lr`. */
  backboneLr?: number;
  /** AdamW decoupled weight decay (both groups). Default 0.01. */
  weightDecay?: number;
  /** 'cosine' (default: lr · ½(1 + cos(π·step/steps)) over the call's steps) or 'constant'. */
  schedule?: 'cosine' | 'constant';
  /**
   * Augmentation of the training batches ({@link AugmentOptions}; defaults
   * shift 4, brightness 0.2, contrast 0.2, gain 0.1), or false for none. Its
   * draws depend on (seed, epoch, frame index) only. The head stage without
   * augmentation embeds each frame once instead of every epoch.
   */
  augment?: AugmentOptions | false;
  /** Seed of the minibatch order and of the augmentation. Default 0. */
  seed?: number;
  /** Called on the main thread after each epoch (async `fit` only). */
  onProgress?: (p: { epoch: number; epochs: number; loss: number }) => void;
  /**
   * Cancels the fit (async `fit` only): it stops before its next optimizer
   * step, the backbone, head and optimizer state return to what they were
   * before the call, and the Promise rejects with `signal.reason`. An
   * already-aborted signal rejects without any work.
   */
  signal?: AbortSignal;
  /**
   * Data parallel over the process group (default: whether one is
   * initialised). Each rank passes its share of the frames (the shares in
   * rank order form the global set); the weights are broadcast from rank 0,
   * each minibatch is a slice of one seeded permutation of the global set,
   * frame i of the global set is augmented alike on any rank, and the summed
   * gradients make every rank take the step one process takes on the whole
   * set. `batchSize` counts global frames; the losses are global.
   */
  distributed?: boolean;
}

/** Result of a fit: the mean cross-entropy of each epoch (measured during the epoch, on the augmented batches). */
export interface ImageValueFitResult {
  losses: number[];
}

/** Options of {@link ImageValueModel.fitStages}: the two stages' options (minus `stage`), shared keys in `common`. */
export interface ImageValueStagesOptions {
  /** Options of both stages (overridden by `head` / `joint`). */
  common?: Omit<ImageValueFitOptions, 'stage'>;
  /** The head stage on the frozen backbone; false skips it. */
  head?: Omit<ImageValueFitOptions, 'stage'> | false;
  /** The joint stage. */
  joint?: Omit<ImageValueFitOptions, 'stage'> | false;
}

const FORMAT = 'feat2go.image-value-model.v1';

/**
 * A value model that sees the task: {@link ConvBackbone} → embedding →
 * the distributional value head of SPEC §4 (`Linear → LayerNorm → GELU →
 * Linear` over `bins` atoms of [0, 1], two-hot cross-entropy). Trained as the
 * paper trains its value model, in two stages: `fit(…, { stage: 'head' })`
 * trains the head on the frozen backbone, then `fit(…, { stage: 'joint' })`
 * trains everything, both with image augmentation on the training batches
 * (never at prediction). One AdamW with a backbone and a head parameter group
 * persists across calls.
 *
 * Every fit is all or nothing: a NaN/±Infinity loss, gradient or final weight
 * throws {@link NonFiniteError} and leaves the backbone, the head and the
 * optimizer bit for bit as they were.
 *
 * @example
 * const vm = new ImageValueModel({ backbone: { imageSize: 64, seed: 1 }, head: { hiddenDim: 128, seed: 1 } });
 * const frames = { data: rgb, shape: [N, 64, 64, 3] };                   // Uint8Array, e.g. PickPlaceEnv frames
 * await vm.fit(frames, targets, { stage: 'head', epochs: 2, seed: 1 });    // backbone frozen
 * await vm.fit(frames, targets, { stage: 'joint', epochs: 4, seed: 2 });   // everything
 * const v = vm.predict(frames);                                           // Float32Array [N] in [0, 1]
 * vm.save('value.safetensors');                                           // + value.json
 */
export class ImageValueModel {
  /** The backbone (shared with whoever passed it in). */
  readonly backbone: ConvBackbone;
  /** The resolved head configuration (inputDim is the backbone's embedDim). */
  readonly head: Readonly<Required<ImageValueHeadConfig> & { inputDim: number }>;
  private readonly n: NativeImageValueModel;

  /**
   * @throws {TorchUnavailableError} when the addon was built without libtorch
   * @throws {TypeError|RangeError} on a bad config (naming the key)
   */
  constructor(config?: ImageValueModelConfig) {
    const addon = torchAddon('ImageValueModel');
    const c = checkOptions(config, 'config', { backbone: 1, head: 1 });
    this.backbone = c.backbone instanceof ConvBackbone ? c.backbone : new ConvBackbone(c.backbone, 'config.backbone');
    const h = checkOptions(c.head, 'config.head', { hiddenDim: 1, bins: 1, targets: 1, seed: 1 });
    const targets = h.targets ?? 'two-hot';
    if (targets !== 'two-hot' && targets !== 'one-hot') throw typeError('config.head.targets', "'two-hot' or 'one-hot'", targets);
    this.head = Object.freeze({
      inputDim: this.backbone.embedDim,
      hiddenDim: checkInt(h.hiddenDim ?? 128, 'config.head.hiddenDim', 1, 1 << 16),
      bins: checkInt(h.bins ?? 201, 'config.head.bins', 2, 1 << 16),
      targets,
      seed: checkSeed(h.seed ?? 0, 'config.head.seed'),
    });
    this.n = new addon.ImageValueModelNative({ backbone: this.backbone.native }, Object.freeze({
      hiddenDim: this.head.hiddenDim, bins: this.head.bins, oneHot: targets === 'one-hot', seed: this.head.seed,
    }));
  }

  /**
   * Predicted values `[B]` in [0, 1]: Σ softmax(logits)·z over the atoms (no augmentation).
   * @throws {TypeError|RangeError} for frames of another layout or size, or float values outside [0, 1]
   */
  predict(frames: Frames): Float32Array {
    const f = this.backbone.checkFrames(frames);
    return this.n.predict({ frames: f.data }, { B: f.B });
  }

  /** Predicted distributions over the atoms, `[B, bins]`. */
  predictDistribution(frames: Frames): Tensor {
    const f = this.backbone.checkFrames(frames);
    return { data: this.n.predictDistribution({ frames: f.data }, { B: f.B }), shape: [f.B, this.head.bins] };
  }

  /** The backbone's embeddings `[B, E]` (the head's input). */
  embed(frames: Frames): Tensor {
    const f = this.backbone.checkFrames(frames);
    return { data: this.n.embed({ frames: f.data }, { B: f.B }), shape: [f.B, this.backbone.embedDim] };
  }

  /** Mean cross-entropy of the predictions against the targets' distributions (no augmentation, no update). */
  loss(frames: Frames, targets: Float32Array | number[]): number {
    const f = this.backbone.checkFrames(frames);
    return this.n.loss({ frames: f.data, targets: checkVector(targets, 'targets', f.B) }, { B: f.B });
  }

  private fitArgs(frames: Frames, targets: Float32Array | number[], opts?: ImageValueFitOptions) {
    const f = this.backbone.checkFrames(frames);
    const t = checkVector(targets, 'targets', f.B);
    const o = checkOptions(opts, 'opts', {
      stage: 1, epochs: 1, batchSize: 1, lr: 1, backboneLr: 1, weightDecay: 1, schedule: 1, augment: 1, seed: 1, onProgress: 1, distributed: 1, signal: 1,
    });
    const signal = checkSignal(o.signal, 'opts.signal');
    const stage = o.stage ?? 'joint';
    if (stage !== 'head' && stage !== 'joint') throw typeError('opts.stage', "'head' or 'joint'", stage);
    const schedule = o.schedule ?? 'cosine';
    if (schedule !== 'cosine' && schedule !== 'constant') throw typeError('opts.schedule', "'cosine' or 'constant'", schedule);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw typeError('opts.onProgress', 'a function', o.onProgress);
    const lr = checkNumber(o.lr ?? 1e-3, 'opts.lr', 0);
    const native: NativeImageFitOptions & { B: number } = {
      B: f.B,
      stage,
      epochs: checkInt(o.epochs ?? 1, 'opts.epochs', 1),
      batchSize: checkInt(o.batchSize ?? 128, 'opts.batchSize', 1),
      lr,
      backboneLr: checkNumber(o.backboneLr ?? lr, 'opts.backboneLr', 0),
      weightDecay: checkNumber(o.weightDecay ?? 0.01, 'opts.weightDecay', 0),
      cosine: schedule === 'cosine',
      seed: checkSeed(o.seed ?? 0, 'opts.seed'),
      augment: resolveAugment(o.augment, 'opts.augment'),
      distributed: resolveDistributedFlag(o.distributed, 'opts.distributed'),
    };
    return { f, t, native, onProgress: o.onProgress, signal };
  }

  /**
   * Trains on `(frames, targets)` for `epochs` of shuffled, augmented
   * minibatches with AdamW, off the main thread. Other calls on this model
   * and on its backbone fail ("busy") until it settles. Frames in host memory
   * (the simulator's, `hostTensor`'s) or over a SharedArrayBuffer are read in
   * place (write to them only once the Promise settled); other frames, and
   * the targets, are copied before the call returns, so the caller may reuse
   * or transfer those buffers meanwhile. `opts.signal` cancels the fit,
   * leaving the model as it was.
   *
   * All or nothing: each step checks its loss and total gradient norm before
   * AdamW applies it, and the weights (and, on one process, the loss on the
   * last minibatch) are checked after the last step; on any failure the
   * backbone, the head and the optimizer state return to what they were when
   * `fit` was called, and the Promise rejects.
   * @param targets values in [0, 1], one per frame
   * @returns a Promise of the mean loss per epoch
   * @throws {NonFiniteError} (rejects with) naming the quantity and the step
   * @throws {TypeError|RangeError} for bad frames, targets or options (synchronously)
   */
  fit(frames: Frames, targets: Float32Array | number[], opts?: ImageValueFitOptions): Promise<ImageValueFitResult> {
    const stack = new Error().stack;
    const { f, t, native, onProgress, signal } = this.fitArgs(frames, targets, opts);
    const cb = onProgress ? (epoch: number, epochs: number, loss: number) => onProgress({ epoch, epochs, loss }) : undefined;
    return cancellable(signal, (cancel) => withCallerStack(this.n.fit({ frames: f.data, targets: t }, Object.freeze({ ...native, onProgress: cb, cancel }))
      .then((losses) => ({ losses }), (err: unknown) => { throw asNonFinite(err); }), stack));
  }

  /**
   * Synchronous twin of {@link fit} (blocks the event loop); all or nothing in the same way.
   * @throws {NonFiniteError} as {@link fit}
   */
  fitSync(frames: Frames, targets: Float32Array | number[], opts?: ImageValueFitOptions): ImageValueFitResult {
    const { f, t, native } = this.fitArgs(frames, targets, opts);
    return { losses: training(() => this.n.fitSync({ frames: f.data, targets: t }, Object.freeze(native))) };
  }

  /**
   * The paper's protocol in one call: the head stage on the frozen backbone,
   * then the joint stage, each with `common` overridden by its own options
   * (false skips a stage). The head stage's seed defaults to `common.seed`,
   * the joint stage's to that plus 1, so the two stages draw different
   * minibatch orders and augmentations.
   */
  async fitStages(frames: Frames, targets: Float32Array | number[], opts?: ImageValueStagesOptions): Promise<{ head: number[]; joint: number[] }> {
    const o = checkOptions(opts, 'opts', { common: 1, head: 1, joint: 1 });
    const common = checkOptions(o.common, 'opts.common', {
      epochs: 1, batchSize: 1, lr: 1, backboneLr: 1, weightDecay: 1, schedule: 1, augment: 1, seed: 1, onProgress: 1, distributed: 1, signal: 1,
    });
    const seed = checkSeed(common.seed ?? 0, 'opts.common.seed');
    const out = { head: [] as number[], joint: [] as number[] };
    if (o.head !== false) out.head = (await this.fit(frames, targets, { seed, ...common, ...checkStage(o.head, 'opts.head'), stage: 'head' })).losses;
    if (o.joint !== false) out.joint = (await this.fit(frames, targets, { ...common, seed: seed + 1, ...checkStage(o.joint, 'opts.joint'), stage: 'joint' })).losses;
    return out;
  }

  /** Copies of the weights: `backbone.<name>` (see {@link ConvBackbone}) then `head.net.0.weight`, … (see `ValueHead`). */
  stateDict(): NamedTensor[] {
    return this.n.stateDict();
  }

  /** The config as saved beside the weights. */
  toJSON(): Record<string, unknown> {
    const { inputDim: _inputDim, ...head } = this.head;
    const { format: _format, ...backbone } = this.backbone.toJSON();
    return { format: FORMAT, backbone, head };
  }

  /** Saves the weights to `file` (.safetensors) and the config to `<name>.json`, each written atomically. */
  save(file: string): void {
    saveModel(file, this.stateDict(), this.toJSON());
  }

  /** Replaces every weight with those of a .safetensors file (names and shapes must match exactly; nothing changes otherwise). Resets the optimizer state. */
  loadWeights(file: string): void {
    const { tensors } = readStateDict(file);
    matchTensors(file, tensors, this.stateDict().map(([n, , s]) => [n, s]));
    this.n.loadStateDict({ weights: tensors }, {});
  }

  /**
   * Loads a model saved by {@link save}: the config from `<name>.json` (or the
   * file's metadata), then the weights.
   * @throws {SafetensorsError} when the tensors do not match the config
   */
  static load(file: string): ImageValueModel {
    const cfg = readModelConfig(file, FORMAT);
    const m = new ImageValueModel({ backbone: cfg.backbone as ConvBackboneConfig, head: cfg.head as ImageValueHeadConfig });
    m.loadWeights(file);
    return m;
  }
}

function checkStage(v: unknown, name: string): Omit<ImageValueFitOptions, 'stage'> {
  return checkOptions(v as Omit<ImageValueFitOptions, 'stage'> | undefined, name, {
    epochs: 1, batchSize: 1, lr: 1, backboneLr: 1, weightDecay: 1, schedule: 1, augment: 1, seed: 1, onProgress: 1, distributed: 1, signal: 1,
  });
}
