// The surface of feat2go's two native addons, typed by hand in this one file,
// and the list of their exports (NATIVE_EXPORTS), which the compiler holds to
// the interfaces and test/unit/native-exports.test.ts holds to the loaded
// addons: the core addon (feat2go.node, NativeCoreAddon: kernels, progress,
// RL, the simulator, the encoder glue, the CUDA twins) and the libtorch addon
// (feat2go_torch.node, NativeTorchAddon: the training classes and process
// groups), which src/core/native.ts loads on first use.
//
// One calling convention, one naming scheme (native/bindings/napi_util.h):
//  * a function is called (input, opts, out?): `input` the arrays read (with
//    the sizes that belong to one array alone), `opts` the shared sizes and
//    the resolved options, `out` the arrays written where the caller gives them;
//    the classes' constructors take (input, opts) and their methods
//    (input, opts, out?) too, or nothing at all (`{}` for an empty input or
//    opts: NativeNoOptions); native objects a call reads travel in `input`;
//  * functions and values are named <area><Name> (area: system, progress,
//    encoder, rl, pickPlace, dist, torch), the CUDA twin of a function adds
//    `Cuda`, classes are <Name>Native.
// The public API resolves and validates every option once (the TypeScript
// core owns each option's range and default) and sends each one; the addon
// checks memory safety only: sizes against array lengths, dtypes, overlap,
// detachment.
import type { Capabilities, ResolvedProgressOptions } from './types.js';

// ---- libtorch training classes (native/bindings/torch/*: the libtorch addon) ----
/** [name, float32 data, shape] as exchanged with the libtorch classes. */
export type NativeNamedTensor = [string, Float32Array, number[]];

export interface NativeValueHeadConfig {
  inputDim: number; hiddenDim: number; bins: number; oneHot: boolean; seed: number;
}
export interface NativeFitOptions {
  epochs: number; batchSize: number; lr: number; weightDecay: number; cosine: boolean; seed: number; distributed: boolean;
  /** A call's cancel flag (element 0 ≠ 0: stop), an Int32Array over a SharedArrayBuffer (src/core/cancel.ts). */
  cancel?: Int32Array;
}
/** No options: the `opts` of a method whose input says everything. */
export type NativeNoOptions = Record<string, never>;
/** The per-epoch callback of the asynchronous fits: (epoch, epochs, mean loss). */
export type NativeEpochCallback = (epoch: number, epochs: number, loss: number) => void;
export interface NativeValueHead {
  targets(input: { values: Float32Array }, opts: NativeNoOptions): Float32Array;
  predict(input: { hidden: Float32Array }, opts: { B: number }): Float32Array;
  predictDistribution(input: { hidden: Float32Array }, opts: { B: number }): Float32Array;
  loss(input: { hidden: Float32Array; targets: Float32Array }, opts: { B: number }): number;
  trainStep(input: { hidden: Float32Array; targets: Float32Array }, opts: { B: number; lr: number; weightDecay: number }): number;
  fitSync(input: { hidden: Float32Array; targets: Float32Array }, opts: NativeFitOptions & { B: number }): number[];
  fit(input: { hidden: Float32Array; targets: Float32Array },
    opts: NativeFitOptions & { B: number; onProgress?: NativeEpochCallback }): Promise<number[]>;
  stateDict(): NativeNamedTensor[];
  loadStateDict(input: { weights: NativeNamedTensor[] }, opts: NativeNoOptions): void;
}

/** Frames as the addon takes them: RGB bytes [B, H, W, 3] or float32 [B, 3, H, W] in [0, 1]. */
export type NativeFrames = Uint8Array | Float32Array;
/** Augmentation strengths, every one resolved (see src/torch/backbone.ts). */
export interface NativeAugment { shift: number; brightness: number; contrast: number; gain: number }
export interface NativeConvBackboneConfig {
  height: number; width: number;
  layers: Array<{ channels: number; kernel: number; stride: number; padding: number; pool: number }>;
  activation: string; pool: string; embedDim: number; seed: number;
}
export interface NativeConvBackbone {
  embed(input: { frames: NativeFrames }, opts: { B: number }): Float32Array;
  featureDim(): number;
  stateDict(): NativeNamedTensor[];
  loadStateDict(input: { weights: NativeNamedTensor[] }, opts: NativeNoOptions): void;
}
export interface NativeImageFitOptions {
  stage: 'head' | 'joint'; epochs: number; batchSize: number; lr: number; backboneLr: number; weightDecay: number;
  cosine: boolean; seed: number; augment: NativeAugment | null; distributed: boolean;
  /** The call's cancel flag (src/core/cancel.ts); async fit only. */
  cancel?: Int32Array;
}
export interface NativeImageValueModel {
  predict(input: { frames: NativeFrames }, opts: { B: number }): Float32Array;
  predictDistribution(input: { frames: NativeFrames }, opts: { B: number }): Float32Array;
  embed(input: { frames: NativeFrames }, opts: { B: number }): Float32Array;
  loss(input: { frames: NativeFrames; targets: Float32Array }, opts: { B: number }): number;
  fitSync(input: { frames: NativeFrames; targets: Float32Array }, opts: NativeImageFitOptions & { B: number }): number[];
  fit(input: { frames: NativeFrames; targets: Float32Array },
    opts: NativeImageFitOptions & { B: number; onProgress?: NativeEpochCallback }): Promise<number[]>;
  stateDict(): NativeNamedTensor[];
  loadStateDict(input: { weights: NativeNamedTensor[] }, opts: NativeNoOptions): void;
}
/** The head of an {@link NativeImageValueModel} as its constructor takes it. */
export interface NativeImageHeadConfig { hiddenDim: number; bins: number; oneHot: boolean; seed: number }

/** The image preprocessing plan as the addon takes it (every key resolved by src/encoders/hf-preprocess.ts). */
export interface NativeImagePrep {
  resize: boolean; resizeH: number; resizeW: number; filter: number;
  crop: boolean; outH: number; outW: number;
  rescaleOn: boolean; rescale: number; normalize: boolean; threads: number;
}

export interface NativePolicy {
  linearModules(): Array<[string, number, number, boolean]>;
  stateDict(): NativeNamedTensor[];
  loadStateDict(input: { weights: NativeNamedTensor[] }, opts: NativeNoOptions): void;
  addLora(input: NativeNoOptions, opts: { rank: number; alpha: number; dropout: number; targets: string[]; rslora: boolean; seed: number }): void;
  mergeAdapters(): void;
  adapterState(): NativeNamedTensor[];
  loadAdapterState(input: { adapters: NativeNamedTensor[] }, opts: NativeNoOptions): void;
  trainableNames(): string[];
  act(input: { obs: Float32Array }, opts: { B: number; deterministic: boolean }): { actions: Float32Array; logProbs: Float32Array; values: Float32Array };
  evaluate(input: { obs: Float32Array; actions: Float32Array }, opts: { B: number }): { logProbs: Float32Array; entropy: Float32Array; values: Float32Array };
  fitBcSync(input: { obs: Float32Array; actions: Float32Array }, opts: NativeBcOptions & { B: number }): NativeBcResult;
  fitBc(input: { obs: Float32Array; actions: Float32Array },
    opts: NativeBcOptions & { B: number; onEpoch?: NativeEpochCallback }): Promise<NativeBcResult>;
}
export interface NativeBcOptions {
  epochs: number; batchSize: number; lr: number; weightDecay: number; maxGradNorm: number; mse: boolean; seed: number;
  distributed: boolean;
  cancel?: Int32Array;
}
export interface NativeBcResult { epochLosses: number[]; steps: number }
export interface NativeTrainerOptions {
  clipLow: number; clipHigh: number; dualClip: number; aggregation: string; valueCoef: number; valueClip: number;
  entropyCoef: number; klCoef: number; maxGradNorm: number; actorLr: number; criticLr: number; weightDecay: number;
  epochs: number; minibatches: number; useCritic: boolean; seed: number; distributed: boolean;
}
/** A rollout batch's arrays as the trainer reads them (its sizes travel in opts: `{ B, T }`). */
export interface NativeBatch {
  obs: Float32Array; actions: Float32Array; oldLogProbs: Float32Array; advantages: Float32Array;
  returns?: Float32Array; oldValues?: Float32Array; mask?: Float32Array;
}
export interface NativeMetrics {
  policyLoss: number; valueLoss: number; entropy: number; clipFraction: number; approxKl: number; gradNorm: number;
  kl: number; loss: number; steps: number;
}
export interface NativeTrainer {
  updateSync(input: NativeBatch, opts: { B: number; T: number }): NativeMetrics;
  update(input: NativeBatch, opts: { B: number; T: number; cancel?: Int32Array }): Promise<NativeMetrics>;
  losses(input: NativeBatch, opts: { B: number; T: number }): NativeMetrics;
}

// ---- progress (native/bindings/progress.cc) ----
/** The sizes of one `[T, N, D]` episode. */
export interface NativeEpisodeDims { T: number; N: number; D: number }

/**
 * One episode's result as the addon returns it (segments as [start, end]
 * pairs). A NaN/Inf in the features is reported, not thrown: `badFrame` (−1:
 * none), the first bad element of that frame (`badElement` = patch·D + dim)
 * and its value; the TypeScript core words the error.
 */
export interface NativeProgressResult {
  values: Float32Array;
  similarity: Float32Array;
  segments: Int32Array;
  /** Per segment, the rule that placed its start: 0 start, 1 trend, 2 cap, 3 onset, 4 pause (kernels/stages.h CutRule). */
  rules: Uint8Array;
  badFrame: number;
  badElement: number;
  badValue: number;
}

// ---- CUDA (native/bindings/device.cc, progress_cuda.cc, rl_cuda.cc; in every build, see native/cuda/unavailable.cc) ----
/** Device memory owned by a JS object (native/bindings/device.cc); the native half of DeviceTensor. */
export interface NativeDeviceBuffer {
  /** Host → device: all of `input.data`'s bytes, from byte 0. */
  upload(input: { data: ArrayBufferView }, opts: NativeNoOptions): void;
  /** Device → host: `out.data`'s byte length, from byte 0. */
  download(input: NativeNoOptions, opts: NativeNoOptions, out: { data: ArrayBufferView }): void;
  copyFrom(input: { source: NativeDeviceBuffer }, opts: NativeNoOptions): void;
  /** A DLPack capsule viewing the first `shape` elements of `dtype` (compact). */
  toDLPack(input: NativeNoOptions, opts: { dtype: 'float32' | 'uint8' | 'int32'; shape: readonly number[] }): object;
  dispose(): void;
  readonly bytes: number;
  readonly device: number;
  readonly disposed: boolean;
}
/** The class of {@link NativeDeviceBuffer}; `fromDLPack` adopts a capsule's tensor (the capsule is consumed). */
export interface NativeDeviceBufferClass {
  new (input: NativeNoOptions, opts: { bytes: number; device: number }): NativeDeviceBuffer;
  fromDLPack(input: { capsule: unknown }, opts: NativeNoOptions): { buffer: NativeDeviceBuffer; dtype: 'float32' | 'uint8' | 'int32'; shape: number[]; device: number };
}
/** Segments of every episode of a progressTargetsCuda call, frame-indexed by episode offset. */
export interface NativeDeviceProgress {
  segStart: Int32Array;
  segEnd: Int32Array;
  segCount: Int32Array;
  bad: Float64Array;
}
/** A flag input of a CUDA twin: its dtype travels in opts as `<name>Dtype`. */
export type NativeFlagDtype = 'uint8' | 'float32';

// ---- reinforcement learning (native/bindings/rl.cc, rl_cuda.cc) ----
/** 0/1 flags as the RL kernels take them. */
export type NativeFlags = Uint8Array | Float32Array;

/** Aggregated loss as the RL kernels (and their CUDA twins) return it. */
export interface NativeLossResult {
  loss: number;
  clipFraction: number;
  dualClipFraction: number;
  approxKl: number;
  /** Σ mask. */
  count: number;
}

/** The native batch of pick-and-place environments; its views are rewritten in place. */
export interface NativePickPlace {
  views(): {
    frames: Uint8Array; proprio: Float32Array; reward: Float32Array; terminated: Uint8Array; truncated: Uint8Array;
    success: Uint8Array; stage: Int32Array; maxStage: Int32Array; t: Int32Array; progress: Float32Array;
  };
  reset(input: { initIds: Int32Array }, opts: NativeNoOptions): void;
  step(input: { actions: Float32Array }, opts: NativeNoOptions): void;
  expert(input: NativeNoOptions, opts: { noise: number; seed: number }, out: { actions: Float32Array }): void;
  /** Snapshot of env `opts.env` (typed in src/sim/pick-place.ts as PickPlaceEnvState). */
  inspect(input: NativeNoOptions, opts: { env: number }): unknown;
}

/** Whether in-process video decoding (FFmpeg's libraries, dlopen'ed) is available, and why not. */
export interface NativeLibavStatus {
  available: boolean;
  /** Why not ('' when available). */
  reason: string;
  /** The sonames loaded or looked for. */
  libraries: string;
  /** The run-time versions found ('' when not loaded). */
  versions: string;
}

/** The format of decoded frames, as the first frame after a seek has them (names as ffmpeg's showinfo prints them). */
export interface NativeFrameFormat {
  width: number; height: number; pixFmt: string; colorRange: string; colorSpace: string;
}

/**
 * One video opened in process (native/bindings/video_decoder.cc): one call at a time (a second
 * call while one runs is an Error); close() frees it (a call still running keeps it until it ends).
 */
export interface NativeVideoDecoder {
  open(input: NativeNoOptions, opts: { cancel?: Int32Array }): Promise<{ codec: string; width: number; height: number; fpsNum: number; fpsDen: number; timeBaseNum: number; timeBaseDen: number }>;
  /** To the keyframe at or before `time` (s), dropping frames before it (time ≤ 0: from the start); the next frame's format, null at the end. */
  seek(input: NativeNoOptions, opts: { time: number; cancel?: Int32Array }): Promise<NativeFrameFormat | null>;
  /** Up to `frames` packed yuv420p frames of `frameBytes` into `out.data` (in place when host memory), with their times; count 0 at the end. */
  read(input: NativeNoOptions, opts: { frames: number; frameBytes: number; cancel?: Int32Array }, out: { data: Uint8Array }):
    Promise<{ count: number; times: Float64Array; lastTime: number; problems: string[] }>;
  close(): void;
}

/** Options of the patch-statistics encoder as the addon takes them. */
export interface NativePatchStatsOptions {
  gridH: number; gridW: number; bins: number; threads: number;
}

/** The core addon, feat2go.node (native/addon.cc and native/bindings/*.cc). */
export interface NativeCoreAddon {
  // ---- system (native/addon.cc) ----
  systemCapabilities(): Capabilities;
  systemReadProbe(input: { data: Float32Array }, opts: { threads: number }): number;
  // ---- host memory and cancellation (native/bindings/host.cc) ----
  /** An ArrayBuffer of `opts.bytes`: external over addon-owned host memory when large (and allowed), else plain. */
  systemHostBuffer(input: Record<string, never>, opts: { bytes: number; always: boolean }): ArrayBuffer;
  /** Whether `input.view` lies in host memory, and how many pending calls read that memory. */
  systemHostInfo(input: { view: ArrayBufferView }, opts: Record<string, never>): { host: boolean; readers: number };
  /** Live host blocks and their bytes, idle cached bytes, and whether external ArrayBuffers are used. */
  systemHostStats(input: Record<string, never>, opts: Record<string, never>): { blocks: number; bytes: number; cachedBytes: number; external: boolean };
  /** Stops this addon's running cancellable calls of this environment, or of every environment (`opts.everywhere`). */
  systemCancelCalls(input: Record<string, never>, opts: { everywhere: boolean }): void;
  /**
   * This addon's host-memory table (native/bindings/host_api.h), an opaque
   * type-tagged external: the loader hands it to the libtorch addon's
   * torchInit, so that both addons pin and allocate the same host memory.
   */
  readonly systemHostApi: object;

  // ---- progress (native/bindings/progress.cc) ----
  /** Returns the first frame whose similarity is NaN/Inf (so its data holds NaN/Inf), or −1. */
  progressPatchSimilarity(input: { features: Float32Array; goal: Float32Array },
    opts: NativeEpisodeDims & { lambda: number; threads: number }, out: { similarity: Float32Array }): number;
  /** Returns the index of the first NaN/Inf element of `series` (nothing computed), or −1. */
  progressSlidingSlopes(input: { series: Float32Array }, opts: { B: number; L: number; window: number; threads: number },
    out: { slopes: Float32Array }): number;
  progressTargetsSync(input: { features: Float32Array }, opts: NativeEpisodeDims & ResolvedProgressOptions): NativeProgressResult;
  progressTargets(input: { features: Float32Array }, opts: NativeEpisodeDims & ResolvedProgressOptions & { cancel?: Int32Array }):
    Promise<NativeProgressResult>;
  progressTargetsBatch(input: { episodes: Array<NativeEpisodeDims & { features: Float32Array }> },
    opts: ResolvedProgressOptions & { cancel?: Int32Array }): Promise<NativeProgressResult[]>;
  progressStepsToGo(input: Record<string, never>, opts: { T: number }, out: { values: Float32Array }): void;
  // CUDA twins (native/bindings/progress_cuda.cc)
  progressPatchSimilarityCuda(input: { features: NativeDeviceBuffer; goal?: NativeDeviceBuffer },
    opts: NativeEpisodeDims & { lambda: number; goalFrame?: number }, out: { similarity: NativeDeviceBuffer }): void;
  progressSlidingSlopesCuda(input: { series: NativeDeviceBuffer }, opts: { B: number; L: number; window: number },
    out: { slopes: NativeDeviceBuffer }): void;
  /** SPEC §2's rule only (no `segmenter`: the motion segmenter runs on the host). */
  progressTargetsCuda(input: { features: NativeDeviceBuffer; offsets: Float64Array },
    opts: { N: number; D: number } & Omit<Extract<ResolvedProgressOptions, { segmenter: 'paper' }>, 'segmenter'>,
    out: { values: NativeDeviceBuffer; similarity: NativeDeviceBuffer }): Promise<NativeDeviceProgress>;

  // ---- encoders (native/bindings/encoders.cc) ----
  encoderPatchStatsSync(input: { frames: Uint8Array }, opts: { T: number; H: number; W: number } & NativePatchStatsOptions,
    out: { features: Float32Array }): void;
  /** Reads a copy of `frames`; writes `out.features` when the work is done (on the JS thread). */
  encoderPatchStats(input: { frames: Uint8Array }, opts: { T: number; H: number; W: number } & NativePatchStatsOptions,
    out: { features: Float32Array }): Promise<void>;
  encoderFramesToChw(input: { frames: Uint8Array; mean: Float32Array; std: Float32Array },
    opts: { n: number; H: number; W: number; threads: number }, out: { chw: Float32Array }): Promise<void>;
  /** The model hub's image preprocessing: Pillow resize, centre crop, rescale, normalise → [n, 3, h, w]. */
  encoderImagePrep(input: { frames: Uint8Array; mean: Float32Array; std: Float32Array },
    opts: { n: number; H: number; W: number } & NativeImagePrep, out: { pixels: Float32Array }): Promise<void>;
  /** Frames → float32 [n, 3, H, W] in [0, 1], shifted and jittered with `augment` (null: conversion only); frame i's draws keyed by (seed, stream, i). */
  encoderAugmentFrames(input: { frames: NativeFrames }, opts: { n: number; H: number; W: number; augment: NativeAugment | null; seed: number; stream: number },
    out: { augmented: Float32Array }): void;

  // ---- decoded video frames (native/bindings/video.cc) ----
  /** ffmpeg's raw yuv420p frames → RGB24 `[n, H, W, 3]` (synchronous; BT.601 or BT.709, limited or full range). */
  encoderYuvToRgb(input: { yuv: Uint8Array }, opts: { n: number; W: number; H: number; matrix: 601 | 709; fullRange: boolean; threads: number },
    out: { rgb: Uint8Array }): void;
  /** As encoderPatchStats on the frames encoderYuvToRgb would make from `yuv` (each converted in a per-thread scratch frame); reads a copy of `yuv`. */
  encoderPatchStatsYuv(input: { yuv: Uint8Array }, opts: { T: number; H: number; W: number; matrix: 601 | 709; fullRange: boolean } & NativePatchStatsOptions,
    out: { features: Float32Array }): Promise<void>;
  /** A close-on-exec OS pipe, its capacity raised towards `size` bytes where the OS allows (`size` out: the capacity, 0 when unknown); null where the platform has none. */
  systemPipe(input: undefined, opts: { size: number }): { readFd: number; writeFd: number; size: number } | null;
  /** Whether in-process video decoding is available (FFmpeg's libraries loaded by the sonames the addon was built against), and why not. */
  systemLibavStatus(input: undefined, opts: NativeNoOptions): NativeLibavStatus;

  // ---- reinforcement learning (native/bindings/rl.cc) ----
  rlShapeTerminalRewards(input: { success: Uint8Array; terminalValues: Float32Array }, opts: { failureScale: number },
    out: { rewards: Float32Array }): void;
  rlTerminalRewards(input: { lengths: Int32Array; rewards: Float32Array }, opts: { horizon: number; threads: number },
    out: { stepRewards: Float32Array }): void;
  /** The x86-64 level GAE runs at: 4 = the AVX-512 blocked scan, 3 or 0 = the step-by-step kernel; FEAT2GO_GAE_ISA caps it. */
  rlGaeIsa(): number;
  rlGae(input: { rewards: Float32Array; values: Float32Array; nextValues: Float32Array; terminated: NativeFlags; done: NativeFlags },
    opts: { B: number; T: number; gamma: number; lambda: number; timeMajor: boolean; threads: number },
    out: { advantages: Float32Array; returns: Float32Array }): void;
  rlGrpoAdvantages(input: { rewards: Float32Array },
    opts: { groupSize: number; epsilon: number; std: 'sample' | 'population' | 'none'; scale: 'group' | 'batch' },
    out: { advantages: Float32Array }): void;
  rlGrpoGroupStats(input: { rewards: Float32Array }, opts: { groupSize: number; std: 'sample' | 'population' | 'none' }):
    { zeroStdGroups: number; meanStd: number; groups: number };
  /** `outZeroed`: `out.advantages` is known to hold zeros, so only the first L_i steps of each row are written. */
  rlStepAdvantages(input: { trajectoryAdvantages: Float32Array; lengths: Int32Array },
    opts: { horizon: number; gamma: number; threads: number; outZeroed: boolean }, out: { advantages: Float32Array }): void;
  rlNormalizeAdvantages(input: { advantages: Float32Array; mask: NativeFlags | null },
    opts: { epsilon: number; sampleStd: boolean; threads: number }, out: { normalized: Float32Array }): { mean: number; std: number; count: number };
  rlClippedSurrogate(input: { logProbs: Float32Array; oldLogProbs: Float32Array; advantages: Float32Array; mask: NativeFlags | null },
    opts: { B: number; T: number; clipLow: number; clipHigh: number; dualClip: number; aggregation: string; threads: number }): NativeLossResult;
  rlClippedValueLoss(input: { values: Float32Array; returns: Float32Array; oldValues: Float32Array | null; mask: NativeFlags | null },
    opts: { B: number; T: number; clip: number; huberDelta: number; aggregation: string; threads: number }): NativeLossResult;
  rlKlPenalty(input: { logProbs: Float32Array; refLogProbs: Float32Array; mask: NativeFlags | null },
    opts: { B: number; T: number; estimator: 'k1' | 'k2' | 'k3'; aggregation: string; threads: number }): NativeLossResult;
  // CUDA twins (native/bindings/rl_cuda.cc)
  rlGaeCuda(input: { rewards: NativeDeviceBuffer; values: NativeDeviceBuffer; nextValues: NativeDeviceBuffer;
    terminated: NativeDeviceBuffer; done: NativeDeviceBuffer },
  opts: { B: number; T: number; gamma: number; lambda: number; timeMajor: boolean; terminatedDtype: NativeFlagDtype; doneDtype: NativeFlagDtype },
  out: { advantages: NativeDeviceBuffer; returns: NativeDeviceBuffer }): void;
  rlGrpoAdvantagesCuda(input: { rewards: NativeDeviceBuffer },
    opts: { n: number; groupSize: number; epsilon: number; std: 'sample' | 'population' | 'none'; scale: 'group' | 'batch' },
    out: { advantages: NativeDeviceBuffer }): void;
  rlStepAdvantagesCuda(input: { trajectoryAdvantages: NativeDeviceBuffer; lengths: NativeDeviceBuffer },
    opts: { B: number; horizon: number; gamma: number }, out: { advantages: NativeDeviceBuffer }): void;
  rlClippedSurrogateCuda(input: { logProbs: NativeDeviceBuffer; oldLogProbs: NativeDeviceBuffer; advantages: NativeDeviceBuffer; mask?: NativeDeviceBuffer },
    opts: { B: number; T: number; clipLow: number; clipHigh: number; dualClip: number; aggregation: string; maskDtype?: NativeFlagDtype }): NativeLossResult;
  rlClippedValueLossCuda(input: { values: NativeDeviceBuffer; returns: NativeDeviceBuffer; oldValues?: NativeDeviceBuffer; mask?: NativeDeviceBuffer },
    opts: { B: number; T: number; clip: number; huberDelta: number; aggregation: string; maskDtype?: NativeFlagDtype }): NativeLossResult;
  rlKlPenaltyCuda(input: { logProbs: NativeDeviceBuffer; refLogProbs: NativeDeviceBuffer; mask?: NativeDeviceBuffer },
    opts: { B: number; T: number; estimator: 'k1' | 'k2' | 'k3'; aggregation: string; maskDtype?: NativeFlagDtype }): NativeLossResult;

  // ---- device memory (native/bindings/device.cc) ----
  DeviceBufferNative: NativeDeviceBufferClass;

  // ---- built-in pick-and-place task (native/bindings/sim.cc) ----
  PickPlaceNative: new (input: NativeNoOptions, opts: { numEnvs: number; split: string; imageSize: number; horizon: number; render: boolean; threads: number; task: string }) => NativePickPlace;
  VideoDecoderNative: new (input: NativeNoOptions, opts: { file: string }) => NativeVideoDecoder;
  pickPlaceConstants: { numStages: number; proprioDim: number; actionDim: number; splitSize: number; maxStep: number };

}

/** The libtorch addon, feat2go_torch.node (native/torch_addon.cc, native/bindings/torch/*.cc, native/torch/*.cc). */
export interface NativeTorchAddon {
  // ---- system (native/torch_addon.cc) ----
  /** The libtorch fields of capabilities(), with the version of feat2go the addon was built from. */
  torchCapabilities(): Pick<Capabilities, 'version' | 'torch' | 'torchVersion' | 'torchCuda' | 'torchThreads' | 'torchCpuCacheMB' | 'distributed'>;
  /**
   * Called once by the loader: the core addon's host-memory table
   * (`systemHostApi`). `hostMemory` false (with the reason) when it was
   * absent or of another version: this addon then copies its async inputs.
   */
  torchInit(input: { hostApi?: object }, opts: Record<string, never>): { hostMemory: boolean; reason: string };
  /** Stops this addon's running cancellable calls of this environment, or of every environment (`opts.everywhere`). */
  torchCancelCalls(input: Record<string, never>, opts: { everywhere: boolean }): void;
  // ---- libtorch classes (native/bindings/torch/*.cc); constructors take (input, opts) too ----
  ValueHeadNative: new (input: NativeNoOptions, opts: NativeValueHeadConfig) => NativeValueHead;
  PolicyNative: new (input: NativeNoOptions, opts: Record<string, unknown>) => NativePolicy;
  ConvBackboneNative: new (input: NativeNoOptions, opts: NativeConvBackboneConfig) => NativeConvBackbone;
  ImageValueModelNative: new (input: { backbone: NativeConvBackbone }, opts: NativeImageHeadConfig) => NativeImageValueModel;
  TrainerNative: new (input: { policy: NativePolicy }, opts: NativeTrainerOptions) => NativeTrainer;
  // ---- process groups (native/bindings/torch/distributed.cc; distAvailable false without c10d) ----
  distAvailable: boolean;
  distInit(input: NativeNoOptions, opts: {
    backend: string; rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number;
    overlapGradients: boolean; bucketBytes: number; cancel?: Int32Array;
  }): Promise<void>;
  distDestroy(): Promise<void>;
  distState(): { initialized: boolean; rank: number; worldSize: number };
  distBarrier(input: NativeNoOptions, opts: { cancel?: Int32Array }): Promise<void>;
  distSetOverlap(input: NativeNoOptions, opts: { on: boolean }): void;
  distStats(): { calls: number; ms: number; bytes: number; gradientBuckets: number; bucketsDuringBackward: number };
  /** In place: `input.array` holds the result when the promise (of that array) resolves. */
  distAllReduce(input: { array: ArrayBufferView }, opts: { op: 'sum' | 'avg' | 'max' | 'min' | 'product'; cancel?: Int32Array }): Promise<ArrayBufferView>;
  /** In place, from rank `opts.root`. */
  distBroadcast(input: { array: ArrayBufferView }, opts: { root: number; cancel?: Int32Array }): Promise<ArrayBufferView>;
  distAllGather(input: { array: ArrayBufferView }, opts: { cancel?: Int32Array }): Promise<ArrayBufferView>;
}

/** Both addons' exports: what the list below covers. */
export type NativeAddon = NativeCoreAddon & NativeTorchAddon;

/**
 * Which addon exports a name: 'core' (feat2go.node, every build: kernels,
 * progress, RL, the simulator, the encoder glue and the CUDA twins) or 'torch'
 * (feat2go_torch.node, the libtorch bindings, built where a libtorch is
 * found). And what it is: a 'function', a 'class' (`new`) or a 'value'.
 */
export type NativeExportInfo = readonly ['core' | 'torch', 'function' | 'class' | 'value'];

/**
 * Every export of the two addons, as {@link NativeCoreAddon} and
 * {@link NativeTorchAddon} declare them: the compiler insists on exactly the
 * interfaces' names (a mapped type over their keys), and
 * test/unit/native-exports.test.ts checks each name against the interface it
 * is declared in and the addon that exports it.
 */
export const NATIVE_EXPORTS: { readonly [K in keyof NativeAddon]-?: NativeExportInfo } = Object.freeze({
  systemCapabilities: ['core', 'function'],
  systemReadProbe: ['core', 'function'],
  systemHostBuffer: ['core', 'function'],
  systemHostInfo: ['core', 'function'],
  systemHostStats: ['core', 'function'],
  systemCancelCalls: ['core', 'function'],
  systemHostApi: ['core', 'value'],
  progressPatchSimilarity: ['core', 'function'],
  progressSlidingSlopes: ['core', 'function'],
  progressTargetsSync: ['core', 'function'],
  progressTargets: ['core', 'function'],
  progressTargetsBatch: ['core', 'function'],
  progressStepsToGo: ['core', 'function'],
  progressPatchSimilarityCuda: ['core', 'function'],
  progressSlidingSlopesCuda: ['core', 'function'],
  progressTargetsCuda: ['core', 'function'],
  encoderPatchStatsSync: ['core', 'function'],
  encoderPatchStats: ['core', 'function'],
  encoderFramesToChw: ['core', 'function'],
  encoderImagePrep: ['core', 'function'],
  encoderAugmentFrames: ['core', 'function'],
  encoderYuvToRgb: ['core', 'function'],
  systemPipe: ['core', 'function'],
  systemLibavStatus: ['core', 'function'],
  encoderPatchStatsYuv: ['core', 'function'],
  rlShapeTerminalRewards: ['core', 'function'],
  rlTerminalRewards: ['core', 'function'],
  rlGaeIsa: ['core', 'function'],
  rlGae: ['core', 'function'],
  rlGrpoAdvantages: ['core', 'function'],
  rlGrpoGroupStats: ['core', 'function'],
  rlStepAdvantages: ['core', 'function'],
  rlNormalizeAdvantages: ['core', 'function'],
  rlClippedSurrogate: ['core', 'function'],
  rlClippedValueLoss: ['core', 'function'],
  rlKlPenalty: ['core', 'function'],
  rlGaeCuda: ['core', 'function'],
  rlGrpoAdvantagesCuda: ['core', 'function'],
  rlStepAdvantagesCuda: ['core', 'function'],
  rlClippedSurrogateCuda: ['core', 'function'],
  rlClippedValueLossCuda: ['core', 'function'],
  rlKlPenaltyCuda: ['core', 'function'],
  DeviceBufferNative: ['core', 'class'],
  PickPlaceNative: ['core', 'class'],
  VideoDecoderNative: ['core', 'class'],
  pickPlaceConstants: ['core', 'value'],
  torchCapabilities: ['torch', 'function'],
  torchInit: ['torch', 'function'],
  torchCancelCalls: ['torch', 'function'],
  ValueHeadNative: ['torch', 'class'],
  PolicyNative: ['torch', 'class'],
  ConvBackboneNative: ['torch', 'class'],
  ImageValueModelNative: ['torch', 'class'],
  TrainerNative: ['torch', 'class'],
  distAvailable: ['torch', 'value'],
  distInit: ['torch', 'function'],
  distDestroy: ['torch', 'function'],
  distState: ['torch', 'function'],
  distBarrier: ['torch', 'function'],
  distSetOverlap: ['torch', 'function'],
  distStats: ['torch', 'function'],
  distAllReduce: ['torch', 'function'],
  distBroadcast: ['torch', 'function'],
  distAllGather: ['torch', 'function'],
});
