// `feat2go view`'s frame source for episodes of LeRobot datasets (source kind
// 'lerobot': the dataset root, episode_index and camera that `feat2go label`
// recorded). Frames come from the dataset reader (src/io/lerobot.ts), which
// finds them by timestamp; a video camera is also offered whole to the page,
// with each frame's time in the (possibly shared, v3.0) video file, so the
// <video> seeks straight to the episode's frames.
import { openLeRobot, type LeRobotDataset } from '../io/lerobot.js';
import { browserVideoType, checkFrame, encodeRaw, withFfmpegSlot, type ViewFrames } from './view-sources.js';

/** Datasets opened so far, by root: opening reads the metadata once, not per episode. */
const datasets = new Map<string, Promise<LeRobotDataset>>();

function dataset(root: string): Promise<LeRobotDataset> {
  let p = datasets.get(root);
  if (!p) {
    p = openLeRobot(root);
    p.catch(() => datasets.delete(root));
    datasets.set(root, p);
  }
  return p;
}

/**
 * The frames of one LeRobot episode (`record.episodeIndex`, `record.camera`) of the dataset at `root`.
 * @throws {Error} when the record names no episode, or the dataset cannot read it (a LeRobotError naming the file)
 */
export async function lerobotFrames(root: string, record: Readonly<Record<string, unknown>>): Promise<ViewFrames> {
  const episode = record.episodeIndex;
  if (typeof episode !== 'number' || !Number.isInteger(episode) || episode < 0) {
    throw new Error(`${root}: the episode's source names no episodeIndex (got ${JSON.stringify(episode)})`);
  }
  const camera = typeof record.camera === 'string' ? record.camera : undefined;
  const ds = await dataset(root);
  const src = await ds.frames(episode, camera);
  let width: number;
  let height: number;
  if (src.kind === 'video') {
    const vi = ds.videoInfo(episode, src.camera);
    width = vi.width;
    height = vi.height;
  } else {
    const first = await src.frame(0);
    width = first.width;
    height = first.height;
  }
  const type = src.kind === 'video' ? browserVideoType(src.path) : undefined;
  return {
    kind: 'lerobot', count: src.length, width, height, fps: ds.fps,
    ...(src.kind === 'video' ? { times: Array.from(src.times) } : {}),
    ...(type ? { video: { file: src.path, type } } : {}),
    async image(k, opts) {
      checkFrame(k, src.length);
      const c = src.kind === 'video' ? await withFfmpegSlot(() => src.frame(k)) : await src.frame(k);
      return encodeRaw(c.data, c.width, c.height, 3, opts);
    },
  };
}
