// feat2go: Feat2Go progress targets, value heads and RL math for Node.
export type { Tensor, FlagTensor, Segment, ProgressOptions, ProgressResult, Capabilities } from './types.js';
export { native, useAddon, addonCandidates, AddonLoadError } from './native.js';
export { capabilities, memoryReadProbe } from './system.js';
export {
  patchSimilarity, slidingSlopes, segmentEpisode, progressTargets, progressTargetsSync,
  progressTargetsBatch, stepsToGoTargets, DEFAULT_PROGRESS_OPTIONS,
} from './progress.js';
// reinforcement learning (§5–8)
export {
  shapeTerminalRewards, terminalRewards, gae, grpoAdvantages, grpoGroupStats, stepAdvantages,
  normalizeAdvantages, clippedSurrogate, clippedValueLoss, klPenalty,
} from './rl.js';
export type {
  Aggregation, GaeInput, GaeOptions, GaeResult, GrpoStd, GrpoOptions, GrpoGroupStats, SurrogateInput,
  SurrogateOptions, SurrogateResult, ValueLossInput, ValueLossOptions, ValueLossResult, KlInput, KlOptions,
} from './rl.js';
