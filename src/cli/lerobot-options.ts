// The options of commands that read LeRobot datasets (`label`, `encode`):
// --camera, --episodes and --video-decoder, their checks, and the usage error
// for a dataset with several cameras and no --camera.
import fs from 'node:fs';
import path from 'node:path';
import { VIDEO_DECODERS, type VideoDecoderChoice } from '../io/lerobot-video.js';
import { isLeRobotInput, parseEpisodeList } from '../jobs/lerobot-inputs.js';
import { UsageError, type OptionSpec, type OptionValues } from './command.js';

/** `--camera`, `--episodes` and `--video-decoder`. */
export const LEROBOT_OPTION_SPECS: OptionSpec[] = [
  { name: 'camera', type: 'string', value: 'KEY', description: 'LeRobot datasets: the video or image feature to read, e.g. observation.images.top (required when a dataset has several cameras).' },
  { name: 'episodes', type: 'string', value: 'LIST', description: 'LeRobot datasets: the episode indices to read, e.g. 0,3-7 (default: all).' },
  { name: 'video-decoder', type: 'string', value: 'NAME', description: "LeRobot datasets: who decodes the videos — auto (in process when FFmpeg's libraries load, else the ffmpeg CLI), libav (in process only) or ffmpeg (the CLI); default: FEAT2GO_VIDEO_DECODER, else auto. `feat2go inspect` says which is available." },
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
 * Reads --camera, --episodes and --video-decoder. A LeRobot dataset given with several
 * cameras and no --camera is a usage error listing them; --camera or --episodes without a
 * LeRobot input is one too, and so is an unknown decoder.
 */
export function lerobotOptionsFrom(values: OptionValues, inputs: readonly string[], needsEncoder: boolean): { camera?: string; episodes?: number[]; videoDecoder?: VideoDecoderChoice } {
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
  let videoDecoder: VideoDecoderChoice | undefined;
  if (values['video-decoder'] !== undefined) {
    const v = String(values['video-decoder']);
    if (!VIDEO_DECODERS.includes(v as VideoDecoderChoice)) throw new UsageError(`--video-decoder expects ${VIDEO_DECODERS.join(', ')} but received '${v}'`);
    videoDecoder = v as VideoDecoderChoice;
  }
  const given = camera !== undefined ? 'camera' : episodes !== undefined ? 'episodes' : videoDecoder !== undefined ? 'video-decoder' : undefined;
  if (given && needsEncoder) throw new UsageError(`--${given} needs --encoder (LeRobot datasets hold frames)`);
  if (camera === undefined) {
    for (const r of roots) {
      const cams = declaredCameras(r);
      if (cams && cams.length > 1) throw new UsageError(`${r} has ${cams.length} cameras; pick one with --camera: ${cams.join(', ')}`);
    }
  }
  return { ...(camera !== undefined ? { camera } : {}), ...(episodes ? { episodes } : {}), ...(videoDecoder !== undefined ? { videoDecoder } : {}) };
}

/** The inputs that are LeRobot dataset roots. */
export function lerobotRoots(inputs: readonly string[]): string[] {
  return inputs.filter((i) => { try { return fs.statSync(i).isDirectory() && isLeRobotInput(i); } catch { return false; } });
}
