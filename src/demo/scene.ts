// A small built-in set of image episodes drawn by the package itself: a
// gripper reaches a cube, grasps it, carries it to a goal zone and lets go,
// with pauses between stages, per-episode jitter and pixel noise. Used by the
// embedded default (`npm start`) so the whole pipeline runs with nothing
// downloaded. Deterministic for a given seed.
import { framesFromArray, type FrameSource } from '../io/episodes.js';
import type { Tensor } from '../core/types.js';
import { mulberry32 } from '../core/random.js';
import { checkInt, checkNumber, checkOptions, type OptionKeys } from '../core/validate.js';
import { PATCH_STATS_PROGRESS_OPTIONS } from '../encoders/builtin.js';
import type { FrameEncoder } from '../encoders/encoder.js';
import { encodeFrames } from '../encoders/encoder.js';

/**
 * Progress options suited to the built-in scene encoded with the built-in
 * encoder: its preset, PATCH_STATS_PROGRESS_OPTIONS, the paper's rule (an
 * explicit threshold selects it) with a slope threshold below SPEC §2's 0.01,
 * because similarities stay near 1 where most patches are static background.
 * On these short (72-frame) episodes it finds 4–6 of the 7 rendered stages; the
 * default motion segmenter finds 3 (the pause before the carry, and the carry),
 * see docs/progress.md.
 */
export const SCENE_PROGRESS_OPTIONS = PATCH_STATS_PROGRESS_OPTIONS;

/** One stage of a rendered episode (inclusive frame range). */
export interface SceneStage {
  name: 'reach' | 'pause-1' | 'grasp' | 'pause-2' | 'carry' | 'pause-3' | 'release';
  start: number;
  end: number;
}

/** A rendered episode: RGB frames `[T, size, size, 3]` and its ground-truth stages. */
export interface ImageEpisode {
  name: string;
  frames: { data: Uint8Array; shape: [number, number, number, 3] };
  stages: SceneStage[];
}

/** Options of {@link sampleImageEpisodes}. */
export interface SceneOptions {
  /** Episodes to render (default 4). */
  count?: number;
  /** Frame side in pixels (default 96). */
  size?: number;
  /** Seed of the jitter and noise (default 7). */
  seed?: number;
  /** Amplitude of uniform pixel noise in grey levels (default 6). */
  noise?: number;
}

type RGB = [number, number, number];

function fillRect(img: Uint8Array, size: number, x0: number, y0: number, w: number, h: number, c: RGB): void {
  const xa = Math.max(0, Math.round(x0));
  const ya = Math.max(0, Math.round(y0));
  const xb = Math.min(size, Math.round(x0 + w));
  const yb = Math.min(size, Math.round(y0 + h));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const i = (y * size + x) * 3;
      img[i] = c[0]; img[i + 1] = c[1]; img[i + 2] = c[2];
    }
  }
}

function lerp(a: number, b: number, u: number): number {
  const s = u * u * (3 - 2 * u); // smooth start and stop
  return a + (b - a) * s;
}

/**
 * Renders the built-in scene episodes. Each episode has seven stages in
 * order — reach, pause, grasp (descend and close), pause, carry the cube to the
 * goal zone, pause, release (open and lift) — with stage lengths and positions
 * jittered per episode and uniform pixel noise on every frame.
 *
 * @returns episodes with frames `[T, size, size, 3]` uint8 and their true stages
 * @example
 * const eps = sampleImageEpisodes({ count: 2, size: 96 });
 * const f = await encodeSceneEpisode(eps[0], patchStatsEncoder());   // [T, 256, 14]
 */
const SCENE_KEYS: OptionKeys<SceneOptions> = { count: 1, size: 1, seed: 1, noise: 1 };

export function sampleImageEpisodes(opts?: SceneOptions): ImageEpisode[] {
  const o = checkOptions(opts, 'opts', SCENE_KEYS);
  const count = o.count === undefined ? 4 : checkInt(o.count, 'opts.count', 1, 1000);
  const size = o.size === undefined ? 96 : checkInt(o.size, 'opts.size', 32, 2048);
  const seed = o.seed === undefined ? 7 : checkInt(o.seed, 'opts.seed', 0, 2 ** 32 - 1);
  const noise = o.noise === undefined ? 6 : checkNumber(o.noise, 'opts.noise', 0, 128);
  const out: ImageEpisode[] = [];
  for (let e = 0; e < count; e++) {
    const r = mulberry32(seed * 1000 + e + 1);
    const j = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    const u = size / 96;
    const cube = 24 * u;
    const cubeX = (6 + j(0, 8)) * u;
    const tableY = 70 * u;
    const goalX = (58 + j(0, 6)) * u;
    const homeX = (40 + j(-6, 6)) * u;
    const homeY = 8 * u;
    const aboveY = tableY - cube - 22 * u;
    const lens: Array<[SceneStage['name'], number]> = [
      ['reach', j(12, 16)], ['pause-1', j(5, 8)], ['grasp', j(8, 11)], ['pause-2', j(5, 8)],
      ['carry', j(16, 22)], ['pause-3', j(5, 8)], ['release', j(8, 11)],
    ];
    const T = lens.reduce((a, [, n]) => a + n, 0);
    const stages: SceneStage[] = [];
    let t0 = 0;
    for (const [name, n] of lens) { stages.push({ name, start: t0, end: t0 + n - 1 }); t0 += n; }
    const frameBytes = size * size * 3;
    const data = new Uint8Array(T * frameBytes);
    for (let t = 0; t < T; t++) {
      const st = stages.find((s) => t >= s.start && t <= s.end)!;
      const k = (t - st.start + 1) / (st.end - st.start + 1);
      // gripper centre x, claw bottom y, closed?, cube position
      let gx = homeX; let gy = homeY + 20 * u; let closed = false;
      let cx = cubeX; let cy = tableY - cube;
      const grabY = tableY - cube;
      switch (st.name) {
        case 'reach': gx = lerp(homeX, cubeX + cube / 2, k); gy = lerp(homeY + 20 * u, aboveY, k); break;
        case 'pause-1': gx = cubeX + cube / 2; gy = aboveY; break;
        case 'grasp': gx = cubeX + cube / 2; gy = lerp(aboveY, grabY, Math.min(1, k * 1.4)); closed = k > 0.75; break;
        case 'pause-2': gx = cubeX + cube / 2; gy = grabY; closed = true; break;
        case 'carry': {
          gx = lerp(cubeX + cube / 2, goalX + cube / 2, k);
          gy = grabY - Math.sin(Math.PI * k) * 18 * u; closed = true;
          cx = gx - cube / 2; cy = gy; break;
        }
        case 'pause-3': gx = goalX + cube / 2; gy = grabY; closed = true; cx = goalX; break;
        case 'release': gx = goalX + cube / 2; gy = lerp(grabY, aboveY, k); closed = k < 0.25; cx = goalX; break;
      }
      const img = data.subarray(t * frameBytes, (t + 1) * frameBytes);
      for (let y = 0; y < size; y++) {
        const shade = y < tableY ? 200 - Math.round((40 * y) / size) : 120;
        for (let x = 0; x < size; x++) {
          const i = (y * size + x) * 3;
          img[i] = shade; img[i + 1] = shade; img[i + 2] = y < tableY ? shade + 20 : 90;
        }
      }
      // goal zone: green outline on the table
      fillRect(img, size, goalX - 3 * u, tableY - 2 * u, cube + 6 * u, 4 * u, [40, 170, 60]);
      // cube
      fillRect(img, size, cx, cy, cube, cube, [210, 40, 40]);
      fillRect(img, size, cx + 3 * u, cy + 3 * u, cube - 6 * u, 3 * u, [240, 120, 120]);
      // arm from the top and claw
      fillRect(img, size, gx - 5 * u, 0, 10 * u, gy - 6 * u, [70, 70, 80]);
      fillRect(img, size, gx - cube / 2 - 4 * u, gy - 8 * u, cube + 8 * u, 4 * u, [50, 50, 60]);
      const open = closed ? 0 : 5 * u;
      fillRect(img, size, gx - cube / 2 - 4 * u - open, gy - 6 * u, 4 * u, 12 * u, [50, 50, 60]);
      fillRect(img, size, gx + cube / 2 + open, gy - 6 * u, 4 * u, 12 * u, [50, 50, 60]);
      if (noise > 0) {
        for (let i = 0; i < frameBytes; i++) {
          const v = img[i] + Math.round((r() * 2 - 1) * noise);
          img[i] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
    out.push({ name: `scene_${String(e).padStart(3, '0')}`, frames: { data, shape: [T, size, size, 3] }, stages });
  }
  return out;
}

/** A {@link FrameSource} over a rendered episode's frames (for {@link encodeFrames}). */
export function sceneFrameSource(episode: ImageEpisode): FrameSource {
  return framesFromArray(episode.frames, episode.name);
}

/**
 * Encodes one rendered episode with any {@link FrameEncoder} (streamed in chunks).
 *
 * @returns features `[steps, N, D]`
 */
export function encodeSceneEpisode(episode: ImageEpisode, encoder: FrameEncoder): Promise<Tensor> {
  return encodeFrames(sceneFrameSource(episode), encoder);
}
