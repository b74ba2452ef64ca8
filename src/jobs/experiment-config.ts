// The experiment's settings: types, the fixed hyperparameters, the tasks'
// calibrated horizons, size presets and the resolution of a config (one place
// that validates it). src/jobs/experiment.ts re-exports the public names.
import { PATCH_STATS_PROGRESS_OPTIONS } from '../encoders/builtin.js';
import { PICK_PLACE_TASKS, type PickPlaceTask } from '../sim/pick-place.js';
import { resolveVariablePaceOptions, type VariablePaceOptions } from '../sim/teleop.js';
import { EXPERIMENT_VALUE_MODELS, type ExperimentValueModelKind } from './experiment-value.js';

/** RL algorithms of the experiment. */
export type ExperimentAlgo = 'ppo' | 'grpo';
/**
 * Terminal reward variants: `sparse` (1 on success, else 0); `steps-to-go` and
 * `feat2go` (failures earn failureScale × the value model's value of the last
 * frame); two controls: `oracle-stage` (failures earn failureScale × the
 * simulator's dense true progress of the last state, a ceiling) and `constant`
 * (failures earn failureScale × constantValue, a placebo).
 */
export type ExperimentReward = 'sparse' | 'steps-to-go' | 'feat2go' | 'oracle-stage' | 'constant';
/** The value targets a value model is trained on. */
export type ValueTarget = 'feat2go' | 'steps-to-go';
/** Evaluation splits. */
export type ExperimentSplit = 'id' | 'vision' | 'semantic' | 'execution';
/** Size presets: 'tiny' (tests), 'quick' (`npm start`, a demonstration), 'full' (the README's table). */
export type ExperimentPreset = 'tiny' | 'quick' | 'full';
/** Task variants of the built-in scene ({@link PickPlaceTask}). */
export type ExperimentTask = PickPlaceTask;
/** Demonstration sources: the variable-pace teleoperator (default) or the steady scripted expert. */
export type ExperimentDemonstrator = 'variable-pace' | 'steady';

/** The splits in table order. */
export const EXPERIMENT_SPLITS: readonly ExperimentSplit[] = Object.freeze(['id', 'vision', 'semantic', 'execution']);
/** Every reward variant in table order. */
export const EXPERIMENT_REWARDS: readonly ExperimentReward[] = Object.freeze(['sparse', 'steps-to-go', 'feat2go', 'oracle-stage', 'constant']);

/** The environment interface the experiment drives (the built-in `PickPlaceEnv`'s). */
export interface ExperimentEnv {
  readonly numEnvs: number; readonly imageSize: number; readonly horizon: number; readonly proprioDim: number;
  readonly frames: Uint8Array; readonly proprio: Float32Array; readonly terminated: Uint8Array;
  readonly truncated: Uint8Array; readonly success: Uint8Array; readonly stage: Int32Array;
  /** Dense true progress in [0, 1] per env (for the oracle-stage control). */
  readonly progress: Float32Array;
  reset(initIds: ArrayLike<number>): void;
  step(actions: Float32Array): void;
  expertActions(noise: number, seed: number, out?: Float32Array): Float32Array;
  /** A snapshot of env i (the variable-pace demonstrator reads the tray and the heights). */
  inspect(i: number): { goalX: number; goalWidth: number; cubeZ: number; gripperZ: number };
}
/** A constructor of {@link ExperimentEnv} (the built-in `PickPlaceEnv` by default). */
export interface ExperimentEnvClass {
  new (opts: { numEnvs: number; split?: ExperimentSplit; imageSize?: number; horizon?: number; threads?: number; task?: ExperimentTask }): ExperimentEnv;
  readonly numStages: number;
  splitSize(split: ExperimentSplit): number;
}

/** Sizes of a run (a preset's, with overrides). */
export interface ExperimentSizes {
  /** Environments per RL rollout batch (GRPO: groups × groupSize). */
  numEnvs: number;
  /** GRPO rollouts per initial state; divides numEnvs. */
  groupSize: number;
  /** Scripted demonstrations collected for the value models. */
  demos: number;
  /** Successful demonstrations the base policy is cloned from (few: a weak base). */
  bcDemos: number;
  /** Behaviour-cloning epochs. */
  bcEpochs: number;
  /** Value-model epochs. */
  valueEpochs: number;
  /** RL updates (one rollout batch each) per variant. */
  rlUpdates: number;
  /** Evaluation episodes per split per policy (held-out initial states; at most 400). */
  evalEpisodes: number;
  /** The base's sampled rollouts on held-out states whose failures probe the value models. */
  probeEpisodes: number;
}

/**
 * The RL horizon of each task, calibrated so that the base policy's sampled
 * success is 5–10 % (`feat2go experiment calibrate`, on calibration seeds
 * 1000–1019, which are never reported; recorded in results/calibration-<task>/).
 */
export const EXPERIMENT_TASK_HORIZONS: Readonly<Record<ExperimentTask, number>> = Object.freeze({ 'pick-place': 48, slip: 50, knock: 48 });

/** Hyperparameters, the same for every reward variant, fixed before any result of the design was seen. */
export const EXPERIMENT_HYPERPARAMETERS = Object.freeze({
  imageSize: 64, demoHorizon: 160, encoderGrid: 8, encoderBins: 8, poolGrid: 4,
  demoNoise: 0.2,
  progress: PATCH_STATS_PROGRESS_OPTIONS,
  policy: { trunk: [128, 128], critic: [128, 128], activation: 'tanh', initLogStd: -0.5 },
  obsStdFloor: 0.05, obsClip: 5,
  bc: { loss: 'nll', batchSize: 256, lr: 1e-3 },
  value: {
    hiddenDim: 128, bins: 201, batchSize: 256, lr: 1e-3,
    /** 'conv-backbone': ConvBackbone defaults (16 k4 s4 → 32 k3 s2 → 32 k3 s1, flatten, 64-d embedding); two stages, augmentation with a small shift. */
    backbone: { headEpochs: 4, batchSize: 128, lr: 1e-3, backboneLr: 1e-3, weightDecay: 0.01, augment: { shift: 2, brightness: 0.2, contrast: 0.2, gain: 0.1 } },
  },
  lora: { rank: 8, alpha: 16, targets: ['trunk.0', 'trunk.2', 'head.mean'] as readonly string[] },
  failureScale: 0.5,
  /** The `constant` control's value: every failure earns failureScale × 0.5. */
  constantValue: 0.5,
  ppo: { gamma: 0.99, gaeLambda: 0.95, epochs: 4, minibatches: 4, clipRange: 0.2, actorLr: 1e-3, criticLr: 1e-3, valueCoef: 0.5, entropyCoef: 0, maxGradNorm: 0.5, normalizeAdvantages: true },
  grpo: { stepGamma: 1, epochs: 4, minibatches: 4, clipLow: 0.2, clipHigh: 0.28, actorLr: 1e-3, entropyCoef: 0, maxGradNorm: 0.5, std: 'sample' },
  evaluation: 'deterministic (Gaussian mean) actions, fixed held-out initial states per split',
  /** Fewest seeds for a Student-t interval (fewer: means only). */
  minSeedsForCi: 5,
});

const PRESETS: Record<ExperimentPreset, ExperimentSizes & { seeds: number }> = {
  tiny: { seeds: 1, numEnvs: 8, groupSize: 4, demos: 12, bcDemos: 4, bcEpochs: 3, valueEpochs: 2, rlUpdates: 1, evalEpisodes: 4, probeEpisodes: 8 },
  quick: { seeds: 2, numEnvs: 32, groupSize: 8, demos: 48, bcDemos: 32, bcEpochs: 60, valueEpochs: 20, rlUpdates: 8, evalEpisodes: 40, probeEpisodes: 48 },
  full: { seeds: 20, numEnvs: 48, groupSize: 8, demos: 96, bcDemos: 48, bcEpochs: 100, valueEpochs: 40, rlUpdates: 24, evalEpisodes: 300, probeEpisodes: 192 },
};

/** The sizes of a preset (a copy). */
export function experimentPreset(preset: ExperimentPreset): ExperimentSizes & { seeds: number } {
  return { ...PRESETS[preset] };
}

/** What to run. */
export interface ExperimentConfig {
  /** Default 'quick'. */
  preset?: ExperimentPreset;
  /** Independent repetitions (different demos, policies, rollouts). Default: the preset's (tiny 1, quick 2, full 20). */
  seeds?: number;
  /** Base seed; repetition k uses seed + k. Default 0 (calibration uses 1000 and up, never reported). */
  seed?: number;
  /** Default ['ppo']. */
  algos?: ExperimentAlgo[];
  /** Reward variants (sparse first when present). Default: all five. */
  rewards?: ExperimentReward[];
  /** Task variant. Default 'pick-place'. */
  task?: ExperimentTask;
  /** RL and evaluation horizon. Default: the task's calibrated horizon (EXPERIMENT_TASK_HORIZONS). */
  horizon?: number;
  /** Demonstration source. Default 'variable-pace'. */
  demonstrator?: ExperimentDemonstrator;
  /** Rates of the variable-pace demonstrator (VARIABLE_PACE_DEFAULTS otherwise). */
  demonstratorOptions?: VariablePaceOptions;
  /** What the value models see. Default 'conv-backbone' (the frames, through a trainable backbone); 'pooled-head' reads pooled encoder features. */
  valueModel?: ExperimentValueModelKind;
  /** Overrides of the preset's sizes. */
  sizes?: Partial<ExperimentSizes>;
  /** Pool threads for the environment and encoder (0/absent: every core). */
  threads?: number;
}

/** A config with every field resolved. */
export interface ResolvedExperimentConfig {
  preset: ExperimentPreset; seeds: number; seed: number; algos: ExperimentAlgo[]; rewards: ExperimentReward[];
  task: ExperimentTask; horizon: number; demonstrator: ExperimentDemonstrator; demonstratorOptions: Required<VariablePaceOptions>;
  valueModel: ExperimentValueModelKind; sizes: ExperimentSizes; threads: number;
}

/** Progress of a run, per phase. */
export interface ExperimentProgress {
  phase: 'demos' | 'value-models' | 'behaviour-cloning' | 'rl' | 'evaluation' | 'value-probe';
  seed: number;
  done: number;
  total: number;
  label: string;
}

/** A value curve of one probe episode, for the plot. */
export interface ValueCurve {
  feat2go: number[];
  stepsToGo: number[];
  /** True stage per frame. */
  stage: number[];
  /** Dense true progress per frame. */
  progress?: number[];
  success: boolean;
}

/** Everything one seed produced (JSON-serialisable but for the frames), the unit the summary pools. */
export interface SeedRecord {
  seed: number;
  /** Fraction of the demonstrations that succeeded. */
  demoSuccess: number;
  /** Per method, per split: evaluation success fraction. */
  success: Record<string, Record<ExperimentSplit, number>>;
  /** Per RL method: training-rollout success per update (entry 0: the base sampling). */
  curves: Record<string, number[]>;
  /** The base's sampled rollouts on held-out states: success and, on the failures, stage, true progress and each model's value. */
  probe: { success: number; stage: number[]; progress: number[]; values: Partial<Record<ValueTarget, number[]>> };
  /** First seed only: value curves and the frames of evaluation episode 0 per method and split. */
  valueCurves: ValueCurve[];
  episodes: Record<string, Record<ExperimentSplit, { data: Uint8Array; shape: [number, number, number, number] }>>;
  timings: Record<string, number>;
}

/** Display names of the rows, in table order. */
export function methodName(algo: 'base' | ExperimentAlgo, reward: 'none' | ExperimentReward): string {
  if (algo === 'base') return 'base (BC)';
  const names: Record<ExperimentReward, string> = {
    sparse: 'sparse', 'steps-to-go': '+ Steps-To-Go', feat2go: '+ Feat2Go', 'oracle-stage': '+ oracle stage', constant: '+ constant',
  };
  return `${algo.toUpperCase()} ${names[reward as ExperimentReward]}`;
}

const CONFIG_KEYS = ['preset', 'seeds', 'seed', 'algos', 'rewards', 'task', 'horizon', 'demonstrator', 'demonstratorOptions', 'valueModel', 'sizes', 'threads'];

function listOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): T[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((a) => !allowed.includes(a as T))) {
    throw new TypeError(`Expected ${name} to be a non-empty array of ${allowed.map((a) => `'${a}'`).join(', ')} but received ${JSON.stringify(v)}`);
  }
  return [...new Set(v as T[])];
}

function oneOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new TypeError(`Expected ${name} among ${allowed.map((a) => `'${a}'`).join(', ')} but received ${JSON.stringify(v)}`);
  return v as T;
}

/** Resolves a config against its preset; throws TypeError/RangeError naming the bad field. */
export function resolveExperimentConfig(config: ExperimentConfig = {}): ResolvedExperimentConfig {
  if (config === null || typeof config !== 'object') throw new TypeError(`Expected an options object for config but received ${String(config)}`);
  for (const k of Object.keys(config)) {
    if (!CONFIG_KEYS.includes(k)) throw new TypeError(`Expected config keys among ${CONFIG_KEYS.join(', ')} but received '${k}'`);
  }
  if (config.sizes !== undefined && (config.sizes === null || typeof config.sizes !== 'object' || Array.isArray(config.sizes))) {
    throw new TypeError(`Expected an object for config.sizes but received ${JSON.stringify(config.sizes)}`);
  }
  const preset = config.preset ?? 'quick';
  if (!(preset in PRESETS)) throw new TypeError(`Expected config.preset 'tiny', 'quick' or 'full' but received ${JSON.stringify(preset)}`);
  const int = (v: unknown, name: string, min: number, max = 2 ** 31 - 1): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`Expected an integer for ${name} but received ${JSON.stringify(v)}`);
    if (v < min || v > max) throw new RangeError(`Expected ${name} in [${min}, ${max}] but received ${v}`);
    return v;
  };
  const { seeds: presetSeeds, ...presetSizes } = PRESETS[preset];
  const seeds = int(config.seeds ?? presetSeeds, 'config.seeds', 1, 100000);
  const seed = int(config.seed ?? 0, 'config.seed', 0);
  const algos = listOf(config.algos ?? ['ppo'], 'config.algos', ['ppo', 'grpo'] as const);
  const rewards = listOf(config.rewards ?? [...EXPERIMENT_REWARDS], 'config.rewards', EXPERIMENT_REWARDS);
  rewards.sort((a, b) => EXPERIMENT_REWARDS.indexOf(a) - EXPERIMENT_REWARDS.indexOf(b));
  const task = oneOf(config.task ?? 'pick-place', 'config.task', PICK_PLACE_TASKS);
  const horizon = int(config.horizon ?? EXPERIMENT_TASK_HORIZONS[task], 'config.horizon', 1, 10000);
  const demonstrator = oneOf(config.demonstrator ?? 'variable-pace', 'config.demonstrator', ['variable-pace', 'steady'] as const);
  const demonstratorOptions = resolveVariablePaceOptions(config.demonstratorOptions);
  if (config.demonstratorOptions !== undefined && demonstrator !== 'variable-pace') {
    throw new TypeError(`Expected config.demonstratorOptions only with the 'variable-pace' demonstrator but received demonstrator '${demonstrator}'`);
  }
  const valueModel = oneOf(config.valueModel ?? 'conv-backbone', 'config.valueModel', EXPERIMENT_VALUE_MODELS);
  const sizes: ExperimentSizes = { ...presetSizes };
  for (const [k, v] of Object.entries(config.sizes ?? {})) {
    if (!(k in sizes)) throw new TypeError(`Expected config.sizes keys among ${Object.keys(sizes).join(', ')} but received '${k}'`);
    (sizes as unknown as Record<string, number>)[k] = int(v, `config.sizes.${k}`, k === 'rlUpdates' ? 0 : 1, k === 'evalEpisodes' ? 400 : 2 ** 31 - 1);
  }
  if (sizes.numEnvs % sizes.groupSize !== 0) throw new RangeError(`Expected config.sizes.groupSize to divide numEnvs (${sizes.numEnvs}) but received ${sizes.groupSize}`);
  if (sizes.bcDemos > sizes.demos) throw new RangeError(`Expected config.sizes.bcDemos ≤ demos (${sizes.demos}) but received ${sizes.bcDemos}`);
  const threads = int(config.threads ?? 0, 'config.threads', 0, 4096);
  return { preset, seeds, seed, algos, rewards, task, horizon, demonstrator, demonstratorOptions, valueModel, sizes, threads };
}

/**
 * Checks that sizes can be split over `ranks` data-parallel ranks: at least
 * one rollout group, one evaluation episode and one cloning demonstration
 * per rank.
 * @throws {RangeError} naming the size (config.sizes.*) that is too small
 */
export function checkExperimentRanks(sizes: ExperimentSizes, ranks: number): void {
  if (ranks <= 1) return;
  const groups = sizes.numEnvs / sizes.groupSize;
  if (groups < ranks) throw new RangeError(`Expected config.sizes.numEnvs / groupSize (${groups} rollout groups) ≥ the ${ranks} ranks but received numEnvs ${sizes.numEnvs}`);
  if (sizes.evalEpisodes < ranks) throw new RangeError(`Expected config.sizes.evalEpisodes ≥ the ${ranks} ranks but received ${sizes.evalEpisodes}`);
  if (sizes.bcDemos < ranks) throw new RangeError(`Expected config.sizes.bcDemos ≥ the ${ranks} ranks but received ${sizes.bcDemos}`);
}
