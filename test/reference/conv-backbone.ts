// Independent float64 reference of the ConvBackbone forward pass: per layer
// Conv2d (zero padding) → activation → optional max-pool (window = stride =
// pool, floor), then a reduction of the last map (flatten in C, y, x order;
// mean; max; spatial softmax with x, y in [−1, 1] at pixel centres),
// Linear → LayerNorm(ε = 1e-5) → tanh. Written from the
// documentation; imports nothing from src/. Weights come as [name, data,
// shape] lists with the documented names (conv.<i>.weight, proj.*, norm.*).
import { erf } from './value-head.js';

type Named = Array<[string, Float32Array, number[]]>;

export interface RefLayer { channels: number; kernel: number; stride: number; padding: number; pool: number }

const ACT: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  tanh: Math.tanh,
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  silu: (x) => x / (1 + Math.exp(-x)),
};

/** A feature map [C][H][W] as nested arrays. */
type Map3 = number[][][];

/** Embedding of one image (float64 CHW data, values as the network sees them). */
export function convBackboneEmbed(weights: Named, layers: RefLayer[], activation: string, pool: string, img: ArrayLike<number>, H: number, W: number): number[] {
  const w = new Map(weights.map(([n, d, s]) => [n, { d, s }]));
  let x: Map3 = [0, 1, 2].map((c) => Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, xx) => img[(c * H + y) * W + xx])));
  layers.forEach((l, i) => {
    const K = w.get(`conv.${i}.weight`)!; const b = w.get(`conv.${i}.bias`)!.d;
    const [Co, Ci, k] = K.s;
    const h = x[0].length; const ww = x[0][0].length;
    const ho = Math.floor((h + 2 * l.padding - k) / l.stride) + 1; const wo = Math.floor((ww + 2 * l.padding - k) / l.stride) + 1;
    let y: Map3 = [];
    for (let o = 0; o < Co; o++) {
      const plane: number[][] = [];
      for (let r = 0; r < ho; r++) {
        const line: number[] = [];
        for (let c = 0; c < wo; c++) {
          let s = b[o];
          for (let ci = 0; ci < Ci; ci++) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
            const yy = r * l.stride - l.padding + u; const xx = c * l.stride - l.padding + v;
            if (yy < 0 || yy >= h || xx < 0 || xx >= ww) continue;
            s += K.d[((o * Ci + ci) * k + u) * k + v] * x[ci][yy][xx];
          }
          line.push(ACT[activation](s));
        }
        plane.push(line);
      }
      y.push(plane);
    }
    if (l.pool > 1) {
      const p = l.pool;
      y = y.map((plane) => Array.from({ length: Math.floor(plane.length / p) }, (_, r) => Array.from({ length: Math.floor(plane[0].length / p) }, (_, c) => {
        let m = -Infinity;
        for (let u = 0; u < p; u++) for (let v = 0; v < p; v++) m = Math.max(m, plane[r * p + u][c * p + v]);
        return m;
      })));
    }
    x = y;
  });
  const C = x.length; const h = x[0].length; const ww = x[0][0].length;
  let f: number[];
  if (pool === 'flatten') f = x.flatMap((plane) => plane.flat());
  else if (pool === 'avg') f = x.map((plane) => plane.flat().reduce((a, b) => a + b, 0) / (h * ww));
  else if (pool === 'max') f = x.map((plane) => Math.max(...plane.flat()));
  else {
    f = [];
    const coord = (i: number, n: number) => (n === 1 ? 0 : -1 + (2 * i) / (n - 1));
    for (let c = 0; c < C; c++) {
      const vals = x[c].flat(); const m = Math.max(...vals);
      const e = vals.map((v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b, 0);
      let ex = 0; let ey = 0;
      e.forEach((v, i) => { ex += (v / s) * coord(i % ww, ww); ey += (v / s) * coord(Math.floor(i / ww), h); });
      f.push(ex, ey);
    }
  }
  const P = w.get('proj.weight')!; const pb = w.get('proj.bias')!.d;
  const g = w.get('norm.weight')!.d; const beta = w.get('norm.bias')!.d;
  const [E, F] = P.s;
  if (F !== f.length) throw new Error(`reference: ${f.length} features but proj.weight is [${P.s}]`);
  const z: number[] = [];
  for (let j = 0; j < E; j++) {
    let s = pb[j];
    for (let i = 0; i < F; i++) s += P.d[j * F + i] * f[i];
    z.push(s);
  }
  const mean = z.reduce((a, b) => a + b, 0) / E;
  const v = z.reduce((a, b) => a + (b - mean) ** 2, 0) / E;
  return z.map((t, j) => Math.tanh(((t - mean) / Math.sqrt(v + 1e-5)) * g[j] + beta[j]));
}
