// YCbCr 4:2:0 → RGB written from the standards' definitions (ITU-R BT.601 / BT.709
// luma coefficients, limited range: Y in [16, 235], Cb/Cr in [16, 240]; full
// range: [0, 255] with chroma centred at 128), in float64, no code shared with src.
// Each chroma sample covers the 2 × 2 luma block it sits on (ffmpeg's default,
// unscaled yuv420p → rgb24 conversion), rounded to nearest, clamped.

/** Kr, Kb of the matrix. */
const K = { 601: [0.299, 0.114], 709: [0.2126, 0.0722] } as const;

/** One pixel: Y, Cb, Cr samples → [R, G, B] as unrounded reals. */
export function yuvPixelRef(Y: number, Cb: number, Cr: number, matrix: 601 | 709, full: boolean): [number, number, number] {
  const [kr, kb] = K[matrix];
  const kg = 1 - kr - kb;
  // E'Y in [0, 1], E'Pb/E'Pr in [−0.5, 0.5]
  const ey = full ? Y / 255 : (Y - 16) / 219;
  const pb = full ? (Cb - 128) / 255 : (Cb - 128) / 224;
  const pr = full ? (Cr - 128) / 255 : (Cr - 128) / 224;
  // E'R = E'Y + 2(1−Kr)E'Pr, E'B = E'Y + 2(1−Kb)E'Pb, E'G = (E'Y − Kr·E'R − Kb·E'B)/Kg
  const r = ey + 2 * (1 - kr) * pr;
  const b = ey + 2 * (1 - kb) * pb;
  const g = (ey - kr * r - kb * b) / kg;
  return [r * 255, g * 255, b * 255];
}

/** n frames of planar yuv420p (W·H luma, ⌈W/2⌉·⌈H/2⌉ Cb, as many Cr) → RGB [n, H, W, 3], rounded and clamped. */
export function yuv420pToRgbRef(yuv: Uint8Array, n: number, W: number, H: number, matrix: 601 | 709, full: boolean): Uint8Array {
  const cw = Math.ceil(W / 2);
  const ch = Math.ceil(H / 2);
  const fb = W * H + 2 * cw * ch;
  const out = new Uint8Array(n * H * W * 3);
  for (let t = 0; t < n; t++) {
    const f = t * fb;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const c = Math.floor(y / 2) * cw + Math.floor(x / 2);
        const px = yuvPixelRef(yuv[f + y * W + x], yuv[f + W * H + c], yuv[f + W * H + cw * ch + c], matrix, full);
        for (let k = 0; k < 3; k++) out[((t * H + y) * W + x) * 3 + k] = Math.min(255, Math.max(0, Math.round(px[k])));
      }
    }
  }
  return out;
}
