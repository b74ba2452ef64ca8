// Independent reference of the built-in encoder's features, written from the
// description in the README/TSDoc (float64, Math.atan2). Does not import src/.
export function patchStatsRef(rgb: Uint8Array, T: number, H: number, W: number, gh: number, gw: number, bins: number): Float64Array {
  const D = 6 + bins;
  const out = new Float64Array(T * gh * gw * D);
  for (let t = 0; t < T; t++) {
    const f = rgb.subarray(t * H * W * 3, (t + 1) * H * W * 3);
    const Y = (y: number, x: number) => {
      const yy = Math.min(H - 1, Math.max(0, y));
      const xx = Math.min(W - 1, Math.max(0, x));
      const i = (yy * W + xx) * 3;
      return 0.299 * f[i] + 0.587 * f[i + 1] + 0.114 * f[i + 2];
    };
    for (let i = 0; i < gh; i++) {
      for (let j = 0; j < gw; j++) {
        const y0 = Math.floor((i * H) / gh), y1 = Math.floor(((i + 1) * H) / gh);
        const x0 = Math.floor((j * W) / gw), x1 = Math.floor(((j + 1) * W) / gw);
        const n = (y1 - y0) * (x1 - x0);
        const sum = [0, 0, 0], sq = [0, 0, 0];
        const hist = new Array(bins).fill(0);
        for (let y = y0; y < y1; y++) {
          for (let x = x0; x < x1; x++) {
            for (let c = 0; c < 3; c++) { const v = f[(y * W + x) * 3 + c]; sum[c] += v; sq[c] += v * v; }
            const gx = (Y(y, x + 1) - Y(y, x - 1)) / 2;
            const gy = (Y(y + 1, x) - Y(y - 1, x)) / 2;
            const m = Math.hypot(gx, gy);
            if (m === 0) continue;
            let th = Math.atan2(gy, gx);
            if (th < 0) th += Math.PI;
            if (th >= Math.PI) th -= Math.PI;
            const pos = (th * bins) / Math.PI - 0.5;
            const lo = Math.floor(pos);
            const frac = pos - lo;
            hist[((lo % bins) + bins) % bins] += m * (1 - frac);
            hist[(((lo + 1) % bins) + bins) % bins] += m * frac;
          }
        }
        const o = ((t * gh + i) * gw + j) * D;
        for (let c = 0; c < 3; c++) {
          const mean = sum[c] / n;
          out[o + c] = mean / 255;
          out[o + 3 + c] = Math.sqrt(Math.max(0, sq[c] / n - mean * mean)) / 255;
        }
        for (let b = 0; b < bins; b++) out[o + 6 + b] = hist[b] / (n * 255);
      }
    }
  }
  return out;
}
