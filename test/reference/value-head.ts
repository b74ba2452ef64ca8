// Independent float64 reference of the SPEC §4 value head:
// Linear(H, Hh) → LayerNorm(Hh, ε = 1e-5) → GELU (erf form) → Linear(Hh, bins),
// value = Σ softmax(logits)·z with z_b = b / (bins − 1). Written from the
// spec; imports nothing from src/. Weights come as [name, data, shape] lists
// with PyTorch state_dict names (net.0, net.1 = LayerNorm, net.3).

type Named = Array<[string, Float32Array, number[]]>;

/** erf(x), Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7). */
export function erf(x: number): number {
  const s = Math.sign(x); const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Logits of one row h (float64 throughout; huge finite h is fine in float64). */
export function valueHeadLogits(weights: Named, h: ArrayLike<number>): number[] {
  const w = new Map(weights.map(([n, d, s]) => [n, { d, s }]));
  const W1 = w.get('net.0.weight')!; const b1 = w.get('net.0.bias')!.d;
  const g = w.get('net.1.weight')!.d; const beta = w.get('net.1.bias')!.d;
  const W2 = w.get('net.3.weight')!; const b2 = w.get('net.3.bias')!.d;
  const [Hh, H] = W1.s; const bins = W2.s[0];
  const y: number[] = [];
  for (let j = 0; j < Hh; j++) {
    let s = b1[j];
    for (let i = 0; i < H; i++) s += W1.d[j * H + i] * h[i];
    y.push(s);
  }
  const mean = y.reduce((a, b) => a + b, 0) / Hh;
  const v = y.reduce((a, b) => a + (b - mean) ** 2, 0) / Hh;
  const z = y.map((x, j) => ((x - mean) / Math.sqrt(v + 1e-5)) * g[j] + beta[j]);
  const act = z.map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2)));
  const out: number[] = [];
  for (let b = 0; b < bins; b++) {
    let s = b2[b];
    for (let j = 0; j < Hh; j++) s += W2.d[b * Hh + j] * act[j];
    out.push(s);
  }
  return out;
}

/** Predicted value Σ softmax(logits)·z of one row. */
export function valueHeadPredict(weights: Named, h: ArrayLike<number>): number {
  const l = valueHeadLogits(weights, h);
  const m = Math.max(...l);
  const e = l.map((x) => Math.exp(x - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.reduce((a, x, b) => a + (x / sum) * (b / (l.length - 1)), 0);
}
