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

  // ---- encoders (native/bindings/encoders.cc) ----
  patchStatsSync(frames: Uint8Array, T: number, H: number, W: number, gridH: number, gridW: number,
    bins: number, threads: number, out: Float32Array): void;
  patchStats(frames: Uint8Array, T: number, H: number, W: number, gridH: number, gridW: number,
    bins: number, threads: number, out: Float32Array): Promise<void>;
  framesToChw(frames: Uint8Array, n: number, H: number, W: number, mean: Float32Array, std: Float32Array,
    threads: number, out: Float32Array): Promise<void>;
}
