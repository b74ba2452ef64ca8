// Policies on libtorch (SPEC §9): an MLP trunk with a Gaussian or categorical
// head and an optional critic, built from a JSON spec; LoRA adapters with
// PEFT-compatible files.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { NativeBcOptions, NativeBcResult, NativePolicy } from '../core/native-types.js';
import { checkBatch, checkSeed, torchAddon } from './common.js';
import { writeFileAtomic } from '../io/atomic.js';
import { matchTensors, readStateDict, SafetensorsError, writeStateDict, type NamedTensor } from './files.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkNumber, checkOptions, checkTensor, rangeError, shapeStr, typeError, withCallerStack, type OptionKeys } from '../core/validate.js';

/** Activation of an MLP. */
export type Activation = 'tanh' | 'relu' | 'gelu' | 'silu';

/** Gaussian head for continuous actions. */
export interface GaussianHeadSpec {
  type: 'gaussian';
  actionDim: number;
  /** 'state-independent' (default: a learned vector `head.log_std`) or 'state-dependent' (a linear layer `head.log_std`). */
  logStd?: 'state-independent' | 'state-dependent';
  /** 'tanh' squashes actions into (−1, 1) with the change-of-variables correction; 'none' (default) does not. */
  squash?: 'tanh' | 'none';
  /** Initial log-std (default 0). */
  initLogStd?: number;
  /** Clamp of a state-dependent log-std (defaults −20, 2). */
  logStdMin?: number;
  logStdMax?: number;
}

/** Categorical head: `actionDims` independent tokens of `bins` classes (e.g. 7 × 256 as VLA tokenisers). */
export interface CategoricalHeadSpec {
  type: 'categorical';
  actionDims: number;
  bins: number;
}

/** JSON spec of a {@link Policy}. Module paths: `trunk.0`, `trunk.2`, … `head.mean`, `head.log_std`, `head.logits`, `critic.0`, … */
export interface PolicySpec {
  obsDim: number;
  trunk: { sizes: number[]; activation?: Activation };
  head: GaussianHeadSpec | CategoricalHeadSpec;
  /** Optional critic MLP (the PPO value function), a separate network on the observation. */
  critic?: { sizes: number[]; activation?: Activation } | null;
  /** Seed of initialisation and of action sampling. Default 0. */
  seed?: number;
}

/** LoRA configuration (SPEC §9). */
export interface LoraConfig {
  rank: number;
  /** Default: rank (scale 1). */
  alpha?: number;
  /** Dropout on the adapter input during updates, in [0, 1). Default 0. */
  dropout?: number;
  /** Paths of linear modules, e.g. ['trunk.0', 'trunk.2', 'head.mean']. */
  targets: string[];
  /** Scale α/√r instead of α/r. Default false. */
  rslora?: boolean;
  /** Seed of lora_A's Kaiming-uniform initialisation. Default 0. */
  seed?: number;
}

/** Options of {@link Policy.fitBehaviourCloning}. */
export interface BehaviourCloningOptions {
  /** Passes over the demonstrations. Default 10. */
  epochs?: number;
  /** Rows per minibatch (the last one of an epoch may be smaller). Default 256. */
  batchSize?: number;
  /** Adam learning rate. Default 1e-3. */
  lr?: number;
  /** Decoupled weight decay (AdamW; 0 = Adam). Default 0. */
  weightDecay?: number;
  /** Gradient-norm clip (0: none). Default 0. */
  maxGradNorm?: number;
  /**
   * 'nll' (default): −log π(a|s), the Gaussian (or categorical) log-likelihood, which also
   * fits the log-std. 'mse': Σ (μ(s) − a)² over action dims per row, averaged over rows,
   * on the Gaussian mean only (the log-std is left as it is; a tanh head compares atanh(a)).
   */
  loss?: 'nll' | 'mse';
  /** Seed of the minibatch order (and of adapter dropout). Default 0. */
  seed?: number;
  /** Called on the main thread after each epoch (async form only). */
  onEpoch?: (info: { epoch: number; epochs: number; loss: number }) => void;
}

/** Result of {@link Policy.fitBehaviourCloning}. */
export interface BehaviourCloningResult {
  /** Mean loss of each epoch, measured during the epoch over the steps taken (NaN if every step was skipped). */
  losses: number[];
  /** Optimizer steps taken. */
  steps: number;
  /** Steps skipped because their loss or gradient was not finite (the weights were left unchanged). */
  skipped: number;
}

/** A linear module of the policy. */
export interface LinearModule {
  path: string;
  inFeatures: number;
  outFeatures: number;
  lora: boolean;
}

/** Output of {@link Policy.act}. */
export interface ActResult {
  /** `[B, width]` (categorical: class indices as floats). */
  actions: Tensor;
  logProbs: Float32Array;
  /** Critic values (zeros without a critic). */
  values: Float32Array;
}

const ACTIVATIONS = ['tanh', 'relu', 'gelu', 'silu'];
const natives = new WeakMap<Policy, NativePolicy>();

/** The native object behind a policy (for the trainers). */
export function nativePolicy(p: unknown): NativePolicy {
  const n = p instanceof Policy ? natives.get(p) : undefined;
  if (!n) throw typeError('policy', 'a Policy', p);
  return n;
}

function sizes(v: unknown, name: string): number[] {
  if (!Array.isArray(v)) throw typeError(name, 'an array of layer sizes', v);
  return v.map((x, i) => checkInt(x, `${name}[${i}]`, 1));
}

function activation(v: unknown, name: string): Activation {
  if (v === undefined) return 'tanh';
  if (typeof v !== 'string' || !ACTIVATIONS.includes(v)) throw typeError(name, "'tanh', 'relu', 'gelu' or 'silu'", v);
  return v as Activation;
}

// Gaussian and categorical head fields together (the type field picks the ones that apply).
const HEAD_KEYS: OptionKeys<Omit<GaussianHeadSpec, 'type'> & Omit<CategoricalHeadSpec, 'type'> & { type: string }> = {
  type: 1, actionDim: 1, logStd: 1, squash: 1, initLogStd: 1, logStdMin: 1, logStdMax: 1, actionDims: 1, bins: 1,
};

function normaliseSpec(spec: PolicySpec) {
  const s = checkOptions(spec, 'spec', { obsDim: 1, trunk: 1, head: 1, critic: 1, seed: 1 });
  const trunk = checkOptions(s.trunk, 'spec.trunk', { sizes: 1, activation: 1 });
  const head = checkOptions(s.head as object, 'spec.head', HEAD_KEYS) as { type?: string; actionDims?: number; bins?: number; actionDim?: number; logStd?: string; squash?: string; initLogStd?: number; logStdMin?: number; logStdMax?: number };
  const base = {
    obsDim: checkInt(s.obsDim, 'spec.obsDim', 1),
    hidden: sizes(trunk.sizes ?? [], 'spec.trunk.sizes'),
    activation: activation(trunk.activation, 'spec.trunk.activation'),
    seed: checkSeed(s.seed ?? 0, 'spec.seed'),
  };
  let headN: Record<string, unknown>;
  if (head.type === 'categorical') {
    headN = { categorical: true, actionDims: checkInt(head.actionDims, 'spec.head.actionDims', 1), bins: checkInt(head.bins, 'spec.head.bins', 2) };
  } else if (head.type === 'gaussian') {
    const logStd = head.logStd ?? 'state-independent';
    if (logStd !== 'state-independent' && logStd !== 'state-dependent') throw typeError('spec.head.logStd', "'state-independent' or 'state-dependent'", logStd);
    const squash = head.squash ?? 'none';
    if (squash !== 'tanh' && squash !== 'none') throw typeError('spec.head.squash', "'tanh' or 'none'", squash);
    const lo = checkNumber(head.logStdMin ?? -20, 'spec.head.logStdMin');
    const hi = checkNumber(head.logStdMax ?? 2, 'spec.head.logStdMax');
    if (hi <= lo) throw rangeError('spec.head.logStdMax', `a number > spec.head.logStdMin (${lo})`, hi);
    headN = {
      categorical: false, actionDim: checkInt(head.actionDim, 'spec.head.actionDim', 1), stateDependentStd: logStd === 'state-dependent',
      squash: squash === 'tanh', initLogStd: checkNumber(head.initLogStd ?? 0, 'spec.head.initLogStd'), logStdMin: lo, logStdMax: hi,
    };
  } else {
    throw typeError('spec.head.type', "'gaussian' or 'categorical'", head.type);
  }
  let criticN: Record<string, unknown> = { critic: false };
  if (s.critic) {
    const c = checkOptions(s.critic, 'spec.critic', { sizes: 1, activation: 1 });
    criticN = { critic: true, criticHidden: sizes(c.sizes ?? [], 'spec.critic.sizes'), criticActivation: activation(c.activation, 'spec.critic.activation') };
  }
  return { ...base, ...headN, ...criticN };
}

const PEFT_PREFIX = 'base_model.model.';

/**
 * A policy network on libtorch built from a JSON {@link PolicySpec}, with
 * optional LoRA adapters (base frozen, `y = xWᵀ + b + (α/r)·dropout(x)AᵀBᵀ`).
 *
 * With adapters attached, an update trains the adapters, the head's layers
 * that carry no adapter, `head.log_std`, and the critic; the trunk and every
 * adapted base layer stay frozen.
 *
 * @example
 * const policy = new Policy({ obsDim: 64, trunk: { sizes: [256, 256] }, head: { type: 'gaussian', actionDim: 8 }, critic: { sizes: [256, 256] } });
 * policy.loadWeights('base.safetensors');          // PyTorch state_dict names
 * policy.addLora({ rank: 16, alpha: 32, targets: ['trunk.0', 'trunk.2', 'head.mean'] });
 * const { actions, logProbs, values } = policy.act({ data: obs, shape: [B, 64] });
 * policy.saveAdapters('adapter/');                 // PEFT layout
 */
export class Policy {
  /** The spec as given. */
  readonly spec: Readonly<PolicySpec>;
  private loraConfig: Required<LoraConfig> | undefined;

  /**
   * @throws {TorchUnavailableError} without libtorch
   * @throws {TypeError|RangeError} on a bad spec
   */
  constructor(spec: PolicySpec | string) {
    const addon = torchAddon('Policy');
    const parsed = typeof spec === 'string' ? (JSON.parse(spec) as PolicySpec) : spec;
    const n = normaliseSpec(parsed);
    this.spec = Object.freeze(structuredClone(parsed));
    natives.set(this, new addon.PolicyNative(n));
  }

  private get n(): NativePolicy { return natives.get(this)!; }

  /** Observation width. */
  get obsDim(): number { return this.spec.obsDim; }
  /** Values per action row: actionDim (Gaussian) or actionDims (categorical). */
  get actionWidth(): number { return this.spec.head.type === 'categorical' ? this.spec.head.actionDims : this.spec.head.actionDim; }
  /** The LoRA config of attached adapters, or undefined. */
  get lora(): Readonly<Required<LoraConfig>> | undefined { return this.loraConfig; }

  /** Every linear module: path, sizes, whether it carries an adapter. */
  linearModules(): LinearModule[] {
    return this.n.linearModules().map(([p, i, o, l]) => ({ path: p, inFeatures: i, outFeatures: o, lora: l }));
  }

  /** Copies of the base weights with PyTorch state_dict names. */
  stateDict(): NamedTensor[] { return this.n.stateDict(); }

  /** Names of the tensors an update changes (base names and `<path>.lora_A/B.weight`). */
  trainableParameters(): string[] { return this.n.trainableNames(); }

  /**
   * Loads base weights from a .safetensors file keyed like PyTorch's
   * state_dict (`trunk.0.weight`, …); names and shapes must match exactly.
   * @throws {SafetensorsError} listing missing, unexpected and mis-shaped tensors
   */
  loadWeights(file: string): void {
    const { tensors } = readStateDict(file);
    matchTensors(file, tensors, this.stateDict().map(([n, , s]) => [n, s]));
    this.n.loadStateDict(tensors);
  }

  /** Saves the base weights (state_dict names) to a .safetensors file, atomically. */
  saveWeights(file: string): void {
    if (typeof file !== 'string' || !file) throw typeError('path', 'a file path string', file);
    writeStateDict(file, this.stateDict(), { format: 'pt' });
  }

  /**
   * Attaches LoRA adapters (SPEC §9): lora_A Kaiming-uniform (a = √5),
   * lora_B zero, so outputs are unchanged until an update.
   * @throws {RangeError} for rank < 1, dropout outside [0, 1), or a target that names no linear module
   */
  addLora(config: LoraConfig): void {
    const c = checkOptions(config, 'lora', { rank: 1, alpha: 1, dropout: 1, targets: 1, rslora: 1, seed: 1 });
    const rank = checkInt(c.rank, 'lora.rank', 1);
    if (!Array.isArray(c.targets) || c.targets.length === 0) throw typeError('lora.targets', 'a non-empty array of module paths', c.targets);
    const full: Required<LoraConfig> = {
      rank, alpha: checkNumber(c.alpha ?? rank, 'lora.alpha'), dropout: checkNumber(c.dropout ?? 0, 'lora.dropout', 0, 1),
      targets: [...c.targets], rslora: c.rslora ?? false, seed: checkSeed(c.seed ?? 0, 'lora.seed'),
    };
    if (full.dropout >= 1) throw rangeError('lora.dropout', 'a number in [0, 1)', full.dropout);
    if (typeof full.rslora !== 'boolean') throw typeError('lora.rslora', 'a boolean', full.rslora);
    if (this.loraConfig) throw new Error('This policy already has LoRA adapters; mergeAdapters() first to add new ones');
    this.n.addLora(full);
    this.loraConfig = full;
  }

  /** Folds every adapter into its base weight (W += (α/r)·B·A) and removes the adapters. */
  mergeAdapters(): void {
    this.n.mergeAdapters();
    this.loraConfig = undefined;
  }

  /**
   * Writes `adapter_config.json` and `adapter_model.safetensors` in PEFT's
   * layout (keys `base_model.model.<path>.lora_A.weight` [r, in] and
   * `.lora_B.weight` [out, r]), each file atomically.
   */
  saveAdapters(dir: string): void {
    if (!this.loraConfig) throw new Error('This policy has no LoRA adapters to save; addLora() first');
    if (typeof dir !== 'string' || !dir) throw typeError('dir', 'a directory path string', dir);
    mkdirSync(dir, { recursive: true });
    const c = this.loraConfig;
    const tensors = this.n.adapterState().map(([n, d, s]): NamedTensor => [PEFT_PREFIX + n, d, s]);
    writeStateDict(path.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    const cfg = {
      peft_type: 'LORA', task_type: null, base_model_name_or_path: null, revision: null, inference_mode: true,
      r: c.rank, lora_alpha: c.alpha, lora_dropout: c.dropout, target_modules: c.targets, bias: 'none',
      use_rslora: c.rslora, use_dora: false, fan_in_fan_out: false, init_lora_weights: true, modules_to_save: null,
      layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {},
    };
    writeFileAtomic(path.join(dir, 'adapter_config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  }

  /**
   * Reads adapters saved by {@link saveAdapters} or by PEFT. Attaches them
   * (when the policy has none) or replaces the values of matching ones.
   * @throws {RangeError} for an unsupported PEFT option (DoRA, bias training, rank patterns, …)
   * @throws {SafetensorsError} when tensors do not match the config's modules
   */
  loadAdapters(dir: string): void {
    const cfgFile = path.join(dir, 'adapter_config.json');
    if (!existsSync(cfgFile)) throw new RangeError(`Expected a PEFT adapter directory with adapter_config.json for dir but received '${dir}'`);
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    const unsupported = (key: string, want: string): never => {
      throw new RangeError(`Unsupported PEFT option in ${cfgFile}: ${key} = ${JSON.stringify(cfg[key])} (feat2go reads plain LoRA adapters: ${want})`);
    };
    if (cfg.peft_type !== 'LORA') unsupported('peft_type', 'peft_type "LORA"');
    if ((cfg.bias ?? 'none') !== 'none') unsupported('bias', 'bias "none"');
    if (cfg.use_dora) unsupported('use_dora', 'use_dora false');
    if (cfg.fan_in_fan_out) unsupported('fan_in_fan_out', 'fan_in_fan_out false');
    for (const k of ['rank_pattern', 'alpha_pattern']) if (cfg[k] && Object.keys(cfg[k] as object).length) unsupported(k, `an empty ${k}`);
    for (const k of ['modules_to_save', 'layers_to_transform', 'layers_pattern']) {
      const v = cfg[k];
      if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) unsupported(k, `${k} null`);
    }
    if (!Array.isArray(cfg.target_modules)) unsupported('target_modules', 'a list of module paths');
    const config: LoraConfig = {
      rank: cfg.r as number, alpha: cfg.lora_alpha as number, dropout: (cfg.lora_dropout as number) ?? 0,
      targets: cfg.target_modules as string[], rslora: Boolean(cfg.use_rslora),
    };
    const file = path.join(dir, 'adapter_model.safetensors');
    const { tensors } = readStateDict(file);
    const stripped = tensors.map(([n, d, s]): NamedTensor => {
      if (!n.startsWith(PEFT_PREFIX)) throw new SafetensorsError(file, `tensor '${n}' does not start with '${PEFT_PREFIX}'`);
      return [n.slice(PEFT_PREFIX.length).replace(/\.lora_([AB])\.default\.weight$/, '.lora_$1.weight'), d, s];
    });
    if (this.loraConfig) {
      const c = this.loraConfig;
      if (c.rank !== config.rank || c.alpha !== config.alpha || c.rslora !== config.rslora || [...c.targets].sort().join() !== [...config.targets].sort().join()) {
        throw new RangeError(`Expected adapters matching the attached ones (r=${c.rank}, alpha=${c.alpha}, targets ${c.targets.join(',')}) but ${cfgFile} has r=${config.rank}, alpha=${config.alpha}, targets ${config.targets.join(',')}`);
      }
    }
    const expected: Array<[string, number[]]> = [];
    const mods = new Map(this.linearModules().map((m) => [m.path, m]));
    for (const t of config.targets) {
      const m = mods.get(t);
      if (!m) throw new RangeError(`Expected target_modules of ${cfgFile} to name linear modules of the policy (${[...mods.keys()].join(', ')}) but received '${t}'`);
      expected.push([`${t}.lora_A.weight`, [config.rank, m.inFeatures]], [`${t}.lora_B.weight`, [m.outFeatures, config.rank]]);
    }
    matchTensors(file, stripped, expected);
    if (!this.loraConfig) this.addLora(config);
    this.n.loadAdapterState(stripped);
  }

  private bcArgs(obs: Tensor, actions: Tensor, opts: BehaviourCloningOptions | undefined) {
    const c = checkOptions(opts, 'opts', BC_KEYS);
    const loss = c.loss ?? 'nll';
    if (loss !== 'nll' && loss !== 'mse') throw typeError('opts.loss', "'nll' or 'mse'", loss);
    if (loss === 'mse' && this.spec.head.type === 'categorical') throw rangeError('opts.loss', "'nll' for a categorical head", loss);
    if (c.onEpoch !== undefined && typeof c.onEpoch !== 'function') throw typeError('opts.onEpoch', 'a function', c.onEpoch);
    const native: NativeBcOptions = {
      epochs: checkInt(c.epochs ?? 10, 'opts.epochs', 1), batchSize: checkInt(c.batchSize ?? 256, 'opts.batchSize', 1),
      lr: checkNumber(c.lr ?? 1e-3, 'opts.lr', 0), weightDecay: checkNumber(c.weightDecay ?? 0, 'opts.weightDecay', 0),
      maxGradNorm: checkNumber(c.maxGradNorm ?? 0, 'opts.maxGradNorm', 0), mse: loss === 'mse', seed: checkSeed(c.seed ?? 0, 'opts.seed'),
    };
    const o = this.obs(obs);
    const a = checkTensor(actions, 'actions', 2, '[N, width]');
    if (a.shape[0] !== o.B || a.shape[1] !== this.actionWidth) throw rangeError('actions.shape', shapeStr([o.B, this.actionWidth]), shapeStr(a.shape), true);
    const data = a.data.subarray(0, o.B * this.actionWidth);
    if (this.spec.head.type === 'categorical') checkClasses(data, o.B * this.actionWidth, this.spec.head.bins, 'actions');
    return { o, data, native, onEpoch: c.onEpoch };
  }

  /**
   * Behaviour cloning: trains the actor (trunk and head; with LoRA attached, the
   * adapters and the head's unadapted layers; never the critic) on demonstration
   * pairs `(obs[i], actions[i])` with Adam over shuffled minibatches, off the main
   * thread. The loss is the negative log-likelihood of the actions by default
   * (see {@link BehaviourCloningOptions.loss}). A step whose loss or gradient is
   * not finite is skipped and counted; if the fit throws, the weights are restored
   * to those it started from. Other calls on the policy fail until it settles.
   * @param obs `[N, obsDim]`
   * @param actions `[N, width]` (Gaussian: raw actions; categorical: class indices)
   * @returns a Promise of the per-epoch mean loss and the step counts
   * @throws {TypeError|RangeError} on mismatched shapes, NaN/Infinity, bad options
   * @example
   * const { losses } = await policy.fitBehaviourCloning({ data: obs, shape: [N, 64] }, { data: act, shape: [N, 3] }, { epochs: 20, seed: 1 });
   */
  fitBehaviourCloning(obs: Tensor, actions: Tensor, opts?: BehaviourCloningOptions): Promise<BehaviourCloningResult> {
    const stack = new Error().stack;
    const { o, data, native, onEpoch } = this.bcArgs(obs, actions, opts);
    const cb = onEpoch ? (epoch: number, epochs: number, loss: number) => onEpoch({ epoch, epochs, loss }) : undefined;
    return withCallerStack(this.n.fitBc(o.data, o.B, data, native, cb).then(bcResult), stack);
  }

  /** Synchronous twin of {@link fitBehaviourCloning} (blocks the event loop; `onEpoch` is not called). */
  fitBehaviourCloningSync(obs: Tensor, actions: Tensor, opts?: BehaviourCloningOptions): BehaviourCloningResult {
    const { o, data, native } = this.bcArgs(obs, actions, opts);
    return bcResult(this.n.fitBcSync(o.data, o.B, data, native));
  }

  private obs(obs: Tensor): { data: Float32Array; B: number } {
    return checkBatch(obs, 'obs', this.spec.obsDim, 'obsDim');
  }

  /**
   * Samples actions for a batch of observations (no gradient; adapters
   * active, no dropout). `deterministic` takes the mean (Gaussian) or argmax.
   */
  act(obs: Tensor, opts?: { deterministic?: boolean }): ActResult {
    const o = this.obs(obs);
    const det = checkOptions(opts, 'opts', { deterministic: 1 }).deterministic ?? false;
    const r = this.n.act(o.data, o.B, det);
    return { actions: { data: r.actions, shape: [o.B, this.actionWidth] }, logProbs: r.logProbs, values: r.values };
  }

  /**
   * Log-probabilities, entropies and values of given actions (no gradient, no
   * dropout). For a tanh-squashed head the entropy is the pre-squash Gaussian's.
   */
  evaluate(obs: Tensor, actions: Tensor): { logProbs: Float32Array; entropy: Float32Array; values: Float32Array } {
    const o = this.obs(obs);
    const a = checkTensor(actions, 'actions', 2, '[B, width]');
    if (a.shape[0] !== o.B || a.shape[1] !== this.actionWidth) throw rangeError('actions.shape', shapeStr([o.B, this.actionWidth]), shapeStr(a.shape), true);
    if (this.spec.head.type === 'categorical') checkClasses(a.data, o.B * this.actionWidth, this.spec.head.bins, 'actions');
    return this.n.evaluate(o.data, o.B, a.data.subarray(0, o.B * this.actionWidth));
  }
}

const BC_KEYS: OptionKeys<BehaviourCloningOptions> = { epochs: 1, batchSize: 1, lr: 1, weightDecay: 1, maxGradNorm: 1, loss: 1, seed: 1, onEpoch: 1 };

function bcResult(r: NativeBcResult): BehaviourCloningResult {
  return { losses: r.epochLosses, steps: r.steps, skipped: r.skipped };
}

/** Checks that categorical actions are integer class indices in [0, bins). */
export function checkClasses(d: Float32Array, n: number, bins: number, name: string): void {
  for (let i = 0; i < n; i++) {
    const x = d[i];
    if (!Number.isInteger(x) || x < 0 || x >= bins) throw rangeError(`${name}.data[${i}]`, `a class index in [0, ${bins - 1}]`, x);
  }
}
