// The options of commands that read LeRobot datasets (`label`, `encode`):
// --camera and --episodes, their checks, and the usage error for a dataset
// with several cameras and no --camera.
import fs from 'node:fs';
import path from 'node:path';
import { isLeRobotInput, parseEpisodeList } from '../jobs/lerobot-inputs.js';
import { UsageError, type OptionSpec, type OptionValues } from './command.js';

/** `--camera` and `--episodes`. */
export const LEROBOT_OPTION_SPECS: OptionSpec[] = [
  { name: 'camera', type: 'string', value: 'KEY', description: 'LeRobot datasets: the video or image feature to read, e.g. observation.images.top (required when a dataset has several cameras).' },
  { name: 'episodes', type: 'string', value: 'LIST', description: 'LeRobot datasets: the episode indices to read, e.g. 0,3-7 (default: all).' },
];

/** The cameras that meta/info.json of a LeRobot root declares (video and image features), or undefined when it cannot be read. */
function declaredCameras(root: string): string[] | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(root, 'meta', 'info.json'), 'utf8')) as { features?: Record<string, { dtype?: string }> };
    return Object.entries(info.features ?? {}).filter(([, f]) => f?.dtype === 'video' || f?.dtype === 'image').map(([k]) => k);
  } catch {
    return undefined; // the job reports the unreadable dataset, naming the file
  }
}

/**
 * Reads --camera and --episodes. A LeRobot dataset given with several cameras and no
 * --camera is a usage error listing them; --camera or --episodes without a LeRobot input is
 * one too.
 */
export function lerobotOptionsFrom(values: OptionValues, inputs: readonly string[], needsEncoder: boolean): { camera?: string; episodes?: number[] } {
  const roots = inputs.filter((i) => { try { return fs.statSync(i).isDirectory() && isLeRobotInput(i); } catch { return false; } });
  const camera = values.camera === undefined ? undefined : String(values.camera);
  if (camera !== undefined && camera.trim() === '') throw new UsageError("--camera expects a feature key (e.g. observation.images.top) but received ''");
  let episodes: number[] | undefined;
  if (values.episodes !== undefined) {
    try {
      episodes = parseEpisodeList(String(values.episodes));
    } catch {
      throw new UsageError(`--episodes expects episode indices such as 0,3-7 but received '${String(values.episodes)}'`);
    }
  }
  if ((camera !== undefined || episodes !== undefined) && needsEncoder) {
    throw new UsageError(`--${camera !== undefined ? 'camera' : 'episodes'} needs --encoder (LeRobot datasets hold frames)`);
  }
  if (camera === undefined) {
    for (const r of roots) {
      const cams = declaredCameras(r);
      if (cams && cams.length > 1) throw new UsageError(`${r} has ${cams.length} cameras; pick one with --camera: ${cams.join(', ')}`);
    }
  }
  return { ...(camera !== undefined ? { camera } : {}), ...(episodes ? { episodes } : {}) };
}

/** The inputs that are LeRobot dataset roots. */
export function lerobotRoots(inputs: readonly string[]): string[] {
  return inputs.filter((i) => { try { return fs.statSync(i).isDirectory() && isLeRobotInput(i); } catch { return false; } });
}
