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

/** Options of the progress pipeline (SPEC §1–3). */
export interface ProgressOptions {
  /** L1 penalty λ ≥ 0 of the composite similarity (β = λ / D). Default 1. */
  lambda?: number;
  /** Sliding-window length w ≥ 2 for the slope test. Default 5. */
  window?: number;
  /** Most frames a stage may hold, M ≥ window. Default 50. */
  maxClusterFrames?: number;
  /** Slope τ above which a window starts a trend. Default 0.01. */
  threshold?: number;
  /** Threads to use (0 or absent: every core of the machine). */
  threads?: number;
}

/**
 * {@link ProgressOptions} with every option set and checked, as
 * `resolveProgressOptions` returns them: frozen, and taken as they are (not
 * checked again) wherever ProgressOptions are taken.
 */
export type ResolvedProgressOptions = Readonly<Required<ProgressOptions>>;

/** Result of labelling one episode. */
export interface ProgressResult {
  /** Structural progress V(t) ∈ [0, 1], V(T−1) = 1. */
  values: Float32Array;
  /** Stages in temporal order, partitioning [0, T−1]. */
  segments: Segment[];
  /** s(t) = S(frame_t, frame of its stage's subgoal). */
  similarity: Float32Array;
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
