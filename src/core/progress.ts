// Feat2Go progress targets (SPEC §1–3): patch-wise composite similarity,
// trend-mutation segmentation and the structural progress value.
// Each option is resolved and checked once, by resolveProgressOptions; the
// CPU path (native/bindings/progress.cc) and the CUDA path (progress-cuda.ts)
// receive the resolved options and check memory safety only.
import { cancellable, checkSignal } from './cancel.js';
import { type DeviceTensor, deviceArg, isDeviceTensor } from './device.js';
import { hostArray } from './host.js';
import { native } from './native.js';
import type { NativeProgressResult } from './native-types.js';
import {
  type DeviceProgressResult, goalIndex, patchSimilarityCuda, progressTargetsCuda, slidingSlopesCuda,
} from './progress-cuda.js';
import type {
  Boundary, CutRule, ProgressOptions, ProgressResult, ResolvedProgressOptions, Segment, Segmenter, Tensor,
} from './types.js';
import {
  checkInt, checkNumber, checkOptions, checkTensor, nonFiniteAt, nonFiniteElementError, nonFiniteFrameError, rangeError, shapeStr,
  typeError, withCallerStack, type OptionKeys,
} from './validate.js';

/**
 * Defaults of {@link ProgressOptions}: the motion segmenter (docs/progress.md), with no
 * cap on a stage's length. Chosen on real robot video, where SPEC §2's fixed slope
 * threshold finds no stages that land on the task's events (docs/progress.md, "On real video").
 */
export const DEFAULT_PROGRESS_OPTIONS = Object.freeze({ segmenter: 'motion' as const, lambda: 1, window: 5, maxClusterFrames: 0 });

/**
 * The paper's rule with SPEC §2's defaults: `progressTargets(f, PAPER_PROGRESS_OPTIONS)`
 * labels exactly as SPEC §1–3 say (and as feat2go did by default before the motion
 * segmenter). Any explicit `threshold` also selects this rule; the other options default to these.
 */
export const PAPER_PROGRESS_OPTIONS = Object.freeze({ segmenter: 'paper' as const, lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.01 });

const SEGMENTERS: readonly Segmenter[] = ['motion', 'paper'];
/** CutRule codes of the addon (kernels/stages.h); 0 is the first stage's start. */
const CUT_RULES: readonly (CutRule | 'start')[] = ['start', 'trend', 'cap', 'onset', 'pause'];

/** Options resolved here (frozen): passed through as they are, never checked twice. */
const RESOLVED = new WeakSet<object>();

function checkEpisode(features: unknown, name = 'features'): { data: Float32Array; T: number; N: number; D: number } {
  const f = checkTensor(features, name, 3, '[T, N, D]');
  const [T, N, D] = f.shape;
  if (T < 1) throw rangeError(`${name}.shape[0]`, 'an episode of at least 1 frame (T ≥ 1)', T);
  if (N < 1) throw rangeError(`${name}.shape[1]`, 'at least 1 patch (N ≥ 1)', N);
  if (D < 1) throw rangeError(`${name}.shape[2]`, 'at least 1 feature dim (D ≥ 1)', D);
  return { data: f.data, T, N, D };
}

const PROGRESS_KEYS: OptionKeys<ProgressOptions> = { lambda: 1, window: 1, maxClusterFrames: 1, threshold: 1, segmenter: 1, threads: 1 };

/**
 * Checks progress options and fills in every default: the one place where
 * they are validated and resolved, used by the API, the jobs and the CLI.
 * The result is frozen, and every function that takes ProgressOptions takes
 * it as it is, without checking it again: resolve once (as the CLI and
 * labelPaths do) and pass the result down. The addon always receives the
 * resolved options, so what runs is what `result.json` records.
 *
 * The segmenter is `opts.segmenter` when given; otherwise `'paper'` when a
 * `threshold` is given (SPEC §1–3 then hold exactly, with SPEC §2's defaults
 * for the rest: {@link PAPER_PROGRESS_OPTIONS}), else `'motion'`
 * ({@link DEFAULT_PROGRESS_OPTIONS}).
 *
 * @param opts see {@link ProgressOptions}; an unknown key is a TypeError naming the closest valid one
 * @param name how the options are named in error messages (default 'opts')
 * @returns every option (frozen), with `threads` 0 meaning every core and `maxClusterFrames` 0 no cap;
 *   `threshold` only for the `'paper'` segmenter
 * @throws {TypeError|RangeError} naming the option, the expected and the received value
 * @example
 * resolveProgressOptions({ window: 7 })       // { segmenter: 'motion', lambda: 1, window: 7, maxClusterFrames: 0, threads: 0 }
 * resolveProgressOptions({ threshold: 0.003 }) // { segmenter: 'paper', lambda: 1, window: 5, maxClusterFrames: 50, threshold: 0.003, threads: 0 }
 */
export function resolveProgressOptions(opts?: ProgressOptions, name = 'opts'): ResolvedProgressOptions {
  if (opts !== null && typeof opts === 'object' && RESOLVED.has(opts)) return opts as ResolvedProgressOptions;
  const o = checkOptions(opts, name, PROGRESS_KEYS);
  if (o.segmenter !== undefined && !SEGMENTERS.includes(o.segmenter)) {
    throw typeError(`${name}.segmenter`, SEGMENTERS.map((x) => `'${x}'`).join(' or '), o.segmenter, SEGMENTERS.join(' or '));
  }
  const segmenter: Segmenter = o.segmenter ?? (o.threshold === undefined ? 'motion' : 'paper');
  if (segmenter === 'motion' && o.threshold !== undefined) {
    throw new TypeError(`Expected no ${name}.threshold with ${name}.segmenter 'motion' (the motion segmenter has no slope threshold; `
      + `use segmenter 'paper' for SPEC §2's rule) but received ${String(o.threshold)}`);
  }
  const d = segmenter === 'paper' ? PAPER_PROGRESS_OPTIONS : DEFAULT_PROGRESS_OPTIONS;
  const lambda = o.lambda === undefined ? d.lambda : checkNumber(o.lambda, `${name}.lambda`, 0, Infinity, 'a finite number ≥ 0');
  const window = o.window === undefined ? d.window : checkInt(o.window, `${name}.window`, 2);
  const maxClusterFrames = o.maxClusterFrames === undefined ? d.maxClusterFrames : checkInt(o.maxClusterFrames, `${name}.maxClusterFrames`, 0);
  if (maxClusterFrames !== 0 && maxClusterFrames < window) {
    throw rangeError(`${name}.maxClusterFrames`, `an integer ≥ ${name}.window (${window}), or 0 for no cap`, maxClusterFrames, false,
      `an integer ≥ the window (${window}), or 0 for no cap`);
  }
  const threads = o.threads === undefined ? 0 : checkInt(o.threads, `${name}.threads`, 0, 4096);
  const resolved: ResolvedProgressOptions = segmenter === 'motion'
    ? Object.freeze({ segmenter, lambda, window, maxClusterFrames, threads })
    : Object.freeze({
      segmenter, lambda, window, maxClusterFrames,
      threshold: o.threshold === undefined ? PAPER_PROGRESS_OPTIONS.threshold : checkNumber(o.threshold, `${name}.threshold`),
      threads,
    });
  RESOLVED.add(resolved);
  return resolved;
}

/** The result of one episode `where`; its NaN/Inf, reported by the addon, as the RangeError naming the place. */
function toResult(r: NativeProgressResult, where: string, D: number): ProgressResult {
  if (r.badFrame >= 0) throw nonFiniteFrameError(where, r.badFrame, r.badElement, r.badValue, D);
  const segments: Segment[] = [];
  const boundaries: Boundary[] = [];
  for (let i = 0; i < r.segments.length; i += 2) {
    segments.push({ start: r.segments[i], end: r.segments[i + 1] });
    if (i > 0) boundaries.push({ frame: r.segments[i], rule: CUT_RULES[r.rules[i / 2]] as CutRule });
  }
  return { values: r.values, similarity: r.similarity, segments, boundaries };
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}


/**
 * Patch-wise composite similarity S(x_t, g) of every frame to a goal (SPEC §1):
 * `(1/N) Σ_p cos(x_p, g_p) · exp(−λ‖x_p − g_p‖₁ / D)`, one fused pass per frame
 * on the shared thread pool.
 *
 * @param features episode `[T, N, D]` (read in place; subarrays are fine)
 * @param goal frame index into `features` (negative counts from the end, −1 = last) or a `[N, D]` goal tensor
 * cos is scale-free (no floor on the norm product; computed in double where
 * float sums would underflow or overflow), so any finite features give a finite
 * result and scaling every feature by the same factor leaves the cosine part
 * unchanged. Degenerate patches (docs/progress.md): a zero patch against a zero
 * patch has cos 1, a zero patch against a non-zero one cos 0; so S(x, x) = 1
 * for every x, the all-zero frame included.
 *
 * @param opts `lambda` (≥ 0, default 1), `threads` (default all cores)
 * @returns `[T]` similarities; 1 for frames equal to the goal
 * @throws {TypeError|RangeError} on bad shapes, indices, options or NaN/Inf in the data
 *   (naming the frame, patch and dim)
 * @example
 * const s = patchSimilarity({ data, shape: [T, 256, 1024] }, -1); // similarity to the last frame
 */
export function patchSimilarity(features: Tensor, goal: number | Tensor, opts?: { lambda?: number; threads?: number }): Float32Array;
/** On a CUDA build: `[T,N,D]` device features against a frame index or a `[N,D]` device goal; returns `[T]` on the device. */
export function patchSimilarity(features: DeviceTensor, goal: number | DeviceTensor, opts?: { lambda?: number }): DeviceTensor;
export function patchSimilarity(features: Tensor | DeviceTensor, goal: number | Tensor | DeviceTensor,
  opts?: { lambda?: number; threads?: number }): Float32Array | DeviceTensor {
  const device = isDeviceTensor(features);
  const e = device ? undefined : checkEpisode(features);
  const o = checkOptions(opts, 'opts', { lambda: 1, threads: 1 });
  const lambda = o.lambda === undefined ? DEFAULT_PROGRESS_OPTIONS.lambda : checkNumber(o.lambda, 'opts.lambda', 0, Infinity, 'a finite number ≥ 0');
  const threads = o.threads === undefined ? 0 : checkInt(o.threads, 'opts.threads', 0, 4096);
  if (device) return patchSimilarityCuda(features, goal as number | DeviceTensor, lambda);
  if (e === undefined) throw new Error('unreachable');
  const frame = e.N * e.D;
  let goalData: Float32Array;
  let goalAt = -1;
  if (typeof goal === 'number') {
    goalAt = goalIndex(goal, e.T);
    goalData = e.data.subarray(goalAt * frame, (goalAt + 1) * frame);
  } else {
    const g = checkTensor(goal, 'goal', 2, '[N, D]');
    if (g.shape[0] !== e.N || g.shape[1] !== e.D) {
      throw rangeError('goal.shape', `[N,D] = ${shapeStr([e.N, e.D])} to match features`, shapeStr(g.shape), true);
    }
    goalData = g.data;
  }
  const out = hostArray(Float32Array, e.T, { zero: false });
  const bad = native().progressPatchSimilarity({ features: e.data, goal: goalData }, { T: e.T, N: e.N, D: e.D, lambda, threads },
    { similarity: out });
  if (bad >= 0) {
    // Finite features always give a finite similarity, so a non-finite one
    // means NaN/Inf in the goal (every frame is bad then) or in frame `bad`.
    const g = goalData.subarray(0, frame);
    const gi = firstNonFinite(g);
    if (gi >= 0 && goalAt >= 0) throw nonFiniteFrameError('features', `${goalAt} (the goal)`, gi, g[gi], e.D);
    if (gi >= 0) throw new RangeError(`Expected finite values in goal but it contains NaN or Inf${nonFiniteAt(gi, g[gi], e.D)}`);
    const x = e.data.subarray(bad * frame, (bad + 1) * frame);
    const i = firstNonFinite(x);
    throw nonFiniteFrameError('features', bad, i, i < 0 ? 0 : x[i], e.D);
  }
  return out;
}

/**
 * Least-squares slopes of every length-`window` window of each row (SPEC §2, paper Eq. 2),
 * computed with running sums: O(L) per row.
 *
 * @param series `[B, L]` rows of values (e.g. similarity curves); every element finite
 * @param window w with 2 ≤ w ≤ L
 * @returns `[B, L − w + 1]` slopes; entry i is the slope of `y[i..i+w−1]` against k = 0..w−1
 * @throws {TypeError|RangeError} on a bad shape or window, or NaN/Inf in `series`
 *   (naming the element: `series.data[i]`, row and column)
 */
export function slidingSlopes(series: Tensor, window: number): Tensor;
/** On a CUDA build: `[B,L]` device series; returns `[B, L−w+1]` on the device. */
export function slidingSlopes(series: DeviceTensor, window: number): DeviceTensor;
export function slidingSlopes(series: Tensor | DeviceTensor, window: number): Tensor | DeviceTensor {
  const s = isDeviceTensor(series) ? deviceArg(series, 'series', 'slidingSlopes', 'float32', 2, '[B, L]') : checkTensor(series, 'series', 2, '[B, L]');
  const [B, L] = s.shape;
  const w = checkInt(window, 'window', 2);
  if (w > L) throw rangeError('window', `an integer ≤ series.shape[1] (${L})`, w);
  if (isDeviceTensor(s)) return slidingSlopesCuda(s, w);
  const P = L - w + 1;
  const out = hostArray(Float32Array, B * P, { zero: B === 0 });
  if (B > 0) {
    const bad = native().progressSlidingSlopes({ series: s.data }, { B, L, window: w, threads: 0 }, { slopes: out });
    if (bad >= 0) throw nonFiniteElementError('series', bad, s.data[bad], L);
  }
  return { data: out, shape: [B, P] };
}

/**
 * Labels one episode with Feat2Go's progress targets (SPEC §2–3), synchronously.
 * Prefer {@link progressTargets} for large episodes on a server's main thread.
 *
 * @param features episode `[T, N, D]` of patch features (e.g. V-JEPA 2 tokens per step)
 * @param opts see {@link ProgressOptions}
 * @returns values V(t), stages in temporal order, and each frame's similarity to its stage's subgoal
 * @throws {TypeError|RangeError} on bad shapes, options, or NaN/Inf in the features (naming the frame)
 */
export function progressTargetsSync(features: Tensor, opts?: ProgressOptions): ProgressResult {
  const e = checkEpisode(features);
  const o = resolveProgressOptions(opts);
  return toResult(native().progressTargetsSync({ features: e.data }, { ...o, T: e.T, N: e.N, D: e.D }), 'features', e.D);
}

/** Options of the asynchronous labelling calls: {@link ProgressOptions} and an AbortSignal. */
export interface ProgressCallOptions extends ProgressOptions {
  /**
   * Cancels the call: it rejects with `signal.reason` (a batch stops before
   * its next episode; one episode stops when its labelling ends). An
   * already-aborted signal rejects without any work.
   */
  signal?: AbortSignal;
}

/** Splits `signal` off call options; the rest are ProgressOptions (passed on as they are when there is no signal key). */
function splitSignal(opts: ProgressCallOptions | undefined): { signal: AbortSignal | undefined; options: ProgressOptions | undefined } {
  if (opts === null || typeof opts !== 'object' || !Object.prototype.hasOwnProperty.call(opts, 'signal')) return { signal: undefined, options: opts };
  const { signal, ...options } = opts;
  return { signal: checkSignal(signal, 'opts.signal'), options };
}

/**
 * Labels one episode off the main thread (an AsyncWorker on the shared pool).
 * Features in host memory (from `readNpy`, `readSafetensors`, an encoder,
 * `hostTensor`) or over a SharedArrayBuffer are read in place: no copy, and
 * the event loop stays free whatever their size. Other arrays are copied
 * before the call returns (one parallel pass into a reused block, see
 * docs/memory-safety.md). Either way the caller may transfer (detach) or drop
 * its buffer while the promise is pending; writing to memory that is read in
 * place gives the call unspecified values, so await it first.
 *
 * @param opts see {@link ProgressOptions}; `signal` cancels the call
 * @example
 * const { values, segments } = await progressTargets(readNpyFloat32('episode.npy', 3), { window: 5 });
 */
export function progressTargets(features: Tensor, opts?: ProgressCallOptions): Promise<ProgressResult>;
/**
 * On a CUDA build: the whole labelling of a `[T,N,D]` device episode on the GPU
 * (similarities, segmentation, values); values and similarity stay on the device.
 */
export function progressTargets(features: DeviceTensor, opts?: ProgressOptions): Promise<DeviceProgressResult>;
export function progressTargets(features: Tensor | DeviceTensor, opts?: ProgressCallOptions): Promise<ProgressResult | DeviceProgressResult> {
  if (isDeviceTensor(features)) {
    return progressTargetsDeviceBatch(features, features.shape.length === 3 ? [features.shape[0]] : [], opts)
      .then((r) => ({ values: r.values, similarity: r.similarity, segments: r.segments[0] }));
  }
  const stack = new Error().stack;
  try {
    const e = checkEpisode(features);
    const { signal, options } = splitSignal(opts);
    const o = resolveProgressOptions(options);
    return cancellable(signal, (cancel) => withCallerStack(native().progressTargets({ features: e.data }, { ...o, T: e.T, N: e.N, D: e.D, cancel })
      .then((r) => toResult(r, 'features', e.D)), stack));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Labels many episodes in one call, spread across the thread pool (one episode
 * per thread at a time). A bad episode rejects the whole call with an error
 * naming its index (`episodes[3]`). Like {@link progressTargets}, the call
 * reads host memory and SharedArrayBuffers in place and copies other arrays
 * before it returns; `opts.signal` stops it before its next episode.
 */
export function progressTargetsBatch(episodes: Tensor[], opts?: ProgressCallOptions): Promise<ProgressResult[]> {
  const stack = new Error().stack;
  try {
    if (!Array.isArray(episodes)) throw new TypeError(`Expected an array of [T,N,D] tensors for episodes but received ${typeof episodes}`);
    const list = episodes.map((ep, i) => {
      const e = checkEpisode(ep, `episodes[${i}]`);
      return { features: e.data, T: e.T, N: e.N, D: e.D };
    });
    const { signal, options } = splitSignal(opts);
    const o = resolveProgressOptions(options);
    if (list.length === 0) return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve([]);
    return cancellable(signal, (cancel) => withCallerStack(native().progressTargetsBatch({ episodes: list }, { ...o, cancel })
      .then((rs) => rs.map((r, i) => toResult(r, `episodes[${i}]`, list[i].D))), stack));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Labels many episodes on a CUDA device in one call: the episodes are stored
 * back to back in one `[ΣT, N, D]` device tensor, `lengths[e]` frames each.
 * One GPU block labels each episode; the promise resolves when the GPU has
 * finished. Values and similarity stay on the device as one `[ΣT]` tensor
 * each (episode e starts at Σ_{i<e} lengths[i]); `segments[e]` are the
 * episode's stages with episode-local frame indices.
 *
 * @throws {CudaUnavailableError} without a CUDA build and device; TypeError/RangeError on bad shapes, lengths or options
 * @example
 * const x = DeviceTensor.fromHost(packed, [300 + 200, 256, 1024]);
 * const { values, segments } = await progressTargetsDeviceBatch(x, [300, 200]);
 */
export function progressTargetsDeviceBatch(features: DeviceTensor, lengths: readonly number[], opts?: ProgressOptions):
  Promise<{ values: DeviceTensor; similarity: DeviceTensor; segments: Segment[][] }> {
  try {
    if (!Array.isArray(lengths)) throw new TypeError(`Expected an array of episode lengths for lengths but received ${typeof lengths}`);
    const o = resolveProgressOptions(opts);
    if (o.segmenter !== 'paper') {
      throw new TypeError("Expected opts.segmenter 'paper' (or a threshold) on the CUDA path, which implements SPEC §2's rule only, "
        + `but received segmenter '${o.segmenter}'; label on the host for the motion segmenter`);
    }
    // No cap (0): a cap as long as every episode together.
    const maxClusterFrames = o.maxClusterFrames || Math.max(o.window, isDeviceTensor(features) ? features.shape[0] ?? 1 : 1);
    return progressTargetsCuda(features, lengths, maxClusterFrames === o.maxClusterFrames ? o : { ...o, maxClusterFrames });
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The stages of an episode (SPEC §2), in temporal order. Same work as
 * {@link progressTargetsSync}; use that when the values are needed too.
 */
export function segmentEpisode(features: Tensor, opts?: ProgressOptions): Segment[] {
  return progressTargetsSync(features, opts).segments;
}

/**
 * Baseline "Steps-To-Go" targets (paper §4.3): `V(t) = t / (T − 1)`, `[1]` when T = 1.
 * @param length episode length T ≥ 1
 */
export function stepsToGoTargets(length: number): Float32Array {
  const T = checkInt(length, 'length', 1);
  const out = hostArray(Float32Array, T, { zero: false });
  native().progressStepsToGo({}, { T }, { values: out });
  return out;
}
