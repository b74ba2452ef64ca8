// Embodied value head (SPEC §4) on libtorch: Linear → LayerNorm → GELU →
// Linear over nBins atoms of [0, 1], cross-entropy to two-hot targets.
import { existsSync } from 'node:fs';
import type { NativeFitOptions, NativeValueHead } from '../core/native-types.js';
import { asNonFinite, checkBatch, checkSeed, checkVector, tensor2, torchAddon, training } from './common.js';
import { checkFileTarget, writeFileAtomic } from '../io/atomic.js';
import { FileFormatError, parseJsonObject, readJsonObject } from '../io/common.js';
import { matchTensors, readStateDict, SafetensorsError, writeStateDict, type NamedTensor } from './files.js';
import { resolveDistributedFlag } from './distributed.js';
import type { Tensor } from '../core/types.js';
import { cancellable, checkSignal } from '../core/cancel.js';
import { checkInt, checkNumber, checkOptions, typeError, withCallerStack } from '../core/validate.js';

/** Construction options of {@link ValueHead}. */
export interface ValueHeadConfig {
  /** Hidden size H of the backbone state (2560 for Qwen3-VL-4B). */
  inputDim: number;
  /** Width Hh of the head's hidden layer. */
  hiddenDim: number;
  /** Number of atoms on [0, 1] (≥ 2). Default 201. */
  bins?: number;
  /** Target distribution: 'two-hot' (default, expectation exactly v) or 'one-hot' (nearest atom). */
  targets?: 'two-hot' | 'one-hot';
  /** Seed of the orthogonal initialisation. Default 0. */
  seed?: number;
}

/** Options of {@link ValueHead.fit}. */
export interface ValueFitOptions {
  /** Passes over the data. Default 1. */
  epochs?: number;
  /** Minibatch rows. Default 256. */
  batchSize?: number;
  /** AdamW learning rate. Default 1e-3. */
  lr?: number;
  /** AdamW decoupled weight decay. Default 0.01. */
  weightDecay?: number;
  /** 'cosine' (default: lr · ½(1 + cos(π·step/steps))) or 'constant'. */
  schedule?: 'cosine' | 'constant';
  /** Seed of the minibatch shuffling. Default 0. */
  seed?: number;
  /** Called on the main thread after each epoch (async `fit` only). */
  onProgress?: (p: { epoch: number; epochs: number; loss: number }) => void;
  /**
   * Cancels the fit (async `fit` only): it stops before its next optimizer
   * step, the head returns to its weights and AdamW state from before the
   * call, and the Promise rejects with `signal.reason`. An already-aborted
   * signal rejects without any work.
   */
  signal?: AbortSignal;
  /**
   * Data parallel over the process group (default: whether one is
   * initialised). Each rank passes its share of the data (the shares in rank
   * order form the global set); the weights are broadcast from rank 0, each
   * minibatch is a slice of one seeded permutation of the global set, and
   * the summed gradients make every rank take the step a single process
   * takes on the whole set. `batchSize` counts global rows; the losses are
   * global.
   */
  distributed?: boolean;
}

/** Result of a fit: the mean cross-entropy of each epoch (measured during the epoch). */
export interface ValueFitResult {
  losses: number[];
}

const FORMAT = 'feat2go.value-head.v1';

function configPath(file: string): string {
  return `${file.replace(/\.safetensors$/, '')}.json`;
}

/**
 * Distributional value head of SPEC §4 on libtorch: orthogonal weights, zero
 * biases, `Linear(H, Hh) → LayerNorm → GELU → Linear(Hh, bins)`; the value is
 * the expectation over atoms `z_b = b / (bins − 1)`.
 *
 * @example
 * const head = new ValueHead({ inputDim: 2560, hiddenDim: 512, seed: 1 });
 * await head.fit({ data: hidden, shape: [N, 2560] }, progress, { epochs: 10, onProgress: console.log });
 * const v = head.predict({ data: hidden, shape: [N, 2560] }); // Float32Array [N]
 * head.save('value.safetensors'); // + value.json
 */
export class ValueHead {
  /** The resolved configuration. */
  readonly config: Readonly<Required<ValueHeadConfig>>;
  private readonly n: NativeValueHead;

  /**
   * @throws {TorchUnavailableError} when the addon was built without libtorch
   * @throws {TypeError|RangeError} on a bad config (bins < 2, dims < 1, ...)
   */
  constructor(config: ValueHeadConfig) {
    const addon = torchAddon('ValueHead');
    const c = checkOptions(config, 'config', { inputDim: 1, hiddenDim: 1, bins: 1, targets: 1, seed: 1 });
    const targets = c.targets ?? 'two-hot';
    if (targets !== 'two-hot' && targets !== 'one-hot') throw typeError('config.targets', "'two-hot' or 'one-hot'", targets);
    this.config = Object.freeze({
      inputDim: checkInt(c.inputDim, 'config.inputDim', 1),
      hiddenDim: checkInt(c.hiddenDim, 'config.hiddenDim', 1),
      bins: checkInt(c.bins ?? 201, 'config.bins', 2),
      targets,
      seed: checkSeed(c.seed ?? 0, 'config.seed'),
    });
    const r = this.config;
    this.n = new addon.ValueHeadNative({}, Object.freeze({
      inputDim: r.inputDim, hiddenDim: r.hiddenDim, bins: r.bins, oneHot: targets === 'one-hot', seed: r.seed,
    }));
  }

  private batch(hidden: Tensor, name = 'hidden'): { data: Float32Array; B: number } {
    return checkBatch(hidden, name, this.config.inputDim, 'inputDim');
  }

  /**
   * The target distribution of each value (`[B, bins]`): two-hot splits v
   * between its neighbouring atoms so that Σ p_b z_b = v; one-hot puts 1 on
   * the nearest atom.
   * @throws {RangeError} for values outside [0, 1] or NaN
   */
  targetDistribution(values: Float32Array | number[]): Tensor {
    const v = values instanceof Float32Array ? values : checkVector(values, 'values', values?.length ?? 0);
    return tensor2(this.n.targets({ values: v }, {}), v.length, this.config.bins);
  }

  /**
   * Predicted values `[B]`: Σ softmax(logits)·z.
   *
   * Finite but huge hidden states are computed safely: LayerNorm makes the head
   * invariant to the scale of its first Linear's output, so a row whose first
   * Linear output is not finite or exceeds 2^48 in magnitude (where LayerNorm's
   * float32 variance could overflow) is recomputed as `Linear(h / s)` with the
   * bias divided by the same s, a power of two bringing that row's largest |h|
   * to at most 2^24 (an exact division; LayerNorm's ε then weighs 1/s² as
   * much, negligible for such a row). Every other row is computed exactly as
   * written, bit for bit.
   * The same holds for {@link predictDistribution}, {@link loss} and training.
   * @throws {RangeError} for NaN/±Infinity in `hidden` (naming the element), or
   *   naming the row whose prediction is still not finite (weights that overflow)
   */
  predict(hidden: Tensor): Float32Array {
    const b = this.batch(hidden);
    return this.n.predict({ hidden: b.data }, { B: b.B });
  }

  /** Predicted distributions over the atoms, `[B, bins]`. */
  predictDistribution(hidden: Tensor): Tensor {
    const b = this.batch(hidden);
    return tensor2(this.n.predictDistribution({ hidden: b.data }, { B: b.B }), b.B, this.config.bins);
  }

  /** Mean cross-entropy of the predictions against the targets' distributions (no update). */
  loss(hidden: Tensor, targets: Float32Array | number[]): number {
    const b = this.batch(hidden);
    return this.n.loss({ hidden: b.data, targets: checkVector(targets, 'targets', b.B) }, { B: b.B });
  }

  /**
   * One AdamW step on a batch (the optimizer state persists across calls).
   * All or nothing, like {@link fit}: a non-finite loss or gradient stops the
   * step before AdamW applies it, and updated weights that are not finite (or
   * give a non-finite loss on the batch) are rolled back.
   * @param targets values in [0, 1], one per row
   * @returns the loss before the step
   * @throws {NonFiniteError} naming the quantity; the head and its optimizer state are unchanged
   */
  trainStep(hidden: Tensor, targets: Float32Array | number[], opts?: { lr?: number; weightDecay?: number }): number {
    const b = this.batch(hidden);
    const t = checkVector(targets, 'targets', b.B);
    const o = checkOptions(opts, 'opts', { lr: 1, weightDecay: 1 });
    const lr = checkNumber(o.lr ?? 1e-3, 'opts.lr', 0);
    const wd = checkNumber(o.weightDecay ?? 0.01, 'opts.weightDecay', 0);
    return training(() => this.n.trainStep({ hidden: b.data, targets: t }, Object.freeze({ B: b.B, lr, weightDecay: wd })));
  }

  private fitArgs(hidden: Tensor, targets: Float32Array | number[], opts?: ValueFitOptions) {
    const b = this.batch(hidden);
    const t = checkVector(targets, 'targets', b.B);
    const o = checkOptions(opts, 'opts', { epochs: 1, batchSize: 1, lr: 1, weightDecay: 1, schedule: 1, seed: 1, onProgress: 1, distributed: 1, signal: 1 });
    const signal = checkSignal(o.signal, 'opts.signal');
    const schedule = o.schedule ?? 'cosine';
    if (schedule !== 'cosine' && schedule !== 'constant') throw typeError('opts.schedule', "'cosine' or 'constant'", schedule);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw typeError('opts.onProgress', 'a function', o.onProgress);
    const native: NativeFitOptions & { B: number } = {
      B: b.B,
      epochs: checkInt(o.epochs ?? 1, 'opts.epochs', 1),
      batchSize: checkInt(o.batchSize ?? 256, 'opts.batchSize', 1),
      lr: checkNumber(o.lr ?? 1e-3, 'opts.lr', 0),
      weightDecay: checkNumber(o.weightDecay ?? 0.01, 'opts.weightDecay', 0),
      cosine: schedule === 'cosine',
      seed: checkSeed(o.seed ?? 0, 'opts.seed'),
      distributed: resolveDistributedFlag(o.distributed, 'opts.distributed'),
    };
    return { b, t, native, onProgress: o.onProgress, signal };
  }

  /**
   * Trains on `(hidden, targets)` for `epochs` of shuffled minibatches with
   * AdamW off the main thread. Other calls on this head fail until it settles.
   * `hidden` and `targets` in host memory (readNpy, readSafetensors,
   * `hostTensor`, the library's outputs) or over a SharedArrayBuffer are read
   * in place (write to them only once the Promise settled); other arrays are
   * copied before the call returns, so the caller may reuse or transfer them
   * meanwhile ({@link ValueHead.fitSync} reads them in place). `opts.signal`
   * cancels the fit, leaving the head as it was.
   *
   * The whole fit is one transaction. Each step checks its loss and total
   * gradient norm before AdamW applies it; after the last step the weights and
   * the loss they give on the last minibatch are checked. If any is NaN or
   * ±Infinity (say, a learning rate so large that the weights blow up), or the
   * fit fails for any other reason, the weights and AdamW state return to what
   * they were when `fit` was called, including the steps of epochs already
   * reported through `onProgress`, and the Promise rejects.
   * @returns a Promise of the mean loss per epoch
   * @throws {NonFiniteError} (rejects with) naming the quantity (`loss`,
   *   `gradient of 'net.0.weight'`, `weight '…'`) and the step
   *   (`epoch e of E, minibatch m of M (optimizer step s of S)`)
   */
  fit(hidden: Tensor, targets: Float32Array | number[], opts?: ValueFitOptions): Promise<ValueFitResult> {
    const stack = new Error().stack;
    const { b, t, native, onProgress, signal } = this.fitArgs(hidden, targets, opts);
    const cb = onProgress ? (epoch: number, epochs: number, loss: number) => onProgress({ epoch, epochs, loss }) : undefined;
    return cancellable(signal, (cancel) => withCallerStack(this.n.fit({ hidden: b.data, targets: t }, Object.freeze({ ...native, onProgress: cb, cancel }))
      .then((losses) => ({ losses }), (err: unknown) => { throw asNonFinite(err); }), stack));
  }

  /**
   * Synchronous twin of {@link fit} (blocks the event loop; for small data); all or nothing in the same way.
   * @throws {NonFiniteError} as {@link fit}
   */
  fitSync(hidden: Tensor, targets: Float32Array | number[], opts?: ValueFitOptions): ValueFitResult {
    const { b, t, native } = this.fitArgs(hidden, targets, opts);
    return { losses: training(() => this.n.fitSync({ hidden: b.data, targets: t }, Object.freeze(native))) };
  }

  /** Copies of the weights with PyTorch `state_dict` names (`net.0.weight`, `net.1.*` LayerNorm, `net.3.*`). */
  stateDict(): NamedTensor[] {
    return this.n.stateDict();
  }

  /**
   * Saves the weights to `file` (.safetensors) and the config to the same
   * name with `.json`; each written atomically (a temporary file beside the
   * target, then a rename).
   * @throws {RangeError} naming the path when it is a directory (or ends in a separator); nothing is written then
   */
  save(file: string): void {
    if (typeof file !== 'string' || file.length === 0) throw typeError('path', 'a file path string', file);
    checkFileTarget(file, 'path');
    checkFileTarget(configPath(file), 'path (its .json config)');
    const cfg = JSON.stringify({ format: FORMAT, ...this.config });
    writeStateDict(file, this.stateDict(), { format: FORMAT, config: cfg });
    writeFileAtomic(configPath(file), `${JSON.stringify({ format: FORMAT, ...this.config }, null, 2)}\n`);
  }

  /** Replaces the weights with those of a .safetensors file (names and shapes must match exactly). */
  loadWeights(file: string): void {
    const { tensors } = readStateDict(file);
    matchTensors(file, tensors, this.stateDict().map(([n, , s]) => [n, s]));
    this.n.loadStateDict({ weights: tensors }, {});
  }

  /**
   * Loads a head saved by {@link save}: the config from `<name>.json` (or the
   * file's metadata), then the weights.
   * @throws {SafetensorsError} when the tensors do not match the config
   */
  static load(file: string): ValueHead {
    if (typeof file !== 'string' || file.length === 0) throw typeError('path', 'a file path string', file);
    // The config beside the weights (or in their metadata): a truncated, empty, null or
    // field-less one is an error naming where it came from and what is wrong.
    let cfg: Record<string, unknown>;
    let source: string;
    if (existsSync(configPath(file))) {
      source = configPath(file);
      cfg = readJsonObject(source, 'value head config');
    } else {
      const meta = readStateDict(file).metadata;
      if (!meta.config) throw new SafetensorsError(file, `no ${configPath(file)} beside it and no config in its metadata`);
      source = `${file} (metadata 'config')`;
      cfg = parseJsonObject(meta.config, source, 'value head config');
    }
    if (cfg.format !== FORMAT) throw new FileFormatError(source, 'value head config', `expected "format": "${FORMAT}" but received ${JSON.stringify(cfg.format) ?? 'no format'}`);
    let head: ValueHead;
    try {
      head = new ValueHead({
        inputDim: cfg.inputDim as number, hiddenDim: cfg.hiddenDim as number, bins: cfg.bins as number,
        targets: cfg.targets as 'two-hot' | 'one-hot', seed: cfg.seed as number,
      });
    } catch (err) {
      // a field of the file is wrong: say which file (the message names the field)
      if (err instanceof TypeError || err instanceof RangeError) throw new FileFormatError(source, 'value head config', err.message);
      throw err;
    }
    head.loadWeights(file);
    return head;
  }
}
