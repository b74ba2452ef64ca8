// feat2go: Feat2Go progress targets, value heads and RL math for Node.
export type { Tensor, FlagTensor, Segment, ProgressOptions, ProgressResult, Capabilities } from './types.js';
export { native, useAddon, addonCandidates, AddonLoadError } from './native.js';
export { capabilities, memoryReadProbe } from './system.js';
export {
  patchSimilarity, slidingSlopes, segmentEpisode, progressTargets, progressTargetsSync,
  progressTargetsBatch, stepsToGoTargets, DEFAULT_PROGRESS_OPTIONS,
} from './progress.js';

// ---- libtorch training (value head, LoRA policy, PPO/GRPO trainers) ----
export { ValueHead } from './value.js';
export type { ValueHeadConfig, ValueFitOptions, ValueFitResult } from './value.js';
export { TorchUnavailableError } from './torch-common.js';
export { SafetensorsError } from './torch-files.js';
export type { NamedTensor } from './torch-files.js';
export { Policy } from './policy.js';
export type { PolicySpec, GaussianHeadSpec, CategoricalHeadSpec, Activation, LoraConfig, LinearModule, ActResult } from './policy.js';
export { PpoTrainer, GrpoTrainer } from './trainer.js';
export type { TrainerOptions, PpoOptions, RolloutBatch, UpdateMetrics, Aggregation } from './trainer.js';
