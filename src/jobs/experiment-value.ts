// The experiment's value models, pluggable: what a value head sees and how it
// is trained. Both value targets (Feat2Go, Steps-To-Go) always use the same
// kind of model with the same settings; only the targets differ.
//   - 'pooled-head': a ValueHead on the built-in encoder's features average-
//     pooled to 4×4 patches (the stand-in for a frozen VLM hidden state);
//   - 'conv-backbone': an ImageValueModel — a trainable ConvBackbone on the
//     RGB frames and the same value head — trained in the paper's two stages
//     (the head on the frozen backbone, then everything) with augmentation.
import type { AugmentOptions } from '../torch/backbone.js';
import { ImageValueModel } from '../torch/image-value-model.js';
import { ValueHead } from '../torch/value-head.js';

/** Kinds of value model the experiment can train. */
export type ExperimentValueModelKind = 'pooled-head' | 'conv-backbone';

/** Every kind, the default first. */
export const EXPERIMENT_VALUE_MODELS: readonly ExperimentValueModelKind[] = Object.freeze(['conv-backbone', 'pooled-head']);

/** What a value model reads for n frames. */
export interface ValueInputs {
  n: number;
  /** Pooled encoder features `[n, pooledDim]`. */
  pooled: Float32Array;
  /** RGB frames `[n, S, S, 3]` (empty unless the model's `needsFrames`). */
  frames: Uint8Array;
  /** Side S of the frames. */
  imageSize: number;
}

/** Training settings shared by every value model (EXPERIMENT_HYPERPARAMETERS.value). */
export interface ValueModelSettings {
  hiddenDim: number; bins: number; batchSize: number; lr: number;
  /** The conv backbone's: epochs of the head stage (the joint stage takes the run's valueEpochs), minibatch, learning rates, augmentation. */
  backbone: { headEpochs: number; batchSize: number; lr: number; backboneLr: number; weightDecay: number; augment: AugmentOptions };
}

/** A value model of the experiment: fitted on demonstration frames, queried on last frames. */
export interface ExperimentValueModel {
  readonly kind: ExperimentValueModelKind;
  /** Whether `fit`/`predict` read the raw frames (the experiment then keeps them). */
  readonly needsFrames: boolean;
  /** Fits the model to targets in [0, 1] (data-parallel under a process group). */
  fit(x: ValueInputs, y: Float32Array, opts: { epochs: number; seed: number; signal?: AbortSignal }): Promise<void>;
  /** Values in [0, 1], `[n]`. */
  predict(x: ValueInputs): Float32Array;
}

class PooledHead implements ExperimentValueModel {
  readonly kind = 'pooled-head' as const;
  readonly needsFrames = false;
  readonly #head: ValueHead;
  readonly #dim: number;
  readonly #s: ValueModelSettings;
  constructor(pooledDim: number, s: ValueModelSettings, seed: number) {
    this.#dim = pooledDim;
    this.#s = s;
    this.#head = new ValueHead({ inputDim: pooledDim, hiddenDim: s.hiddenDim, bins: s.bins, seed });
  }
  async fit(x: ValueInputs, y: Float32Array, opts: { epochs: number; seed: number; signal?: AbortSignal }): Promise<void> {
    await this.#head.fit({ data: x.pooled, shape: [x.n, this.#dim] }, y, { epochs: opts.epochs, batchSize: this.#s.batchSize, lr: this.#s.lr, seed: opts.seed, signal: opts.signal });
  }
  predict(x: ValueInputs): Float32Array {
    return x.n === 0 ? new Float32Array(0) : this.#head.predict({ data: x.pooled, shape: [x.n, this.#dim] });
  }
}

class ConvBackboneModel implements ExperimentValueModel {
  readonly kind = 'conv-backbone' as const;
  readonly needsFrames = true;
  readonly #vm: ImageValueModel;
  readonly #s: ValueModelSettings;
  readonly #size: number;
  constructor(imageSize: number, s: ValueModelSettings, seed: number) {
    this.#s = s;
    this.#size = imageSize;
    this.#vm = new ImageValueModel({ backbone: { imageSize, seed }, head: { hiddenDim: s.hiddenDim, bins: s.bins, seed } });
  }
  async fit(x: ValueInputs, y: Float32Array, opts: { epochs: number; seed: number; signal?: AbortSignal }): Promise<void> {
    const b = this.#s.backbone;
    await this.#vm.fitStages({ data: x.frames, shape: [x.n, this.#size, this.#size, 3] }, y, {
      common: { batchSize: b.batchSize, lr: b.lr, backboneLr: b.backboneLr, weightDecay: b.weightDecay, augment: { ...b.augment }, seed: opts.seed, signal: opts.signal },
      head: { epochs: b.headEpochs },
      joint: { epochs: opts.epochs },
    });
  }
  predict(x: ValueInputs): Float32Array {
    return x.n === 0 ? new Float32Array(0) : this.#vm.predict({ data: x.frames, shape: [x.n, this.#size, this.#size, 3] });
  }
}

/** Whether a kind of value model reads raw frames (the demonstrations then keep them). */
export function valueModelNeedsFrames(kind: ExperimentValueModelKind): boolean {
  return kind !== 'pooled-head';
}

/**
 * A new, untrained value model of `kind`.
 * @param dims the length of one pooled feature vector and the side of the frames
 */
export function createValueModel(kind: ExperimentValueModelKind, dims: { pooledDim: number; imageSize: number }, settings: ValueModelSettings, seed: number): ExperimentValueModel {
  switch (kind) {
    case 'pooled-head':
      return new PooledHead(dims.pooledDim, settings, seed);
    case 'conv-backbone':
      return new ConvBackboneModel(dims.imageSize, settings, seed);
    default:
      throw new RangeError(`Expected a value model among ${EXPERIMENT_VALUE_MODELS.join(', ')} but received ${JSON.stringify(kind)}`);
  }
}
