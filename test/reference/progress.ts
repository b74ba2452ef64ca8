// Plain float64 reference of SPEC §1–3, written from the spec alone (no
// imports from src/), used by the tests to check the native kernels.

export interface RefSegment { start: number; end: number }

/** S(x, g) for frames given as flat [N*D] arrays (SPEC §1 with the degenerate cases of docs/progress.md). */
export function refSimilarity(x: ArrayLike<number>, xOff: number, g: ArrayLike<number>, gOff: number, N: number, D: number, lambda: number): number {
  let total = 0;
  for (let p = 0; p < N; p++) {
    let dot = 0, nx = 0, ng = 0, l1 = 0;
    for (let i = 0; i < D; i++) {
      const a = x[xOff + p * D + i], b = g[gOff + p * D + i];
      dot += a * b; nx += a * a; ng += b * b; l1 += Math.abs(a - b);
    }
    // Scale-free cosine (docs/progress.md): no floor; zero vs zero is 1, zero vs non-zero 0.
    const cos = nx === 0 || ng === 0 ? (nx === 0 && ng === 0 ? 1 : 0) : dot / (Math.sqrt(nx) * Math.sqrt(ng));
    total += cos * Math.exp(-lambda * l1 / D);
  }
  return total / N;
}

/** Slope of y[0..w-1] against k = 0..w-1 by the textbook formula (paper Eq. 2). */
export function refSlope(y: number[]): number {
  const w = y.length;
  const kbar = (w - 1) / 2;
  const ybar = y.reduce((a, b) => a + b, 0) / w;
  let num = 0, den = 0;
  for (let k = 0; k < w; k++) { num += (k - kbar) * (y[k] - ybar); den += (k - kbar) ** 2; }
  return num / den;
}

export interface RefOptions { lambda: number; window: number; maxClusterFrames: number; threshold: number }

/** SPEC §2 segmentation and §3 values, literally. */
export function refProgress(data: ArrayLike<number>, T: number, N: number, D: number, o: RefOptions) {
  const F = N * D;
  const S = (j: number, g: number) => refSimilarity(data, j * F, data, g * F, N, D, o.lambda);
  const clusters: RefSegment[] = [];
  const sims: number[] = new Array(T).fill(0);
  let g = T - 1;
  while (g >= 0) {
    const lo = Math.max(0, g - o.maxClusterFrames + 1);
    const s: number[] = [];
    for (let j = lo; j <= g; j++) s.push(S(j, g));
    let b = lo;
    for (let i = lo; i <= g - o.window + 1; i++) {
      if (refSlope(s.slice(i - lo, i - lo + o.window)) > o.threshold) { b = i; break; }
    }
    clusters.push({ start: b, end: g });
    for (let j = b; j <= g; j++) sims[j] = s[j - lo];
    g = b - 1;
  }
  clusters.reverse();
  const K = clusters.length;
  const values = new Array(T).fill(0);
  clusters.forEach((c, k) => {
    let mn = Infinity, mx = -Infinity;
    for (let j = c.start; j <= c.end; j++) { mn = Math.min(mn, sims[j]); mx = Math.max(mx, sims[j]); }
    for (let t = c.start; t <= c.end; t++) {
      const sh = mx - mn < 1e-12 ? 1 : (sims[t] - mn) / (mx - mn);
      values[t] = (k + sh) / K;
    }
  });
  return { values, segments: clusters, similarity: sims };
}

/**
 * xorshift32 in [0, 1): the generator of {@link stagedEpisode}'s data only (the
 * benchmarks time those episodes, so it stays). Tests draw their own data from
 * test/helpers/data.ts.
 */
function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Gaussian-ish noise from a uniform PRNG (sum of 4). */
export function noise(r: () => number): number { return (r() + r() + r() + r() - 2) * 0.866; }

/**
 * A staged episode: `stages` anchors; the features move from one anchor to the
 * next (linear blend) with noise, holding still for `pause` frames at each.
 */
export function stagedEpisode(T: number, N: number, D: number, stages: number, seed: number, noiseLevel = 0.02, pause = 4): Float32Array {
  const r = xorshift32(seed);
  const anchors: Float32Array[] = [];
  for (let s = 0; s <= stages; s++) anchors.push(Float32Array.from({ length: N * D }, () => noise(r)));
  const out = new Float32Array(T * N * D);
  const per = T / stages;
  for (let t = 0; t < T; t++) {
    const st = Math.min(stages - 1, Math.floor(t / per));
    const local = t - st * per;
    const a = Math.min(1, Math.max(0, (local - pause) / Math.max(1, per - 2 * pause)));
    const A = anchors[st], B = anchors[st + 1];
    for (let i = 0; i < N * D; i++) out[t * N * D + i] = A[i] * (1 - a) + B[i] * a + noiseLevel * noise(r);
  }
  return out;
}
