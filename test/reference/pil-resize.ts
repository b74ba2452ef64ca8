// Reference for the hub image preprocessing, written from Pillow's documented
// resampling (Resample.c, Geometry.c) and transformers' numpy transforms,
// independently of src/ and the C++ kernel: full-image two-pass resampling
// with 22-bit fixed-point weights and an 8-bit intermediate image, NEAREST as
// an accumulated affine step, then crop / rescale / normalise per pixel.

export const FILTERS: Record<number, { support: number; f: (x: number) => number }> = {
  0: { support: 0, f: () => 0 },
  1: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  2: { support: 1, f: (x) => { const a = Math.abs(x); return a < 1 ? 1 - a : 0; } },
  3: { support: 2, f: (x) => {
    const a = Math.abs(x);
    const A = -0.5;
    if (a < 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
    if (a < 2) return (((a - 5) * a + 8) * a - 4) * A;
    return 0;
  } },
  4: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  5: { support: 1, f: (x) => {
    const a = Math.abs(x);
    if (a === 0) return 1;
    if (a >= 1) return 0;
    const t = a * Math.PI;
    return Math.sin(t) / t * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(t));
  } },
};

function sinc(x: number): number {
  if (x === 0) return 1;
  const t = x * Math.PI;
  return Math.sin(t) / t;
}

/** Per output index: first input index and fixed-point weights. */
function weights(inSize: number, outSize: number, filter: number): Array<{ first: number; k: number[] }> {
  const { support: base, f } = FILTERS[filter];
  const scale = inSize / outSize;
  const fs = Math.max(scale, 1);
  const support = base * fs;
  const out: Array<{ first: number; k: number[] }> = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const w: number[] = [];
    for (let x = lo; x < hi; x++) w.push(f((x - center + 0.5) * (1 / fs)));
    const sum = w.reduce((a, b) => a + b, 0);
    const k = w.map((v) => {
      const n = sum !== 0 ? v / sum : v;
      return n < 0 ? Math.trunc(-0.5 + n * 2 ** 22) : Math.trunc(0.5 + n * 2 ** 22);
    });
    out.push({ first: lo, k });
  }
  return out;
}

const clip8 = (s: number): number => Math.min(255, Math.max(0, Math.floor(s / 2 ** 22)));

/** Pillow's Image.resize((W2, H2), filter) of an RGB image [H, W, 3]. */
export function pilResize(img: Uint8Array, H: number, W: number, H2: number, W2: number, filter: number): Uint8Array {
  if (H === H2 && W === W2) return img.slice();
  if (filter === 0) {
    const out = new Uint8Array(H2 * W2 * 3);
    const index = (inSize: number, outSize: number) => {
      const step = inSize / outSize;
      const idx: number[] = [];
      let pos = step * 0.5;
      for (let i = 0; i < outSize; i++) { idx.push(Math.trunc(pos)); pos += step; }
      return idx;
    };
    const ys = index(H, H2);
    const xs = index(W, W2);
    for (let y = 0; y < H2; y++) for (let x = 0; x < W2; x++) for (let c = 0; c < 3; c++) out[(y * W2 + x) * 3 + c] = img[(ys[y] * W + xs[x]) * 3 + c];
    return out;
  }
  let cur = img;
  let cw = W;
  if (W2 !== W) {
    const ws = weights(W, W2, filter);
    const tmp = new Uint8Array(H * W2 * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W2; x++) {
        const { first, k } = ws[x];
        for (let c = 0; c < 3; c++) {
          let s = 2 ** 21;
          for (let j = 0; j < k.length; j++) s += cur[(y * cw + first + j) * 3 + c] * k[j];
          tmp[(y * W2 + x) * 3 + c] = clip8(s);
        }
      }
    }
    cur = tmp;
    cw = W2;
  }
  if (H2 !== H) {
    const ws = weights(H, H2, filter);
    const tmp = new Uint8Array(H2 * cw * 3);
    for (let y = 0; y < H2; y++) {
      const { first, k } = ws[y];
      for (let x = 0; x < cw; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 2 ** 21;
          for (let j = 0; j < k.length; j++) s += cur[((first + j) * cw + x) * 3 + c] * k[j];
          tmp[(y * cw + x) * 3 + c] = clip8(s);
        }
      }
    }
    cur = tmp;
  }
  return cur;
}

/** transformers' center_crop of [H, W, 3] to [ch, cw, 3], padding with zeros when the crop is larger. */
export function centerCrop(img: Uint8Array, H: number, W: number, ch: number, cw: number): Uint8Array {
  const top = Math.floor((H - ch) / 2);
  const left = Math.floor((W - cw) / 2);
  const out = new Uint8Array(ch * cw * 3);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const sy = y + top;
      const sx = x + left;
      if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
      for (let c = 0; c < 3; c++) out[(y * cw + x) * 3 + c] = img[(sy * W + sx) * 3 + c];
    }
  }
  return out;
}

/** numpy's rescale (float64 product cast to float32) and normalise (float32), channel-first. */
export function toPixelValues(img: Uint8Array, h: number, w: number, rescale: number | null, mean: number[] | null, std: number[] | null): Float32Array {
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    const m = mean ? Math.fround(mean[c]) : 0;
    const s = std ? Math.fround(std[c]) : 1;
    for (let i = 0; i < h * w; i++) {
      let v = Math.fround(rescale === null ? img[i * 3 + c] : img[i * 3 + c] * rescale);
      if (mean) v = Math.fround(Math.fround(v - m) / s);
      out[c * h * w + i] = v;
    }
  }
  return out;
}
