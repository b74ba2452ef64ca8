// Independent TypeScript reference of SPEC §5–8 (no imports from src/).
// Plain loops in double precision over flat row-major arrays, written for
// clarity rather than speed; tests compare the native kernels against these
// and the benchmarks use them as the "plain TypeScript loop" baseline.

export type Agg = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';
type Arr = ArrayLike<number>;

/** SPEC §5: R = y + (1 − y)·scale·clamp(v, 0, 1). */
export function refShapeTerminal(success: Arr, v: Arr, scale = 1): number[] {
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const y = success[i] ? 1 : 0;
    out.push(y + (1 - y) * scale * Math.min(Math.max(v[i], 0), 1));
  }
  return out;
}

/** SPEC §6 on [B,T] (batch-major). Returns { adv, ret } flat. */
export function refGae(r: Arr, v: Arr, nv: Arr, term: Arr, done: Arr, B: number, T: number, gamma: number, lambda: number): { adv: Float64Array; ret: Float64Array } {
  const adv = new Float64Array(B * T);
  const ret = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let next = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      const delta = r[i] + gamma * (1 - term[i]) * nv[i] - v[i];
      const a = delta + gamma * lambda * (1 - done[i]) * next;
      adv[i] = a;
      ret[i] = a + v[i];
      next = a;
    }
  }
  return { adv, ret };
}

/** SPEC §7 group advantages. */
export function refGrpo(R: Arr, g: number, eps = 1e-4, std: 'sample' | 'population' | 'none' = 'sample', scale: 'group' | 'batch' = 'group'): number[] {
  const stdOf = (xs: number[]): number => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const q = xs.reduce((a, b) => a + (b - m) * (b - m), 0);
    if (std === 'population') return Math.sqrt(q / xs.length);
    return xs.length > 1 ? Math.sqrt(q / (xs.length - 1)) : 0;
  };
  const all = Array.from(R);
  const batchStd = stdOf(all);
  const out: number[] = [];
  for (let i0 = 0; i0 < all.length; i0 += g) {
    const grp = all.slice(i0, i0 + g);
    const m = grp.reduce((a, b) => a + b, 0) / g;
    for (const x of grp) {
      if (g === 1) out.push(0);
      else if (std === 'none') out.push(x - m);
      else {
        const den = (scale === 'batch' ? batchStd : stdOf(grp)) + eps;
        out.push(den === 0 ? 0 : (x - m) / den); // all equal with ε = 0: 0, not 0/0
      }
    }
  }
  return out;
}

/** SPEC §7 step-wise advantages [B,H]. */
export function refStepAdvantages(adv: Arr, lengths: Arr, H: number, gamma: number): Float64Array {
  const out = new Float64Array(adv.length * H);
  for (let i = 0; i < adv.length; i++) {
    for (let t = 0; t < lengths[i]; t++) out[i * H + t] = gamma ** (lengths[i] - 1 - t) * adv[i];
  }
  return out;
}

/** Masked whitening; unmasked entries → 0. */
export function refNormalize(x: Arr, mask: Arr | null, eps = 1e-8, sample = true): Float64Array {
  let s = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!mask || mask[i]) { s += x[i]; n++; }
  const m = s / n;
  let q = 0;
  for (let i = 0; i < x.length; i++) if (!mask || mask[i]) q += (x[i] - m) ** 2;
  const sd = sample ? (n > 1 ? Math.sqrt(q / (n - 1)) : 0) : Math.sqrt(q / n);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = !mask || mask[i] ? (x[i] - m) / (sd + eps) : 0;
  return out;
}

/** SPEC §8 aggregation of per-step losses. */
export function refAggregate(l: Arr, mask: Arr | null, B: number, T: number, agg: Agg): number {
  let num = 0;
  let den = 0;
  let seqs = 0;
  let seqSum = 0;
  for (let b = 0; b < B; b++) {
    let rs = 0;
    let rm = 0;
    for (let t = 0; t < T; t++) {
      const m = mask ? mask[b * T + t] : 1;
      if (m) { rs += l[b * T + t]; rm += 1; }
    }
    num += rs;
    den += rm;
    if (rm > 0) { seqs++; seqSum += agg === 'seq-mean-token-mean' ? rs / rm : rs; }
  }
  return agg === 'token-mean' ? num / den : seqSum / seqs;
}

export interface RefSurrogate { loss: number; clipFraction: number; dualClipFraction: number; approxKl: number }

/** SPEC §8 clipped surrogate. */
export function refSurrogate(lp: Arr, olp: Arr, A: Arr, mask: Arr | null, B: number, T: number,
  clipLow: number, clipHigh = clipLow, dual = 0, agg: Agg = 'token-mean'): RefSurrogate {
  const l = new Float64Array(B * T);
  let clipped = 0;
  let dualed = 0;
  let kl = 0;
  let n = 0;
  for (let i = 0; i < B * T; i++) {
    const rho = Math.exp(lp[i] - olp[i]);
    const unclipped = rho * A[i];
    const clippedTerm = Math.min(Math.max(rho, 1 - clipLow), 1 + clipHigh) * A[i];
    let li = -Math.min(unclipped, clippedTerm);
    let d = false;
    if (dual > 1 && A[i] < 0 && dual * Math.abs(A[i]) < li) { li = dual * Math.abs(A[i]); d = true; }
    l[i] = li;
    if (!mask || mask[i]) {
      n++;
      if (clippedTerm < unclipped) clipped++;
      if (d) dualed++;
      kl += (rho - 1) - Math.log(rho);
    }
  }
  return { loss: refAggregate(l, mask, B, T, agg), clipFraction: clipped / n, dualClipFraction: dualed / n, approxKl: kl / n };
}

/** PPO value loss: ½e² or Huber(δ), optionally max with the clipped-value loss. */
export function refValueLoss(v: Arr, R: Arr, ov: Arr | null, mask: Arr | null, B: number, T: number,
  clip = 0, delta = 0, agg: Agg = 'token-mean'): { loss: number; clipFraction: number } {
  const f = (e: number): number => (delta > 0 && Math.abs(e) > delta ? delta * (Math.abs(e) - delta / 2) : 0.5 * e * e);
  const l = new Float64Array(B * T);
  let c = 0;
  let n = 0;
  for (let i = 0; i < B * T; i++) {
    let li = f(v[i] - R[i]);
    let cl = false;
    if (clip > 0 && ov) {
      const dv = v[i] - ov[i];
      const vc = dv > clip ? ov[i] + clip : dv < -clip ? ov[i] - clip : v[i];
      const lc = f(vc - R[i]);
      if (lc > li) { li = lc; cl = true; }
    }
    l[i] = li;
    if (!mask || mask[i]) { n++; if (cl) c++; }
  }
  return { loss: refAggregate(l, mask, B, T, agg), clipFraction: c / n };
}

/** KL estimators k1, k2, k3 with x = logπ − logπ_ref. */
export function refKl(lp: Arr, ref: Arr, mask: Arr | null, B: number, T: number, est: 'k1' | 'k2' | 'k3' = 'k3', agg: Agg = 'token-mean'): number {
  const l = new Float64Array(B * T);
  for (let i = 0; i < B * T; i++) {
    const x = lp[i] - ref[i];
    l[i] = est === 'k1' ? x : est === 'k2' ? 0.5 * x * x : Math.exp(-x) - 1 + x;
  }
  return refAggregate(l, mask, B, T, agg);
}
