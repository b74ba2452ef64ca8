// The CUDA paths of the progress functions (SPEC §1–3), beside their CPU
// twins in progress.ts, over native/bindings/progress_cuda.cc. progress.ts
// resolves and checks the options and every argument the two paths share
// before it comes here; these check what only DeviceTensors have (dtype,
// device, disposal) and call the twin in the one convention (input, opts, out).
import { deviceArg, DeviceTensor, requireCuda, withOut } from './device.js';
import { native } from './native.js';
import type { NativeDeviceBuffer, NativeDeviceProgress } from './native-types.js';
import type { ResolvedProgressOptions, Segment } from './types.js';
import { checkInt, nonFiniteFrameError, rangeError, shapeStr, withCallerStack } from './validate.js';

/** Progress targets of one episode whose values and similarities stay on the device. */
export interface DeviceProgressResult {
  /** V(t), `[T]` on the device. */
  values: DeviceTensor;
  /** Similarity of each frame to its stage's subgoal, `[T]` on the device. */
  similarity: DeviceTensor;
  /** Stages in temporal order (small: returned on the host). */
  segments: Segment[];
}

/** The `[T, N, D]` float32 DeviceTensor `features` of `call`, with N, D ≥ 1 (and T ≥ 1 unless `emptyOk`). */
export function deviceEpisode(features: DeviceTensor, call: string, emptyOk = false): { f: DeviceTensor; T: number; N: number; D: number } {
  const f = deviceArg(features, 'features', call, 'float32', 3, '[T, N, D]');
  const [T, N, D] = f.shape;
  if ((!emptyOk && T < 1) || N < 1 || D < 1) {
    throw rangeError('features.shape', `[T, N, D] with ${emptyOk ? '' : 'T, '}N, D ≥ 1`, shapeStr(f.shape), true);
  }
  return { f, T, N, D };
}

/** patchSimilarity on the device: `[T,N,D]` features against the frame `goalFrame` or a `[N,D]` goal; `[T]` on the device. */
export function patchSimilarityCuda(features: DeviceTensor, goal: number | DeviceTensor, lambda: number): DeviceTensor {
  const call = 'patchSimilarity';
  const { f, T, N, D } = deviceEpisode(features, call);
  requireCuda(call);
  const input: { features: NativeDeviceBuffer; goal?: NativeDeviceBuffer } = { features: f.buffer(call) };
  let goalFrame = 0;
  if (typeof goal === 'number') {
    goalFrame = goalIndex(goal, T);
  } else {
    const g = deviceArg(goal, 'goal', call, 'float32', 2, '[N, D]');
    if (g.shape[0] !== N || g.shape[1] !== D) throw rangeError('goal.shape', `[N,D] = ${shapeStr([N, D])} to match features`, shapeStr(g.shape), true);
    if (g.device !== f.device) throw rangeError('goal.device', `${f.device} (the device of features)`, g.device);
    input.goal = g.buffer(call);
  }
  return withOut('float32', [T], f.device, (out) => {
    native().progressPatchSimilarityCuda(input, { T, N, D, lambda, goalFrame }, { similarity: out.buffer(call) });
    return out;
  });
}

/**
 * A goal frame index in [−T, T − 1] (negative counts from the end) as an index
 * in [0, T): the one check of `goal` for both paths of patchSimilarity.
 */
export function goalIndex(goal: number, T: number): number {
  if (!Number.isInteger(goal)) throw new TypeError(`Expected an integer frame index or a [N,D] tensor for goal but received the number ${goal}`);
  if (goal < -T || goal >= T) throw rangeError('goal', `a frame index in [${-T}, ${T - 1}]`, goal);
  return goal < 0 ? T + goal : goal;
}

/** slidingSlopes on the device: `[B,L]` series (window checked by the caller) → `[B, L−w+1]` on the device. */
export function slidingSlopesCuda(series: DeviceTensor, window: number): DeviceTensor {
  const call = 'slidingSlopes';
  const [B, L] = series.shape;
  requireCuda(call);
  return withOut('float32', [B, L - window + 1], series.device, (out) => {
    native().progressSlidingSlopesCuda({ series: series.buffer(call) }, { B, L, window }, { slopes: out.buffer(call) });
    return out;
  });
}

/**
 * progressTargets on the device for episodes stored back to back in one
 * `[ΣT, N, D]` tensor (`lengths` frames each), with resolved options of SPEC §2's
 * rule (the only segmenter on the device; `maxClusterFrames` ≥ window). One GPU
 * block per episode; the promise resolves when the stream has finished. Values
 * and similarity stay on the device, one `[ΣT]` tensor each; `segments[e]`
 * are episode-local.
 */
export function progressTargetsCuda(features: DeviceTensor, lengths: readonly number[], o: Extract<ResolvedProgressOptions, { segmenter: 'paper' }>):
  Promise<{ values: DeviceTensor; similarity: DeviceTensor; segments: Segment[][] }> {
  const stack = new Error().stack;
  const call = 'progressTargets';
  try {
    const { f, T: total, N, D } = deviceEpisode(features, call, true);
    const offsets = new Float64Array(lengths.length + 1);
    lengths.forEach((L, i) => { offsets[i + 1] = offsets[i] + checkInt(L, `lengths[${i}]`, 1); });
    if (offsets[lengths.length] !== total) throw rangeError('lengths', `lengths summing to features.shape[0] (${total})`, offsets[lengths.length]);
    requireCuda(call);
    const values = DeviceTensor.empty('float32', [total], { device: f.device });
    const similarity = DeviceTensor.empty('float32', [total], { device: f.device });
    const fail = (e: unknown): never => { values.dispose(); similarity.dispose(); throw e; };
    let p: Promise<NativeDeviceProgress>;
    try {
      p = native().progressTargetsCuda({ features: f.buffer(call), offsets },
        { N, D, lambda: o.lambda, window: o.window, maxClusterFrames: o.maxClusterFrames, threshold: o.threshold, threads: o.threads },
        { values: values.buffer(call), similarity: similarity.buffer(call) });
    } catch (e) {
      return fail(e);
    }
    return withCallerStack(p.then((r) => {
      const segments: Segment[][] = [];
      for (let e = 0; e < lengths.length; e++) {
        if (r.bad[e] >= 0) fail(nonFiniteFrameError(lengths.length > 1 ? `features (episode ${e})` : 'features', r.bad[e]));
        const o0 = offsets[e];
        const segs: Segment[] = [];
        for (let k = 0; k < r.segCount[e]; k++) segs.push({ start: r.segStart[o0 + k], end: r.segEnd[o0 + k] });
        segments.push(segs);
      }
      return { values, similarity, segments };
    }, fail), stack);
  } catch (err) {
    return Promise.reject(err);
  }
}
