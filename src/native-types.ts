// The native addon's surface, typed by hand in this one file. The public API
// in the other modules validates arguments before calling these; the addon
// checks again so that nothing reads past a buffer.
import type { Capabilities } from './types.js';

// ---- libtorch training classes (native/torch/*; present only when built with libtorch) ----
/** [name, float32 data, shape] as exchanged with the libtorch classes. */
export type NativeNamedTensor = [string, Float32Array, number[]];

export interface NativeValueHeadConfig {
  inputDim: number; hiddenDim: number; bins: number; oneHot: boolean; seed: number;
}
export interface NativeFitOptions {
  epochs: number; batchSize: number; lr: number; weightDecay: number; cosine: boolean; seed: number;
}
export interface NativeValueHead {
  targets(values: Float32Array): Float32Array;
  predict(hidden: Float32Array, B: number): Float32Array;
  predictDistribution(hidden: Float32Array, B: number): Float32Array;
  loss(hidden: Float32Array, B: number, targets: Float32Array): number;
  trainStep(hidden: Float32Array, B: number, targets: Float32Array, lr: number, weightDecay: number): number;
  fitSync(hidden: Float32Array, B: number, targets: Float32Array, opts: NativeFitOptions): number[];
  fit(hidden: Float32Array, B: number, targets: Float32Array, opts: NativeFitOptions,
    onProgress?: (epoch: number, epochs: number, loss: number) => void): Promise<number[]>;
  stateDict(): NativeNamedTensor[];
  loadStateDict(weights: NativeNamedTensor[]): void;
}

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

  // ---- libtorch (native/torch/*_binding.cc); undefined without libtorch ----
  ValueHeadNative: new (config: NativeValueHeadConfig) => NativeValueHead;
}
