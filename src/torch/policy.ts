// Policies on libtorch (SPEC §9): an MLP trunk with a Gaussian or categorical
// head and an optional critic, built from a JSON spec; LoRA adapters with
// PEFT-compatible files.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { NativeBcOptions, NativeBcResult, NativePolicy } from '../core/native-types.js';
import { asNonFinite, checkBatch, checkSeed, torchAddon, training } from './common.js';
import { checkFileTarget, ensureDir, writeFileAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/common.js';
import { resolveDistributedFlag } from './distributed.js';
import { matchTensors, readStateDict, SafetensorsError, writeStateDict, type NamedTensor } from './files.js';
import type { Tensor } from '../core/types.js';
import { cancellable, checkSignal } from '../core/cancel.js';
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
  /** Initial log-std (default 0), in [logStdMin, logStdMax] (else a RangeError). */
  initLogStd?: number;
  /**
   * Clamp of the log-std, state-dependent or state-independent alike (defaults
   * −20, 2; both within [−40, 40] so that σ = e^logStd stays a finite positive
   * float32): the head uses clamp(log_std, logStdMin, logStdMax), so neither
   * training nor loaded weights can make σ overflow. Within the range the
   * log-std is used as is.
   */
  logStdMin?: number;
  /** Upper clamp of the log-std (default 2); see {@link GaussianHeadSpec.logStdMin}. */
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
  /**
   * Data parallel over the initialised process group (default: on when one is
   * initialised, see {@link initDistributed}): each rank passes its own share of
   * the demonstrations; rank 0's actor weights are broadcast first, every rank
   * walks the global minibatches of the one-process fit (same seed) and the
   * gradients are summed over the ranks before clipping, so every rank takes the
   * one-process step and ends with the same weights. Losses are global.
   */
  distributed?: boolean;
  /** Called on the main thread after each epoch (async form only). */
  onEpoch?: (info: { epoch: number; epochs: number; loss: number }) => void;
  /**
   * Cancels the fit (async form only): it stops before its next optimizer
   * step, the policy returns to its weights (and random stream) from before
   * the call, and the Promise rejects with `signal.reason`. An already-aborted
   * signal rejects without any work.
   */
  signal?: AbortSignal;
}

/** Result of {@link Policy.fitBehaviourCloning}. */
export interface BehaviourCloningResult {
  /** Mean loss of each epoch, measured during the epoch. */
  losses: number[];
  /** Optimizer steps taken. */
  steps: number;
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
/** Bound of |logStdMin| and |logStdMax| (the native layer holds the same). */
const MAX_LOG_STD = 40;
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
    const lo = checkNumber(head.logStdMin ?? -20, 'spec.head.logStdMin', -MAX_LOG_STD, MAX_LOG_STD);
    const hi = checkNumber(head.logStdMax ?? 2, 'spec.head.logStdMax', -MAX_LOG_STD, MAX_LOG_STD);
    if (hi <= lo) throw rangeError('spec.head.logStdMax', `a number > spec.head.logStdMin (${lo})`, hi);
    const init = checkNumber(head.initLogStd ?? 0, 'spec.head.initLogStd');
    if (init < lo || init > hi) throw rangeError('spec.head.initLogStd', `a number in [spec.head.logStdMin, spec.head.logStdMax] = [${lo}, ${hi}]`, init);
    headN = {
      categorical: false, actionDim: checkInt(head.actionDim, 'spec.head.actionDim', 1), stateDependentStd: logStd === 'state-dependent',
      squash: squash === 'tanh', initLogStd: init, logStdMin: lo, logStdMax: hi,
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
    natives.set(this, new addon.PolicyNative({}, Object.freeze(n)));
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
    this.n.loadStateDict({ weights: tensors }, {});
  }

  /**
   * Saves the base weights (state_dict names) to a .safetensors file, atomically.
   * @throws {RangeError} naming the path when it is a directory (or ends in a separator)
   */
  saveWeights(file: string): void {
    if (typeof file !== 'string' || !file) throw typeError('path', 'a file path string', file);
    checkFileTarget(file, 'path');
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
    this.n.addLora({}, Object.freeze({ ...full, targets: [...full.targets] }));
    this.loraConfig = full;
  }

  /** Folds every adapter into its base weight (W += (α/r)·B·A) and removes the adapters. */
  mergeAdapters(): void {
    this.n.mergeAdapters();
    this.loraConfig = undefined;
  }

  /**
   * Writes `adapter_config.json` and `adapter_model.safetensors` in PEFT's
   * layout, each file atomically, so that the folder is the whole trained
   * policy for PEFT (`PeftModel.from_pretrained(base, dir)`) and for
   * {@link loadAdapters}:
   *
   * - LoRA tensors as `base_model.model.<path>.lora_A.weight` `[r, in]` and
   *   `.lora_B.weight` `[out, r]` (SPEC §9);
   * - every other tensor an update trains (head layers without an adapter,
   *   `head.log_std`, the critic) under PEFT's `modules_to_save` convention:
   *   the config lists the modules and the file holds their full tensors as
   *   `base_model.model.<tensor name>` (PEFT 0.21 `save_pretrained` strips the
   *   wrapper's `modules_to_save.default.` from the keys; so does this).
   *
   * A state-independent `head.log_std` is a parameter of the module `head`,
   * which PEFT can only save by listing all of `head`; PEFT then trains the
   * head's layers fully and puts no adapter inside it. So in that case an
   * adapter on a head layer (say `head.mean`) is written merged into that
   * layer's weight (W + (α/r)·B·A) and left out of `target_modules`: the
   * folder gives the same outputs, and {@link loadAdapters} on a policy that
   * carries the adapter loads the merged weight with that adapter's B zeroed.
   * When every adapter lies in `head` that leaves PEFT no LoRA target, which
   * it refuses, so neither does this write anything then (an Error says why).
   * @throws {RangeError} naming `dir` when it exists and is not a directory
   * @throws {Error} when PEFT could not hold the adapters (see above)
   */
  saveAdapters(dir: string): void {
    if (!this.loraConfig) throw new Error('This policy has no LoRA adapters to save; addLora() first');
    if (typeof dir !== 'string' || !dir) throw typeError('dir', 'a directory path string', dir);
    let st: ReturnType<typeof statSync> | undefined;
    try { st = statSync(dir); } catch { /* created below */ }
    if (st && !st.isDirectory()) throw new RangeError(`Expected a directory path for dir but received '${dir}', which is not a directory`);
    const c = this.loraConfig;
    const { modules, targets, tensors } = this.peftLayout();
    if (!targets.length) {
      throw new Error(`PEFT cannot hold these adapters: every adapted layer (${c.targets.join(', ')}) lies in module 'head', which PEFT must save whole for its state-independent head.log_std, and PEFT needs a LoRA target outside it. Adapt a layer outside 'head' too, use logStd 'state-dependent', or mergeAdapters() and saveWeights()`);
    }
    ensureDir(dir);
    writeStateDict(path.join(dir, 'adapter_model.safetensors'), tensors.map(([n, d, s]): NamedTensor => [PEFT_PREFIX + n, d, s]), { format: 'pt' });
    const cfg = {
      peft_type: 'LORA', task_type: null, base_model_name_or_path: null, revision: null, inference_mode: true,
      r: c.rank, lora_alpha: c.alpha, lora_dropout: c.dropout, target_modules: targets, bias: 'none',
      use_rslora: c.rslora, use_dora: false, fan_in_fan_out: false, init_lora_weights: true,
      modules_to_save: modules.length ? modules : null,
      layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {},
    };
    writeFileAtomic(path.join(dir, 'adapter_config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  }

  /** What {@link saveAdapters} writes: modules_to_save, target_modules and the tensors (without the PEFT prefix). */
  private peftLayout(): { modules: string[]; targets: string[]; tensors: NamedTensor[] } {
    const c = this.loraConfig!;
    const linears = this.linearModules();
    const adapters = new Map(this.n.adapterState().map((t) => [t[0], t]));
    const base = this.stateDict();
    const baseNames = new Set(base.map((t) => t[0]));
    const lora = new Set(linears.filter((m) => m.lora).map((m) => m.path));
    const trained = this.n.trainableNames().filter((n) => baseNames.has(n));
    const moduleOf = (name: string): string => name.slice(0, name.lastIndexOf('.'));
    const owners = new Set(trained.map(moduleOf));
    // a parameter owned directly by a container (head.log_std of module head) makes the container a module to save
    const containers = [...owners].filter((m) => !linears.some((l) => l.path === m));
    const inContainer = (p: string) => containers.some((k) => p.startsWith(`${k}.`));
    const modules = [...containers, ...[...owners].filter((m) => !containers.includes(m) && !inContainer(m))];
    const merged = new Set([...lora].filter(inContainer));
    const targets = c.targets.filter((t) => !merged.has(t));
    const tensors: NamedTensor[] = [];
    for (const t of targets) tensors.push(adapters.get(`${t}.lora_A.weight`)!, adapters.get(`${t}.lora_B.weight`)!);
    const scale = c.rslora ? c.alpha / Math.sqrt(c.rank) : c.alpha / c.rank;
    for (const [n, d, s] of base) {
      const m = moduleOf(n);
      if (!modules.some((k) => n === k || n.startsWith(`${k}.`))) continue;
      if (merged.has(m) && n.endsWith('.weight')) {
        const A = adapters.get(`${m}.lora_A.weight`)![1]; const B = adapters.get(`${m}.lora_B.weight`)![1];
        const [out, inn] = s; const r = c.rank;
        const w = new Float32Array(out * inn);
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inn; i++) {
            let acc = 0;
            for (let k = 0; k < r; k++) acc += B[o * r + k] * A[k * inn + i];
            w[o * inn + i] = d[o * inn + i] + scale * acc;
          }
        }
        tensors.push([n, w, s]);
      } else {
        tensors.push([n, d, s]);
      }
    }
    return { modules, targets, tensors };
  }

  /**
   * Reads adapters saved by {@link saveAdapters} or by PEFT. Attaches them
   * (when the policy has none) or replaces the values of matching ones, and
   * loads the full tensors of `modules_to_save` into the base weights.
   *
   * As PEFT 0.21: `target_modules` entries match a linear module whose path equals
   * the entry or ends with `.<entry>` (`["mean", "trunk.2"]`); a string is a
   * regular expression that must match a whole path. A `modules_to_save` entry
   * saves whole every module whose path ends with it, and keeps LoRA off the
   * module it names and everything inside it (at name boundaries): with
   * `["head"]` a target `mean` gets no adapter (PEFT trains `head` whole). A
   * LoRA layer that PEFT left inside a saved module (an entry like `"ead"`)
   * is read from its `<layer>.base_layer.*` and LoRA tensors. On a policy whose
   * attached adapters include a layer PEFT keeps free of LoRA, the layer takes
   * the file's weight and its adapter's B is set to zero.
   * The whole file is checked before the policy changes.
   * @throws {RangeError} for an unsupported PEFT option (DoRA, `lora_bias`, `exclude_modules`, bias training,
   *   rank patterns, `target_parameters`, …) or entries that match no module
   * @throws {SafetensorsError} when tensors do not match the config's modules (missing, unexpected, mis-shaped, non-finite)
   */
  loadAdapters(dir: string): void {
    if (typeof dir !== 'string' || !dir) throw typeError('dir', 'a directory path string', dir);
    const cfgFile = path.join(dir, 'adapter_config.json');
    if (!existsSync(cfgFile)) throw new RangeError(`Expected a PEFT adapter directory with adapter_config.json for dir but received '${dir}'`);
    const cfg = readJsonObject(cfgFile, 'adapter config');
    const unsupported = (key: string, want: string): never => {
      throw new RangeError(`Unsupported PEFT option in ${cfgFile}: ${key} = ${JSON.stringify(cfg[key])} (feat2go reads plain LoRA adapters: ${want})`);
    };
    const isSet = (v: unknown) => v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0) &&
      !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);
    if (cfg.peft_type !== 'LORA') unsupported('peft_type', 'peft_type "LORA"');
    if ((cfg.bias ?? 'none') !== 'none') unsupported('bias', 'bias "none"');
    if (cfg.use_dora) unsupported('use_dora', 'use_dora false');
    if (cfg.lora_bias) unsupported('lora_bias', 'lora_bias false (no bias in lora_B)');
    if (cfg.fan_in_fan_out) unsupported('fan_in_fan_out', 'fan_in_fan_out false');
    for (const k of ['rank_pattern', 'alpha_pattern']) if (isSet(cfg[k])) unsupported(k, `an empty ${k}`);
    for (const k of ['exclude_modules', 'layers_to_transform', 'layers_pattern', 'target_parameters', 'trainable_token_indices',
      'layer_replication', 'alora_invocation_tokens', 'use_qalora', 'arrow_config', 'velora_config', 'monteclora_config',
      'kasa_config', 'use_bdlora', 'megatron_config']) {
      if (isSet(cfg[k])) unsupported(k, `${k} unset`);
    }
    const linears = this.linearModules();
    const paths = linears.map((m) => m.path);
    // target_modules: PEFT matches a list entry by equality or as a '.'-separated suffix, a string as a full regex match
    let matchTarget: (p: string) => boolean;
    const tm = cfg.target_modules;
    if (Array.isArray(tm) && tm.every((t) => typeof t === 'string')) {
      const list = tm as string[];
      for (const t of list) {
        if (!paths.some((p) => p === t || p.endsWith(`.${t}`))) {
          throw new RangeError(`Expected target_modules of ${cfgFile} to name linear modules of the policy (${paths.join(', ')}) by path or suffix but received '${t}'`);
        }
      }
      matchTarget = (p) => list.some((t) => p === t || p.endsWith(`.${t}`));
    } else if (typeof tm === 'string' && tm !== 'all-linear') {
      let re: RegExp;
      try { re = new RegExp(`^(?:${tm})$`); } catch { return unsupported('target_modules', 'a list of module paths or a regular expression JavaScript can read'); }
      matchTarget = (p) => re.test(p);
    } else {
      return unsupported('target_modules', 'a list of module paths (or suffixes) or a regular expression');
    }
    // modules_to_save, as PEFT 0.21 applies it (peft/utils/other.py _set_trainable and
    // tuners_utils.check_target_module_exists), two rules that differ:
    // - wrapped (saved whole): every module whose path ends with an entry, as a plain string;
    // - kept free of LoRA: a module matching `(^|.*\.)<entry>($|\..*)` — the entry itself or
    //   anything inside it, at name boundaries (the entry read as a regular expression).
    // So 'head' wraps `head` and keeps LoRA out of head.mean, while 'ead' wraps `head` but lets
    // head.mean keep its LoRA (saved as head.mean.base_layer.* and head.mean.lora_A/B.*).
    const base = this.stateDict();
    const moduleNames = new Set<string>();
    for (const [n] of base) { const parts = n.split('.'); for (let i = 1; i < parts.length; i++) moduleNames.add(parts.slice(0, i).join('.')); }
    const mts = cfg.modules_to_save;
    if (mts !== undefined && mts !== null && !(Array.isArray(mts) && mts.every((m) => typeof m === 'string'))) unsupported('modules_to_save', 'a list of module names or null');
    const entries = (mts as string[] | null | undefined) ?? [];
    for (const e of entries) if (!/^[A-Za-z0-9_.-]+$/.test(e)) unsupported('modules_to_save', 'module names or name suffixes (letters, digits, _, - and .)');
    const saved: string[] = [];
    for (const e of entries) {
      const hit = [...moduleNames].filter((m) => m.endsWith(e));
      if (!hit.length) throw new RangeError(`Expected modules_to_save of ${cfgFile} to name modules of the policy (${[...moduleNames].join(', ')}) but received '${e}'`);
      saved.push(...hit.filter((h) => !saved.includes(h)));
    }
    const nested = saved.find((m) => saved.some((o) => o !== m && m.startsWith(`${o}.`)));
    if (nested) {
      const outer = saved.find((o) => nested.startsWith(`${o}.`))!;
      unsupported('modules_to_save', `no module saved inside another ('${nested}' lies in '${outer}'; PEFT would wrap both)`);
    }
    const boundary = entries.map((e) => new RegExp(`^(?:|.*\\.)(?:${e})(?:$|\\.)`));
    const keptFree = (p: string) => boundary.some((re) => re.test(p));
    const inSaved = (p: string) => saved.some((m) => p === m || p.startsWith(`${m}.`));
    const targets = paths.filter((p) => matchTarget(p) && !keptFree(p));
    if (!targets.length) throw new RangeError(`Expected target_modules of ${cfgFile} to match a linear module of the policy outside modules_to_save (${paths.join(', ')}) but received ${JSON.stringify(tm)}`);
    const wrappedTarget = targets.find((t) => saved.includes(t));
    if (wrappedTarget) unsupported('modules_to_save', `no entry that saves the LoRA layer '${wrappedTarget}' itself (PEFT refuses to build that model)`);
    // a LoRA layer inside a module saved whole: its base weights are saved as <path>.base_layer.*
    const lorasInside = new Set(targets.filter(inSaved));
    // the numbers PEFT requires, checked here so that a bad one names the file (not lora.rank of addLora)
    const badField = (key: string, want: string): never => {
      throw new RangeError(`Expected ${key} in ${cfgFile} to be ${want} but received ${JSON.stringify(cfg[key]) ?? 'nothing'}`);
    };
    if (cfg.r !== undefined && (!Number.isSafeInteger(cfg.r) || (cfg.r as number) < 1)) badField('r', 'an integer ≥ 1');
    if (cfg.lora_alpha !== undefined && (typeof cfg.lora_alpha !== 'number' || !Number.isFinite(cfg.lora_alpha))) badField('lora_alpha', 'a finite number');
    if (cfg.lora_dropout !== undefined && cfg.lora_dropout !== null && (typeof cfg.lora_dropout !== 'number' || !(cfg.lora_dropout >= 0 && cfg.lora_dropout < 1))) badField('lora_dropout', 'a number in [0, 1)');
    if (cfg.use_rslora !== undefined && typeof cfg.use_rslora !== 'boolean') badField('use_rslora', 'a boolean');
    const config: LoraConfig = {
      // PEFT's LoraConfig defaults: r 8, lora_alpha 8, lora_dropout 0
      rank: (cfg.r as number | undefined) ?? 8, alpha: (cfg.lora_alpha as number | undefined) ?? 8, dropout: (cfg.lora_dropout as number | null | undefined) ?? 0,
      targets, rslora: cfg.use_rslora === true,
    };
    const file = path.join(dir, 'adapter_model.safetensors');
    const { tensors } = readStateDict(file);
    const moduleOf = (n: string) => n.slice(0, n.lastIndexOf('.'));
    // names as in the file (PEFT prefix and adapter name dropped), and as the policy names them:
    // <layer>.base_layer.<weight|bias> of a LoRA layer inside a module saved whole is that layer's base tensor
    const inFile = tensors.map(([n, d, s]): NamedTensor => {
      if (!n.startsWith(PEFT_PREFIX)) throw new SafetensorsError(file, `tensor '${n}' does not start with '${PEFT_PREFIX}'`);
      return [n.slice(PEFT_PREFIX.length).replace(/\.lora_([AB])\.default\.weight$/, '.lora_$1.weight'), d, s];
    });
    const fileName = (n: string) => (lorasInside.has(moduleOf(n)) ? `${moduleOf(n)}.base_layer.${n.slice(moduleOf(n).length + 1)}` : n);
    const policyName = (n: string) => {
      const m = /^(.*)\.base_layer\.(weight|bias)$/.exec(n);
      return m && lorasInside.has(m[1]) ? `${m[1]}.${m[2]}` : n;
    };
    // attached adapters that PEFT keeps free of LoRA (inside a module to save): the file's full weight wins, that adapter is zeroed
    let zeroed: string[] = [];
    if (this.loraConfig) {
      const c = this.loraConfig;
      zeroed = c.targets.filter(keptFree);
      const rest = c.targets.filter((t) => !keptFree(t));
      if (c.rank !== config.rank || c.alpha !== config.alpha || c.rslora !== config.rslora || [...rest].sort().join() !== [...targets].sort().join()) {
        throw new RangeError(`Expected adapters matching the attached ones (r=${c.rank}, alpha=${c.alpha}, targets ${c.targets.join(',')}) but ${cfgFile} has r=${config.rank}, alpha=${config.alpha}, targets ${targets.join(',')}${zeroed.length ? ` (and modules_to_save ${saved.join(',')})` : ''}`);
      }
    }
    const expected: Array<[string, number[]]> = [];
    const mods = new Map(linears.map((m) => [m.path, m]));
    for (const t of targets) {
      const m = mods.get(t)!;
      expected.push([`${t}.lora_A.weight`, [config.rank, m.inFeatures]], [`${t}.lora_B.weight`, [m.outFeatures, config.rank]]);
    }
    for (const [n, , s] of base) if (inSaved(moduleOf(n))) expected.push([fileName(n), s]);
    matchTensors(file, inFile, expected);
    for (const [n, d] of inFile) {
      const i = d.findIndex((x) => !Number.isFinite(x));
      if (i >= 0) throw new SafetensorsError(file, `tensor '${PEFT_PREFIX}${n}' element ${i} is ${d[i]} (expected finite values)`);
    }
    // everything is checked: change the policy
    const given = new Map(inFile.map(([n, d, s]): [string, NamedTensor] => [policyName(n), [policyName(n), d, s]]));
    if (!this.loraConfig) this.addLora(config);
    const adapterState = this.n.adapterState().map(([n, d, s]): NamedTensor => {
      const g = given.get(n);
      if (g) return g;
      return zeroed.some((z) => n === `${z}.lora_B.weight`) ? [n, new Float32Array(d.length), s] : [n, d, s];
    });
    this.n.loadAdapterState({ adapters: adapterState }, {});
    if (saved.length) this.n.loadStateDict({ weights: base.map(([n, d, s]): NamedTensor => given.get(n) ?? [n, d, s]) }, {});
  }

  private bcArgs(obs: Tensor, actions: Tensor, opts: BehaviourCloningOptions | undefined) {
    const c = checkOptions(opts, 'opts', BC_KEYS);
    const loss = c.loss ?? 'nll';
    if (loss !== 'nll' && loss !== 'mse') throw typeError('opts.loss', "'nll' or 'mse'", loss);
    if (loss === 'mse' && this.spec.head.type === 'categorical') throw rangeError('opts.loss', "'nll' for a categorical head", loss);
    if (c.onEpoch !== undefined && typeof c.onEpoch !== 'function') throw typeError('opts.onEpoch', 'a function', c.onEpoch);
    const signal = checkSignal(c.signal, 'opts.signal');
    const resolved: NativeBcOptions = {
      epochs: checkInt(c.epochs ?? 10, 'opts.epochs', 1), batchSize: checkInt(c.batchSize ?? 256, 'opts.batchSize', 1),
      lr: checkNumber(c.lr ?? 1e-3, 'opts.lr', 0), weightDecay: checkNumber(c.weightDecay ?? 0, 'opts.weightDecay', 0),
      maxGradNorm: checkNumber(c.maxGradNorm ?? 0, 'opts.maxGradNorm', 0), mse: loss === 'mse', seed: checkSeed(c.seed ?? 0, 'opts.seed'),
      distributed: resolveDistributedFlag(c.distributed, 'opts.distributed'),
    };
    const o = this.obs(obs);
    const native: NativeBcOptions & { B: number } = { ...resolved, B: o.B };
    const a = checkTensor(actions, 'actions', 2, '[N, width]');
    if (a.shape[0] !== o.B || a.shape[1] !== this.actionWidth) throw rangeError('actions.shape', shapeStr([o.B, this.actionWidth]), shapeStr(a.shape), true);
    const data = a.data.subarray(0, o.B * this.actionWidth);
    if (this.spec.head.type === 'categorical') checkClasses(data, o.B * this.actionWidth, this.spec.head.bins, 'actions');
    return { o, data, native, onEpoch: c.onEpoch, signal };
  }

  /**
   * Behaviour cloning: trains the actor (trunk and head; with LoRA attached, the
   * adapters and the head's unadapted layers; never the critic) on demonstration
   * pairs `(obs[i], actions[i])` with Adam over shuffled minibatches, off the main
   * thread. The loss is the negative log-likelihood of the actions by default
   * (see {@link BehaviourCloningOptions.loss}). All or nothing: a non-finite loss,
   * gradient or final weight stops the fit with a {@link NonFiniteError} naming the
   * step, and any failure restores the weights (and the policy's random stream) to
   * those it started from. Other calls on the policy fail until it settles.
   * `obs` and `actions` in host memory or over a SharedArrayBuffer are read in
   * place (write to them only once the Promise settled), other arrays copied
   * before the call returns; `opts.signal` cancels the fit, leaving the policy
   * as it was.
   * @param obs `[N, obsDim]`
   * @param actions `[N, width]` (Gaussian: raw actions; categorical: class indices)
   * @returns a Promise of the per-epoch mean loss and the step counts
   * @throws {TypeError|RangeError} on mismatched shapes, NaN/Infinity, bad options
   * @throws {NonFiniteError} (the Promise rejects) when training meets a non-finite value
   * @example
   * const { losses } = await policy.fitBehaviourCloning({ data: obs, shape: [N, 64] }, { data: act, shape: [N, 3] }, { epochs: 20, seed: 1 });
   */
  fitBehaviourCloning(obs: Tensor, actions: Tensor, opts?: BehaviourCloningOptions): Promise<BehaviourCloningResult> {
    const stack = new Error().stack;
    const { o, data, native, onEpoch, signal } = this.bcArgs(obs, actions, opts);
    const cb = onEpoch ? (epoch: number, epochs: number, loss: number) => onEpoch({ epoch, epochs, loss }) : undefined;
    return cancellable(signal, (cancel) => withCallerStack(this.n.fitBc({ obs: o.data, actions: data }, Object.freeze({ ...native, onEpoch: cb, cancel }))
      .then(bcResult, (err: unknown) => { throw asNonFinite(err); }), stack));
  }

  /** Synchronous twin of {@link fitBehaviourCloning} (blocks the event loop; `onEpoch` is not called). */
  fitBehaviourCloningSync(obs: Tensor, actions: Tensor, opts?: BehaviourCloningOptions): BehaviourCloningResult {
    const { o, data, native } = this.bcArgs(obs, actions, opts);
    return bcResult(training(() => this.n.fitBcSync({ obs: o.data, actions: data }, Object.freeze(native))));
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
    if (typeof det !== 'boolean') throw typeError('opts.deterministic', 'a boolean', det);
    const r = this.n.act({ obs: o.data }, { B: o.B, deterministic: det });
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
    return this.n.evaluate({ obs: o.data, actions: a.data.subarray(0, o.B * this.actionWidth) }, { B: o.B });
  }
}

const BC_KEYS: OptionKeys<BehaviourCloningOptions> = { epochs: 1, batchSize: 1, lr: 1, weightDecay: 1, maxGradNorm: 1, loss: 1, seed: 1, distributed: 1, onEpoch: 1, signal: 1 };

function bcResult(r: NativeBcResult): BehaviourCloningResult {
  return { losses: r.epochLosses, steps: r.steps };
}

/** Checks that categorical actions are integer class indices in [0, bins). */
export function checkClasses(d: Float32Array, n: number, bins: number, name: string): void {
  for (let i = 0; i < n; i++) {
    const x = d[i];
    if (!Number.isInteger(x) || x < 0 || x >= bins) throw rangeError(`${name}.data[${i}]`, `a class index in [0, ${bins - 1}]`, x);
  }
}
