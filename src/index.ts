// feat2go: Feat2Go progress targets, value heads and RL math for Node.
export type { Tensor, FlagTensor, Segment, ProgressOptions, ProgressResult, Capabilities } from './types.js';
export { native, useAddon, addonCandidates, AddonLoadError } from './native.js';
export { capabilities, memoryReadProbe } from './system.js';
export {
  patchSimilarity, slidingSlopes, segmentEpisode, progressTargets, progressTargetsSync,
  progressTargetsBatch, stepsToGoTargets, DEFAULT_PROGRESS_OPTIONS,
} from './progress.js';

// --- files, labelling, plots and sample data (io) ---
export { writeFileAtomic, type AtomicData } from './io/atomic.js';
export { FileFormatError } from './io/common.js';
export {
  readNpy, readNpyFloat32, readNpyHeader, parseNpy, parseNpyHeader, npyToFloat32, encodeNpy, writeNpy, NPY_MAX_HEADER_BYTES,
  type NpyArray, type NpyHeader, type NpyDtype, type NpyWritable,
} from './io/npy.js';
export {
  readSafetensors, readSafetensorsHeader, parseSafetensors, parseSafetensorsHeader, encodeSafetensors, writeSafetensors,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsTensor, type SafetensorsEntry, type SafetensorsHeader, type SafetensorsFloatDtype, type SafetensorsWritable,
} from './io/safetensors.js';
export {
  labelPaths, findEpisodes, findFrameEpisodes, formatSummaryTable,
  type LabelPathsOptions, type LabelReport, type LabelledEpisode, type LabelFailure, type EpisodeSource,
} from './label.js';
export { plotEpisodeSvg, type EpisodePlotInput } from './plot.js';
export { sampleEpisodes, sampleEpisode, type SampleOptions, type SampleEpisode } from './sample.js';
// ---- frames to features (issue 5): episodes, encoders, scene, encode CLI ----
export type { FrameChunk, FrameSource, ChunkOptions } from './episodes.js';
export { openEpisode, framesFromArray, naturalSort, resizeCropFrame, findOnPath, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from './episodes.js';
export type { FrameEncoder, EncoderStream, EncodeFramesOptions, EncodedEpisode, EncodeEpisodesOptions } from './encoders/encoder.js';
export { encodeFrames, encodeEpisodes } from './encoders/encoder.js';
export type { PatchStatsOptions, PatchStatsEncoder } from './encoders/builtin.js';
export { patchStatsEncoder } from './encoders/builtin.js';
export type { OnnxVisualEncoderOptions, OnnxBackboneOptions, BackboneInput, ClipRun } from './encoders/onnx.js';
export { OnnxVisualEncoder, OnnxBackbone, planClips, cudaProviderAvailable, IMAGENET_MEAN, IMAGENET_STD } from './encoders/onnx.js';
export type { ImageEpisode, SceneStage, SceneOptions } from './scene.js';
export { sampleImageEpisodes, sceneFrameSource, encodeSceneEpisode, SCENE_PROGRESS_OPTIONS } from './scene.js';
// ---- libtorch training (value head, LoRA policy, PPO/GRPO trainers) ----
export { ValueHead } from './value.js';
export type { ValueHeadConfig, ValueFitOptions, ValueFitResult } from './value.js';
export { TorchUnavailableError } from './torch-common.js';
export { SafetensorsError } from './torch-files.js';
export type { NamedTensor } from './torch-files.js';
export { Policy } from './policy.js';
export type { PolicySpec, GaussianHeadSpec, CategoricalHeadSpec, Activation, LoraConfig, LinearModule, ActResult, BehaviourCloningOptions, BehaviourCloningResult } from './policy.js';
export { PpoTrainer, GrpoTrainer } from './trainer.js';
export type { TrainerOptions, PpoOptions, RolloutBatch, UpdateMetrics } from './trainer.js';
export type { EncoderSpecOptions } from './encoders/create.js';
export { createEncoder } from './encoders/create.js';
export type { CliIO, EncodeArgs } from './commands/encode.js';
export { encodeCommand, parseEncodeArgs } from './commands/encode.js';
// ---- the command line as a library (wire): run a subcommand in-process ----
export type { Command, CommandIO, OptionSpec } from './commands/command.js';
export { runCommand, commandHelp, UsageError } from './commands/command.js';
export { labelCommand } from './commands/label.js';
export { encodeCommandSpec } from './commands/encode.js';
export type { MainOptions, MainResult } from './main.js';
export { runMain } from './main.js';
// reinforcement learning (§5–8)
export {
  shapeTerminalRewards, terminalRewards, gae, grpoAdvantages, grpoGroupStats, stepAdvantages,
  normalizeAdvantages, clippedSurrogate, clippedValueLoss, klPenalty,
} from './rl.js';
export type {
  Aggregation, GaeInput, GaeOptions, GaeResult, GrpoStd, GrpoOptions, GrpoGroupStats, SurrogateInput,
  SurrogateOptions, SurrogateResult, ValueLossInput, ValueLossOptions, ValueLossResult, KlInput, KlOptions,
} from './rl.js';
// ---- value model: ONNX backbone + libtorch value head ----
export { ValueModel } from './value-model.js';
