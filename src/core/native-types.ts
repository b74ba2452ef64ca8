// The native addon's surface, typed by hand in this one file. The public API
// in the other modules validates arguments before calling these; the addon
// checks again so that nothing reads past a buffer.
import type { Capabilities } from './types.js';

// ---- libtorch training classes (native/bindings/torch/*; present only when built with libtorch) ----
/** [name, float32 data, shape] as exchanged with the libtorch classes. */
export type NativeNamedTensor = [string, Float32Array, number[]];

export interface NativeValueHeadConfig {
  inputDim: number; hiddenDim: number; bins: number; oneHot: boolean; seed: number;
}
export interface NativeFitOptions {
  epochs: number; batchSize: number; lr: number; weightDecay: number; cosine: boolean; seed: number; distributed?: boolean;
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
  /** Per segment, the rule that placed its start: 0 start, 1 trend, 2 cap, 3 onset, 4 pause (kernels/stages.h CutRule). */
  rules: Uint8Array;
}

/** Progress options as the addon takes them: every one resolved (see resolveProgressOptions). */
export interface NativeProgressOptions {
  lambda: number;
  window: number;
  /** 0 = no cap. */
  maxClusterFrames: number;
  /** Read by the 'paper' segmenter only. */
  threshold: number;
  segmenter: 'motion' | 'paper';
  threads: number;
}

/** Options of the patch-statistics encoder as the addon takes them. */
export interface NativePatchStatsOptions {
  gridH: number; gridW: number; bins: number; threads: number;
}

export interface NativePolicy {
  linearModules(): Array<[string, number, number, boolean]>;
  stateDict(): NativeNamedTensor[];
  loadStateDict(weights: NativeNamedTensor[]): void;
  addLora(config: { rank: number; alpha: number; dropout: number; targets: string[]; rslora: boolean; seed: number }): void;
  mergeAdapters(): void;
  adapterState(): NativeNamedTensor[];
  loadAdapterState(adapters: NativeNamedTensor[]): void;
  trainableNames(): string[];
  act(obs: Float32Array, B: number, deterministic: boolean): { actions: Float32Array; logProbs: Float32Array; values: Float32Array };
  evaluate(obs: Float32Array, B: number, actions: Float32Array): { logProbs: Float32Array; entropy: Float32Array; values: Float32Array };
  fitBcSync(obs: Float32Array, B: number, actions: Float32Array, opts: NativeBcOptions): NativeBcResult;
  fitBc(obs: Float32Array, B: number, actions: Float32Array, opts: NativeBcOptions,
    onEpoch?: (epoch: number, epochs: number, loss: number) => void): Promise<NativeBcResult>;
}
export interface NativeBcOptions {
  epochs: number; batchSize: number; lr: number; weightDecay: number; maxGradNorm: number; mse: boolean; seed: number;
  distributed: boolean;
}
export interface NativeBcResult { epochLosses: number[]; steps: number }
export interface NativeTrainerOptions {
  clipLow: number; clipHigh: number; dualClip: number; aggregation: number; valueCoef: number; valueClip: number;
  entropyCoef: number; klCoef: number; maxGradNorm: number; actorLr: number; criticLr: number; weightDecay: number;
  epochs: number; minibatches: number; useCritic: boolean; seed: number; distributed?: boolean;
}
export interface NativeBatch {
  B: number; T: number; obs: Float32Array; actions: Float32Array; oldLogProbs: Float32Array; advantages: Float32Array;
  returns?: Float32Array; oldValues?: Float32Array; mask?: Float32Array;
}
export interface NativeMetrics {
  policyLoss: number; valueLoss: number; entropy: number; clipFraction: number; approxKl: number; gradNorm: number;
  kl: number; loss: number; steps: number;
}
export interface NativeTrainer {
  updateSync(batch: NativeBatch): NativeMetrics;
  update(batch: NativeBatch): Promise<NativeMetrics>;
  losses(batch: NativeBatch): NativeMetrics;
}

/** Device memory owned by a JS object (native/bindings/cuda.cc); the native half of DeviceTensor. */
export interface NativeDeviceBuffer {
  upload(data: ArrayBufferView): void;
  download(out: ArrayBufferView): void;
  copyFrom(src: NativeDeviceBuffer): void;
  /** A DLPack capsule viewing the first `shape` elements of `dtype` (compact). */
  toDLPack(dtype: string, shape: readonly number[]): object;
  dispose(): void;
  readonly bytes: number;
  readonly device: number;
  readonly disposed: boolean;
}
/** Segments of every episode of a cudaProgressTargets call, frame-indexed by episode offset. */
export interface NativeDeviceProgress {
  segStart: Int32Array;
  segEnd: Int32Array;
  segCount: Int32Array;
  bad: Float64Array;
}
export interface NativeLossResult {
  loss: number; clipFraction: number; dualClipFraction: number; approxKl: number; masked: number;
}

export interface NativeAddon {
  capabilities(): Capabilities;
  readProbe(data: Float32Array, threads: number): number;

  // ---- CUDA (native/bindings/cuda.cc; without a CUDA build every one throws) ----
  DeviceBuffer: new (bytes: number, device: number) => NativeDeviceBuffer;
  cudaPatchSimilarity(o: Record<string, unknown>): void;
  cudaSlidingSlopes(o: Record<string, unknown>): void;
  cudaProgressTargets(o: Record<string, unknown>): Promise<NativeDeviceProgress>;
  cudaGae(o: Record<string, unknown>): void;
  cudaGrpoAdvantages(o: Record<string, unknown>): void;
  cudaStepAdvantages(o: Record<string, unknown>): void;
  cudaLoss(o: Record<string, unknown>): NativeLossResult;
  /** Adopts a DLPack capsule's tensor (the capsule is consumed). */
  cudaFromDLPack(capsule: unknown): { buffer: NativeDeviceBuffer; dtype: 'float32' | 'uint8' | 'int32'; shape: number[]; device: number };

  // ---- progress (native/bindings/progress.cc) ----
  patchSimilarity(data: Float32Array, T: number, N: number, D: number, goal: Float32Array,
    opts: { lambda: number; threads: number }, out: Float32Array): number;
  /** Returns the index of the first NaN/Inf element of `series` (nothing computed), or −1. */
  slidingSlopes(series: Float32Array, B: number, L: number, window: number, threads: number,
    out: Float32Array): number;
  progressTargetsSync(data: Float32Array, T: number, N: number, D: number,
    opts: NativeProgressOptions): NativeProgressResult;
  progressTargets(data: Float32Array, T: number, N: number, D: number,
    opts: NativeProgressOptions): Promise<NativeProgressResult>;
  progressTargetsBatch(episodes: Array<[Float32Array, number, number, number]>,
    opts: NativeProgressOptions): Promise<NativeProgressResult[]>;
  stepsToGo(length: number, out: Float32Array): void;

  // ---- encoders (native/bindings/encoders.cc) ----
  patchStatsSync(frames: Uint8Array, T: number, H: number, W: number, opts: NativePatchStatsOptions,
    out: Float32Array): void;
  /** Reads a copy of `frames`; writes `out` when the work is done (on the JS thread). */
  patchStats(frames: Uint8Array, T: number, H: number, W: number, opts: NativePatchStatsOptions,
    out: Float32Array): Promise<void>;
  framesToChw(frames: Uint8Array, n: number, H: number, W: number, mean: Float32Array, std: Float32Array,
    threads: number, out: Float32Array): Promise<void>;
  // ---- libtorch (native/bindings/torch/*.cc); undefined without libtorch ----
  ValueHeadNative: new (config: NativeValueHeadConfig) => NativeValueHead;
  PolicyNative: new (spec: Record<string, unknown>) => NativePolicy;
  TrainerNative: new (policy: NativePolicy, opts: NativeTrainerOptions) => NativeTrainer;
  // ---- process groups (native/torch/distributed_binding.cc); undefined without libtorch ----
  distAvailable?: boolean;
  distInit?(opts: {
    backend: string; rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number;
    overlapGradients?: boolean; bucketBytes?: number;
  }): Promise<void>;
  distDestroy?(): Promise<void>;
  distState?(): { initialized: boolean; rank: number; worldSize: number };
  distBarrier?(): Promise<void>;
  distSetOverlap?(on: boolean): void;
  distStats?(): { calls: number; ms: number; bytes: number; gradientBuckets: number; bucketsDuringBackward: number };
  distAllReduce?(array: ArrayBufferView, op: string): Promise<ArrayBufferView>;
  distBroadcast?(array: ArrayBufferView, root: number): Promise<ArrayBufferView>;
  distAllGather?(array: ArrayBufferView): Promise<ArrayBufferView>;
  // ---- reinforcement learning (native/bindings/rl.cc) ----
  rlShapeTerminalRewards(success: Uint8Array, terminalValues: Float32Array, failureScale: number, out: Float32Array): void;
  rlTerminalRewards(lengths: Int32Array, rewards: Float32Array, opts: { horizon: number; threads: number }, out: Float32Array): void;
  /** The x86-64 level GAE runs at: 4 = the AVX-512 blocked scan, 3 or 0 = the step-by-step kernel; FEAT2GO_GAE_ISA caps it. */
  rlGaeIsa(): number;
  rlGae(input: { rewards: Float32Array; values: Float32Array; nextValues: Float32Array; terminated: NativeFlags; done: NativeFlags },
    opts: { B: number; T: number; gamma: number; lambda: number; timeMajor: boolean; threads: number },
    out: { advantages: Float32Array; returns: Float32Array }): void;
  rlGrpoAdvantages(rewards: Float32Array,
    opts: { groupSize: number; epsilon: number; std: 'sample' | 'population' | 'none'; scale: 'group' | 'batch' },
    out: Float32Array): void;
  rlGrpoGroupStats(rewards: Float32Array, opts: { groupSize: number; std: 'sample' | 'population' | 'none' }):
    { zeroStdGroups: number; meanStd: number; groups: number };
  /** `outZeroed`: `out` is known to hold zeros, so only the first L_i steps of each row are written. */
  rlStepAdvantages(adv: Float32Array, lengths: Int32Array,
    opts: { horizon: number; gamma: number; threads: number; outZeroed: boolean }, out: Float32Array): void;
  rlNormalizeAdvantages(x: Float32Array, mask: NativeFlags | null,
    opts: { epsilon: number; sampleStd: boolean; threads: number }, out: Float32Array): { mean: number; std: number; count: number };
  rlClippedSurrogate(input: { logProbs: Float32Array; oldLogProbs: Float32Array; advantages: Float32Array; mask: NativeFlags | null },
    opts: { B: number; T: number; clipLow: number; clipHigh: number; dualClip: number; aggregation: string; threads: number }): NativeLossResult;
  rlClippedValueLoss(input: { values: Float32Array; returns: Float32Array; oldValues: Float32Array | null; mask: NativeFlags | null },
    opts: { B: number; T: number; clip: number; huberDelta: number; aggregation: string; threads: number }): NativeLossResult;
  rlKlPenalty(input: { logProbs: Float32Array; refLogProbs: Float32Array; mask: NativeFlags | null },
    opts: { B: number; T: number; estimator: 'k1' | 'k2' | 'k3'; aggregation: string; threads: number }): NativeLossResult;
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

// ---- built-in pick-and-place task (native/bindings/sim.cc) ----
// (declared here, merged into NativeAddon above)
export interface NativeAddon {
  PickPlaceNative: new (opts: { numEnvs: number; split: string; imageSize: number; horizon: number; render: boolean; threads: number }) => NativePickPlace;
  pickPlaceConstants: { numStages: number; proprioDim: number; actionDim: number; splitSize: number; maxStep: number };
}
/** The native batch of pick-and-place environments; its views are rewritten in place. */
export interface NativePickPlace {
  views(): {
    frames: Uint8Array; proprio: Float32Array; reward: Float32Array; terminated: Uint8Array; truncated: Uint8Array;
    success: Uint8Array; stage: Int32Array; maxStage: Int32Array; t: Int32Array;
  };
  reset(ids: Int32Array): void;
  step(actions: Float32Array): void;
  expert(noise: number, seed: number, out: Float32Array): void;
  /** Snapshot of env i (typed in src/sim/pick-place.ts as PickPlaceEnvState). */
  inspect(i: number): unknown;
}
