// Policy-optimisation math of Feat2Go (SPEC §5–8): reward reshaping, GAE for
// PPO, GRPO group advantages, and the clipped surrogate / value / KL losses.
// Every function resolves and validates its options and arguments here, once,
// and then runs a native kernel (native/kernels/rl.h) synchronously (they are
// single passes over memory), or its CUDA twin (rl-cuda.ts) for DeviceTensors.
// The addon checks memory safety only.
import { type DeviceTensor, deviceArg, isDeviceTensor } from './device.js';
import { native } from './native.js';
import {
  clippedSurrogateCuda, clippedValueLossCuda, gaeCuda, grpoAdvantagesCuda, klPenaltyCuda, stepAdvantagesCuda,
  type DeviceGaeInput, type DeviceKlInput, type DeviceSurrogateInput, type DeviceValueLossInput,
} from './rl-cuda.js';
import type { FlagTensor, Tensor } from './types.js';
import {
  allocFloat32, checkFlags, checkInt, checkKeys, checkNumber, checkOptions, checkTensor, oneOf, rangeError, shapeStr, typeError,
  type OptionKeys,
} from './validate.js';

export type { DeviceGaeInput, DeviceKlInput, DeviceSurrogateInput, DeviceValueLossInput };

/**
 * The loss aggregations of SPEC §8, defined once (the trainer's option
 * takes the same names; native/kernels/rl_modes.h has them in this order).
 */
export const AGGREGATIONS = Object.freeze(['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const);

/** How per-step losses `ℓ[B,T]` with mask `m` become one number (SPEC §8). */
export type Aggregation = typeof AGGREGATIONS[number];

/** Inputs of {@link gae}: five tensors of one shape, `[B,T]` (or `[T,B]` with `timeMajor`). */
export interface GaeInput {
  /** r_t, reward of step t. */
  rewards: Tensor;
  /** V(s_t), value of the observation step t acted on. */
  values: Tensor;
  /** V(s_{t+1}), value of the observation after step t (the bootstrap target). */
  nextValues: Tensor;
  /** 1 where the episode ended by the task at step t: do not bootstrap from `nextValues`. */
  terminated: FlagTensor;
  /** 1 where the episode ended at step t (terminated or truncated): the recursion stops. */
  done: FlagTensor;
}

/** Options of {@link gae}. */
export interface GaeOptions {
  /** Discount γ ∈ [0, 1]. */
  gamma: number;
  /** GAE λ ∈ [0, 1]. */
  lambda: number;
  /** Inputs are `[T,B]` (CleanRL / RLinf rollout buffers) instead of `[B,T]`. Default false. */
  timeMajor?: boolean;
  /** Threads (0 or absent: every core). */
  threads?: number;
  /**
   * Write into these arrays (at least B·T elements each, not overlapping the
   * inputs) instead of allocating: reusing buffers across calls avoids the
   * page faults of fresh large allocations.
   */
  out?: { advantages: Float32Array; returns: Float32Array };
}

/** Result of {@link gae}: two tensors of the input's shape (new, or views of `opts.out`). */
export interface GaeResult {
  advantages: Tensor;
  /** `advantages + values` (the value-function targets). */
  returns: Tensor;
}

/** Which standard deviation GRPO divides by (SPEC §7). */
export type GrpoStd = 'sample' | 'population' | 'none';

/** Options of {@link grpoAdvantages}. */
export interface GrpoOptions {
  /** Trajectories per group (groups are contiguous); must divide the count. */
  groupSize: number;
  /** ε added to the std. Default 1e-4. */
  epsilon?: number;
  /** 'sample' (n − 1, default), 'population' (n) or 'none' (Â = R − mean). */
  std?: GrpoStd;
  /**
   * 'group' (default): divide by the group's std. 'batch': centre by the group
   * mean but divide by the std of the whole batch (TRL `scale_rewards='batch'`).
   */
  scale?: 'group' | 'batch';
}

/** Spread of GRPO groups, see {@link grpoGroupStats}. */
export interface GrpoGroupStats {
  /** Groups whose rewards are all equal (all success or all failure): they carry no signal. */
  zeroStdGroups: number;
  /** Mean over groups of the group std. */
  meanStd: number;
  /** Number of groups. */
  groups: number;
}

/** Inputs of {@link clippedSurrogate}, all `[B,T]`. */
export interface SurrogateInput {
  logProbs: Tensor;
  oldLogProbs: Tensor;
  advantages: Tensor;
  /** 1 for steps that count (default: all). Must hold at least one 1. */
  mask?: FlagTensor;
}

/** Options of {@link clippedSurrogate}. */
export interface SurrogateOptions {
  /** ε_low ∈ [0, 1): the ratio is clipped below at 1 − ε_low. */
  clipLow: number;
  /** ε_high ≥ 0 (default ε_low): clipped above at 1 + ε_high ("clip-higher" when larger). */
  clipHigh?: number;
  /** Dual clip c > 1: where A < 0 the loss is capped at c·|A|. Default off. */
  dualClip?: number;
  /** Default 'token-mean'. */
  aggregation?: Aggregation;
  threads?: number;
}

/** Result of {@link clippedSurrogate}. */
export interface SurrogateResult {
  /** The aggregated loss (to minimise). */
  loss: number;
  /**
   * Share of masked steps where the ratio clip was active: the clipped term
   * was selected by the min and differs from the unclipped one
   * (clip(ρ)·A < ρ·A). Independent of the dual clip.
   */
  clipFraction: number;
  /** Share of masked steps where the dual clip c·|A| replaced the loss (0 when off). */
  dualClipFraction: number;
  /** Mean over masked steps of (ρ − 1) − log ρ (always token-mean). */
  approxKl: number;
}

/** Inputs of {@link clippedValueLoss}, all `[B,T]`. */
export interface ValueLossInput {
  values: Tensor;
  returns: Tensor;
  /** Values at rollout time; required when `clip` is set. */
  oldValues?: Tensor;
  mask?: FlagTensor;
}

/** Options of {@link clippedValueLoss}. */
export interface ValueLossOptions {
  /** > 0: also evaluate V clipped to oldValues ± clip and take the larger loss (PPO2 / CleanRL). */
  clip?: number;
  /** > 0: Huber loss with this δ instead of ½e². */
  huberDelta?: number;
  aggregation?: Aggregation;
  threads?: number;
}

/** Result of {@link clippedValueLoss}. */
export interface ValueLossResult {
  loss: number;
  /** Share of masked steps where the clipped error was the larger one (0 without clip). */
  clipFraction: number;
}

/** Inputs of {@link klPenalty}, all `[B,T]`. */
export interface KlInput {
  logProbs: Tensor;
  refLogProbs: Tensor;
  mask?: FlagTensor;
}

/** Options of {@link klPenalty}. */
export interface KlOptions {
  /** 'k1' = x, 'k2' = ½x², 'k3' = (e^{−x} − 1) + x with x = logπ − logπ_ref. Default 'k3'. */
  estimator?: 'k1' | 'k2' | 'k3';
  aggregation?: Aggregation;
  threads?: number;
}

const GAE_KEYS: OptionKeys<GaeOptions> = { gamma: 1, lambda: 1, timeMajor: 1, threads: 1, out: 1 };
const GRPO_KEYS: OptionKeys<GrpoOptions> = { groupSize: 1, epsilon: 1, std: 1, scale: 1 };
const SURROGATE_KEYS: OptionKeys<SurrogateOptions> = { clipLow: 1, clipHigh: 1, dualClip: 1, aggregation: 1, threads: 1 };
const VALUE_LOSS_KEYS: OptionKeys<ValueLossOptions> = { clip: 1, huberDelta: 1, aggregation: 1, threads: 1 };
const KL_KEYS: OptionKeys<KlOptions> = { estimator: 1, aggregation: 1, threads: 1 };

function threadsOpt(o: { threads?: number }): number {
  return o.threads === undefined ? 0 : checkInt(o.threads, 'opts.threads', 0, 4096);
}

function aggregationOpt(v: unknown): Aggregation {
  if (v === undefined) return 'token-mean';
  if (typeof v !== 'string' || !(AGGREGATIONS as readonly string[]).includes(v)) throw rangeError('opts.aggregation', oneOf(AGGREGATIONS), v);
  return v as Aggregation;
}

function choice<T extends string>(v: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw rangeError(name, allowed.map((a) => `'${a}'`).join(' or '), v);
  }
  return v as T;
}

/** Float32 view of a number array (in place for a Float32Array). Non-numbers are a TypeError. */
function floats(x: unknown, name: string): Float32Array {
  if (x instanceof Float32Array) return x;
  if (x === null || typeof x !== 'object' || typeof (x as ArrayLike<number>).length !== 'number') {
    throw typeError(name, 'an array of numbers or a Float32Array', x);
  }
  const a = x as ArrayLike<unknown>;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number') throw typeError(`${name}[${i}]`, 'a number', v);
    out[i] = v;
  }
  return out;
}

function lengthsArg(x: unknown, name: string, n: number, horizon: number): Int32Array {
  if (x === null || typeof x !== 'object' || typeof (x as ArrayLike<number>).length !== 'number') {
    throw typeError(name, 'an array of integers', x);
  }
  const a = x as ArrayLike<unknown>;
  if (a.length !== n) throw rangeError(`${name}.length`, `${n} (one per trajectory)`, a.length, true);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = checkInt(a[i], `${name}[${i}]`, 1, horizon);
  return out;
}

function sameShape(t: Tensor, name: string, shape: number[], as: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw rangeError(`${name}.shape`, `${shapeStr(shape)} (the shape of ${as})`, shapeStr(t.shape), true);
  }
}

/** Checks a rank-2 tensor argument (`label` describes its shape in errors). */
function checkTensor2(t: unknown, name: string, label: string): Tensor {
  return checkTensor(t, name, 2, label);
}

function maskArg(m: unknown, shape: number[]): Uint8Array | Float32Array | null {
  if (m === undefined || m === null) return null;
  return checkFlags(m, 'mask', shape).data;
}

/**
 * Reshaped terminal reward of each episode (SPEC §5, paper Eq. 4):
 * `R = y + (1 − y) · failureScale · clamp(v̂, 0, 1)`. Successes earn 1;
 * failures earn their value model's estimate of how far they got.
 *
 * @param success per-episode success flags (booleans, 0/1 numbers or a 0/1 typed array)
 * @param terminalValues `V̂(s_T)` per episode, same length
 * @param opts `failureScale` ≥ 0 (default 1; 0 gives the sparse 0/1 reward)
 * @returns `[n]` terminal rewards
 * @throws {TypeError|RangeError} on length mismatch, flags other than 0/1, NaN/Inf values
 * @example
 * shapeTerminalRewards([true, false], [0.9, 0.4]) // Float32Array [1, 0.4]
 */
export function shapeTerminalRewards(
  success: ArrayLike<number | boolean>, terminalValues: ArrayLike<number>, opts?: { failureScale?: number },
): Float32Array {
  if (success === null || typeof success !== 'object' || typeof success.length !== 'number') {
    throw typeError('success', 'an array of booleans or 0/1 numbers', success);
  }
  const o = checkOptions(opts, 'opts', { failureScale: 1 });
  const scale = o.failureScale === undefined ? 1 : checkNumber(o.failureScale, 'opts.failureScale', 0, Infinity, 'a finite number ≥ 0');
  const values = floats(terminalValues, 'terminalValues');
  if (values.length !== success.length) {
    throw rangeError('terminalValues.length', `${success.length} (the length of success)`, values.length, true);
  }
  let flags: Uint8Array;
  if (success instanceof Uint8Array) {
    flags = success;
  } else {
    flags = new Uint8Array(success.length);
    for (let i = 0; i < success.length; i++) {
      const y = success[i];
      if (y === true || y === 1) flags[i] = 1;
      else if (y === false || y === 0) flags[i] = 0;
      else if (typeof y === 'number') throw rangeError(`success[${i}]`, '0, 1, true or false', y);
      else throw typeError(`success[${i}]`, '0, 1, true or false', y);
    }
  }
  const out = new Float32Array(values.length);
  native().rlShapeTerminalRewards({ success: flags, terminalValues: values }, { failureScale: scale }, { rewards: out });
  return out;
}

/**
 * Sparse per-step rewards `[B, horizon]`: zero except `R[i]` at each
 * episode's last step `lengths[i] − 1` (SPEC §5: R is paid at the terminal step only).
 *
 * @param lengths episode lengths, integers in [1, horizon]
 * @param rewards terminal reward per episode (e.g. from {@link shapeTerminalRewards})
 * @param horizon T of the output
 * @throws {TypeError|RangeError} on bad lengths, length mismatch or NaN/Inf rewards
 * @example
 * terminalRewards([2, 3], [1, 0.5], 3).data // [0, 1, 0, 0, 0, 0.5]
 */
export function terminalRewards(lengths: ArrayLike<number>, rewards: ArrayLike<number>, horizon: number, opts?: { threads?: number }): Tensor {
  const H = checkInt(horizon, 'horizon', 1);
  const R = floats(rewards, 'rewards');
  const L = lengthsArg(lengths, 'lengths', R.length, H);
  const threads = threadsOpt(checkOptions(opts, 'opts', { threads: 1 }));
  const out = allocFloat32(R.length * H, 'the output', shapeStr([R.length, H]));
  native().rlTerminalRewards({ lengths: L, rewards: R }, { horizon: H, threads }, { stepRewards: out });
  return { data: out, shape: [R.length, H] };
}

/**
 * Generalised advantage estimation (SPEC §6, paper Eq. 5) in the TorchRL
 * convention, for t = T−1 … 0 with A_T = 0:
 *
 *     δ_t = r_t + γ(1 − terminated_t)·V'_t − V_t
 *     A_t = δ_t + γλ(1 − done_t)·A_{t+1},   returns_t = A_t + V_t
 *
 * `terminated` (the task ended the episode: no bootstrap) is separate from
 * `done` (terminated or truncated: the recursion stops), so a truncated step
 * still bootstraps from `nextValues`. CleanRL's loop is the special case
 * `nextValues[t] = values[t+1]` (last column: the value of the next
 * observation), `terminated = done`. The recursion runs in double precision
 * (with AVX-512 a blocked scan over 16-step chunks, otherwise step by step;
 * the two agree to float rounding); both layouts and any thread count give
 * bit-identical results; work is spread over environments. Finite inputs whose
 * δ overflows float32 give ±Infinity rather than an error.
 *
 * @param input `rewards`, `values`, `nextValues` (Float32) and `terminated`,
 *   `done` (Uint8Array or 0/1 Float32Array), all `[B,T]` (or `[T,B]` with `timeMajor`)
 * @param opts `gamma`, `lambda` in [0, 1]; `timeMajor`; `threads`; `out` buffers to reuse
 * @returns new `advantages` and `returns` tensors of the input's shape
 * @throws {TypeError|RangeError} on shape mismatch, flags other than 0/1, NaN/Inf, γ or λ outside [0, 1]
 * @example
 * const { advantages, returns } = gae({ rewards, values, nextValues, terminated, done }, { gamma: 0.99, lambda: 0.95 });
 */
export function gae(input: GaeInput, opts: GaeOptions): GaeResult;
/** On a CUDA build: DeviceTensor inputs (one thread per environment; time-major reads coalesce); results stay on the device. */
export function gae(input: DeviceGaeInput, opts: Omit<GaeOptions, 'out' | 'threads'>): { advantages: DeviceTensor; returns: DeviceTensor };
export function gae(input: GaeInput | DeviceGaeInput, opts: GaeOptions): GaeResult | { advantages: DeviceTensor; returns: DeviceTensor } {
  if (input === null || typeof input !== 'object') throw typeError('input', 'an object { rewards, values, nextValues, terminated, done }', input);
  checkKeys(input, 'input', { rewards: 1, values: 1, nextValues: 1, terminated: 1, done: 1 });
  if (opts === undefined) throw typeError('opts', 'an options object { gamma, lambda }', opts);
  const o = checkOptions(opts, 'opts', GAE_KEYS);
  const tm = o.timeMajor === undefined ? false : o.timeMajor;
  if (typeof tm !== 'boolean') throw typeError('opts.timeMajor', 'a boolean', tm);
  if (isDeviceTensor(input.rewards)) {
    const { gamma, lambda } = gaeRates(o);
    return gaeCuda(input as DeviceGaeInput, gamma, lambda, tm);
  }
  input = input as GaeInput;
  const label = tm ? '[T, B]' : '[B, T]';
  const r = checkTensor2(input.rewards, 'rewards', label);
  const shape = r.shape;
  const v = checkTensor2(input.values, 'values', label);
  sameShape(v, 'values', shape, 'rewards');
  const nv = checkTensor2(input.nextValues, 'nextValues', label);
  sameShape(nv, 'nextValues', shape, 'rewards');
  const term = checkFlags(input.terminated, 'terminated', shape);
  const done = checkFlags(input.done, 'done', shape);
  const { gamma, lambda } = gaeRates(o);
  const threads = threadsOpt(o);
  const [B, T] = tm ? [shape[1], shape[0]] : [shape[0], shape[1]];
  const n = B * T;
  let adv: Float32Array;
  let ret: Float32Array;
  if (o.out !== undefined) {
    // Whether the outputs overlap each other or an input is the addon's to check (memory safety).
    if (o.out === null || typeof o.out !== 'object') throw typeError('opts.out', 'an object { advantages, returns } of Float32Arrays', o.out);
    adv = outArray(o.out.advantages, 'opts.out.advantages', n);
    ret = outArray(o.out.returns, 'opts.out.returns', n);
  } else {
    adv = new Float32Array(n);
    ret = new Float32Array(n);
  }
  native().rlGae({ rewards: r.data, values: v.data, nextValues: nv.data, terminated: term.data, done: done.data },
    { B, T, gamma, lambda, timeMajor: tm, threads }, { advantages: adv, returns: ret });
  return { advantages: { data: adv, shape: [...shape] }, returns: { data: ret, shape: [...shape] } };
}

/** γ and λ of {@link gae}, each in [0, 1]. */
function gaeRates(o: Partial<GaeOptions>): { gamma: number; lambda: number } {
  return {
    gamma: checkNumber(o.gamma, 'opts.gamma', 0, 1, 'a number in [0, 1]'),
    lambda: checkNumber(o.lambda, 'opts.lambda', 0, 1, 'a number in [0, 1]'),
  };
}

/** A caller-provided output: a Float32Array of at least n elements (its first n are used). */
function outArray(x: unknown, name: string, n: number): Float32Array {
  if (!(x instanceof Float32Array)) throw typeError(name, 'a Float32Array', x);
  if (x.length < n) throw rangeError(`${name}.length`, `at least ${n}`, x.length, true);
  return x.length === n ? x : x.subarray(0, n);
}

/**
 * GRPO group-relative advantages (SPEC §7, paper Eq. 7):
 * `Â_i = (R_i − mean_group) / (std_group + ε)` over contiguous groups of
 * `groupSize` trajectories. A group of size 1, or whose rewards are all
 * equal, gives 0 (never NaN). Means and stds are computed in double.
 *
 * @param rewards terminal rewards, `numGroups × groupSize`
 * @param opts `groupSize` (≥ 1, divides the count), `epsilon` (≥ 0, default 1e-4),
 *   `std` ('sample' default, 'population', 'none'), `scale` ('group' default, 'batch')
 * @returns `[n]` advantages
 * @throws {TypeError|RangeError} on bad group size, options or NaN/Inf rewards
 * @example
 * grpoAdvantages([1, 0, 0, 1], { groupSize: 2 }) // ≈ [0.707, −0.707, −0.707, 0.707]
 */
export function grpoAdvantages(rewards: ArrayLike<number>, opts: GrpoOptions): Float32Array;
/** On a CUDA build: `[n]` device rewards; advantages stay on the device. */
export function grpoAdvantages(rewards: DeviceTensor, opts: GrpoOptions): DeviceTensor;
export function grpoAdvantages(rewards: ArrayLike<number> | DeviceTensor, opts: GrpoOptions): Float32Array | DeviceTensor {
  const R = isDeviceTensor(rewards) ? deviceArg(rewards, 'rewards', 'grpoAdvantages', 'float32') : floats(rewards, 'rewards');
  if (opts === undefined) throw typeError('opts', 'an options object { groupSize }', opts);
  const o = checkOptions(opts, 'opts', GRPO_KEYS);
  const n = isDeviceTensor(R) ? R.size : R.length;
  const g = groupSizeOpt(o.groupSize, n);
  const eps = o.epsilon === undefined ? 1e-4 : checkNumber(o.epsilon, 'opts.epsilon', 0, Infinity, 'a finite number ≥ 0');
  const std = choice(o.std, 'opts.std', ['sample', 'population', 'none'] as const, 'sample');
  const scale = choice(o.scale, 'opts.scale', ['group', 'batch'] as const, 'group');
  if (isDeviceTensor(R)) return grpoAdvantagesCuda(R, g, eps, std, scale);
  const out = new Float32Array(n);
  native().rlGrpoAdvantages({ rewards: R }, { groupSize: g, epsilon: eps, std, scale }, { advantages: out });
  return out;
}

function groupSizeOpt(v: unknown, n: number): number {
  const g = checkInt(v, 'opts.groupSize', 1);
  if (n % g !== 0) throw rangeError('opts.groupSize', `a divisor of the number of rewards (${n})`, g);
  return g;
}

/**
 * How many GRPO groups carry no signal (all rewards equal: all success or
 * all failure) and the mean group std — what trainers log or filter on.
 *
 * @param rewards terminal rewards, `numGroups × groupSize`
 * @param opts `groupSize`; `std` 'sample' (default) or 'population' for `meanStd` ('none' counts as 'sample')
 * @example
 * grpoGroupStats([1, 1, 0, 1], { groupSize: 2 }) // { zeroStdGroups: 1, meanStd: 0.3536, groups: 2 }
 */
export function grpoGroupStats(rewards: ArrayLike<number>, opts: { groupSize: number; std?: GrpoStd }): GrpoGroupStats {
  const R = floats(rewards, 'rewards');
  if (opts === undefined) throw typeError('opts', 'an options object { groupSize }', opts);
  const o = checkOptions(opts, 'opts', { groupSize: 1, std: 1 });
  const g = groupSizeOpt(o.groupSize, R.length);
  const std = choice(o.std, 'opts.std', ['sample', 'population', 'none'] as const, 'sample');
  return native().rlGrpoGroupStats({ rewards: R }, { groupSize: g, std });
}

/**
 * Step-wise advantages from trajectory advantages (SPEC §7):
 * `A[i,t] = γ^{L_i−1−t} · Â_i` for t < L_i, 0 beyond.
 *
 * @param trajectoryAdvantages `Â_i` per trajectory (e.g. from {@link grpoAdvantages})
 * @param lengths `L_i`, integers in [1, horizon]
 * @param horizon T of the output
 * @param gamma γ ∈ [0, 1]
 * @param opts `threads`; `out`: a Float32Array of ≥ B·horizon elements to write into instead of allocating
 * @returns `[B, horizon]`
 * @throws {TypeError|RangeError} on bad lengths, γ, length mismatch or NaN/Inf
 * @example
 * stepAdvantages([1], [3], 4, 0.5).data // [0.25, 0.5, 1, 0]
 */
export function stepAdvantages(trajectoryAdvantages: ArrayLike<number>, lengths: ArrayLike<number>, horizon: number,
  gamma: number, opts?: { threads?: number; out?: Float32Array }): Tensor;
/** On a CUDA build: `[B]` device advantages (lengths on the host); `[B, horizon]` stays on the device. */
export function stepAdvantages(trajectoryAdvantages: DeviceTensor, lengths: ArrayLike<number>, horizon: number, gamma: number): DeviceTensor;
export function stepAdvantages(trajectoryAdvantages: ArrayLike<number> | DeviceTensor, lengths: ArrayLike<number>, horizon: number,
  gamma: number, opts?: { threads?: number; out?: Float32Array }): Tensor | DeviceTensor {
  const A = isDeviceTensor(trajectoryAdvantages)
    ? deviceArg(trajectoryAdvantages, 'trajectoryAdvantages', 'stepAdvantages', 'float32')
    : floats(trajectoryAdvantages, 'trajectoryAdvantages');
  const B = isDeviceTensor(A) ? A.size : A.length;
  const H = checkInt(horizon, 'horizon', 1);
  const L = lengthsArg(lengths, 'lengths', B, H);
  const g = checkNumber(gamma, 'gamma', 0, 1, 'a number in [0, 1]');
  if (isDeviceTensor(A)) return stepAdvantagesCuda(A, L, H, g);
  const o = checkOptions(opts, 'opts', { threads: 1, out: 1 });
  const threads = threadsOpt(o);
  const fresh = o.out === undefined;
  const out = fresh ? allocFloat32(A.length * H, 'the output', shapeStr([A.length, H])) : outArray(o.out, 'opts.out', A.length * H);
  // A fresh array is already zero: the kernel then writes only the first L_i steps of each row.
  native().rlStepAdvantages({ trajectoryAdvantages: A, lengths: L }, { horizon: H, gamma: g, threads, outZeroed: fresh }, { advantages: out });
  return { data: out, shape: [A.length, H] };
}

/**
 * Masked whitening of advantages, as CleanRL (per minibatch) and RLinf do:
 * `(A − mean) / (std + ε)` with mean and std over the entries where
 * `mask = 1`; entries where `mask = 0` become 0. Statistics in double.
 *
 * @param advantages any shape
 * @param mask optional flags of the same shape; must contain a 1
 * @param opts `epsilon` (≥ 0, default 1e-8), `std` 'sample' (n − 1, default, as torch.std) or 'population'
 * @returns a new tensor of the input's shape
 * @throws {TypeError|RangeError} on shape mismatch, a mask without ones, flags other than 0/1, NaN/Inf
 * @example
 * normalizeAdvantages({ data: new Float32Array([1, 2, 3]), shape: [3] }).data // [-1, 0, 1]
 */
export function normalizeAdvantages(advantages: Tensor, mask?: FlagTensor,
  opts?: { epsilon?: number; std?: 'sample' | 'population'; threads?: number }): Tensor {
  const a = checkTensor(advantages, 'advantages');
  const m = maskArg(mask, a.shape);
  const o = checkOptions(opts, 'opts', { epsilon: 1, std: 1, threads: 1 });
  const eps = o.epsilon === undefined ? 1e-8 : checkNumber(o.epsilon, 'opts.epsilon', 0, Infinity, 'a finite number ≥ 0');
  const std = choice(o.std, 'opts.std', ['sample', 'population'] as const, 'sample');
  const n = a.shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  if (n === 0) throw rangeError('advantages.shape', 'at least one element', shapeStr(a.shape), true);
  native().rlNormalizeAdvantages({ advantages: a.data.subarray(0, n), mask: m === null ? null : m.subarray(0, n) },
    { epsilon: eps, sampleStd: std === 'sample', threads: threadsOpt(o) }, { normalized: out });
  return { data: out, shape: [...a.shape] };
}

/**
 * PPO / GRPO clipped surrogate loss (SPEC §8, paper Eqs. 6 and 8) with
 * ρ = exp(logπ − logπ_old):
 *
 *     ℓ_t = −min(ρ_t·A_t, clip(ρ_t, 1 − ε_low, 1 + ε_high)·A_t)
 *
 * and, with `dualClip` c > 1, ℓ_t ← min(ℓ_t, c·|A_t|) where A_t < 0.
 * Aggregated over `[B,T]` with the mask; sums in double.
 *
 * @param input `logProbs`, `oldLogProbs`, `advantages` `[B,T]`, optional `mask`
 * @param opts `clipLow` ∈ [0, 1), `clipHigh` ≥ 0 (default clipLow), `dualClip` > 1, `aggregation`
 * @returns loss, clip fraction, dual-clip fraction and approximate KL
 * @throws {TypeError|RangeError} on shape mismatch, a mask without ones, bad clip values, NaN/Inf
 * @example
 * const { loss, clipFraction, approxKl } = clippedSurrogate({ logProbs, oldLogProbs, advantages }, { clipLow: 0.2 });
 */
export function clippedSurrogate(input: SurrogateInput, opts: SurrogateOptions): SurrogateResult;
/** On a CUDA build: DeviceTensor inputs; reduced on the device, the scalars come back. */
export function clippedSurrogate(input: DeviceSurrogateInput, opts: SurrogateOptions): SurrogateResult;
export function clippedSurrogate(input: SurrogateInput | DeviceSurrogateInput, opts: SurrogateOptions): SurrogateResult {
  if (input === null || typeof input !== 'object') throw typeError('input', 'an object { logProbs, oldLogProbs, advantages, mask? }', input);
  checkKeys(input, 'input', { logProbs: 1, oldLogProbs: 1, advantages: 1, mask: 1 });
  if (opts === undefined) throw typeError('opts', 'an options object { clipLow }', opts);
  const o = checkOptions(opts, 'opts', SURROGATE_KEYS);
  if (isDeviceTensor(input.logProbs)) {
    const { clipLow, clipHigh, dual } = surrogateClips(o);
    const r = clippedSurrogateCuda(input as DeviceSurrogateInput, { clipLow, clipHigh, dualClip: dual, aggregation: aggregationOpt(o.aggregation) });
    return { loss: r.loss, clipFraction: r.clipFraction, dualClipFraction: r.dualClipFraction, approxKl: r.approxKl };
  }
  input = input as SurrogateInput;
  const lp = checkTensor2(input.logProbs, 'logProbs', '[B, T]');
  const olp = checkTensor2(input.oldLogProbs, 'oldLogProbs', '[B, T]');
  sameShape(olp, 'oldLogProbs', lp.shape, 'logProbs');
  const adv = checkTensor2(input.advantages, 'advantages', '[B, T]');
  sameShape(adv, 'advantages', lp.shape, 'logProbs');
  const m = maskArg(input.mask, lp.shape);
  const { clipLow, clipHigh, dual } = surrogateClips(o);
  const agg = aggregationOpt(o.aggregation);
  const [B, T] = lp.shape;
  emptyCheck(B, T, 'logProbs');
  const r = native().rlClippedSurrogate({ logProbs: lp.data, oldLogProbs: olp.data, advantages: adv.data, mask: m },
    { B, T, clipLow, clipHigh, dualClip: dual, aggregation: agg, threads: threadsOpt(o) });
  return { loss: r.loss, clipFraction: r.clipFraction, dualClipFraction: r.dualClipFraction, approxKl: r.approxKl };
}

function surrogateClips(o: Partial<SurrogateOptions>): { clipLow: number; clipHigh: number; dual: number } {
  const clipLow = checkNumber(o.clipLow, 'opts.clipLow', 0, 1, 'a number in [0, 1)');
  if (clipLow >= 1) throw rangeError('opts.clipLow', 'a number in [0, 1)', clipLow);
  const clipHigh = o.clipHigh === undefined ? clipLow : checkNumber(o.clipHigh, 'opts.clipHigh', 0, Infinity, 'a finite number ≥ 0');
  let dual = 0;
  if (o.dualClip !== undefined) {
    dual = checkNumber(o.dualClip, 'opts.dualClip', -Infinity, Infinity, 'a finite number > 1');
    if (!(dual > 1)) throw rangeError('opts.dualClip', 'a finite number > 1', dual);
  }
  return { clipLow, clipHigh, dual };
}

function emptyCheck(B: number, T: number, name: string): void {
  if (B * T === 0) throw rangeError(`${name}.shape`, 'at least one step', shapeStr([B, T]), true);
}

/**
 * PPO value loss per step with e = V − returns: ½e², or Huber with `huberDelta`
 * (½e² for |e| ≤ δ, δ(|e| − ½δ) beyond). With `clip`, V is also clipped to
 * `oldValues ± clip` and the larger of the two losses is taken (PPO2 /
 * CleanRL `clip_vloss`). Aggregated like {@link clippedSurrogate}.
 *
 * @param input `values`, `returns`, optional `oldValues` and `mask`, all `[B,T]`
 * @param opts `clip` > 0, `huberDelta` > 0, `aggregation` (default 'token-mean')
 * @throws {TypeError|RangeError} on shape mismatch, missing oldValues with clip, a mask without ones, NaN/Inf
 * @example
 * clippedValueLoss({ values, returns, oldValues }, { clip: 0.2 }).loss
 */
export function clippedValueLoss(input: ValueLossInput, opts?: ValueLossOptions): ValueLossResult;
/** On a CUDA build: `[B,T]` DeviceTensor inputs, reduced on the device. */
export function clippedValueLoss(input: DeviceValueLossInput, opts?: ValueLossOptions): ValueLossResult;
export function clippedValueLoss(input: ValueLossInput | DeviceValueLossInput, opts?: ValueLossOptions): ValueLossResult {
  if (input === null || typeof input !== 'object') throw typeError('input', 'an object { values, returns, oldValues?, mask? }', input);
  checkKeys(input, 'input', { values: 1, returns: 1, oldValues: 1, mask: 1 });
  const o = checkOptions(opts, 'opts', VALUE_LOSS_KEYS);
  if (isDeviceTensor(input.values)) {
    const clip = o.clip === undefined ? 0 : positive(o.clip, 'opts.clip');
    if (clip > 0 && input.oldValues === undefined) throw typeError('oldValues', 'a DeviceTensor (opts.clip needs the old values)', input.oldValues);
    const huberDelta = o.huberDelta === undefined ? 0 : positive(o.huberDelta, 'opts.huberDelta');
    const r = clippedValueLossCuda(input as DeviceValueLossInput, { clip, huberDelta, aggregation: aggregationOpt(o.aggregation) });
    return { loss: r.loss, clipFraction: r.clipFraction };
  }
  input = input as ValueLossInput;
  const v = checkTensor2(input.values, 'values', '[B, T]');
  const R = checkTensor2(input.returns, 'returns', '[B, T]');
  sameShape(R, 'returns', v.shape, 'values');
  const clip = o.clip === undefined ? 0 : positive(o.clip, 'opts.clip');
  let old: Float32Array | null = null;
  if (input.oldValues !== undefined) {
    const ov = checkTensor2(input.oldValues, 'oldValues', '[B, T]');
    sameShape(ov, 'oldValues', v.shape, 'values');
    old = ov.data;
  } else if (clip > 0) {
    throw typeError('oldValues', 'a tensor (opts.clip needs the old values)', input.oldValues);
  }
  const m = maskArg(input.mask, v.shape);
  const delta = o.huberDelta === undefined ? 0 : positive(o.huberDelta, 'opts.huberDelta');
  const agg = aggregationOpt(o.aggregation);
  const [B, T] = v.shape;
  emptyCheck(B, T, 'values');
  const r = native().rlClippedValueLoss({ values: v.data, returns: R.data, oldValues: old, mask: m },
    { B, T, clip, huberDelta: delta, aggregation: agg, threads: threadsOpt(o) });
  return { loss: r.loss, clipFraction: r.clipFraction };
}

function positive(v: unknown, name: string): number {
  const x = checkNumber(v, name, -Infinity, Infinity, 'a finite number > 0');
  if (!(x > 0)) throw rangeError(name, 'a finite number > 0', x);
  return x;
}

/**
 * KL penalty to a reference policy, per step with x = logπ − logπ_ref
 * (Schulman's estimators of KL(π‖π_ref) under samples of π):
 * k1 = x, k2 = ½x², k3 = (e^{−x} − 1) + x (default; unbiased and ≥ 0).
 * Aggregated like {@link clippedSurrogate}. The paper sets its coefficient to 0.
 *
 * @param input `logProbs`, `refLogProbs`, optional `mask`, all `[B,T]`
 * @param opts `estimator` ('k3' default), `aggregation` (default 'token-mean')
 * @returns the aggregated penalty
 * @throws {TypeError|RangeError} on shape mismatch, a mask without ones, NaN/Inf
 * @example
 * klPenalty({ logProbs, refLogProbs }, { estimator: 'k3' })
 */
export function klPenalty(input: KlInput, opts?: KlOptions): number;
/** On a CUDA build: `[B,T]` DeviceTensor inputs, reduced on the device. */
export function klPenalty(input: DeviceKlInput, opts?: KlOptions): number;
export function klPenalty(input: KlInput | DeviceKlInput, opts?: KlOptions): number {
  if (input === null || typeof input !== 'object') throw typeError('input', 'an object { logProbs, refLogProbs, mask? }', input);
  checkKeys(input, 'input', { logProbs: 1, refLogProbs: 1, mask: 1 });
  const o = checkOptions(opts, 'opts', KL_KEYS);
  if (isDeviceTensor(input.logProbs)) {
    const estimator = choice(o.estimator, 'opts.estimator', ['k1', 'k2', 'k3'] as const, 'k3');
    return klPenaltyCuda(input as DeviceKlInput, { estimator, aggregation: aggregationOpt(o.aggregation) }).loss;
  }
  input = input as KlInput;
  const lp = checkTensor2(input.logProbs, 'logProbs', '[B, T]');
  const ref = checkTensor2(input.refLogProbs, 'refLogProbs', '[B, T]');
  sameShape(ref, 'refLogProbs', lp.shape, 'logProbs');
  const m = maskArg(input.mask, lp.shape);
  const est = choice(o.estimator, 'opts.estimator', ['k1', 'k2', 'k3'] as const, 'k3');
  const agg = aggregationOpt(o.aggregation);
  const [B, T] = lp.shape;
  emptyCheck(B, T, 'logProbs');
  return native().rlKlPenalty({ logProbs: lp.data, refLogProbs: ref.data, mask: m },
    { B, T, estimator: est, aggregation: agg, threads: threadsOpt(o) }).loss;
}
