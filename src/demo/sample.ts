// Deterministic sample episodes shaped like V-JEPA 2 ViT-L patch features
// ([T, 256, 1024]): a scene whose features move through a few stages, each
// from one anchor state to the next and then held still (a pause), with noise.
import type { Segment, Tensor } from '../core/types.js';
import { sfc32Stream } from '../core/random.js';
import { checkInt, checkNumber, checkOptions, rangeError, type OptionKeys } from '../core/validate.js';

/** Options of {@link sampleEpisodes}. Every field is optional. */
export interface SampleOptions {
  /** Number of episodes. Default 4. */
  count?: number;
  /** Seed of the generator; the same seed gives bit-identical episodes. Default 1. */
  seed?: number;
  /** Episode lengths are drawn uniformly from [minFrames, maxFrames]. Defaults 80 and 400. */
  minFrames?: number;
  maxFrames?: number;
  /** Explicit lengths, one per episode (overrides count, minFrames, maxFrames). */
  frames?: number[];
  /** Patches per frame N. Default 256 (16×16 tokens of V-JEPA 2 ViT-L at 256 px). */
  patches?: number;
  /** Feature dims D. Default 1024 (ViT-L). */
  dims?: number;
  /** Per-element noise standard deviation relative to the unit-variance features. Default 0.02 (held frames then stay within the default threshold's reach; see docs/progress.md). */
  noise?: number;
  /** Average frames per stage (pause + motion); the stage count is about T / this (at least 2). Default 40. */
  framesPerStage?: number;
}

/** One generated episode. */
export interface SampleEpisode {
  /** `episode-000`, `episode-001`, … */
  name: string;
  /** `[T, N, D]` float32 features. */
  features: Tensor;
  /** The stages as generated (motion to the next anchor, then a pause there), in temporal order. */
  stages: Segment[];
}

function fillGaussian(out: Float32Array, rng: () => number, scale = 1): void {
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
}

interface Resolved { count: number; seed: number; frames: number[] | undefined; minFrames: number; maxFrames: number; N: number; D: number; noise: number; perStage: number }

const SAMPLE_KEYS: OptionKeys<SampleOptions> = {
  count: 1, seed: 1, minFrames: 1, maxFrames: 1, frames: 1, patches: 1, dims: 1, noise: 1, framesPerStage: 1,
};

function resolve(opts: SampleOptions | undefined): Resolved {
  const o = checkOptions(opts, 'opts', SAMPLE_KEYS);
  const minFrames = o.minFrames === undefined ? 80 : checkInt(o.minFrames, 'opts.minFrames', 1);
  const maxFrames = o.maxFrames === undefined ? Math.max(400, minFrames) : checkInt(o.maxFrames, 'opts.maxFrames', 1);
  if (maxFrames < minFrames) throw rangeError('opts.maxFrames', `an integer ≥ opts.minFrames (${minFrames})`, maxFrames);
  let frames: number[] | undefined;
  if (o.frames !== undefined) {
    if (!Array.isArray(o.frames)) throw new TypeError(`Expected an array of frame counts for opts.frames but received ${typeof o.frames}`);
    frames = o.frames.map((f, i) => checkInt(f, `opts.frames[${i}]`, 1));
  }
  return {
    count: frames ? frames.length : o.count === undefined ? 4 : checkInt(o.count, 'opts.count', 0, 100000),
    seed: o.seed === undefined ? 1 : checkInt(o.seed, 'opts.seed', 0),
    frames, minFrames, maxFrames,
    N: o.patches === undefined ? 256 : checkInt(o.patches, 'opts.patches', 1),
    D: o.dims === undefined ? 1024 : checkInt(o.dims, 'opts.dims', 1),
    noise: o.noise === undefined ? 0.02 : checkNumber(o.noise, 'opts.noise', 0),
    perStage: o.framesPerStage === undefined ? 40 : checkNumber(o.framesPerStage, 'opts.framesPerStage', 2),
  };
}

/**
 * Generates episode `index` of the sample set described by `opts` (see {@link sampleEpisodes}),
 * without generating the others — for writing large sets one episode at a time.
 */
export function sampleEpisode(index: number, opts?: SampleOptions): SampleEpisode {
  const r = resolve(opts);
  const i = checkInt(index, 'index', 0, Math.max(0, r.count - 1));
  const rng = sfc32Stream(r.seed, i + 1);
  const T = r.frames ? r.frames[i] : r.minFrames + Math.floor(rng() * (r.maxFrames - r.minFrames + 1));
  const { N, D } = r;
  const F = N * D;
  // Stage count about T / perStage (at least 2 when T ≥ 2, at most T).
  const K = Math.max(Math.min(2, T), Math.min(T, Math.round(T / r.perStage + rng() - 0.5)));
  // Stage lengths: equal shares jittered by ±30 %, summing to T.
  const w = Array.from({ length: K }, () => 0.7 + 0.6 * rng());
  const wsum = w.reduce((a, b) => a + b, 0);
  const lengths = w.map((x) => Math.max(1, Math.floor((x / wsum) * T)));
  let extra = T - lengths.reduce((a, b) => a + b, 0);
  for (let k = 0; extra !== 0; k = (k + 1) % K) {
    if (extra > 0) { lengths[k]++; extra--; } else if (lengths[k] > 1) { lengths[k]--; extra++; }
  }
  // Scene: a static background shared by every anchor, plus per-stage anchor states.
  const background = new Float32Array(F);
  fillGaussian(background, rng, 1);
  const anchors: Float32Array[] = [];
  for (let k = 0; k <= K; k++) {
    const a = new Float32Array(F);
    fillGaussian(a, rng, 1);
    anchors.push(a);
  }
  // Noise: frame t reads a window of a shared Gaussian table at a random offset.
  const table = new Float32Array(2 * F);
  fillGaussian(table, rng, r.noise);
  const data = new Float32Array(T * F);
  const stages: Segment[] = [];
  const mix = 0.5; // weight of the moving part against the background
  let t = 0;
  for (let k = 0; k < K; k++) {
    const len = lengths[k];
    const pause = len > 2 ? Math.floor(rng() * 0.35 * len) : 0;
    stages.push({ start: t, end: t + len - 1 });
    const from = anchors[k];
    const to = anchors[k + 1];
    for (let j = 0; j < len; j++, t++) {
      // Progress within the stage: eased from 0 to 1 over the motion, then held at 1 (the pause).
      const m = len - pause;
      const x = j >= m - 1 ? 1 : j / (m - 1);
      const alpha = x * x * (3 - 2 * x);
      const off = Math.floor(rng() * F);
      const row = data.subarray(t * F, (t + 1) * F);
      const a0 = mix * (1 - alpha);
      const a1 = mix * alpha;
      for (let e = 0; e < F; e++) row[e] = background[e] + a0 * from[e] + a1 * to[e] + table[off + e];
    }
  }
  return { name: `episode-${String(i).padStart(3, '0')}`, features: { data, shape: [T, N, D] }, stages };
}

/**
 * Deterministic sample episodes shaped like V-JEPA 2 ViT-L output (`[T, 256, 1024]`,
 * T in 80–400 by default): each episode passes through about T / 40 stages (at least 2); in each the
 * features move smoothly from one anchor state to the next and then hold still (a pause), on top of a static background, with Gaussian noise on every frame. Labelling them
 * with {@link progressTargets} and the paper's rule (`PAPER_PROGRESS_OPTIONS`) finds stages close to the generated ones.
 * (The default motion segmenter finds one stage in them: their motion raises the frame-to-frame
 * change only 1.3–2× above the noise's, where it needs about 2×; see docs/progress.md.)
 *
 * Memory: T·N·D·4 bytes per episode (up to 420 MB at T = 400); use {@link sampleEpisode}
 * to generate one at a time.
 *
 * @example
 * const [ep] = sampleEpisodes({ count: 1, seed: 7, frames: [120], patches: 16, dims: 64 });
 * const { segments } = progressTargetsSync(ep.features, PAPER_PROGRESS_OPTIONS);
 */
export function sampleEpisodes(opts?: SampleOptions): SampleEpisode[] {
  const r = resolve(opts);
  return Array.from({ length: r.count }, (_, i) => sampleEpisode(i, opts));
}
