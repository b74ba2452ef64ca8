// feat2go: Feat2Go progress targets, value heads and RL math for Node.
// The library only: the command line is feat2go/cli (src/cli/index.ts), the
// demo and its sample data feat2go/demo (src/demo/index.ts).

// ---- core: types, the addon, progress targets (SPEC §1–3) ----
export type {
  Tensor, FlagTensor, Segment, ProgressOptions, ResolvedProgressOptions, ProgressResult, Segmenter, CutRule, Boundary, Capabilities,
} from './core/types.js';
export {
  native, useAddon, addonCandidates, AddonLoadError, useTorchAddon, torchAddonStatus, addonPaths, platformPackage,
  type AddonAttempt, type TorchAddonStatus, type TorchBuildInfo,
} from './core/native.js';
export { capabilities, memoryReadProbe } from './core/system.js';
export { hostTensor, isHostMemory, type HostTensor, type HostDtype, type HostDtypeArrays } from './core/host.js';
export {
  patchSimilarity, slidingSlopes, segmentEpisode, progressTargets, progressTargetsSync,
  progressTargetsBatch, progressTargetsDeviceBatch, stepsToGoTargets, DEFAULT_PROGRESS_OPTIONS, PAPER_PROGRESS_OPTIONS, resolveProgressOptions,
  type ProgressCallOptions,
} from './core/progress.js';
// ---- CUDA: tensors that stay on the GPU ----
export {
  DeviceTensor, CudaUnavailableError, cudaStatus, isDeviceTensor, type DeviceDtype, type DLPackCapsule, type HostArray,
} from './core/device.js';
export type { DeviceProgressResult } from './core/progress-cuda.js';

// ---- files (io) ----
export { writeFileAtomic, type AtomicData } from './io/atomic.js';
export { FileFormatError } from './io/common.js';
export {
  readNpy, readNpyFloat32, readNpyHeader, parseNpy, parseNpyHeader, npyToFloat32, encodeNpy, writeNpy, NPY_MAX_HEADER_BYTES,
  type NpyArray, type NpyHeader, type NpyDtype, type NpyWritable, type ReadNpyOptions,
} from './io/npy.js';
export {
  readSafetensors, readSafetensorsHeader, parseSafetensors, parseSafetensorsHeader, encodeSafetensors, writeSafetensors,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsTensor, type SafetensorsEntry, type SafetensorsHeader, type SafetensorsFloatDtype, type SafetensorsWritable,
} from './io/safetensors.js';
// ---- labelling jobs and plots (jobs) ----
export {
  labelPaths, mergeSummaries, shardOf, CAP_WARNING, type ShardManifest, type MergeReport, findEpisodes, findFrameEpisodes, findFrameInputs,
  formatSummaryTable, type LabelPathsOptions, type LabelReport, type LabelledEpisode, type LabelFailure, type EpisodeSource,
  type EpisodeSourceRecord,
} from './jobs/label.js';
export { parseEpisodeList, perFrameLabels, type LeRobotEpisodeRef } from './jobs/lerobot-inputs.js';
export {
  startViewServer, loadViewIndex, type ViewServer, type ViewServerOptions, type ViewIndex, type ViewEpisodeEntry,
} from './jobs/view.js';
export {
  registerViewSource, type ViewFrames, type ViewSourceOpener, type FrameImage, type FrameImageOptions,
} from './jobs/view-sources.js';
export { launchRanks, freePort, type LaunchOptions, type LaunchResult } from './jobs/launch.js';
export { plotEpisodeSvg, type EpisodePlotInput } from './jobs/plot.js';
export {
  runExperiment, resolveExperimentConfig, checkExperimentRanks, formatExperimentTable, formatPairedTable, formatValueModelTable, methodName, summariseExperiment,
  experimentPreset, EXPERIMENT_HYPERPARAMETERS, EXPERIMENT_SPLITS, EXPERIMENT_REWARDS, EXPERIMENT_TASK_HORIZONS, EXPERIMENT_VALUE_MODELS,
  type ExperimentConfig, type ExperimentResult, type ExperimentJson, type ExperimentRow, type ExperimentProgress, type ExperimentSizes,
  type ExperimentAlgo, type ExperimentReward, type ExperimentSplit, type ExperimentPreset, type ExperimentEnv, type ExperimentEnvClass,
  type RunExperimentOptions, type ValueCurve, type ExperimentTask, type ExperimentDemonstrator, type ExperimentColumn, type PairedRow, type GateResult,
  type BaseRates, type ValueModelReport, type ExperimentValueModelKind, type ResolvedExperimentConfig, type SeedRecord, type ValueTarget,
} from './jobs/experiment.js';
export {
  writeExperimentOutputs, writeFileSet, checkExperimentOutputDir, experimentJson, experimentMarkdown, successCurvesSvg, valueCurvesSvg, contactSheetPng, EXPERIMENT_OUTPUT_FILES,
} from './jobs/experiment-report.js';
export { calibrateExperiment, calibrationMarkdown, chooseHorizon, type CalibrationConfig, type CalibrationResult, type CalibrateOptions } from './jobs/experiment-calibrate.js';
export { spearman, meanCi, pairedDifference, type PairedStat } from './jobs/experiment-stats.js';
// ---- frames to features: episodes (io), encoders ----
export type { FrameChunk, FrameSource, ChunkOptions } from './io/episodes.js';
// ---- LeRobot datasets (io): reading, frames by timestamp, writing labels back ----
export {
  openLeRobot, formatTemplate, lerobotRootKind, LeRobotError, LEROBOT_TOLERANCE_S,
  type LeRobotDataset, type LeRobotEpisode, type LeRobotCamera, type LeRobotVideoLocation, type LeRobotProblem, type LeRobotRows,
  type LeRobotFrameSource, type OpenLeRobotOptions,
} from './io/lerobot.js';
export { probeVideoStream, videoDecoderStatus, type VideoStreamInfo, type VideoDecoderChoice, type VideoDecoderStatus } from './io/lerobot-video.js';
export { writeLeRobotLabels, checkLeRobotOutput, FEAT2GO_FEATURES, type LeRobotEpisodeLabels, type WriteLeRobotReport } from './io/lerobot-write.js';
export { readParquetColumns, readParquetInfo, appendParquetColumns, type ParquetColumns, type ParquetInfo, type NewColumn } from './io/parquet.js';
export { openEpisode, framesFromArray, naturalSort, resizeCropFrame, findOnPath, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from './io/episodes.js';
export type { FrameEncoder, EncoderStream, EncodeFramesOptions, EncodedEpisode, EncodeEpisodesOptions } from './encoders/encoder.js';
export { encodeFrames, encodeEpisodes } from './encoders/encoder.js';
export type { PatchStatsOptions, PatchStatsEncoder } from './encoders/builtin.js';
export { patchStatsEncoder, PATCH_STATS_PROGRESS_OPTIONS } from './encoders/builtin.js';
export type { OnnxVisualEncoderOptions, OnnxBackboneOptions, BackboneInput, ClipRun } from './encoders/onnx.js';
export { OnnxVisualEncoder, OnnxBackbone, planClips, cudaProviderAvailable, IMAGENET_MEAN, IMAGENET_STD } from './encoders/onnx.js';
export { OnnxRuntimeUnavailableError } from './encoders/ort.js';
export type { OnnxImageEncoderOptions, HubDtype } from './encoders/onnx-image.js';
export { OnnxImageEncoder, HUB_DTYPES, HUB_DTYPE_SUFFIX, PREFIX_TOKENS } from './encoders/onnx-image.js';
export type { ImageProcessorConfig, ImageResize, PreprocessImagesOptions } from './encoders/hf-preprocess.js';
export { imageProcessorConfig, preprocessImages, resizedSize, processedSize, RESAMPLE_FILTERS } from './encoders/hf-preprocess.js';
export type { HubOptions, HubSettings, HubProgress, HubErrorCode } from './io/hub.js';
export { HubRepo, HubError, hubFile, hubSettings, parseHubName, repoCacheFolder, downloadProgressBar, HUB_DEFAULT_ENDPOINT } from './io/hub.js';
export { onnxExternalDataFiles } from './io/onnx-external.js';
// ---- libtorch training (value head, LoRA policy, PPO/GRPO trainers) ----
export { ValueHead } from './torch/value-head.js';
export type { ValueHeadConfig, ValueFitOptions, ValueFitResult } from './torch/value-head.js';
export { NonFiniteError, TorchUnavailableError } from './torch/common.js';
export type { TrainingStep } from './torch/common.js';
export { SafetensorsError } from './torch/files.js';
export type { NamedTensor } from './torch/files.js';
export { Policy } from './torch/policy.js';
export type { PolicySpec, GaussianHeadSpec, CategoricalHeadSpec, Activation, LoraConfig, LinearModule, ActResult, BehaviourCloningOptions, BehaviourCloningResult } from './torch/policy.js';
export { PpoTrainer, GrpoTrainer } from './torch/trainer.js';
export type { TrainerOptions, PpoOptions, RolloutBatch, UpdateMetrics } from './torch/trainer.js';
// ---- process groups (libtorch c10d) and data-parallel training ----
export {
  initDistributed, destroyDistributed, distributedAvailable, distributedInfo, isDistributed, resolveDistributedOptions, MAX_DISTRIBUTED_TIMEOUT_MS,
  rank, worldSize, barrier, allReduce, broadcast, allGather, collectiveStats, setGradientOverlap, DistributedUnavailableError,
  type CollectiveOptions,
} from './torch/distributed.js';
export type { DistributedOptions, DistributedInfo, DistributedBackend, ReduceOp, CollectiveArray, CollectiveStats } from './torch/distributed.js';
export type { EncoderSpecOptions } from './encoders/create.js';
export { createEncoder } from './encoders/create.js';
// ---- reinforcement learning (SPEC §5–8, core) ----
export {
  shapeTerminalRewards, terminalRewards, gae, grpoAdvantages, grpoGroupStats, stepAdvantages,
  normalizeAdvantages, clippedSurrogate, clippedValueLoss, klPenalty, AGGREGATIONS,
  type DeviceGaeInput, type DeviceSurrogateInput, type DeviceValueLossInput, type DeviceKlInput,
} from './core/rl.js';
export type {
  Aggregation, GaeInput, GaeOptions, GaeResult, GrpoStd, GrpoOptions, GrpoGroupStats, SurrogateInput,
  SurrogateOptions, SurrogateResult, ValueLossInput, ValueLossOptions, ValueLossResult, KlInput, KlOptions,
} from './core/rl.js';
// ---- value model: ONNX backbone + libtorch value head ----
export { ValueModel } from './torch/value-model.js';
// ---- image value model: trainable conv backbone + value head ----
export { ConvBackbone, augmentFrames, DEFAULT_AUGMENT } from './torch/backbone.js';
export type { Frames, ConvBackboneConfig, ConvLayerConfig, ResolvedConvBackboneConfig, AugmentOptions } from './torch/backbone.js';
export { ImageValueModel } from './torch/image-value-model.js';
export type {
  ImageValueModelConfig, ImageValueHeadConfig, ImageValueFitOptions, ImageValueFitResult, ImageValueStagesOptions,
} from './torch/image-value-model.js';

// ---- the built-in pick-and-place task (native, batched) ----
export { PickPlaceEnv, PICK_PLACE_SPLITS, PICK_PLACE_STAGES, PICK_PLACE_TASKS } from './sim/pick-place.js';
export type { PickPlaceSplit, PickPlaceOptions, PickPlaceEnvState, PickPlaceTask } from './sim/pick-place.js';
export { VariablePaceDemonstrator, VARIABLE_PACE_DEFAULTS, resolveVariablePaceOptions } from './sim/teleop.js';
export type { VariablePaceOptions, TeleopEnv } from './sim/teleop.js';
