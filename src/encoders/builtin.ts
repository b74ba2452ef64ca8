// The built-in, weight-free encoder: per-patch colour statistics and
// gradient-orientation histograms (native/kernels/patchstats.cc), so the
// embedded default and the CLI run with nothing downloaded.
import type { FrameChunk } from '../io/episodes.js';
import { hostArray } from '../core/host.js';
import { native } from '../core/native.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkOptions, rangeError, shapeStr, typeError, withCallerStack } from '../core/validate.js';
import { concatSteps, type EncoderStream, type FrameEncoder } from './encoder.js';

/** Options of {@link patchStatsEncoder}. */
export interface PatchStatsOptions {
  /** Patch grid: rows × columns, or one number for a square grid (default 16 → 256 patches). */
  grid?: number | [number, number];
  /** Gradient-orientation bins over [0, π) (default 8). D = 6 + bins. */
  bins?: number;
  /** Resize (short side) + centre-crop frames to this square size before encoding; default: native size. */
  imageSize?: number;
  /** Frames per chunk when streaming episodes (default 64). */
  chunkFrames?: number;
  /** Threads (0 or absent: every core). */
  threads?: number;
}

/**
 * Progress options suited to features of this encoder on the built-in
 * scene: SPEC §2's rule (the explicit threshold selects the `'paper'`
 * segmenter), with a slope threshold below SPEC §2's 0.01 because most
 * patches of a scene are static background, so similarities stay near 1. The
 * one definition of this preset (the demo's SCENE_PROGRESS_OPTIONS and the
 * experiment use it). On real robot video, prefer the default motion
 * segmenter (docs/progress.md, "On real video").
 */
export const PATCH_STATS_PROGRESS_OPTIONS = Object.freeze({ threshold: 0.003, window: 5 });

/** The built-in encoder: a {@link FrameEncoder} plus direct calls on frame arrays. */
export interface PatchStatsEncoder extends FrameEncoder {
  readonly grid: [number, number];
  readonly bins: number;
  /** Feature length per patch, 6 + bins. */
  readonly dim: number;
  /**
   * Encodes `[T,H,W,3]` uint8 frames off the main thread → `[T, gridH·gridW, 6+bins]`
   * in host memory. Frames in host memory (the simulator's, `framesToChw`'s, `hostTensor`'s)
   * or over a SharedArrayBuffer are read in place — write to them only once the promise
   * settled; other frames are copied before it returns (the caller may reuse or transfer them).
   */
  encode(frames: { data: Uint8Array; shape: number[] }): Promise<Tensor>;
  /** Same, synchronously. */
  encodeSync(frames: { data: Uint8Array; shape: number[] }): Tensor;
}

function checkFrames(frames: unknown, grid: [number, number]): { data: Uint8Array; T: number; H: number; W: number } {
  if (frames === null || typeof frames !== 'object') throw typeError('frames', 'frames { data: Uint8Array, shape: [T, H, W, 3] }', frames);
  const { data, shape } = frames as { data: unknown; shape: unknown };
  if (!(data instanceof Uint8Array)) throw typeError('frames.data', 'a Uint8Array of RGB bytes', data);
  if (!Array.isArray(shape) || shape.length !== 4 || shape[3] !== 3 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw rangeError('frames.shape', '[T, H, W, 3] (RGB frames)', Array.isArray(shape) ? shapeStr(shape) : shape, Array.isArray(shape));
  }
  const [T, H, W] = shape as number[];
  if (T < 1) throw rangeError('frames.shape[0]', 'an episode of at least 1 frame (T ≥ 1)', T);
  if (H < grid[0]) throw rangeError('frames.shape[1]', `a frame height ≥ the grid's ${grid[0]} rows`, H);
  if (W < grid[1]) throw rangeError('frames.shape[2]', `a frame width ≥ the grid's ${grid[1]} columns`, W);
  if (data.length < T * H * W * 3) {
    throw new RangeError(`Expected frames.data to hold at least ${T * H * W * 3} bytes for shape ${shapeStr(shape)} but received ${data.length}`);
  }
  return { data, T, H, W };
}

/**
 * Creates the built-in patch-statistics encoder (no weights). Each frame is cut
 * into a `grid` of patches (patch (i, j) covers rows ⌊iH/gh⌋…⌊(i+1)H/gh⌋−1, columns
 * likewise); each patch is described by
 * `[meanR, meanG, meanB, stdR, stdG, stdB] / 255` and a magnitude-weighted histogram of
 * luminance gradient orientations (`bins` over [0, π), linear split between the two
 * nearest bin centres, normalised by pixel count · 255). Output `[T, gh·gw, 6+bins]`,
 * one step per frame. Computed in C++ on the shared thread pool, parallel over frames.
 *
 * It sees colour and edges at a fixed grid position — no semantics, no invariance
 * to camera motion or lighting; see docs/encoders.md for its limits.
 *
 * @example
 * const enc = patchStatsEncoder({ grid: 16, bins: 8 });       // 256 patches × 14 dims
 * const f = await enc.encode({ data: rgb, shape: [T, 128, 128, 3] });
 */
export function patchStatsEncoder(opts?: PatchStatsOptions): PatchStatsEncoder {
  const o = checkOptions(opts, 'opts', { grid: 1, bins: 1, imageSize: 1, chunkFrames: 1, threads: 1 });
  let grid: [number, number] = [16, 16];
  if (o.grid !== undefined) {
    if (typeof o.grid === 'number') { const g = checkInt(o.grid, 'opts.grid', 1, 1024); grid = [g, g]; } else if (Array.isArray(o.grid) && o.grid.length === 2) {
      grid = [checkInt(o.grid[0], 'opts.grid[0]', 1, 1024), checkInt(o.grid[1], 'opts.grid[1]', 1, 1024)];
    } else throw typeError('opts.grid', 'an integer or [rows, columns]', o.grid);
  }
  const bins = o.bins === undefined ? 8 : checkInt(o.bins, 'opts.bins', 1, 360);
  const imageSize = o.imageSize === undefined ? undefined : checkInt(o.imageSize, 'opts.imageSize', Math.max(grid[0], grid[1]));
  const chunkFrames = o.chunkFrames === undefined ? 64 : checkInt(o.chunkFrames, 'opts.chunkFrames', 1);
  const threads = o.threads === undefined ? 0 : checkInt(o.threads, 'opts.threads', 0, 4096);
  const N = grid[0] * grid[1];
  const D = 6 + bins;

  function encodeSync(frames: { data: Uint8Array; shape: number[] }): Tensor {
    const f = checkFrames(frames, grid);
    const out = hostArray(Float32Array, f.T * N * D, { zero: false });
    native().encoderPatchStatsSync({ frames: f.data }, { T: f.T, H: f.H, W: f.W, gridH: grid[0], gridW: grid[1], bins, threads }, { features: out });
    return { data: out, shape: [f.T, N, D] };
  }

  function encode(frames: { data: Uint8Array; shape: number[] }): Promise<Tensor> {
    const stack = new Error().stack;
    try {
      const f = checkFrames(frames, grid);
      const out = hostArray(Float32Array, f.T * N * D, { zero: false }); // written in place by the async call
      const p = native().encoderPatchStats({ frames: f.data }, { T: f.T, H: f.H, W: f.W, gridH: grid[0], gridW: grid[1], bins, threads }, { features: out });
      return withCallerStack(p.then(() => ({ data: out, shape: [f.T, N, D] })), stack);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Encodes YUV 4:2:0 frames (a chunk from a source asked for them): each frame is converted in native scratch memory, so the features equal encoding the RGB frames the conversion gives. */
  function encodeYuv420p(chunk: FrameChunk, yuv: { matrix: 601 | 709; fullRange: boolean }): Promise<Tensor> {
    const stack = new Error().stack;
    try {
      const { count: T, height: H, width: W } = chunk;
      if (H < grid[0]) throw rangeError('frames.shape[1]', `a frame height ≥ the grid's ${grid[0]} rows`, H);
      if (W < grid[1]) throw rangeError('frames.shape[2]', `a frame width ≥ the grid's ${grid[1]} columns`, W);
      const out = hostArray(Float32Array, T * N * D, { zero: false }); // written in place by the async call
      const p = native().encoderPatchStatsYuv({ yuv: chunk.data }, { T, H, W, gridH: grid[0], gridW: grid[1], bins, threads, matrix: yuv.matrix, fullRange: yuv.fullRange }, { features: out });
      return withCallerStack(p.then(() => ({ data: out, shape: [T, N, D] })), stack);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  return {
    name: 'builtin:patch-stats',
    imageSize,
    chunkFrames,
    acceptsYuv420p: true,
    grid,
    bins,
    dim: D,
    encode,
    encodeSync,
    begin(label: string): EncoderStream {
      const pieces: Tensor[] = [];
      let size: [number, number] | undefined;
      return {
        async push(chunk: FrameChunk) {
          if (size && (chunk.height !== size[0] || chunk.width !== size[1])) {
            throw new Error(`${label}: frame ${chunk.start} is ${chunk.width}×${chunk.height} but earlier frames are ${size[1]}×${size[0]}`);
          }
          size = [chunk.height, chunk.width];
          // Both read the frames before returning (a YUV chunk's data is reused by its source).
          pieces.push(await (chunk.yuv420p ? encodeYuv420p(chunk, chunk.yuv420p) : encode({ data: chunk.data, shape: [chunk.count, chunk.height, chunk.width, 3] })));
        },
        async finish() {
          if (pieces.length === 0) throw new Error(`${label}: the episode has zero frames`);
          return pieces.length === 1 ? pieces[0] : concatSteps(pieces, N, D);
        },
      };
    },
  };
}
