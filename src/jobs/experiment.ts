// The paper's experiment in miniature (Tables 1 and 3), run only through
// feat2go's public API on the built-in pick-and-place task:
//   scripted noisy demonstrations → Feat2Go and Steps-To-Go labels of the
//   successful ones → two value heads on the same frames → a weak base policy
//   by behaviour cloning → RL from the base with LoRA adapters (PPO with GAE,
//   GRPO with groups from one initial state), terminal rewards sparse /
//   Steps-To-Go-shaped / Feat2Go-shaped → every policy evaluated on the four
//   splits (in-distribution, vision, semantic, execution).
// What a policy sees: the built-in encoder's features of the current frame,
// average-pooled to a 4×4 grid, plus the gripper's proprioception. What a
// value head sees: the same pooled frame features.
import { progressTargets, stepsToGoTargets } from '../core/progress.js';
import { gae, grpoAdvantages, normalizeAdvantages, shapeTerminalRewards, stepAdvantages, terminalRewards } from '../core/rl.js';
import { PATCH_STATS_PROGRESS_OPTIONS, patchStatsEncoder, type PatchStatsEncoder } from '../encoders/builtin.js';
import { PickPlaceEnv } from '../sim/pick-place.js';
import { Policy, type PolicySpec } from '../torch/policy.js';
import { GrpoTrainer, PpoTrainer } from '../torch/trainer.js';
import { torchAddon } from '../torch/common.js';
import { ValueHead } from '../torch/value-head.js';
import { allReduce, isDistributed, rank as distRank, worldSize as distWorldSize } from '../torch/distributed.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { meanCi, spearman } from './experiment-stats.js';

/** RL algorithms of the experiment. */
export type ExperimentAlgo = 'ppo' | 'grpo';
/** Terminal reward variants. */
export type ExperimentReward = 'sparse' | 'steps-to-go' | 'feat2go';
/** Evaluation splits. */
export type ExperimentSplit = 'id' | 'vision' | 'semantic' | 'execution';
/** Size presets: 'tiny' (tests), 'quick' (`npm start`), 'full' (the README's table). */
export type ExperimentPreset = 'tiny' | 'quick' | 'full';

/** The splits in table order. */
export const EXPERIMENT_SPLITS: readonly ExperimentSplit[] = ['id', 'vision', 'semantic', 'execution'];
const REWARDS: readonly ExperimentReward[] = ['sparse', 'steps-to-go', 'feat2go'];

/** The environment interface the experiment drives (the built-in `PickPlaceEnv`'s). */
export interface ExperimentEnv {
  readonly numEnvs: number; readonly imageSize: number; readonly horizon: number; readonly proprioDim: number;
  readonly frames: Uint8Array; readonly proprio: Float32Array; readonly terminated: Uint8Array;
  readonly truncated: Uint8Array; readonly success: Uint8Array; readonly stage: Int32Array;
  reset(initIds: ArrayLike<number>): void;
  step(actions: Float32Array): void;
  expertActions(noise: number, seed: number): Float32Array;
}
/** A constructor of {@link ExperimentEnv} (the built-in `PickPlaceEnv` by default). */
export interface ExperimentEnvClass {
  new (opts: { numEnvs: number; split?: ExperimentSplit; imageSize?: number; horizon?: number; threads?: number }): ExperimentEnv;
  readonly numStages: number;
  splitSize(split: ExperimentSplit): number;
}

/** Sizes of a run (a preset's, with overrides). */
export interface ExperimentSizes {
  /** Environments per RL rollout batch (GRPO: groups × groupSize). */
  numEnvs: number;
  /** GRPO rollouts per initial state; divides numEnvs. */
  groupSize: number;
  /** Scripted noisy demonstrations collected for the value models. */
  demos: number;
  /** Successful demonstrations the base policy is cloned from (few: a weak base). */
  bcDemos: number;
  /** Behaviour-cloning epochs. */
  bcEpochs: number;
  /** Value-head epochs. */
  valueEpochs: number;
  /** RL updates (one rollout batch each) per variant. */
  rlUpdates: number;
  /** Evaluation episodes per split per policy. */
  evalEpisodes: number;
  /** Held-out scripted episodes (several noise levels) for the value-model table. */
  probeEpisodes: number;
}

/** Hyperparameters, the same for every reward variant, fixed before any result was seen. */
export const EXPERIMENT_HYPERPARAMETERS = Object.freeze({
  imageSize: 64, horizon: 80, encoderGrid: 8, encoderBins: 8, poolGrid: 4,
  demoNoise: 0.2, probeNoises: [0.25, 0.3, 0.4] as readonly number[],
  progress: PATCH_STATS_PROGRESS_OPTIONS,
  policy: { trunk: [128, 128], critic: [128, 128], activation: 'tanh', initLogStd: -0.5 },
  obsStdFloor: 0.05, obsClip: 5,
  bc: { loss: 'nll', batchSize: 256, lr: 1e-3 },
  value: { hiddenDim: 128, bins: 201, batchSize: 256, lr: 1e-3 },
  lora: { rank: 8, alpha: 16, targets: ['trunk.0', 'trunk.2', 'head.mean'] as readonly string[] },
  failureScale: 0.5,
  ppo: { gamma: 0.99, gaeLambda: 0.95, epochs: 4, minibatches: 4, clipRange: 0.2, actorLr: 1e-3, criticLr: 1e-3, valueCoef: 0.5, entropyCoef: 0, maxGradNorm: 0.5, normalizeAdvantages: true },
  grpo: { stepGamma: 1, epochs: 4, minibatches: 4, clipLow: 0.2, clipHigh: 0.28, actorLr: 1e-3, entropyCoef: 0, maxGradNorm: 0.5, std: 'sample' },
  evaluation: 'deterministic (Gaussian mean) actions, fixed held-out initial states per split',
});

const PRESETS: Record<ExperimentPreset, ExperimentSizes> = {
  tiny: { numEnvs: 8, groupSize: 4, demos: 12, bcDemos: 4, bcEpochs: 3, valueEpochs: 2, rlUpdates: 1, evalEpisodes: 4, probeEpisodes: 6 },
  quick: { numEnvs: 32, groupSize: 8, demos: 64, bcDemos: 48, bcEpochs: 100, valueEpochs: 30, rlUpdates: 8, evalEpisodes: 32, probeEpisodes: 48 },
  full: { numEnvs: 48, groupSize: 8, demos: 96, bcDemos: 48, bcEpochs: 100, valueEpochs: 40, rlUpdates: 24, evalEpisodes: 100, probeEpisodes: 96 },
};

/** What to run. */
export interface ExperimentConfig {
  /** Default 'quick'. */
  preset?: ExperimentPreset;
  /** Independent repetitions (different demos, policies, rollouts). Default: 1 (tiny), 2 (quick), 3 (full). */
  seeds?: number;
  /** Base seed; repetition k uses seed + k. Default 0. */
  seed?: number;
  /** Default both. */
  algos?: ExperimentAlgo[];
  /** Overrides of the preset's sizes. */
  sizes?: Partial<ExperimentSizes>;
  /** Pool threads for the environment and encoder (0/absent: every core). */
  threads?: number;
}

/** Progress of a run, per phase. */
export interface ExperimentProgress {
  phase: 'demos' | 'value-models' | 'behaviour-cloning' | 'rl' | 'evaluation' | 'value-probe';
  seed: number;
  done: number;
  total: number;
  label: string;
}

/** One row of the Table-1-shaped table. */
export interface ExperimentRow {
  method: string;
  algo: 'base' | ExperimentAlgo;
  reward: 'none' | ExperimentReward;
  /** Mean success fraction over seeds. */
  success: { id: number; vision: number; semantic: number; execution: number; oodAvg: number };
  /** 95 % confidence half-widths over seeds (null with one seed). */
  ci: { id: number | null; vision: number | null; semantic: number | null; execution: number | null; oodAvg: number | null };
}

/** The JSON the `--json` option prints (stable shape). */
export interface ExperimentJson {
  config: Record<string, unknown>;
  seeds: number[];
  rows: ExperimentRow[];
  valueModels: Array<{ target: 'feat2go' | 'steps-to-go'; spearman: number | null }>;
  timings: Record<string, number>;
}

/** A value curve of one held-out episode, for the plot. */
export interface ValueCurve {
  feat2go: number[];
  stepsToGo: number[];
  /** True stage per frame. */
  stage: number[];
  success: boolean;
}

/** Everything a run produced: the JSON plus what the plots and contact sheets need. */
export interface ExperimentResult extends ExperimentJson {
  /** Per method: training-rollout success per update, one array per seed. */
  curves: Record<string, number[][]>;
  /** Per seed, per method, per split: success fraction. */
  perSeed: Array<Record<string, Record<ExperimentSplit, number>>>;
  /** Value-model table per seed (Spearman of each head) and the pooled number of failed probe episodes. */
  valueProbe: { perSeed: Array<{ feat2go: number; stepsToGo: number; failed: number }>; curves: ValueCurve[] };
  /** First seed: frames of evaluation episode 0, per method and split (`[T, S, S, 3]` each). */
  episodes: Record<string, Record<ExperimentSplit, { data: Uint8Array; shape: [number, number, number, number] }>>;
  numStages: number;
}

/** Options of {@link runExperiment}. */
export interface RunExperimentOptions {
  onProgress?: (p: ExperimentProgress) => void;
  /** The environment class (default: the built-in `PickPlaceEnv`). */
  env?: ExperimentEnvClass;
  /**
   * Run as one rank of a data-parallel group (default: whether
   * `initDistributed()` was called). Every rank runs the same call; each
   * steps its own share of the RL and evaluation environments, labels its
   * share of the demonstrations, and the ranks train one set of value heads,
   * one base policy and one policy per variant together (gradients summed
   * over ranks). Success rates are summed over ranks, so every rank returns
   * the same tables; only rank 0's `episodes` show global episode 0.
   */
  distributed?: boolean;
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

/** This rank's contiguous share [lo, hi) of n items (ranks in order cover 0 … n−1 once). */
function share(n: number, rank: number, world: number): [number, number] {
  return [Math.floor((n * rank) / world), Math.floor((n * (rank + 1)) / world)];
}

/** Display names of the rows, in table order. */
export function methodName(algo: 'base' | ExperimentAlgo, reward: 'none' | ExperimentReward): string {
  if (algo === 'base') return 'base (BC)';
  const r = reward === 'sparse' ? 'sparse' : reward === 'steps-to-go' ? '+ Steps-To-Go' : '+ Feat2Go';
  return `${algo.toUpperCase()} ${r}`;
}

/** Resolves a config against its preset; throws TypeError/RangeError naming the bad field. */
export function resolveExperimentConfig(config: ExperimentConfig = {}) {
  if (config === null || typeof config !== 'object') throw new TypeError(`Expected an options object for config but received ${String(config)}`);
  for (const k of Object.keys(config)) {
    if (!['preset', 'seeds', 'seed', 'algos', 'sizes', 'threads'].includes(k)) throw new TypeError(`Expected config keys among preset, seeds, seed, algos, sizes, threads but received '${k}'`);
  }
  if (config.sizes !== undefined && (config.sizes === null || typeof config.sizes !== 'object' || Array.isArray(config.sizes))) {
    throw new TypeError(`Expected an object for config.sizes but received ${JSON.stringify(config.sizes)}`);
  }
  const preset = config.preset ?? 'quick';
  if (!(preset in PRESETS)) throw new TypeError(`Expected config.preset 'tiny', 'quick' or 'full' but received ${JSON.stringify(preset)}`);
  const int = (v: unknown, name: string, min: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`Expected an integer for ${name} but received ${JSON.stringify(v)}`);
    if (v < min) throw new RangeError(`Expected ${name} ≥ ${min} but received ${v}`);
    return v;
  };
  const seeds = int(config.seeds ?? (preset === 'tiny' ? 1 : preset === 'quick' ? 2 : 3), 'config.seeds', 1);
  const seed = int(config.seed ?? 0, 'config.seed', 0);
  const algos = config.algos ?? ['ppo', 'grpo'];
  if (!Array.isArray(algos) || algos.length === 0 || algos.some((a) => a !== 'ppo' && a !== 'grpo')) {
    throw new TypeError(`Expected config.algos to be a non-empty array of 'ppo' and 'grpo' but received ${JSON.stringify(algos)}`);
  }
  const sizes: ExperimentSizes = { ...PRESETS[preset] };
  for (const [k, v] of Object.entries(config.sizes ?? {})) {
    if (!(k in sizes)) throw new TypeError(`Expected config.sizes keys among ${Object.keys(sizes).join(', ')} but received '${k}'`);
    (sizes as unknown as Record<string, number>)[k] = int(v, `config.sizes.${k}`, k === 'rlUpdates' ? 0 : 1);
  }
  if (sizes.numEnvs % sizes.groupSize !== 0) throw new RangeError(`Expected config.sizes.groupSize to divide numEnvs (${sizes.numEnvs}) but received ${sizes.groupSize}`);
  if (sizes.bcDemos > sizes.demos) throw new RangeError(`Expected config.sizes.bcDemos ≤ demos (${sizes.demos}) but received ${sizes.bcDemos}`);
  const threads = int(config.threads ?? 0, 'config.threads', 0);
  return { preset, seeds, seed, algos: [...new Set(algos)] as ExperimentAlgo[], sizes, threads };
}

/** A uniform [0, 1) hash of two integers (for picking initial states per seed and update). */
function hash01(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((b + 0x632be5ab) | 0, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Frame features: the encoder's [N, g², D] and their average over 2×2 (or coarser) blocks of patches. */
class Features {
  readonly enc: PatchStatsEncoder;
  readonly fineDim: number;
  readonly pooledDim: number;
  constructor(private readonly grid: number, bins: number, private readonly pool: number, threads: number) {
    this.enc = patchStatsEncoder({ grid, bins, threads });
    this.fineDim = grid * grid * this.enc.dim;
    this.pooledDim = pool * pool * this.enc.dim;
  }
  /** Encodes N frames; returns fine [N, g²·D] and pooled [N, p²·D]. */
  encode(frames: Uint8Array, N: number, S: number): { fine: Float32Array; pooled: Float32Array } {
    const f = this.enc.encodeSync({ data: frames.subarray(0, N * S * S * 3), shape: [N, S, S, 3] }).data;
    const g = this.grid; const p = this.pool; const D = this.enc.dim; const k = g / p;
    const pooled = new Float32Array(N * this.pooledDim);
    for (let n = 0; n < N; n++) {
      for (let r = 0; r < g; r++) {
        for (let c = 0; c < g; c++) {
          const src = ((n * g + r) * g + c) * D;
          const dst = ((n * p + Math.floor(r / k)) * p + Math.floor(c / k)) * D;
          for (let d = 0; d < D; d++) pooled[dst + d] += f[src + d] / (k * k);
        }
      }
    }
    return { fine: f, pooled };
  }
}

/** Per-dimension affine normalisation of policy observations, fitted on the cloning data. */
interface Normaliser { mean: Float32Array; std: Float32Array; clip: number }

function fitNormaliser(x: Float32Array, dim: number, floor: number, clip: number): Normaliser {
  const n = x.length / dim;
  const mean = new Float32Array(dim); const std = new Float32Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d] / n;
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) std[d] += (x[i * dim + d] - mean[d]) ** 2 / n;
  for (let d = 0; d < dim; d++) std[d] = Math.max(floor, Math.sqrt(std[d]));
  return { mean, std, clip };
}

function applyNormaliser(norm: Normaliser | undefined, x: Float32Array, dim: number): Float32Array {
  if (!norm) return x;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = i % dim;
    out[i] = Math.max(-norm.clip, Math.min(norm.clip, (x[i] - norm.mean[d]) / norm.std[d]));
  }
  return out;
}

/** What one batched rollout recorded; per-step arrays are [N, H, ·] with zeros after an episode ended. */
interface Rollout {
  N: number; H: number; obsDim: number;
  obs: Float32Array; actions: Float32Array; logp: Float32Array; values: Float32Array; mask: Float32Array;
  lengths: Int32Array; success: Uint8Array; finalStage: Int32Array;
  /** Pooled features of each episode's last frame, [N, pooledDim]. */
  lastPooled: Float32Array;
  /** With `keepFrames`: per-frame pooled [N, H+1, pooledDim], fine [N, H+1, fineDim] features and stage [N, H+1]. */
  pooledFrames?: Float32Array; fineFrames?: Float32Array; stages?: Int32Array;
  /** Frames of environment 0 up to its end, [T, S, S, 3]. */
  env0Frames?: Uint8Array;
}

type Actor = (obs: Float32Array, N: number, env: ExperimentEnv, t: number) => { actions: Float32Array; logProbs?: Float32Array; values?: Float32Array };

interface Ctx {
  feat: Features;
  norm?: Normaliser;
  sizes: ExperimentSizes;
}

function observe(ctx: Ctx, env: ExperimentEnv, pooled: Float32Array): Float32Array {
  const N = env.numEnvs; const P = ctx.feat.pooledDim; const Q = env.proprioDim;
  const raw = new Float32Array(N * (P + Q));
  for (let i = 0; i < N; i++) {
    raw.set(pooled.subarray(i * P, (i + 1) * P), i * (P + Q));
    raw.set(env.proprio.subarray(i * Q, (i + 1) * Q), i * (P + Q) + P);
  }
  return applyNormaliser(ctx.norm, raw, P + Q);
}

function rollout(ctx: Ctx, env: ExperimentEnv, ids: ArrayLike<number>, act: Actor, opts: { keepFrames?: boolean; env0Frames?: boolean } = {}): Rollout {
  const N = env.numEnvs; const H = env.horizon; const S = env.imageSize;
  const P = ctx.feat.pooledDim; const F = ctx.feat.fineDim; const O = P + env.proprioDim;
  env.reset(ids);
  const r: Rollout = {
    N, H, obsDim: O, obs: new Float32Array(N * H * O), actions: new Float32Array(N * H * 3), logp: new Float32Array(N * H),
    values: new Float32Array(N * H), mask: new Float32Array(N * H), lengths: new Int32Array(N).fill(H), success: new Uint8Array(N),
    finalStage: new Int32Array(N), lastPooled: new Float32Array(N * P),
  };
  if (opts.keepFrames) {
    r.pooledFrames = new Float32Array(N * (H + 1) * P); r.fineFrames = new Float32Array(N * (H + 1) * F); r.stages = new Int32Array(N * (H + 1));
  }
  const env0: Uint8Array[] = [];
  const done = new Uint8Array(N);
  let { fine, pooled } = ctx.feat.encode(env.frames, N, S);
  const keep = (t: number) => {
    for (let i = 0; i < N; i++) {
      if (done[i]) continue;
      r.lastPooled.set(pooled.subarray(i * P, (i + 1) * P), i * P);
      r.finalStage[i] = env.stage[i];
      if (r.pooledFrames) {
        r.pooledFrames.set(pooled.subarray(i * P, (i + 1) * P), (i * (H + 1) + t) * P);
        r.fineFrames!.set(fine.subarray(i * F, (i + 1) * F), (i * (H + 1) + t) * F);
        r.stages![i * (H + 1) + t] = env.stage[i];
      }
    }
    if (opts.env0Frames && !done[0]) env0.push(env.frames.slice(0, S * S * 3));
  };
  keep(0);
  for (let t = 0; t < H; t++) {
    const obs = observe(ctx, env, pooled);
    const a = act(obs, N, env, t);
    const sent = new Float32Array(N * 3);
    for (let k = 0; k < N * 3; k++) sent[k] = Math.max(-1, Math.min(1, a.actions[k]));
    for (let i = 0; i < N; i++) {
      if (done[i]) continue;
      const j = i * H + t;
      r.obs.set(obs.subarray(i * O, (i + 1) * O), j * O);
      // the policy's own sample (its log-probability is of this value); demonstrations store what was sent
      r.actions.set((a.logProbs ? a.actions : sent).subarray(i * 3, i * 3 + 3), j * 3);
      if (a.logProbs) r.logp[j] = a.logProbs[i];
      if (a.values) r.values[j] = a.values[i];
      r.mask[j] = 1;
    }
    env.step(sent);
    ({ fine, pooled } = ctx.feat.encode(env.frames, N, S));
    keep(t + 1);
    let all = true;
    for (let i = 0; i < N; i++) {
      if (!done[i] && (env.terminated[i] || env.truncated[i])) {
        done[i] = 1; r.lengths[i] = t + 1; r.success[i] = env.success[i];
      }
      if (!done[i]) all = false;
    }
    if (all) break;
  }
  if (opts.env0Frames) {
    const out = new Uint8Array(env0.length * S * S * 3);
    env0.forEach((f, k) => out.set(f, k * S * S * 3));
    r.env0Frames = out;
  }
  return r;
}

/** Initial-state ids: the last `evalEpisodes` of each split are held out for evaluation and probes. */
function heldOutIds(E: ExperimentEnvClass, split: ExperimentSplit, n: number, offset = 0): Int32Array {
  const size = E.splitSize(split);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = size - 1 - ((offset + i) % Math.floor(size / 4));
  return out;
}

function trainIds(E: ExperimentEnvClass, n: number, group: number, seed: number, round: number): Int32Array {
  const pool = E.splitSize('id') - Math.floor(E.splitSize('id') / 4);
  const out = new Int32Array(n);
  for (let g = 0; g < n / group; g++) {
    const id = Math.floor(hash01(seed * 1000003 + round, g) * pool);
    for (let k = 0; k < group; k++) out[g * group + k] = id;
  }
  return out;
}

function meanOf(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return x.length ? s / x.length : NaN;
}

/** Picks rows `sel` of an [N, H, D] array restricted to each row's first `len[i]` steps, concatenated. */
function gatherSteps(x: Float32Array, H: number, D: number, sel: number[], len: (i: number) => number): Float32Array {
  const total = sel.reduce((a, i) => a + len(i), 0);
  const out = new Float32Array(total * D);
  let o = 0;
  for (const i of sel) {
    const L = len(i);
    out.set(x.subarray(i * H * D, (i * H + L) * D), o);
    o += L * D;
  }
  return out;
}

/**
 * Runs the experiment: for each seed, demonstrations → value heads →
 * behaviour-cloned base → RL variants → evaluation on every split, and a
 * value-model probe on held-out failed episodes. Deterministic for a given
 * seed and thread count.
 * @throws {TorchUnavailableError} without libtorch; {TypeError|RangeError} on a bad config
 * @example
 * const r = await runExperiment({ preset: 'quick', seeds: 2 }, { onProgress: (p) => console.error(p.phase, p.done, p.total) });
 * console.log(formatExperimentTable(r));
 */
export async function runExperiment(config: ExperimentConfig = {}, opts: RunExperimentOptions = {}): Promise<ExperimentResult> {
  const cfg = resolveExperimentConfig(config);
  torchAddon('runExperiment'); // fail before any work without libtorch
  const hp = EXPERIMENT_HYPERPARAMETERS;
  const E: ExperimentEnvClass = opts.env ?? PickPlaceEnv;
  const report = opts.onProgress ?? (() => {});
  const { sizes } = cfg;
  if (opts.distributed !== undefined && typeof opts.distributed !== 'boolean') {
    throw new TypeError(`Expected a boolean for opts.distributed but received ${JSON.stringify(opts.distributed)}`);
  }
  const dist = opts.distributed ?? isDistributed();
  if (dist && !isDistributed()) throw new Error('runExperiment: opts.distributed is true but no process group is initialised; call initDistributed() first');
  const W = dist ? distWorldSize() : 1;
  const R = dist ? distRank() : 0;
  checkExperimentRanks(sizes, W);
  /** Sums `values` over the ranks (unchanged without a group). */
  const sumRanks = async (values: number[]): Promise<Float64Array> => {
    const a = Float64Array.from(values);
    return W > 1 ? allReduce(a, 'sum') : a;
  };
  const timings: Record<string, number> = { demos: 0, valueModels: 0, behaviourCloning: 0, rl: 0, evaluation: 0, valueProbe: 0 };
  const clock = async <T>(key: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try { return await f(); } finally { timings[key] += (performance.now() - t0) / 1000; }
  };
  const methods: Array<{ algo: 'base' | ExperimentAlgo; reward: 'none' | ExperimentReward }> = [{ algo: 'base', reward: 'none' }];
  for (const algo of cfg.algos) for (const reward of REWARDS) methods.push({ algo, reward });
  const seeds = Array.from({ length: cfg.seeds }, (_, k) => cfg.seed + k);
  const perSeed: ExperimentResult['perSeed'] = [];
  const curves: Record<string, number[][]> = {};
  const episodes: ExperimentResult['episodes'] = {};
  const probe: ExperimentResult['valueProbe'] = { perSeed: [], curves: [] };
  const probeAll = { f2g: [] as number[], stg: [] as number[], stage: [] as number[] };
  const tStart = performance.now();
  const tmp = mkdtempSync(path.join(tmpdir(), 'feat2go-experiment-'));
  try {
  for (const [si, seed] of seeds.entries()) {
    const feat = new Features(hp.encoderGrid, hp.encoderBins, hp.poolGrid, cfg.threads);
    const ctx: Ctx = { feat, sizes };
    const mkEnv = (n: number, split: ExperimentSplit) => new E({ numEnvs: n, split, imageSize: hp.imageSize, horizon: hp.horizon, threads: cfg.threads });
    const H = hp.horizon;

    // 1. scripted noisy demonstrations (id split, training initial states)
    const demo = await clock('demos', () => {
      report({ phase: 'demos', seed, done: 0, total: sizes.demos, label: `${sizes.demos} scripted demonstrations` });
      const env = mkEnv(sizes.demos, 'id');
      const ids = trainIds(E, sizes.demos, 1, seed, 1_000_000);
      const r = rollout(ctx, env, ids, (_o, _n, e) => ({ actions: e.expertActions(hp.demoNoise, seed * 7919 + 1) }), { keepFrames: true });
      report({ phase: 'demos', seed, done: sizes.demos, total: sizes.demos, label: `${meanOf(r.success) * 100 | 0} % succeeded` });
      return r;
    });
    const ok = Array.from({ length: demo.N }, (_, i) => i).filter((i) => demo.success[i]);
    if (ok.length < Math.min(2, sizes.bcDemos)) throw new Error(`Only ${ok.length} of ${demo.N} scripted demonstrations succeeded; the experiment needs successful demonstrations`);

    // 2. labels and two value heads on the same frames
    if (ok.length < W) throw new Error(`Only ${ok.length} of ${demo.N} scripted demonstrations succeeded; ${W} ranks need at least one each`);
    const heads = await clock('valueModels', async () => {
      const P = feat.pooledDim; const F = feat.fineDim;
      // Each rank labels a contiguous share of the successful demonstrations; in rank
      // order the shares are the one-process data set, which the heads train on together.
      const [okLo, okHi] = share(ok.length, R, W);
      const mine = ok.slice(okLo, okHi);
      const frames = mine.reduce((a, i) => a + demo.lengths[i] + 1, 0);
      const x = new Float32Array(frames * P); const yF = new Float32Array(frames); const yS = new Float32Array(frames);
      let o = 0;
      for (const [k, i] of mine.entries()) {
        const T = demo.lengths[i] + 1;
        report({ phase: 'value-models', seed, done: k, total: mine.length + 2, label: 'labelling successful demonstrations' });
        const fine = demo.fineFrames!.subarray(i * (H + 1) * F, (i * (H + 1) + T) * F);
        const { values } = await progressTargets({ data: fine, shape: [T, hp.encoderGrid * hp.encoderGrid, feat.enc.dim] }, { ...hp.progress, threads: cfg.threads });
        x.set(demo.pooledFrames!.subarray(i * (H + 1) * P, (i * (H + 1) + T) * P), o * P);
        yF.set(values, o); yS.set(stepsToGoTargets(T), o);
        o += T;
      }
      const fit = async (y: Float32Array, name: string, k: number) => {
        report({ phase: 'value-models', seed, done: mine.length + k, total: mine.length + 2, label: `training the ${name} head` });
        const head = new ValueHead({ inputDim: P, hiddenDim: hp.value.hiddenDim, bins: hp.value.bins, seed: seed + 11 });
        const { losses } = await head.fit({ data: x, shape: [frames, P] }, y, { epochs: sizes.valueEpochs, batchSize: hp.value.batchSize, lr: hp.value.lr, seed });
        return { head, losses };
      };
      const f2g = await fit(yF, 'Feat2Go', 0);
      const stg = await fit(yS, 'Steps-To-Go', 1);
      return { f2g: f2g.head, stg: stg.head };
    });

    // 3. the weak base policy, cloned from a few successful demonstrations
    const spec: PolicySpec = {
      obsDim: feat.pooledDim + 4, trunk: { sizes: [...hp.policy.trunk], activation: 'tanh' },
      head: { type: 'gaussian', actionDim: 3, initLogStd: hp.policy.initLogStd }, critic: { sizes: [...hp.policy.critic], activation: 'tanh' }, seed,
    };
    const baseFile = path.join(tmp, `base-${seed}.safetensors`);
    await clock('behaviourCloning', async () => {
      const sel = ok.slice(0, sizes.bcDemos);
      const P = feat.pooledDim; const O = P + 4;
      const rawObs = gatherSteps(demo.obs, H, O, sel, (i) => demo.lengths[i]);
      ctx.norm = fitNormaliser(rawObs, O, hp.obsStdFloor, hp.obsClip); // every rank ran every demonstration
      // Each rank clones from a contiguous share of the demonstrations (together: all of them).
      const [bLo, bHi] = share(sel.length, R, W);
      const mineSel = sel.slice(bLo, bHi);
      const first = sel.slice(0, bLo).reduce((a, i) => a + demo.lengths[i], 0); // rows before this rank's share
      const rows = mineSel.reduce((a, i) => a + demo.lengths[i], 0);
      const obs = applyNormaliser(ctx.norm, rawObs.subarray(first * O, (first + rows) * O), O);
      const act = gatherSteps(demo.actions, H, 3, mineSel, (i) => demo.lengths[i]);
      const base = new Policy({ ...spec, obsDim: O });
      const n = obs.length / O;
      await base.fitBehaviourCloning({ data: obs, shape: [n, O] }, { data: act, shape: [n, 3] }, {
        epochs: sizes.bcEpochs, batchSize: hp.bc.batchSize, lr: hp.bc.lr, loss: 'nll', seed,
        onEpoch: (e) => report({ phase: 'behaviour-cloning', seed, done: e.epoch, total: e.epochs, label: `NLL ${e.loss.toFixed(3)}` }),
      });
      base.saveWeights(baseFile);
      return base;
    });
    const O = feat.pooledDim + 4;
    spec.obsDim = O;
    /** A copy of the cloned base, through the public file API; `seed` drives its action sampling. */
    const makeBase = (seed = spec.seed): Policy => {
      const p = new Policy({ ...spec, seed });
      p.loadWeights(baseFile);
      return p;
    };

    // 4. RL variants from the base
    const policies = new Map<string, Policy>();
    policies.set(methodName('base', 'none'), makeBase());
    // Each rank steps a contiguous share of the rollout's groups (GRPO groups never straddle ranks).
    const [gLo, gHi] = share(sizes.numEnvs / sizes.groupSize, R, W);
    const rlEnv = mkEnv((gHi - gLo) * sizes.groupSize, 'id');
    for (const algo of cfg.algos) {
      for (const reward of REWARDS) {
        const name = methodName(algo, reward);
        // A rank-specific sampling stream (rank 0's is the one-process stream; the
        // weights come from the base file, and the trainer broadcasts rank 0's anyway).
        const p = makeBase(seed + 7919 * R);
        p.addLora({ rank: hp.lora.rank, alpha: hp.lora.alpha, targets: [...hp.lora.targets], seed });
        const trainer = algo === 'ppo'
          ? new PpoTrainer(p, { epochs: hp.ppo.epochs, minibatches: hp.ppo.minibatches, clipRange: hp.ppo.clipRange, actorLr: hp.ppo.actorLr, criticLr: hp.ppo.criticLr, valueCoef: hp.ppo.valueCoef, entropyCoef: hp.ppo.entropyCoef, maxGradNorm: hp.ppo.maxGradNorm, seed })
          : new GrpoTrainer(p, { epochs: hp.grpo.epochs, minibatches: hp.grpo.minibatches, clipLow: hp.grpo.clipLow, clipHigh: hp.grpo.clipHigh, actorLr: hp.grpo.actorLr, entropyCoef: hp.grpo.entropyCoef, maxGradNorm: hp.grpo.maxGradNorm, seed });
        const curve: number[] = [];
        await clock('rl', async () => {
          for (let u = 0; u < sizes.rlUpdates; u++) {
            report({ phase: 'rl', seed, done: u, total: sizes.rlUpdates, label: name });
            const group = algo === 'grpo' ? sizes.groupSize : 1;
            const ids = trainIds(E, sizes.numEnvs, group, seed, u).subarray(gLo * sizes.groupSize, gHi * sizes.groupSize);
            const r = rollout(ctx, rlEnv, ids, (obs, N) => {
              const a = p.act({ data: obs, shape: [N, O] });
              return { actions: a.actions.data, logProbs: a.logProbs, values: a.values };
            });
            const [succ] = await sumRanks([r.success.reduce((a, v) => a + v, 0)]);
            curve.push(succ / sizes.numEnvs);
            const R = terminalReward(reward, r, heads, feat.pooledDim, hp.failureScale);
            const N = r.N;
            const batchBase = { obs: { data: r.obs, shape: [N, H, O] }, actions: { data: r.actions, shape: [N, H, 3] }, oldLogProbs: { data: r.logp, shape: [N, H] }, mask: { data: r.mask, shape: [N, H] } };
            if (algo === 'ppo') {
              const rewards = terminalRewards(r.lengths, R, H, { threads: cfg.threads });
              const next = new Float32Array(N * H); const term = new Uint8Array(N * H);
              for (let i = 0; i < N; i++) {
                for (let t = 0; t < H; t++) {
                  if (t + 1 < r.lengths[i]) next[i * H + t] = r.values[i * H + t + 1];
                  else term[i * H + t] = 1; // the episode's terminal reward stands for everything after it
                }
              }
              const g = gae({ rewards, values: { data: r.values, shape: [N, H] }, nextValues: { data: next, shape: [N, H] }, terminated: { data: term, shape: [N, H] }, done: { data: term, shape: [N, H] } },
                { gamma: hp.ppo.gamma, lambda: hp.ppo.gaeLambda, threads: cfg.threads });
              const adv = W > 1 ? await whitenOverRanks(g.advantages.data, r.mask, N, H, sumRanks)
                : normalizeAdvantages(g.advantages, { data: Uint8Array.from(r.mask), shape: [N, H] });
              await (trainer as PpoTrainer).update({ ...batchBase, advantages: adv, returns: g.returns });
            } else {
              const traj = grpoAdvantages(R, { groupSize: sizes.groupSize, std: 'sample' });
              // Skipped on every rank together when no group on any rank has a signal.
              const [signal] = await sumRanks([traj.some((v) => v !== 0) ? 1 : 0]);
              if (signal > 0) {
                const adv = stepAdvantages(traj, r.lengths, H, hp.grpo.stepGamma, { threads: cfg.threads });
                await (trainer as GrpoTrainer).update({ ...batchBase, advantages: adv });
              }
            }
          }
        });
        report({ phase: 'rl', seed, done: sizes.rlUpdates, total: sizes.rlUpdates, label: name });
        (curves[name] ??= []).push(curve);
        policies.set(name, p);
      }
    }

    // 5. evaluation on every split
    const row: Record<string, Record<ExperimentSplit, number>> = {};
    await clock('evaluation', async () => {
      let k = 0;
      const total = policies.size * EXPERIMENT_SPLITS.length;
      const [eLo, eHi] = share(sizes.evalEpisodes, R, W);
      for (const split of EXPERIMENT_SPLITS) {
        const env = mkEnv(eHi - eLo, split);
        const ids = heldOutIds(E, split, sizes.evalEpisodes).subarray(eLo, eHi);
        for (const [name, p] of policies) {
          report({ phase: 'evaluation', seed, done: k++, total, label: `${name} on ${split}` });
          const r = rollout(ctx, env, ids, (obs, N) => ({ actions: p.act({ data: obs, shape: [N, O] }, { deterministic: true }).actions.data }), { env0Frames: si === 0 });
          const [succ] = await sumRanks([r.success.reduce((a, v) => a + v, 0)]);
          (row[name] ??= {} as Record<ExperimentSplit, number>)[split] = succ / sizes.evalEpisodes;
          if (si === 0) {
            const T = r.env0Frames!.length / (hp.imageSize * hp.imageSize * 3);
            (episodes[name] ??= {} as ExperimentResult['episodes'][string])[split] = { data: r.env0Frames!, shape: [T, hp.imageSize, hp.imageSize, 3] };
          }
        }
      }
      report({ phase: 'evaluation', seed, done: total, total, label: 'done' });
    });
    perSeed.push(row);

    // 6. value models on held-out failed episodes
    await clock('valueProbe', async () => {
      const per = Math.max(1, Math.ceil(sizes.probeEpisodes / hp.probeNoises.length));
      const f2g: number[] = []; const stg: number[] = []; const stage: number[] = [];
      const P = feat.pooledDim;
      for (const [k, noise] of hp.probeNoises.entries()) {
        report({ phase: 'value-probe', seed, done: k, total: hp.probeNoises.length, label: `scripted episodes with noise ${noise}` });
        const env = mkEnv(per, 'id');
        const r = rollout(ctx, env, heldOutIds(E, 'id', per, k * per + seed * 7), (_o, _n, e) => ({ actions: e.expertActions(noise, 1_000_003 * (seed + 1) + 101 * k) }), { keepFrames: true });
        const failed = Array.from({ length: r.N }, (_, i) => i).filter((i) => !r.success[i]);
        if (failed.length) {
          const last = new Float32Array(failed.length * P);
          failed.forEach((i, j) => last.set(r.lastPooled.subarray(i * P, (i + 1) * P), j * P));
          const vF = heads.f2g.predict({ data: last, shape: [failed.length, P] });
          const vS = heads.stg.predict({ data: last, shape: [failed.length, P] });
          failed.forEach((i, j) => { f2g.push(vF[j]); stg.push(vS[j]); stage.push(r.finalStage[i]); });
        }
        if (si === 0) {
          // value curves of one failed and one successful episode per noise level (when there are)
          const succ = Array.from({ length: r.N }, (_, i) => i).filter((i) => r.success[i]);
          for (const i of [failed[0], succ[0]].filter((v) => v !== undefined)) {
            const T = r.lengths[i] + 1;
            const x = r.pooledFrames!.subarray(i * (H + 1) * P, (i * (H + 1) + T) * P);
            probe.curves.push({
              feat2go: Array.from(heads.f2g.predict({ data: x, shape: [T, P] })), stepsToGo: Array.from(heads.stg.predict({ data: x, shape: [T, P] })),
              stage: Array.from(r.stages!.subarray(i * (H + 1), i * (H + 1) + T)), success: r.success[i] === 1,
            });
          }
        }
      }
      probe.perSeed.push({ feat2go: spearman(f2g, stage), stepsToGo: spearman(stg, stage), failed: stage.length });
      probeAll.f2g.push(...f2g); probeAll.stg.push(...stg); probeAll.stage.push(...stage);
    });
  }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  timings.total = (performance.now() - tStart) / 1000;
  for (const k of Object.keys(timings)) timings[k] = Math.round(timings[k] * 100) / 100;

  const rows: ExperimentRow[] = methods.map(({ algo, reward }) => {
    const name = methodName(algo, reward);
    const col = (f: (r: Record<ExperimentSplit, number>) => number) => meanCi(perSeed.map((s) => f(s[name])));
    const ood = (r: Record<ExperimentSplit, number>) => (r.vision + r.semantic + r.execution) / 3;
    const cells = { id: col((r) => r.id), vision: col((r) => r.vision), semantic: col((r) => r.semantic), execution: col((r) => r.execution), oodAvg: col(ood) };
    return {
      method: name, algo, reward,
      success: { id: cells.id.mean, vision: cells.vision.mean, semantic: cells.semantic.mean, execution: cells.execution.mean, oodAvg: cells.oodAvg.mean },
      ci: { id: cells.id.ci, vision: cells.vision.ci, semantic: cells.semantic.ci, execution: cells.execution.ci, oodAvg: cells.oodAvg.ci },
    };
  });
  const nan2null = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    config: { preset: cfg.preset, seeds: cfg.seeds, seed: cfg.seed, algos: cfg.algos, threads: cfg.threads, ranks: W, sizes, hyperparameters: hp },
    seeds,
    rows,
    valueModels: [
      { target: 'feat2go', spearman: nan2null(spearman(probeAll.f2g, probeAll.stage)) },
      { target: 'steps-to-go', spearman: nan2null(spearman(probeAll.stg, probeAll.stage)) },
    ],
    timings,
    curves, perSeed, valueProbe: probe, episodes, numStages: E.numStages,
  };
}

/**
 * normalizeAdvantages over the union of every rank's batch: (A − mean) / (std + 1e-8) with the
 * masked mean and sample std of all ranks' entries (two sums over the ranks), as one process would.
 */
async function whitenOverRanks(a: Float32Array, mask: Float32Array, N: number, H: number,
  sumRanks: (v: number[]) => Promise<Float64Array>): Promise<{ data: Float32Array; shape: number[] }> {
  let s = 0; let n = 0;
  for (let i = 0; i < a.length; i++) if (mask[i]) { s += a[i]; n++; }
  const [S, C] = await sumRanks([s, n]);
  if (!(C > 1)) throw new RangeError(`Expected more than one unmasked step over the ranks to whiten advantages but received ${C}`);
  const mean = S / C;
  let q = 0;
  for (let i = 0; i < a.length; i++) if (mask[i]) q += (a[i] - mean) ** 2;
  const [Q] = await sumRanks([q]);
  const std = Math.sqrt(Q / (C - 1));
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = mask[i] ? (a[i] - mean) / (std + 1e-8) : 0;
  return { data: out, shape: [N, H] };
}

function terminalReward(reward: ExperimentReward, r: Rollout, heads: { f2g: ValueHead; stg: ValueHead }, P: number, failureScale: number): Float32Array {
  if (reward === 'sparse') return Float32Array.from(r.success);
  const head = reward === 'feat2go' ? heads.f2g : heads.stg;
  const v = head.predict({ data: r.lastPooled, shape: [r.N, P] });
  return shapeTerminalRewards(r.success, v, { failureScale });
}

/** Formats a fraction with its CI as "xx.x ± y.y" (percent). */
function pct(m: number, ci: number | null): string {
  return `${(m * 100).toFixed(1)}${ci === null ? '' : ` ± ${(ci * 100).toFixed(1)}`}`;
}

/** The Table-1-shaped table (success %, mean ± 95 % CI over seeds) as Markdown. */
export function formatExperimentTable(r: ExperimentJson): string {
  const head = '| Method | In-distribution | Vision | Semantic | Execution | OOD avg |';
  const lines = [head, '|---|---:|---:|---:|---:|---:|'];
  for (const row of r.rows) {
    lines.push(`| ${row.method} | ${pct(row.success.id, row.ci.id)} | ${pct(row.success.vision, row.ci.vision)} | ${pct(row.success.semantic, row.ci.semantic)} | ${pct(row.success.execution, row.ci.execution)} | ${pct(row.success.oodAvg, row.ci.oodAvg)} |`);
  }
  lines.push('', `Success rate in %, mean ± 95 % CI (Student t) over n = ${r.seeds.length} seed${r.seeds.length === 1 ? '' : 's'} (${r.seeds.join(', ')}).`);
  return `${lines.join('\n')}\n`;
}

/** The value-model table as Markdown. */
export function formatValueModelTable(r: ExperimentJson & Partial<Pick<ExperimentResult, 'valueProbe'>>): string {
  const lines = ['| Value target | Spearman (last-frame value vs reached stage, failed held-out episodes) |', '|---|---:|'];
  for (const v of r.valueModels) lines.push(`| ${v.target === 'feat2go' ? 'Feat2Go' : 'Steps-To-Go'} | ${v.spearman === null ? 'n/a' : v.spearman.toFixed(3)} |`);
  if (r.valueProbe) lines.push('', `Failed held-out episodes: ${r.valueProbe.perSeed.map((s) => s.failed).join(' + ')} (per seed), pooled over seeds.`);
  return `${lines.join('\n')}\n`;
}
