// feat2go/demo: built-in sample data (feature samples, the rendered scene) and the `npm start` job.
export { sampleEpisodes, sampleEpisode, type SampleOptions, type SampleEpisode } from './sample.js';
export type { ImageEpisode, SceneStage, SceneOptions } from './scene.js';
export { sampleImageEpisodes, sceneFrameSource, encodeSceneEpisode, SCENE_PROGRESS_OPTIONS } from './scene.js';
export type { MainOptions, MainResult } from './main.js';
export { runMain } from './main.js';
