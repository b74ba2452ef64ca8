// Small statistics for the experiment's tables: mean and 95 % confidence
// half-width over seeds (Student t), Spearman rank correlation (average ranks
// for ties).

/** Two-sided 95 % Student-t quantiles t_{0.975, df} for df = 1 … 30. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}: the table above for df ≤ 30, the normal 1.96 beyond. */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`Expected degrees of freedom ≥ 1 but received ${df}`);
  return df <= 30 ? T975[df - 1] : 1.96;
}

/**
 * Mean and 95 % confidence half-width `t_{0.975, n−1} · s / √n` (s: sample
 * standard deviation) of `xs`; the half-width is null for fewer than 2 values.
 */
export function meanCi(xs: readonly number[]): { mean: number; ci: number | null; n: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, ci: null, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci: null, n };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, ci: tQuantile975(n - 1) * Math.sqrt(v / n), n };
}

/** Ranks 1…n of `xs`, ties sharing their average rank. */
export function ranks(xs: ArrayLike<number>): Float64Array {
  const n = xs.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const r = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && xs[idx[j + 1]] === xs[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

/**
 * Spearman's rank correlation of `x` and `y`: the Pearson correlation of
 * their ranks (ties averaged). NaN when fewer than 2 pairs or when either
 * side is constant.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`Expected y.length = x.length (${x.length}) but received ${y.length}`);
  const n = x.length;
  if (n < 2) return NaN;
  const rx = ranks(x);
  const ry = ranks(y);
  const m = (n + 1) / 2;
  let sxy = 0; let sxx = 0; let syy = 0;
  for (let i = 0; i < n; i++) {
    const a = rx[i] - m; const b = ry[i] - m;
    sxy += a * b; sxx += a * a; syy += b * b;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** A paired comparison of two variants over the same seeds. */
export interface PairedStat {
  /** Number of pairs. */
  n: number;
  /** Mean of a − b. */
  mean: number;
  /** 95 % Student-t interval of the mean difference (null below `minN` pairs). */
  ciLow: number | null;
  ciHigh: number | null;
  /** Pairs with a > b, and with a < b (ties count for neither). */
  wins: number;
  losses: number;
}

/**
 * The paired difference of `a` and `b` (the same seeds, in the same order):
 * the mean of dᵢ = aᵢ − bᵢ with the 95 % interval `mean ± t_{0.975, n−1} · s_d / √n`
 * (s_d the sample standard deviation of the differences), and the counts of
 * pairs won and lost. The interval is null with fewer than `minN` pairs
 * (default 2; the experiment asks for 5, so 2 seeds never give a ±139-point interval).
 * @throws {RangeError} when the lengths differ or `minN` < 2
 */
export function pairedDifference(a: readonly number[], b: readonly number[], minN = 2): PairedStat {
  if (a.length !== b.length) throw new RangeError(`Expected b.length = a.length (${a.length}) but received ${b.length}`);
  if (!Number.isInteger(minN) || minN < 2) throw new RangeError(`Expected minN an integer ≥ 2 but received ${minN}`);
  const d = a.map((x, i) => x - b[i]);
  const { mean, ci, n } = meanCi(d);
  const ok = ci !== null && n >= minN;
  return {
    n, mean, ciLow: ok ? mean - ci : null, ciHigh: ok ? mean + ci : null,
    wins: d.filter((x) => x > 0).length, losses: d.filter((x) => x < 0).length,
  };
}
