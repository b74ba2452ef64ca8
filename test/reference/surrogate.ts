// Independent reference of SPEC §8 (clipped surrogate, aggregation, clip
// fraction, approximate KL, value loss, k3 KL) in float64.
// Written from the spec; imports nothing from src/.

export type Aggregation = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';

/** SPEC §8 aggregation of per-step values l[b][t] under mask m[b][t]. */
export function aggregate(l: number[][], m: number[][], mode: Aggregation): number {
  if (mode === 'token-mean') {
    let s = 0; let n = 0;
    l.forEach((row, b) => row.forEach((x, t) => { s += m[b][t] * x; n += m[b][t]; }));
    return n > 0 ? s / n : 0;
  }
  let total = 0; let seqs = 0;
  l.forEach((row, b) => {
    let s = 0; let n = 0;
    row.forEach((x, t) => { s += m[b][t] * x; n += m[b][t]; });
    if (n > 0) { total += mode === 'seq-mean-token-mean' ? s / n : s; seqs++; }
  });
  return seqs > 0 ? total / seqs : 0;
}

export interface SurrogateInput { logp: number[][]; oldLogp: number[][]; adv: number[][]; mask: number[][] }
export interface SurrogateOpts { clipLow: number; clipHigh: number; dualClip?: number; aggregation: Aggregation }

/** Clipped surrogate loss, clip fraction and approximate KL of SPEC §8. */
export function surrogate(x: SurrogateInput, o: SurrogateOpts): { loss: number; clipFraction: number; approxKl: number } {
  const l: number[][] = []; let clipped = 0; let kl = 0; let n = 0;
  x.logp.forEach((row, b) => {
    l.push(row.map((lp, t) => {
      const rho = Math.exp(lp - x.oldLogp[b][t]);
      const a = x.adv[b][t];
      const un = rho * a;
      const cl = Math.min(Math.max(rho, 1 - o.clipLow), 1 + o.clipHigh) * a;
      let loss = -Math.min(un, cl);
      if (o.dualClip !== undefined && a < 0) loss = Math.min(loss, o.dualClip * Math.abs(a));
      const m = x.mask[b][t];
      if (m) { n++; if (cl < un) clipped++; kl += (rho - 1) - Math.log(rho); }
      return loss;
    }));
  });
  return { loss: aggregate(l, x.mask, o.aggregation), clipFraction: n ? clipped / n : 0, approxKl: n ? kl / n : 0 };
}

/** Masked mean of ½(V − R)², or of ½·max((V − R)², (clip(V, V_old ± c) − R)²) when clip > 0. */
export function valueLoss(v: number[][], ret: number[][], oldV: number[][] | undefined, clip: number, mask: number[][]): number {
  let s = 0; let n = 0;
  v.forEach((row, b) => row.forEach((x, t) => {
    let e = (x - ret[b][t]) ** 2;
    if (clip > 0 && oldV) {
      const vc = oldV[b][t] + Math.min(Math.max(x - oldV[b][t], -clip), clip);
      e = Math.max(e, (vc - ret[b][t]) ** 2);
    }
    s += mask[b][t] * 0.5 * e; n += mask[b][t];
  }));
  return n ? s / n : 0;
}

/** Masked mean of the k3 estimator exp(ref − logp) − (ref − logp) − 1. */
export function k3(logp: number[][], ref: number[][], mask: number[][]): number {
  let s = 0; let n = 0;
  logp.forEach((row, b) => row.forEach((lp, t) => { const d = ref[b][t] - lp; s += mask[b][t] * (Math.exp(d) - d - 1); n += mask[b][t]; }));
  return n ? s / n : 0;
}

/** Masked mean. */
export function maskedMean(x: number[][], mask: number[][]): number {
  let s = 0; let n = 0;
  x.forEach((row, b) => row.forEach((v, t) => { s += mask[b][t] * v; n += mask[b][t]; }));
  return n ? s / n : 0;
}

/** GAE (SPEC §6) for one environment's episode of rewards, values and the bootstrap value (0 when terminated). */
export function gae(r: number[], v: number[], last: number, gamma: number, lambda: number): { adv: number[]; ret: number[] } {
  const T = r.length; const adv = new Array<number>(T).fill(0);
  let next = 0;
  for (let t = T - 1; t >= 0; t--) {
    const nv = t === T - 1 ? last : v[t + 1];
    const delta = r[t] + gamma * nv - v[t];
    next = delta + gamma * lambda * next;
    adv[t] = next;
  }
  return { adv, ret: adv.map((a, t) => a + v[t]) };
}

/** GRPO group-normalised advantages (SPEC §7, sample std, ε = 1e-4). */
export function grpoAdvantages(R: number[], groupSize: number, eps = 1e-4): number[] {
  const out: number[] = [];
  for (let g = 0; g < R.length; g += groupSize) {
    const grp = R.slice(g, g + groupSize);
    const mean = grp.reduce((a, b) => a + b, 0) / grp.length;
    const sd = grp.length > 1 ? Math.sqrt(grp.reduce((a, b) => a + (b - mean) ** 2, 0) / (grp.length - 1)) : 0;
    for (const x of grp) out.push(grp.length > 1 ? (x - mean) / (sd + eps) : 0);
  }
  return out;
}

/** Reshapes a flat array to [B][T]. */
export function rows(a: ArrayLike<number>, B: number, T: number): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => a[b * T + t]));
}
