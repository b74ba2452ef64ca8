// The native addon's surface, typed by hand in this one file. The public API
// in the other modules validates arguments before calling these; the addon
// checks again so that nothing reads past a buffer.
import type { Capabilities } from './types.js';

/** Per-episode result as the addon returns it (segments as [start, end] pairs). */
export interface NativeProgressResult {
  values: Float32Array;
  similarity: Float32Array;
  segments: Int32Array;
}

export interface NativeProgressOptions {
  lambda?: number;
  window?: number;
  maxClusterFrames?: number;
  threshold?: number;
  threads?: number;
}

export interface NativeAddon {
  capabilities(): Capabilities;
  readProbe(data: Float32Array, threads: number): number;

  // ---- progress (native/bindings/progress.cc) ----
  patchSimilarity(data: Float32Array, T: number, N: number, D: number, goal: Float32Array,
    lambda: number, threads: number, out: Float32Array): number;
  slidingSlopes(series: Float32Array, B: number, L: number, window: number, threads: number,
    out: Float32Array): void;
  progressTargetsSync(data: Float32Array, T: number, N: number, D: number,
    opts: NativeProgressOptions): NativeProgressResult;
  progressTargets(data: Float32Array, T: number, N: number, D: number,
    opts: NativeProgressOptions): Promise<NativeProgressResult>;
  progressTargetsBatch(episodes: Array<[Float32Array, number, number, number]>,
    opts: NativeProgressOptions): Promise<NativeProgressResult[]>;
  stepsToGo(length: number, out: Float32Array): void;
  // ---- reinforcement learning (native/bindings/rl.cc) ----
  rlShapeTerminalRewards(success: Uint8Array, terminalValues: Float32Array, failureScale: number, out: Float32Array): void;
  rlTerminalRewards(lengths: Int32Array, rewards: Float32Array, horizon: number, threads: number, out: Float32Array): void;
  rlGae(rewards: Float32Array, values: Float32Array, nextValues: Float32Array, terminated: NativeFlags, done: NativeFlags,
    B: number, T: number, gamma: number, lambda: number, timeMajor: boolean, threads: number,
    advantages: Float32Array, returns: Float32Array): void;
  rlGrpoAdvantages(rewards: Float32Array, groupSize: number, epsilon: number, std: 'sample' | 'population' | 'none',
    scale: 'group' | 'batch', out: Float32Array): void;
  rlGrpoGroupStats(rewards: Float32Array, groupSize: number, std: 'sample' | 'population' | 'none'):
    { zeroStdGroups: number; meanStd: number; groups: number };
  rlStepAdvantages(adv: Float32Array, lengths: Int32Array, horizon: number, gamma: number, threads: number, out: Float32Array): void;
  rlNormalizeAdvantages(x: Float32Array, mask: NativeFlags | null, epsilon: number, sampleStd: boolean, threads: number,
    out: Float32Array): { mean: number; std: number; count: number };
  rlClippedSurrogate(logProbs: Float32Array, oldLogProbs: Float32Array, advantages: Float32Array, mask: NativeFlags | null,
    B: number, T: number, clipLow: number, clipHigh: number, dualClip: number, aggregation: string, threads: number): NativeLossResult;
  rlClippedValueLoss(values: Float32Array, returns: Float32Array, oldValues: Float32Array | null, mask: NativeFlags | null,
    B: number, T: number, clip: number, huberDelta: number, aggregation: string, threads: number): NativeLossResult;
  rlKlPenalty(logProbs: Float32Array, refLogProbs: Float32Array, mask: NativeFlags | null, B: number, T: number,
    estimator: 'k1' | 'k2' | 'k3', aggregation: string, threads: number): NativeLossResult;
}

// ---- reinforcement learning (native/bindings/rl.cc) ----
/** 0/1 flags as the RL kernels take them. */
export type NativeFlags = Uint8Array | Float32Array;

/** Aggregated loss as the RL kernels return it. */
export interface NativeLossResult {
  loss: number;
  clipFraction: number;
  dualClipFraction: number;
  approxKl: number;
  /** Σ mask. */
  count: number;
}
