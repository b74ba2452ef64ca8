// LeRobot datasets as inputs of the labelling jobs: each selected episode of
// a dataset becomes one frame episode named `episode_NNNNNN` (its
// episode_index), read from the chosen camera; problems found when the
// dataset is opened become failures that name the file and the episode.
// Also turns a labelled episode's per-step results into per-frame columns
// for the written-back dataset.
import path from 'node:path';
import { LeRobotError, lerobotRootKind, openLeRobot, type LeRobotDataset } from '../io/lerobot.js';
import type { LeRobotEpisodeLabels } from '../io/lerobot-write.js';
import type { VideoDecoderChoice } from '../io/lerobot-video.js';
import type { ProgressResult } from '../core/types.js';

/** A LeRobot episode to label: the dataset, its episode_index and the camera. */
export interface LeRobotEpisodeRef {
  dataset: LeRobotDataset;
  episode: number;
  camera: string;
  task: string;
  tasks: string[];
}

/** Options that pick what is read from LeRobot inputs. */
export interface LeRobotSelection {
  /** The video or image feature to read; may be left out when a dataset has one camera. */
  camera?: string;
  /** episode_index values to read (default: all listed). */
  episodes?: readonly number[];
  /** Receives the datasets' warnings (metadata that disagrees with the files…). */
  onWarning?: (message: string) => void;
  /** Which decoder reads the videos (see OpenLeRobotOptions.decoder); default: FEAT2GO_VIDEO_DECODER, else 'auto'. */
  videoDecoder?: VideoDecoderChoice;
}

/** One LeRobot episode found in the inputs. */
export interface LeRobotFound {
  name: string;
  file: string;
  ref: LeRobotEpisodeRef;
}

/** A failure found while opening a dataset (file, the episode when it concerns one, a reason). */
export interface LeRobotFailure {
  file: string;
  episode?: number;
  reason: string;
}

/** Whether `dir` is to be read as a LeRobot dataset (it has, or looks like it should have, meta/info.json). */
export function isLeRobotInput(dir: string): boolean {
  return lerobotRootKind(dir) !== undefined;
}

/** Parses an episode list such as `0,3-7,12` into sorted unique indices. @throws {RangeError} on anything else */
export function parseEpisodeList(spec: string): number[] {
  const out = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new RangeError(`Expected episode indices such as '0,3-7' but received '${spec}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b < a || b - a > 10_000_000) throw new RangeError(`Expected episode indices such as '0,3-7' (ranges low-high) but received '${spec}'`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/**
 * Opens each LeRobot root in `roots` and lists its selected episodes for `camera`. Output
 * names are `episode_NNNNNN`, under a folder named after the dataset when `prefix` is set
 * (several inputs). Episodes that cannot be read for a problem found when opening (a
 * missing file, a duplicate or missing index) are failures naming the file and episode,
 * as are a dataset that cannot be opened and an unknown camera.
 */
export async function findLeRobotEpisodes(roots: readonly string[], sel: LeRobotSelection, prefix: boolean): Promise<{ episodes: LeRobotFound[]; failures: LeRobotFailure[]; datasets: LeRobotDataset[] }> {
  const episodes: LeRobotFound[] = [];
  const failures: LeRobotFailure[] = [];
  const datasets: LeRobotDataset[] = [];
  for (const root of roots) {
    let ds: LeRobotDataset;
    try {
      ds = await openLeRobot(root, { ...(sel.onWarning ? { onWarning: sel.onWarning } : {}), ...(sel.videoDecoder !== undefined ? { decoder: sel.videoDecoder } : {}) });
    } catch (err) {
      failures.push(err instanceof LeRobotError ? { file: err.file, reason: err.reason } : { file: root, reason: (err as Error).message });
      continue;
    }
    datasets.push(ds);
    let camera = sel.camera;
    if (camera === undefined) {
      if (ds.cameras.length !== 1) {
        failures.push({ file: path.join(root, 'meta', 'info.json'), reason: ds.cameras.length ? `the dataset has ${ds.cameras.length} cameras; pick one with --camera (opts.camera): ${ds.cameras.map((c) => c.key).join(', ')}` : 'the dataset has no camera (no video or image feature)' });
        continue;
      }
      camera = ds.cameras[0].key;
    } else if (!ds.cameras.some((c) => c.key === camera)) {
      failures.push({ file: path.join(root, 'meta', 'info.json'), reason: `no camera '${camera}': the cameras are ${ds.cameras.length ? ds.cameras.map((c) => c.key).join(', ') : '(none: no video or image feature)'}` });
      continue;
    }
    const listed = new Set(ds.episodes.map((e) => e.index));
    const problemEpisodes = new Set(ds.problems.filter((p) => p.episode !== undefined).map((p) => p.episode!));
    const wanted = sel.episodes ? [...sel.episodes] : [...new Set([...listed, ...problemEpisodes])].sort((a, b) => a - b);
    const base = prefix ? `${path.basename(path.resolve(root)).replace(/[^A-Za-z0-9._-]+/g, '_')}/` : '';
    for (const p of ds.problems) if (p.episode === undefined) failures.push({ file: p.file, reason: p.reason });
    for (const i of wanted) {
      const problem = ds.problems.find((p) => p.episode === i && (p.camera === undefined || p.camera === camera));
      if (problem) {
        failures.push({ file: problem.file, episode: i, reason: problem.reason });
        continue;
      }
      if (!listed.has(i)) {
        failures.push({ file: path.join(root, 'meta'), episode: i, reason: `episode ${i} is not in the dataset (it lists ${ds.episodes.length} episodes${ds.episodes.length ? `, ${ds.episodes[0].index}…${ds.episodes[ds.episodes.length - 1].index}` : ''})` });
        continue;
      }
      const e = ds.episode(i);
      episodes.push({
        name: `${base}episode_${String(i).padStart(6, '0')}`,
        file: camera && e.videos[camera] ? e.videos[camera].file : e.dataFile,
        ref: { dataset: ds, episode: i, camera, task: e.task, tasks: e.tasks },
      });
    }
  }
  return { episodes, failures, datasets };
}

/**
 * Per-frame labels of an episode of `frames` frames from its progress result over `steps`
 * feature steps: frame t takes step ⌊t / τ⌋, τ the encoder's frames per step (1 for the
 * built-in encoder), and the stage of that step.
 */
export function perFrameLabels(r: ProgressResult, frames: number, tubelet = 1): LeRobotEpisodeLabels {
  const steps = r.values.length;
  const stepOf = steps === frames ? (t: number) => t : (t: number) => Math.min(steps - 1, Math.floor(t / Math.max(1, tubelet)));
  const stageOfStep = new Int32Array(steps);
  r.segments.forEach((s, k) => { for (let i = s.start; i <= s.end; i++) stageOfStep[i] = k; });
  const progress = new Float32Array(frames);
  const similarity = new Float32Array(frames);
  const stage = new Int32Array(frames);
  for (let t = 0; t < frames; t++) {
    const s = stepOf(t);
    progress[t] = r.values[s];
    similarity[t] = r.similarity[s];
    stage[t] = stageOfStep[s];
  }
  return { progress, stage, similarity };
}
