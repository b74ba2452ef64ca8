// The six phases of one seed of the experiment, each a function over the
// seed's context (src/jobs/experiment.ts runs them in order):
//   1. demonstrations   scripted demonstrations (variable-pace teleoperator or steady expert)
//   2. value models     Feat2Go / Steps-To-Go labels of the successful ones, one value model each
//   3. base policy      a weak base by behaviour cloning on a few successful demonstrations
//   4. RL variant       PPO or GRPO from the base with LoRA, one terminal reward
//   5. evaluation       every policy on every split, deterministic actions
//   6. value probes     the value models on the base's own failed sampled rollouts
// What a policy sees: the built-in encoder's features of the current frame,
// average-pooled to 4×4 patches, plus the gripper's proprioception. What a
// value model sees: its kind's input (pooled features, or frames).
import { progressTargets, stepsToGoTargets } from '../core/progress.js';
import { gae, grpoAdvantages, normalizeAdvantages, shapeTerminalRewards, stepAdvantages, terminalRewards } from '../core/rl.js';
import { patchStatsEncoder, type PatchStatsEncoder } from '../encoders/builtin.js';
import { VariablePaceDemonstrator } from '../sim/teleop.js';
import { Policy, type PolicySpec } from '../torch/policy.js';
import { GrpoTrainer, PpoTrainer } from '../torch/trainer.js';
import { createValueModel, valueModelNeedsFrames, type ExperimentValueModel, type ValueInputs } from './experiment-value.js';
import {
  EXPERIMENT_SPLITS, methodName, type EXPERIMENT_HYPERPARAMETERS, type ExperimentAlgo, type ExperimentEnv, type ExperimentEnvClass, type ExperimentProgress,
  type ExperimentReward, type ExperimentSplit, type ResolvedExperimentConfig, type SeedRecord, type ValueTarget,
} from './experiment-config.js';
import path from 'node:path';

type Hp = typeof EXPERIMENT_HYPERPARAMETERS;

/** Everything the phases of one seed share. */
export interface SeedContext {
  cfg: ResolvedExperimentConfig;
  hp: Hp;
  E: ExperimentEnvClass;
  seed: number;
  /** Whether this seed keeps frames and curves for the plots (the first seed). */
  keepPictures: boolean;
  /** This process's rank and the number of ranks (1 without a group). */
  rank: number;
  world: number;
  sumRanks: (values: number[]) => Promise<Float64Array>;
  report: (p: ExperimentProgress) => void;
  /** Cancels the seed's long calls (labelling, fits, behaviour cloning, updates). */
  signal?: AbortSignal;
  /** Folder for the base policy's weights. */
  tmp: string;
  feat: Features;
  norm?: Normaliser;
  /** The RL and evaluation horizon. */
  horizon: number;
  record: SeedRecord;
  demo?: { r: Rollout; ok: number[] };
  models?: Map<ValueTarget, ExperimentValueModel>;
  base?: { spec: PolicySpec; file: string; obsDim: number };
}

// ------------------------------------------------------------------ features

/** Frame features: the encoder's [N, g², D] and their average over blocks of patches. */
export class Features {
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
export interface Normaliser { mean: Float32Array; std: Float32Array; clip: number }

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

// ------------------------------------------------------------------ rollouts

/** What one batched rollout recorded; per-step arrays are [N, H, ·] with zeros after an episode ended. */
export interface Rollout {
  N: number; H: number; obsDim: number;
  obs: Float32Array; actions: Float32Array; logp: Float32Array; values: Float32Array; mask: Float32Array;
  lengths: Int32Array; success: Uint8Array; finalStage: Int32Array;
  /** The simulator's dense true progress at each episode's last frame, [N]. */
  finalProgress: Float32Array;
  /** Pooled features of each episode's last frame, [N, pooledDim]. */
  lastPooled: Float32Array;
  /** RGB of each episode's last frame, [N, S, S, 3]. */
  lastFrames: Uint8Array;
  /** With `keepFrames`: per-frame pooled [N, H+1, P] and fine [N, H+1, F] features, stage and progress [N, H+1], and (`keepRgb`) each episode's RGB frames. */
  pooledFrames?: Float32Array; fineFrames?: Float32Array; stages?: Int32Array; progress?: Float32Array; rgb?: Uint8Array[][];
  /** Frames of environment 0 up to its end, [T, S, S, 3]. */
  env0Frames?: Uint8Array;
}

type Actor = (obs: Float32Array, N: number, t: number) => { actions: Float32Array; logProbs?: Float32Array; values?: Float32Array };

function observe(ctx: SeedContext, env: ExperimentEnv, pooled: Float32Array): Float32Array {
  const N = env.numEnvs; const P = ctx.feat.pooledDim; const Q = env.proprioDim;
  const raw = new Float32Array(N * (P + Q));
  for (let i = 0; i < N; i++) {
    raw.set(pooled.subarray(i * P, (i + 1) * P), i * (P + Q));
    raw.set(env.proprio.subarray(i * Q, (i + 1) * Q), i * (P + Q) + P);
  }
  return applyNormaliser(ctx.norm, raw, P + Q);
}

interface RolloutOptions { keepFrames?: boolean; keepRgb?: boolean; env0Frames?: boolean }

/** Runs the envs from `ids` until every episode ended (env.reset must not have been called yet). */
export function rollout(ctx: SeedContext, env: ExperimentEnv, ids: ArrayLike<number>, act: Actor, opts: RolloutOptions = {}, afterReset?: () => void): Rollout {
  const N = env.numEnvs; const H = env.horizon; const S = env.imageSize; const FR = S * S * 3;
  const P = ctx.feat.pooledDim; const F = ctx.feat.fineDim; const O = P + env.proprioDim;
  env.reset(ids);
  afterReset?.();
  const r: Rollout = {
    N, H, obsDim: O, obs: new Float32Array(N * H * O), actions: new Float32Array(N * H * 3), logp: new Float32Array(N * H),
    values: new Float32Array(N * H), mask: new Float32Array(N * H), lengths: new Int32Array(N).fill(H), success: new Uint8Array(N),
    finalStage: new Int32Array(N), finalProgress: new Float32Array(N), lastPooled: new Float32Array(N * P), lastFrames: new Uint8Array(N * FR),
  };
  if (opts.keepFrames) {
    r.pooledFrames = new Float32Array(N * (H + 1) * P); r.fineFrames = new Float32Array(N * (H + 1) * F);
    r.stages = new Int32Array(N * (H + 1)); r.progress = new Float32Array(N * (H + 1));
    if (opts.keepRgb) r.rgb = Array.from({ length: N }, () => []);
  }
  const env0: Uint8Array[] = [];
  const done = new Uint8Array(N);
  let { fine, pooled } = ctx.feat.encode(env.frames, N, S);
  const keep = (t: number) => {
    for (let i = 0; i < N; i++) {
      if (done[i]) continue;
      if (r.pooledFrames) {
        const j = i * (H + 1) + t;
        r.pooledFrames.set(pooled.subarray(i * P, (i + 1) * P), j * P);
        r.fineFrames!.set(fine.subarray(i * F, (i + 1) * F), j * F);
        r.stages![j] = env.stage[i];
        r.progress![j] = env.progress[i];
        r.rgb?.[i].push(env.frames.slice(i * FR, (i + 1) * FR));
      }
    }
    if (opts.env0Frames && !done[0]) env0.push(env.frames.slice(0, FR));
  };
  keep(0);
  for (let t = 0; t < H; t++) {
    const obs = observe(ctx, env, pooled);
    const a = act(obs, N, t);
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
  // A finished env is frozen (same state and frame), so the last encoding is every episode's last frame.
  r.lastPooled.set(pooled);
  r.lastFrames.set(env.frames.subarray(0, N * FR));
  r.finalStage.set(env.stage);
  r.finalProgress.set(env.progress);
  if (opts.env0Frames) {
    const out = new Uint8Array(env0.length * FR);
    env0.forEach((f, k) => out.set(f, k * FR));
    r.env0Frames = out;
  }
  return r;
}

/** A uniform [0, 1) hash of two integers (for picking initial states per seed and update). */
function hash01(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((b + 0x632be5ab) | 0, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Held-out initial states: the last HELD_OUT ids of each split (evaluation and probes); training draws from the rest. */
export const HELD_OUT = 400;

/** `n` held-out initial-state ids of `split`, from `offset` (cycling within the held-out block). */
export function heldOutIds(E: ExperimentEnvClass, split: ExperimentSplit, n: number, offset = 0): Int32Array {
  const size = E.splitSize(split);
  const block = Math.min(HELD_OUT, Math.floor(size / 2));
  return Int32Array.from({ length: n }, (_, i) => size - 1 - ((offset + i) % block));
}

/** Training initial states of round `round` for `seed`: n / group distinct ids, each repeated `group` times. */
export function trainIds(E: ExperimentEnvClass, n: number, group: number, seed: number, round: number): Int32Array {
  const size = E.splitSize('id');
  const pool = size - Math.min(HELD_OUT, Math.floor(size / 2));
  const out = new Int32Array(n);
  for (let g = 0; g < n / group; g++) {
    const id = Math.floor(hash01(seed * 1000003 + round, g) * pool);
    for (let k = 0; k < group; k++) out[g * group + k] = id;
  }
  return out;
}

/** This rank's contiguous share [lo, hi) of n items (ranks in order cover 0 … n−1 once). */
export function share(n: number, rank: number, world: number): [number, number] {
  return [Math.floor((n * rank) / world), Math.floor((n * (rank + 1)) / world)];
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

function mkEnv(ctx: SeedContext, n: number, split: ExperimentSplit, horizon = ctx.horizon): ExperimentEnv {
  return new ctx.E({ numEnvs: n, split, imageSize: ctx.hp.imageSize, horizon, threads: ctx.cfg.threads, task: ctx.cfg.task });
}

async function timed<T>(ctx: SeedContext, key: string, f: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    ctx.record.timings[key] = (ctx.record.timings[key] ?? 0) + (performance.now() - t0) / 1000;
  }
}

// ------------------------------------------------------------------ 1. demonstrations

/** Phase 1: scripted demonstrations on training initial states (every rank runs all of them). */
export async function collectDemonstrations(ctx: SeedContext): Promise<void> {
  const { cfg, hp, seed } = ctx; const n = cfg.sizes.demos;
  await timed(ctx, 'demos', () => {
    ctx.report({ phase: 'demos', seed, done: 0, total: n, label: `${n} ${cfg.demonstrator} demonstrations` });
    const env = mkEnv(ctx, n, 'id', hp.demoHorizon);
    const ids = trainIds(ctx.E, n, 1, seed, 1_000_000);
    const expertSeed = seed * 7919 + 1;
    let teleop: VariablePaceDemonstrator | undefined;
    const keepRgb = valueModelNeedsFrames(cfg.valueModel);
    const r = rollout(ctx, env, ids, () => ({ actions: teleop ? teleop.act() : env.expertActions(hp.demoNoise, expertSeed) }), { keepFrames: true, keepRgb },
      () => { if (cfg.demonstrator === 'variable-pace') teleop = new VariablePaceDemonstrator(env, expertSeed, cfg.demonstratorOptions); });
    const ok = Array.from({ length: r.N }, (_, i) => i).filter((i) => r.success[i]);
    ctx.record.demoSuccess = ok.length / r.N;
    ctx.report({ phase: 'demos', seed, done: n, total: n, label: `${Math.round(ctx.record.demoSuccess * 100)} % succeeded` });
    if (ok.length < Math.min(2, cfg.sizes.bcDemos)) throw new Error(`Only ${ok.length} of ${r.N} scripted demonstrations succeeded; the experiment needs successful demonstrations`);
    if (ok.length < ctx.world) throw new Error(`Only ${ok.length} of ${r.N} scripted demonstrations succeeded; ${ctx.world} ranks need at least one each`);
    ctx.demo = { r, ok };
  });
}

// ------------------------------------------------------------------ 2. value models

/** The value targets the run's rewards use (each gets its own value model, probed in phase 6). */
export function neededTargets(rewards: readonly ExperimentReward[]): ValueTarget[] {
  return (['feat2go', 'steps-to-go'] as const).filter((t) => rewards.includes(t));
}

/** Phase 2: labels of the successful demonstrations (this rank's share) and one value model per target. */
export async function trainValueModels(ctx: SeedContext): Promise<void> {
  const { cfg, hp, seed } = ctx; const { r, ok } = ctx.demo!;
  const targets = neededTargets(cfg.rewards);
  ctx.models = new Map();
  if (targets.length === 0) return;
  await timed(ctx, 'valueModels', async () => {
    const P = ctx.feat.pooledDim; const F = ctx.feat.fineDim; const H1 = r.H + 1; const FR = hp.imageSize * hp.imageSize * 3;
    // Each rank labels a contiguous share; in rank order the shares are the one-process data set.
    const [lo, hi] = share(ok.length, ctx.rank, ctx.world);
    const mine = ok.slice(lo, hi);
    const n = mine.reduce((a, i) => a + r.lengths[i] + 1, 0);
    const x: ValueInputs = { n, pooled: new Float32Array(n * P), frames: new Uint8Array(r.rgb ? n * FR : 0), imageSize: hp.imageSize };
    const y = { feat2go: new Float32Array(n), 'steps-to-go': new Float32Array(n) };
    let o = 0;
    for (const [k, i] of mine.entries()) {
      const T = r.lengths[i] + 1;
      ctx.report({ phase: 'value-models', seed, done: k, total: mine.length + targets.length, label: 'labelling successful demonstrations' });
      x.pooled.set(r.pooledFrames!.subarray(i * H1 * P, (i * H1 + T) * P), o * P);
      if (r.rgb) r.rgb[i].slice(0, T).forEach((f, k) => x.frames.set(f, (o + k) * FR));
      if (targets.includes('feat2go')) {
        const fine = r.fineFrames!.subarray(i * H1 * F, (i * H1 + T) * F);
        const { values } = await progressTargets({ data: fine, shape: [T, hp.encoderGrid * hp.encoderGrid, ctx.feat.enc.dim] }, { ...hp.progress, threads: cfg.threads, signal: ctx.signal });
        y.feat2go.set(values, o);
      }
      y['steps-to-go'].set(stepsToGoTargets(T), o);
      o += T;
    }
    for (const [k, target] of targets.entries()) {
      ctx.report({ phase: 'value-models', seed, done: mine.length + k, total: mine.length + targets.length, label: `training the ${target} ${cfg.valueModel}` });
      const m = createValueModel(cfg.valueModel, { pooledDim: P, imageSize: hp.imageSize }, hp.value, seed + 11);
      await m.fit(x, y[target], { epochs: cfg.sizes.valueEpochs, seed, signal: ctx.signal });
      ctx.models!.set(target, m);
    }
  });
}

// ------------------------------------------------------------------ 3. base policy

/** Phase 3: the weak base policy, cloned from the first bcDemos successful demonstrations (saved to a file). */
export async function cloneBasePolicy(ctx: SeedContext): Promise<void> {
  const { cfg, hp, seed } = ctx; const { r, ok } = ctx.demo!;
  await timed(ctx, 'behaviourCloning', async () => {
    const O = ctx.feat.pooledDim + 4; const H = r.H;
    const spec: PolicySpec = {
      obsDim: O, trunk: { sizes: [...hp.policy.trunk], activation: 'tanh' },
      head: { type: 'gaussian', actionDim: 3, initLogStd: hp.policy.initLogStd }, critic: { sizes: [...hp.policy.critic], activation: 'tanh' }, seed,
    };
    const sel = ok.slice(0, cfg.sizes.bcDemos);
    const rawObs = gatherSteps(r.obs, H, O, sel, (i) => r.lengths[i]);
    ctx.norm = fitNormaliser(rawObs, O, hp.obsStdFloor, hp.obsClip); // every rank ran every demonstration
    // Each rank clones from a contiguous share of the demonstrations (together: all of them).
    const [lo, hi] = share(sel.length, ctx.rank, ctx.world);
    const first = sel.slice(0, lo).reduce((a, i) => a + r.lengths[i], 0); // rows before this rank's share
    const rows = sel.slice(lo, hi).reduce((a, i) => a + r.lengths[i], 0);
    const obs = applyNormaliser(ctx.norm, rawObs.subarray(first * O, (first + rows) * O), O);
    const act = gatherSteps(r.actions, H, 3, sel.slice(lo, hi), (i) => r.lengths[i]);
    const base = new Policy(spec);
    await base.fitBehaviourCloning({ data: obs, shape: [rows, O] }, { data: act, shape: [rows, 3] }, {
      epochs: cfg.sizes.bcEpochs, batchSize: hp.bc.batchSize, lr: hp.bc.lr, loss: 'nll', seed, signal: ctx.signal,
      onEpoch: (e) => ctx.report({ phase: 'behaviour-cloning', seed, done: e.epoch, total: e.epochs, label: `NLL ${e.loss.toFixed(3)}` }),
    });
    const file = path.join(ctx.tmp, `base-${seed}.safetensors`);
    base.saveWeights(file);
    ctx.base = { spec, file, obsDim: O };
  });
  ctx.demo = undefined; // the demonstrations' frames are no longer needed
}

/** A copy of the cloned base, through the public file API; `sampleSeed` drives its action sampling. */
export function makeBase(ctx: SeedContext, sampleSeed = ctx.seed): Policy {
  const p = new Policy({ ...ctx.base!.spec, seed: sampleSeed });
  p.loadWeights(ctx.base!.file);
  return p;
}

// ------------------------------------------------------------------ 4. one RL variant

/** The terminal reward of each episode of a rollout under `reward` (1 on success; failures as the variant says). */
export function terminalReward(ctx: SeedContext, reward: ExperimentReward, r: Rollout): Float32Array {
  const failureScale = ctx.hp.failureScale;
  switch (reward) {
    case 'sparse': return Float32Array.from(r.success);
    case 'oracle-stage': return shapeTerminalRewards(r.success, r.finalProgress, { failureScale });
    case 'constant': return shapeTerminalRewards(r.success, new Float32Array(r.N).fill(ctx.hp.constantValue), { failureScale });
    default: {
      const v = ctx.models!.get(reward)!.predict({ n: r.N, pooled: r.lastPooled, frames: r.lastFrames, imageSize: ctx.hp.imageSize });
      return shapeTerminalRewards(r.success, v, { failureScale });
    }
  }
}

/**
 * Phase 4: one RL variant from the base: `rlUpdates` rollouts on training initial states
 * (this rank's share of the groups) and updates. Returns the policy; records the training curve.
 */
export async function trainVariant(ctx: SeedContext, algo: ExperimentAlgo, reward: ExperimentReward): Promise<Policy> {
  const { cfg, hp, seed } = ctx; const { sizes } = cfg; const name = methodName(algo, reward);
  const O = ctx.base!.obsDim;
  // A rank-specific sampling stream (rank 0's is the one-process stream); the weights come from the base file.
  const p = makeBase(ctx, seed + 7919 * ctx.rank);
  p.addLora({ rank: hp.lora.rank, alpha: hp.lora.alpha, targets: [...hp.lora.targets], seed });
  const trainer = algo === 'ppo'
    ? new PpoTrainer(p, { epochs: hp.ppo.epochs, minibatches: hp.ppo.minibatches, clipRange: hp.ppo.clipRange, actorLr: hp.ppo.actorLr, criticLr: hp.ppo.criticLr, valueCoef: hp.ppo.valueCoef, entropyCoef: hp.ppo.entropyCoef, maxGradNorm: hp.ppo.maxGradNorm, seed })
    : new GrpoTrainer(p, { epochs: hp.grpo.epochs, minibatches: hp.grpo.minibatches, clipLow: hp.grpo.clipLow, clipHigh: hp.grpo.clipHigh, actorLr: hp.grpo.actorLr, entropyCoef: hp.grpo.entropyCoef, maxGradNorm: hp.grpo.maxGradNorm, seed });
  const group = algo === 'grpo' ? sizes.groupSize : 1;
  // Each rank steps a contiguous share of the rollout's groups (GRPO groups never straddle ranks).
  const [gLo, gHi] = share(sizes.numEnvs / sizes.groupSize, ctx.rank, ctx.world);
  const env = mkEnv(ctx, (gHi - gLo) * sizes.groupSize, 'id');
  const curve: number[] = [];
  await timed(ctx, 'rl', async () => {
    for (let u = 0; u < sizes.rlUpdates; u++) {
      ctx.report({ phase: 'rl', seed, done: u, total: sizes.rlUpdates, label: name });
      const ids = trainIds(ctx.E, sizes.numEnvs, group, seed, u).subarray(gLo * sizes.groupSize, gHi * sizes.groupSize);
      const r = rollout(ctx, env, ids, (obs, N) => {
        const a = p.act({ data: obs, shape: [N, O] });
        return { actions: a.actions.data, logProbs: a.logProbs, values: a.values };
      });
      const [succ] = await ctx.sumRanks([r.success.reduce((a, v) => a + v, 0)]);
      curve.push(succ / sizes.numEnvs);
      const terminal = terminalReward(ctx, reward, r);
      if (algo === 'ppo') await ppoUpdate(ctx, trainer as PpoTrainer, r, terminal);
      else await grpoUpdate(ctx, trainer as GrpoTrainer, r, terminal);
    }
  });
  ctx.report({ phase: 'rl', seed, done: sizes.rlUpdates, total: sizes.rlUpdates, label: name });
  ctx.record.curves[name] = curve;
  return p;
}

function batchOf(r: Rollout) {
  const { N, H, obsDim: O } = r;
  return { obs: { data: r.obs, shape: [N, H, O] }, actions: { data: r.actions, shape: [N, H, 3] }, oldLogProbs: { data: r.logp, shape: [N, H] }, mask: { data: r.mask, shape: [N, H] } };
}

async function ppoUpdate(ctx: SeedContext, trainer: PpoTrainer, r: Rollout, terminal: Float32Array): Promise<void> {
  const { N, H } = r; const hp = ctx.hp; const threads = ctx.cfg.threads;
  const rewards = terminalRewards(r.lengths, terminal, H, { threads });
  const next = new Float32Array(N * H); const term = new Uint8Array(N * H);
  for (let i = 0; i < N; i++) {
    for (let t = 0; t < H; t++) {
      if (t + 1 < r.lengths[i]) next[i * H + t] = r.values[i * H + t + 1];
      else term[i * H + t] = 1; // the episode's terminal reward stands for everything after it
    }
  }
  const g = gae({ rewards, values: { data: r.values, shape: [N, H] }, nextValues: { data: next, shape: [N, H] }, terminated: { data: term, shape: [N, H] }, done: { data: term, shape: [N, H] } },
    { gamma: hp.ppo.gamma, lambda: hp.ppo.gaeLambda, threads });
  const adv = ctx.world > 1 ? await whitenOverRanks(g.advantages.data, r.mask, N, H, ctx.sumRanks)
    : normalizeAdvantages(g.advantages, { data: Uint8Array.from(r.mask), shape: [N, H] });
  await trainer.update({ ...batchOf(r), advantages: adv, returns: g.returns }, { signal: ctx.signal });
}

async function grpoUpdate(ctx: SeedContext, trainer: GrpoTrainer, r: Rollout, terminal: Float32Array): Promise<void> {
  const traj = grpoAdvantages(terminal, { groupSize: ctx.cfg.sizes.groupSize, std: 'sample' });
  // Skipped on every rank together when no group on any rank has a signal.
  const [signal] = await ctx.sumRanks([traj.some((v) => v !== 0) ? 1 : 0]);
  if (signal === 0) return;
  const adv = stepAdvantages(traj, r.lengths, r.H, ctx.hp.grpo.stepGamma, { threads: ctx.cfg.threads });
  await trainer.update({ ...batchOf(r), advantages: adv }, { signal: ctx.signal });
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

// ------------------------------------------------------------------ 5. evaluation

/** Phase 5: every policy on each split's held-out initial states (this rank's share), deterministic actions. */
export async function evaluatePolicies(ctx: SeedContext, policies: Map<string, Policy>): Promise<void> {
  const { cfg, hp, seed } = ctx; const n = cfg.sizes.evalEpisodes; const O = ctx.base!.obsDim;
  await timed(ctx, 'evaluation', async () => {
    let k = 0;
    const total = policies.size * EXPERIMENT_SPLITS.length;
    const [lo, hi] = share(n, ctx.rank, ctx.world);
    for (const split of EXPERIMENT_SPLITS) {
      const env = mkEnv(ctx, hi - lo, split);
      const ids = heldOutIds(ctx.E, split, n).subarray(lo, hi);
      for (const [name, p] of policies) {
        ctx.report({ phase: 'evaluation', seed, done: k++, total, label: `${name} on ${split}` });
        const r = rollout(ctx, env, ids, (obs, N) => ({ actions: p.act({ data: obs, shape: [N, O] }, { deterministic: true }).actions.data }), { env0Frames: ctx.keepPictures });
        const [succ] = await ctx.sumRanks([r.success.reduce((a, v) => a + v, 0)]);
        (ctx.record.success[name] ??= {} as Record<ExperimentSplit, number>)[split] = succ / n;
        if (ctx.keepPictures) {
          const T = r.env0Frames!.length / (hp.imageSize * hp.imageSize * 3);
          (ctx.record.episodes[name] ??= {} as SeedRecord['episodes'][string])[split] = { data: r.env0Frames!, shape: [T, hp.imageSize, hp.imageSize, 3] };
        }
      }
    }
    ctx.report({ phase: 'evaluation', seed, done: total, total, label: 'done' });
  });
}

// ------------------------------------------------------------------ 6. value probes

/**
 * Phase 6: the base policy, sampling as in its first RL rollouts, on `probeEpisodes` held-out
 * initial states; on its failed episodes, each value model's value at the last frame and the
 * true stage there (for Spearman and the per-stage means). Every rank runs the whole probe
 * (the same numbers: same weights, same sampling stream).
 */
export async function probeValueModels(ctx: SeedContext): Promise<void> {
  const { cfg, hp, seed } = ctx; const n = cfg.sizes.probeEpisodes; const O = ctx.base!.obsDim;
  await timed(ctx, 'valueProbe', () => {
    ctx.report({ phase: 'value-probe', seed, done: 0, total: 1, label: `the base's sampled rollouts on ${n} held-out states` });
    const p = makeBase(ctx, seed + 104729);
    const env = mkEnv(ctx, n, 'id');
    const r = rollout(ctx, env, heldOutIds(ctx.E, 'id', n, 17), (obs, N) => ({ actions: p.act({ data: obs, shape: [N, O] }).actions.data }),
      { keepFrames: ctx.keepPictures, keepRgb: ctx.keepPictures && valueModelNeedsFrames(cfg.valueModel) });
    const failed = Array.from({ length: r.N }, (_, i) => i).filter((i) => !r.success[i]);
    const probe = ctx.record.probe;
    probe.success = 1 - failed.length / r.N;
    const P = ctx.feat.pooledDim; const FR = hp.imageSize * hp.imageSize * 3;
    const pick = (idx: number[]): ValueInputs => {
      const x: ValueInputs = { n: idx.length, pooled: new Float32Array(idx.length * P), frames: new Uint8Array(idx.length * FR), imageSize: hp.imageSize };
      idx.forEach((i, j) => { x.pooled.set(r.lastPooled.subarray(i * P, (i + 1) * P), j * P); x.frames.set(r.lastFrames.subarray(i * FR, (i + 1) * FR), j * FR); });
      return x;
    };
    const last = pick(failed);
    probe.stage = failed.map((i) => r.finalStage[i]);
    probe.progress = failed.map((i) => r.finalProgress[i]);
    for (const [target, m] of ctx.models!) probe.values[target] = Array.from(m.predict(last));
    if (ctx.keepPictures) valueCurves(ctx, r, failed);
    ctx.report({ phase: 'value-probe', seed, done: 1, total: 1, label: `${failed.length} failed` });
  });
}

/** Value curves of up to three failed and one successful probe episode, for the plot. */
function valueCurves(ctx: SeedContext, r: Rollout, failed: number[]): void {
  const P = ctx.feat.pooledDim; const H1 = r.H + 1; const FR = ctx.hp.imageSize * ctx.hp.imageSize * 3;
  const succ = Array.from({ length: r.N }, (_, i) => i).filter((i) => r.success[i]);
  for (const i of [...failed.slice(0, 3), ...succ.slice(0, 1)]) {
    const T = r.lengths[i] + 1;
    const frames = new Uint8Array(r.rgb ? T * FR : 0);
    r.rgb?.[i].slice(0, T).forEach((f, k) => frames.set(f, k * FR));
    const x: ValueInputs = { n: T, pooled: r.pooledFrames!.subarray(i * H1 * P, (i * H1 + T) * P), frames, imageSize: ctx.hp.imageSize };
    const model = (t: ValueTarget) => { const m = ctx.models!.get(t); return m ? Array.from(m.predict(x)) : []; };
    ctx.record.valueCurves.push({
      feat2go: model('feat2go'), stepsToGo: model('steps-to-go'),
      stage: Array.from(r.stages!.subarray(i * H1, i * H1 + T)), progress: Array.from(r.progress!.subarray(i * H1, i * H1 + T)), success: r.success[i] === 1,
    });
  }
}

// ------------------------------------------------------------------ calibration

/**
 * For `experiment calibrate`: phases 1 and 3, then the base sampling on training initial states
 * exactly as in its first RL rollouts (same ids, same stream), `batches` batches of numEnvs with a
 * horizon of `maxHorizon`. Returns the step at which each episode succeeded (0: not within it).
 */
export async function baseSuccessSteps(ctx: SeedContext, batches: number, maxHorizon: number): Promise<number[]> {
  await collectDemonstrations(ctx);
  await cloneBasePolicy(ctx);
  const { sizes } = ctx.cfg; const O = ctx.base!.obsDim;
  const p = makeBase(ctx, ctx.seed); // rank 0's stream of the first RL rollout
  const env = mkEnv(ctx, sizes.numEnvs, 'id', maxHorizon);
  const steps: number[] = [];
  await timed(ctx, 'baseSampling', () => {
    for (let b = 0; b < batches; b++) {
      ctx.report({ phase: 'rl', seed: ctx.seed, done: b, total: batches, label: `base sampling, horizon ${maxHorizon}` });
      const r = rollout(ctx, env, trainIds(ctx.E, sizes.numEnvs, 1, ctx.seed, b), (obs, N) => ({ actions: p.act({ data: obs, shape: [N, O] }).actions.data }));
      for (let i = 0; i < r.N; i++) steps.push(r.success[i] ? r.lengths[i] : 0);
    }
  });
  return steps;
}
