/** A row-major float32 tensor. `data` is read in place, never copied. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** A flag tensor: `Uint8Array` or 0/1 `Float32Array` data. */
export interface FlagTensor {
  data: Uint8Array | Float32Array;
  shape: number[];
}

/** An inclusive frame range `[start, end]` of one stage of an episode. */
export interface Segment {
  start: number;
  end: number;
}

/**
 * How stages are found: `'motion'` (motion onsets and the pauses before them,
 * docs/progress.md) or `'paper'` (SPEC §2's trend-mutation scan with a slope
 * threshold τ).
 */
export type Segmenter = 'motion' | 'paper';

/**
 * Which rule placed a stage boundary: `'onset'` (a rise to a faster motion
 * regime) and `'pause'` (the start of the last pause before an onset) come from
 * the motion segmenter, `'trend'` (the first window whose slope exceeds τ) from
 * the paper's scan, `'cap'` from `maxClusterFrames`.
 */
export type CutRule = 'onset' | 'pause' | 'trend' | 'cap';

/** Options of the progress pipeline (SPEC §1–3). */
export interface ProgressOptions {
  /** L1 penalty λ ≥ 0 of the composite similarity (β = λ / D). Default 1. */
  lambda?: number;
  /**
   * w ≥ 2, in frames: the slope test's window (`'paper'`), or the half-width of the
   * triangle that smooths the speed (`'motion'`). Default 5.
   */
  window?: number;
  /**
   * Most frames a stage may hold: M ≥ window, or 0 for no cap. Default 50 with the
   * `'paper'` segmenter, 0 (no cap) with `'motion'`.
   */
  maxClusterFrames?: number;
  /**
   * Slope τ above which a window starts a trend (`'paper'` only). Default 0.01.
   * Giving a threshold selects the `'paper'` segmenter unless `segmenter` says otherwise
   * (and `'motion'` with a threshold is an error: it has no threshold).
   */
  threshold?: number;
  /**
   * How stages are found (see {@link Segmenter}). Default `'motion'`, or `'paper'` when a
   * `threshold` is given: an explicit threshold keeps SPEC §1–3 exactly.
   */
  segmenter?: Segmenter;
  /** Threads to use (0 or absent: every core of the machine). */
  threads?: number;
}

/** What every resolved progress option set holds, whichever the segmenter. */
interface ResolvedProgressCommon {
  lambda: number;
  window: number;
  /** 0 = no cap. */
  maxClusterFrames: number;
  /** 0 = every core. */
  threads: number;
}

/**
 * {@link ProgressOptions} with every option set and checked, as
 * `resolveProgressOptions` returns them: frozen, and taken as they are (not
 * checked again) wherever ProgressOptions are taken. `threshold` belongs to
 * the `'paper'` segmenter and is absent with `'motion'`.
 */
export type ResolvedProgressOptions = Readonly<
  | ResolvedProgressCommon & { segmenter: 'motion'; threshold?: undefined }
  | ResolvedProgressCommon & { segmenter: 'paper'; threshold: number }
>;

/** Result of labelling one episode. */
export interface ProgressResult {
  /** Structural progress V(t) ∈ [0, 1], V(T−1) = 1. */
  values: Float32Array;
  /** Stages in temporal order, partitioning [0, T−1]. */
  segments: Segment[];
  /** s(t) = S(frame_t, frame of its stage's subgoal). */
  similarity: Float32Array;
  /**
   * The stage boundaries (the starts of segments 1…K−1) with the rule that placed each:
   * `boundaries[k].frame === segments[k + 1].start`.
   */
  boundaries: Boundary[];
}

/** A stage boundary: the first frame of a stage other than the first, and what placed it. */
export interface Boundary {
  frame: number;
  rule: CutRule;
}

/** What the native addon was built with. */
export interface Capabilities {
  version: string;
  /** Threads of the shared pool (the CPUs this process may use). */
  threads: number;
  /** Vector unit the kernels dispatch to: 'avx512', 'avx2', 'sse2' or 'generic'. */
  simd: string;
  /** Whether the training classes (libtorch, through the libtorch addon feat2go_torch.node) are available. */
  torch: boolean;
  /**
   * Why `torch` is false: the libtorch addon is not built (`npx feat2go build-torch`),
   * could not load (the file and the loader's error), or was turned off (FEAT2GO_TORCH_ADDON=off).
   */
  torchReason?: string;
  torchVersion?: string;
  /** Whether libtorch can use a CUDA device. */
  torchCuda?: boolean;
  torchThreads?: number;
  /**
   * Limit in MiB of idle CPU tensor blocks that libtorch keeps for reuse
   * between training steps (`FEAT2GO_TORCH_CACHE_MB`, default 256; 0: off).
   */
  torchCpuCacheMB?: number;
  /** Whether the CUDA kernels were built and a CUDA device can run them. */
  cuda: boolean;
  /** Why `cuda` is false: no NVIDIA driver (or one older than the CUDA runtime), no device, or an addon built without CUDA. */
  cudaReason?: 'no driver' | 'no device' | 'not built';
  /** CUDA devices visible (0 when `cuda` is false). */
  cudaDevices?: number;
  /** Whether process groups (libtorch c10d with Gloo) are available: initDistributed and data-parallel training. */
  distributed: boolean;
}
