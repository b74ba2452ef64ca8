// Float64 reference of the motion segmenter, written from docs/progress.md
// ("The motion segmenter") alone: no code shared with src/ or native/. Plain
// loops, no prefix-sum tricks, so that it checks the kernel's arithmetic too.

/** Rule of a boundary as the docs name them. */
export type RefRule = 'onset' | 'pause' | 'cap';
export interface RefCut { frame: number; rule: RefRule }

/**
 * Step 1: u_t = mean |x_t − x_{t−1}| over the first D' = min(D, ⌈16384/N⌉) dims of every
 * patch (t ≥ 1), u_0 = u_1; [0] when T = 1.
 */
export function refSpeed(x: Float32Array, T: number, N: number, D: number): number[] {
  const F = N * D, Ds = Math.min(D, Math.ceil(16384 / N));
  if (T === 1) return [0];
  const u: number[] = [0];
  for (let t = 1; t < T; t++) {
    let s = 0;
    for (let p = 0; p < N; p++) for (let i = 0; i < Ds; i++) s += Math.abs(x[t * F + p * D + i] - x[(t - 1) * F + p * D + i]);
    u.push(s / (N * Ds));
  }
  u[0] = u[1];
  return u;
}

/** Step 2: the triangle of half-width h, weights h+1−|j|, renormalised at the ends. */
export function refSmooth(u: readonly number[], h: number): number[] {
  const T = u.length;
  return u.map((_, t) => {
    let s = 0, w = 0;
    for (let j = -h; j <= h; j++) {
      if (t + j < 0 || t + j >= T) continue;
      s += (h + 1 - Math.abs(j)) * u[t + j];
      w += h + 1 - Math.abs(j);
    }
    return s / w;
  });
}

function rss(y: readonly number[], a: number, b: number): number {
  let m = 0;
  for (let t = a; t < b; t++) m += y[t];
  m /= b - a;
  let s = 0;
  for (let t = a; t < b; t++) s += (y[t] - m) ** 2;
  return s;
}

/**
 * Step 4: the change points of the least-squares piecewise-constant fit of y with K
 * regimes, K ∈ 1…Kmax chosen by BIC(K) = n·ln(RSS_K/T) + 2K·ln n (n = T/(2h+1), smallest
 * K on ties), every regime ≥ L frames, change points on multiples of `step`;
 * the earliest change point wins a tie between equal costs.
 */
export function refRegimes(y: readonly number[], h: number, L: number, step: number, Kmax: number): number[] {
  const T = y.length;
  const pos: number[] = [];
  for (let p = 0; p < T; p += step) pos.push(p);
  pos.push(T);
  const G = pos.length;
  // best[k][g]: least cost of covering [0, pos[g]) with k regimes; from[k][g]: the start of the last.
  const best: number[][] = [], from: number[][] = [];
  for (let k = 0; k <= Kmax; k++) { best.push(new Array(G).fill(Infinity)); from.push(new Array(G).fill(0)); }
  best[0][0] = 0;
  for (let k = 1; k <= Kmax; k++) {
    for (let g = 1; g < G; g++) {
      for (let s = 0; s < g; s++) {
        if (pos[g] - pos[s] < L || best[k - 1][s] === Infinity) continue;
        const c = best[k - 1][s] + rss(y, pos[s], pos[g]);
        if (c < best[k][g]) { best[k][g] = c; from[k][g] = s; }
      }
    }
  }
  const n = T / (2 * h + 1);
  let K = 0, crit = Infinity;
  for (let k = 1; k <= Kmax; k++) {
    if (best[k][G - 1] === Infinity) break;
    const c = n * Math.log(Math.max(best[k][G - 1] / T, 1e-300)) + 2 * k * Math.log(n);
    if (c < crit) { crit = c; K = k; }
  }
  const cps: number[] = [];
  let g = G - 1;
  for (let k = K; k > 1; k--) { g = from[k][g]; cps.unshift(pos[g]); }
  return cps;
}

/**
 * Step 5 (pauses): for each local minimum of y (the first frame of a flat bottom
 * with higher values on both sides) whose prominence — the lower of the highest
 * values on each side before y drops below the bottom (or the episode ends),
 * minus the bottom — is ≥ minProminence, the earliest frame a such that every
 * frame from a to the bottom is ≤ bottom + level·prominence.
 */
export function refPauseStarts(y: readonly number[], minProminence: number, level: number): number[] {
  const T = y.length, out: number[] = [];
  for (let t = 1; t + 1 < T;) {
    if (!(y[t] < y[t - 1])) { t++; continue; }
    let e = t;
    while (e + 1 < T && y[e + 1] === y[t]) e++;
    if (e + 1 < T && y[e + 1] > y[t]) {
      let lw = y[t], rw = y[t];
      for (let i = t - 1; i >= 0 && y[i] >= y[t]; i--) lw = Math.max(lw, y[i]);
      for (let j = e + 1; j < T && y[j] >= y[t]; j++) rw = Math.max(rw, y[j]);
      const prom = Math.min(lw, rw) - y[t];
      if (prom >= minProminence) {
        let a = t;
        while (a > 0 && y[a - 1] <= y[t] + level * prom) a--;
        out.push(a);
      }
    }
    t = e + 1;
  }
  return out;
}

/** The motion segmenter's boundaries from a speed series (steps 2–7 of the docs), before the cap. */
export function refMotionCutsFromSpeed(u: readonly number[], h: number): RefCut[] {
  const T = u.length;
  const Kmax = Math.min(10, Math.floor(T / (2 * h + 1)));
  if (Kmax < 2) return [];
  const v = refSmooth(u, h);
  const vmax = Math.max(...v);
  if (!(vmax > 0) || !Number.isFinite(vmax)) return [];
  const y = v.map((x) => Math.log(Math.max(x, 1e-6 * vmax)));
  const cps = refRegimes(y, h, 2 * h + 1, Math.ceil(T / 512), Kmax);
  const starts = [0, ...cps], ends = [...cps, T];
  const mean = starts.map((a, j) => y.slice(a, ends[j]).reduce((p, q) => p + q, 0) / (ends[j] - a));
  const onsets = cps.filter((_, j) => mean[j + 1] > mean[j]);
  const pauses = refPauseStarts(y, Math.log(2), 0.3);
  const cuts: RefCut[] = [];
  let prev = -1;
  for (const c of onsets) {
    const before = pauses.filter((a) => a > prev && a < c);
    if (before.length) cuts.push({ frame: before[before.length - 1], rule: 'pause' });
    cuts.push({ frame: c, rule: 'onset' });
    prev = c;
  }
  const kept: RefCut[] = [];
  for (const c of cuts.sort((a, b) => a.frame - b.frame || (a.rule === 'pause' ? -1 : 1))) {
    if (c.frame < h || c.frame > T - h) continue;
    const last = kept[kept.length - 1];
    if (last && last.frame === c.frame) { last.rule = 'onset'; continue; }
    kept.push({ ...c });
  }
  return kept;
}

/** Step 8: no stage longer than M frames (M = 0: no cap): cut from each stage's end backwards. */
export function refCap(T: number, M: number, cuts: readonly RefCut[]): RefCut[] {
  if (M === 0) return [...cuts];
  const out: RefCut[] = [];
  let g = T - 1;
  for (let k = cuts.length; k >= 0; k--) {
    const a = k > 0 ? cuts[k - 1].frame : 0;
    while (g - a + 1 > M) { out.unshift({ frame: g - M + 1, rule: 'cap' }); g -= M; }
    if (k > 0) out.unshift(cuts[k - 1]);
    g = a - 1;
  }
  return out;
}

/** Every boundary of an episode [T, N, D] with window w and cap M (0 = none). */
export function refMotionCuts(x: Float32Array, T: number, N: number, D: number, window: number, M: number): RefCut[] {
  return refCap(T, M, refMotionCutsFromSpeed(refSpeed(x, T, N, D), window));
}
