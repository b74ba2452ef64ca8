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
  readNpy, readNpyFloat32, parseNpy, npyToFloat32, encodeNpy, writeNpy, NPY_MAX_HEADER_BYTES,
  type NpyArray, type NpyDtype, type NpyWritable,
} from './io/npy.js';
export {
  readSafetensors, readSafetensorsHeader, parseSafetensors, parseSafetensorsHeader, encodeSafetensors, writeSafetensors,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsTensor, type SafetensorsEntry, type SafetensorsHeader, type SafetensorsFloatDtype, type SafetensorsWritable,
} from './io/safetensors.js';
export {
  labelPaths, findEpisodes, formatSummaryTable,
  type LabelPathsOptions, type LabelReport, type LabelledEpisode, type LabelFailure, type EpisodeSource,
} from './label.js';
export { plotEpisodeSvg, type EpisodePlotInput } from './plot.js';
export { sampleEpisodes, sampleEpisode, type SampleOptions, type SampleEpisode } from './sample.js';
