// Independent reference of the tiny patchify encoder (test/fixtures/onnx-models.ts):
// preprocessing (x/255 − mean)/std and, per tubelet of τ frames, a p×p stride-p
// convolution over the 3τ stacked channels followed by a linear projection.
// Written from the model description; does not import src/.
export interface PatchifyRefSpec { size: number; patch: number; dim: number; proj: number; tubelet: number }

/** frames: list of RGB uint8 [S,S,3] frames already at model size. Returns [steps, P, proj] (float64). */
export function patchifyRef(frames: Uint8Array[], spec: PatchifyRefSpec, w: { conv: Float32Array; bias: Float32Array; proj: Float32Array },
  mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225]): { data: Float64Array; shape: number[] } {
  return patchifyRefFloat(frames.map((f) => normalise(f, spec.size, mean, std)), spec, w);
}

/** (x/255 − mean)/std of an RGB [S,S,3] frame into channel-first [3,S,S] float64. */
export function normalise(f: Uint8Array, S: number, mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225]): Float64Array {
  const out = new Float64Array(3 * S * S);
  for (let c = 0; c < 3; c++) for (let i = 0; i < S * S; i++) out[c * S * S + i] = (f[i * 3 + c] / 255 - mean[c]) / std[c];
  return out;
}

/** Same on frames already normalised, channel-first [3,S,S]. */
export function patchifyRefFloat(frames: Float64Array[], spec: PatchifyRefSpec, w: { conv: Float32Array; bias: Float32Array; proj: Float32Array }): { data: Float64Array; shape: number[] } {
  const { size: S, patch: p, dim, proj, tubelet: tau } = spec;
  const g = S / p;
  const P = g * g;
  const steps = frames.length / tau;
  const out = new Float64Array(steps * P * proj);
  const px = (f: Float64Array, c: number, y: number, x: number) => f[(c * S + y) * S + x];
  for (let s = 0; s < steps; s++) {
    for (let py = 0; py < g; py++) {
      for (let pxi = 0; pxi < g; pxi++) {
        const h = new Float64Array(dim);
        for (let d = 0; d < dim; d++) {
          let acc = w.bias[d];
          for (let k = 0; k < tau; k++) {
            for (let c = 0; c < 3; c++) {
              const ch = k * 3 + c;
              for (let ky = 0; ky < p; ky++) {
                for (let kx = 0; kx < p; kx++) {
                  acc += w.conv[((d * 3 * tau + ch) * p + ky) * p + kx] * px(frames[s * tau + k], c, py * p + ky, pxi * p + kx);
                }
              }
            }
          }
          h[d] = acc;
        }
        const pi = py * g + pxi;
        for (let e = 0; e < proj; e++) {
          let acc = 0;
          for (let d = 0; d < dim; d++) acc += h[d] * w.proj[d * proj + e];
          out[(s * P + pi) * proj + e] = acc;
        }
      }
    }
  }
  return { data: out, shape: [steps, P, proj] };
}
