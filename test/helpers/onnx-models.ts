// Tiny ONNX models built in-process with the `onnx-proto` schema (no
// downloads): a strided patchify Conv + linear projection standing in for a
// V-JEPA-2-style video encoder, and a pooling + MatMul standing in for a
// vision-language backbone. Weights are deterministic small integers / 8 so
// outputs are exact in float32.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const INT64 = 7;

type Dim = number | string;

function valueInfo(name: string, dims: Dim[], elemType = FLOAT) {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function floatInit(name: string, dims: number[], data: Float32Array) {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function int64Init(name: string, values: number[]) {
  return { name, dims: [values.length], dataType: INT64, int64Data: values };
}

function ints(name: string, v: number[]) {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
}

function encodeModel(graph: object, opset = 13): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'feat2go-tests',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Deterministic weights k/8 with k in [-4, 4]. */
export function smallWeights(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    out[i] = (((a >>> 16) % 9) - 4) / 8;
  }
  return out;
}

export interface PatchifySpec {
  /** frames per clip (model input T); a string makes it symbolic (dynamic, batch fixed to 1). */
  frames: number | string;
  /** frames per clip used for reshape when `frames` is symbolic is derived at run time. */
  tubelet: number;
  size: number;
  patch: number;
  dim: number;
  proj: number;
  /** declared element type of the input (default float). */
  inputType?: number;
  /** extra MatMul [proj, proj] + Relu layers after the projection (benchmark stand-ins). */
  mlpLayers?: number;
  /** output [B, steps, P, proj] instead of [B, steps·P, proj]. */
  rank4Output?: boolean;
  /** add the clip's mean frame to every frame first, so outputs depend on which frames share a clip. */
  clipMean?: boolean;
}

export interface PatchifyWeights {
  conv: Float32Array; // [dim, 3*tubelet, patch, patch]
  bias: Float32Array; // [dim]
  proj: Float32Array; // [dim, proj]
}

/**
 * Video-encoder stand-in: x [B,T,3,S,S] → reshape [B·T/τ, 3τ, S, S] → Conv(kernel = stride = patch)
 * → [B·T/τ, dim, S/p, S/p] → reshape [B, T/τ, dim, P] → transpose → [B, T/τ·P, dim] → MatMul proj.
 * Output tokens are time-major: token (s, p) at index s·P + p, p = row-major patch index.
 */
export function patchifyEncoderModel(spec: PatchifySpec, seed = 1): { bytes: Uint8Array; weights: PatchifyWeights } {
  const { tubelet: tau, size: S, patch: p, dim, proj } = spec;
  const P = (S / p) * (S / p);
  const weights: PatchifyWeights = {
    conv: smallWeights(dim * 3 * tau * p * p, seed),
    bias: smallWeights(dim, seed + 1),
    proj: smallWeights(dim * proj, seed + 2),
  };
  const dynamic = typeof spec.frames === 'string';
  const steps = dynamic ? -1 : (spec.frames as number) / tau;
  const inputDims: Dim[] = [dynamic ? 1 : 'batch', spec.frames, 3, S, S];
  const layers = spec.mlpLayers ?? 0;
  const mlp: object[] = [];
  const mlpInit: object[] = [];
  for (let l = 0; l < layers; l++) {
    mlpInit.push(floatInit(`mlp_${l}`, [proj, proj], smallWeights(proj * proj, seed + 10 + l).map((v) => v / proj)));
    mlp.push({ opType: 'MatMul', input: [`h${l}`, `mlp_${l}`], output: [`m${l}`] });
    mlp.push({ opType: 'Relu', input: [`m${l}`], output: [l === layers - 1 ? 'last_hidden_state' : `h${l + 1}`] });
  }
  const graph = {
    name: 'patchify-encoder',
    input: [valueInfo('pixel_values', inputDims, spec.inputType ?? FLOAT)],
    output: [valueInfo('last_hidden_state', spec.rank4Output ? ['batch', steps, P, proj] : [dynamic ? 1 : 'batch', dynamic ? 'tokens' : steps * P, proj])],
    initializer: [
      floatInit('conv_w', [dim, 3 * tau, p, p], weights.conv),
      floatInit('conv_b', [dim], weights.bias),
      floatInit('proj_w', [dim, proj], weights.proj),
      int64Init('shape_a', [-1, 3 * tau, S, S]),
      int64Init('shape_b', dynamic ? [1, -1, dim, P] : [-1, steps, dim, P]),
      int64Init('shape_c', dynamic ? [1, -1, dim] : [-1, steps * P, dim]),
      ...mlpInit,
    ],
    node: [
      ...(spec.clipMean ? [
        { opType: 'ReduceMean', input: ['pixel_values'], output: ['clip_mean'], attribute: [ints('axes', [1]), { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
        { opType: 'Add', input: ['pixel_values', 'clip_mean'], output: ['x_in'] },
      ] : []),
      { opType: 'Reshape', input: [spec.clipMean ? 'x_in' : 'pixel_values', 'shape_a'], output: ['a'] },
      { opType: 'Conv', input: ['a', 'conv_w', 'conv_b'], output: ['c'], attribute: [ints('kernel_shape', [p, p]), ints('strides', [p, p])] },
      { opType: 'Reshape', input: ['c', 'shape_b'], output: ['r'] },
      { opType: 'Transpose', input: ['r'], output: ['t'], attribute: [ints('perm', [0, 1, 3, 2])] },
      { opType: spec.rank4Output ? 'Identity' : 'Reshape', input: spec.rank4Output ? ['t'] : ['t', 'shape_c'], output: ['y0'] },
      { opType: 'MatMul', input: ['y0', 'proj_w'], output: [layers > 0 ? 'h0' : 'last_hidden_state'] },
      ...mlp,
    ],
  };
  return { bytes: encodeModel(graph), weights };
}

/**
 * Backbone stand-in: pixel_values [B,3,S,S] → GlobalAveragePool → Flatten → MatMul [3, H] → [B, H]
 * (or, with `sequence`, inputs_embeds [B, L, E] → MatMul [E, H] → [B, L, H] hidden states).
 */
export function poolingBackboneModel(opts: { size?: number; hidden: number; sequence?: { embed: number } }, seed = 5): { bytes: Uint8Array; w: Float32Array } {
  const H = opts.hidden;
  if (opts.sequence) {
    const E = opts.sequence.embed;
    const w = smallWeights(E * H, seed);
    const graph = {
      name: 'seq-backbone',
      input: [valueInfo('inputs_embeds', ['batch', 'seq', E])],
      output: [valueInfo('hidden_states', ['batch', 'seq', H])],
      initializer: [floatInit('w', [E, H], w)],
      node: [{ opType: 'MatMul', input: ['inputs_embeds', 'w'], output: ['hidden_states'] }],
    };
    return { bytes: encodeModel(graph), w };
  }
  const S = opts.size ?? 8;
  const w = smallWeights(3 * H, seed);
  const graph = {
    name: 'pool-backbone',
    input: [valueInfo('pixel_values', ['batch', 3, S, S])],
    output: [valueInfo('pooled', ['batch', H])],
    initializer: [floatInit('w', [3, H], w)],
    node: [
      { opType: 'GlobalAveragePool', input: ['pixel_values'], output: ['g'] },
      { opType: 'Flatten', input: ['g'], output: ['f'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      { opType: 'MatMul', input: ['f', 'w'], output: ['pooled'] },
    ],
  };
  return { bytes: encodeModel(graph), w };
}

export const ONNX_INT64 = INT64;

/** x (elemType, dims) → Cast(float) → y: for input type-mismatch tests. */
export function castModel(elemType: number, dims: Dim[]): Uint8Array {
  const graph = {
    name: 'cast',
    input: [valueInfo('x', dims, elemType)],
    output: [valueInfo('y', dims)],
    node: [{ opType: 'Cast', input: ['x'], output: ['y'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] }],
  };
  return encodeModel(graph);
}
