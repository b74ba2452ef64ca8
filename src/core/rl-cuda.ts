// The CUDA paths of the RL functions (SPEC §6–8), beside their CPU twins in
// rl.ts, over native/bindings/rl_cuda.cc. rl.ts resolves and checks every
// option and every argument the two paths share before it comes here; these
// check what only DeviceTensors have (dtype, shape, device, disposal) and call
// the twin in the one convention (input, opts, out).
import { deviceArg, DeviceTensor, requireCuda, sameDeviceShape, withOut } from './device.js';
import { native } from './native.js';
import type { NativeDeviceBuffer, NativeFlagDtype, NativeLossResult } from './native-types.js';
import { rangeError, shapeStr } from './validate.js';

/** Inputs of gae on a CUDA build: `[B,T]` (or `[T,B]`) DeviceTensors; flags uint8 or float32. */
export interface DeviceGaeInput {
  rewards: DeviceTensor;
  values: DeviceTensor;
  nextValues: DeviceTensor;
  terminated: DeviceTensor;
  done: DeviceTensor;
}

/** Inputs of clippedSurrogate on a CUDA build: `[B,T]` DeviceTensors, optional uint8/float32 mask. */
export interface DeviceSurrogateInput {
  logProbs: DeviceTensor;
  oldLogProbs: DeviceTensor;
  advantages: DeviceTensor;
  mask?: DeviceTensor;
}

/** Inputs of clippedValueLoss on a CUDA build: `[B,T]` DeviceTensors (mask uint8 or float32). */
export interface DeviceValueLossInput {
  values: DeviceTensor;
  returns: DeviceTensor;
  oldValues?: DeviceTensor;
  mask?: DeviceTensor;
}

/** Inputs of klPenalty on a CUDA build: `[B,T]` DeviceTensors. */
export interface DeviceKlInput {
  logProbs: DeviceTensor;
  refLogProbs: DeviceTensor;
  mask?: DeviceTensor;
}

/** gae on the device (resolved options): one thread per environment; advantages and returns stay on the device. */
export function gaeCuda(input: DeviceGaeInput, gamma: number, lambda: number, timeMajor: boolean):
  { advantages: DeviceTensor; returns: DeviceTensor } {
  const call = 'gae';
  const r = deviceArg(input.rewards, 'rewards', call, 'float32', 2, timeMajor ? '[T, B]' : '[B, T]');
  const v = deviceArg(input.values, 'values', call, 'float32', 2);
  const nv = deviceArg(input.nextValues, 'nextValues', call, 'float32', 2);
  const term = deviceArg(input.terminated, 'terminated', call, 'flag', 2);
  const done = deviceArg(input.done, 'done', call, 'flag', 2);
  sameDeviceShape(v, 'values', r, 'rewards');
  sameDeviceShape(nv, 'nextValues', r, 'rewards');
  sameDeviceShape(term, 'terminated', r, 'rewards');
  sameDeviceShape(done, 'done', r, 'rewards');
  requireCuda(call);
  const shape = [...r.shape];
  const [B, T] = timeMajor ? [shape[1], shape[0]] : [shape[0], shape[1]];
  const adv = DeviceTensor.empty('float32', shape, { device: r.device });
  return withOut('float32', shape, r.device, (ret) => {
    try {
      native().rlGaeCuda(
        { rewards: r.buffer(call), values: v.buffer(call), nextValues: nv.buffer(call), terminated: term.buffer(call), done: done.buffer(call) },
        { B, T, gamma, lambda, timeMajor, terminatedDtype: term.dtype as NativeFlagDtype, doneDtype: done.dtype as NativeFlagDtype },
        { advantages: adv.buffer(call), returns: ret.buffer(call) });
    } catch (e) {
      adv.dispose();
      throw e;
    }
    return { advantages: adv, returns: ret };
  });
}

/** grpoAdvantages on the device (resolved options, group size checked against the rewards' size): `[n]` stays on the device. */
export function grpoAdvantagesCuda(rewards: DeviceTensor, groupSize: number, epsilon: number,
  std: 'sample' | 'population' | 'none', scale: 'group' | 'batch'): DeviceTensor {
  const call = 'grpoAdvantages';
  const n = rewards.size;
  requireCuda(call);
  return withOut('float32', [n], rewards.device, (out) => {
    native().rlGrpoAdvantagesCuda({ rewards: rewards.buffer(call) }, { n, groupSize, epsilon, std, scale }, { advantages: out.buffer(call) });
    return out;
  });
}

/** stepAdvantages on the device: `[B]` advantages, host lengths (checked by the caller) → `[B, horizon]` on the device. */
export function stepAdvantagesCuda(adv: DeviceTensor, lengths: Int32Array, horizon: number, gamma: number): DeviceTensor {
  const call = 'stepAdvantages';
  const B = adv.size;
  requireCuda(call);
  const L = DeviceTensor.fromHost(lengths, [B], { device: adv.device });
  try {
    return withOut('float32', [B, horizon], adv.device, (out) => {
      native().rlStepAdvantagesCuda({ trajectoryAdvantages: adv.buffer(call), lengths: L.buffer(call) }, { B, horizon, gamma },
        { advantages: out.buffer(call) });
      return out;
    });
  } finally {
    L.dispose();
  }
}

/** The `[B,T]` float32 DeviceTensors of a loss (`tensors`: name and value; undefined values are left out) and its mask. */
function lossArgs(call: string, tensors: Array<[string, unknown]>, maskArg: unknown):
  { input: Record<string, NativeDeviceBuffer>; B: number; T: number; maskDtype?: NativeFlagDtype } {
  const ts: DeviceTensor[] = [];
  const input: Record<string, NativeDeviceBuffer> = {};
  for (const [name, t] of tensors) {
    if (t === undefined) continue;
    const d = deviceArg(t, name, call, 'float32', 2, '[B, T]');
    if (ts.length > 0) sameDeviceShape(d, name, ts[0], tensors[0][0]);
    ts.push(d);
    input[name] = d.buffer(call);
  }
  let maskDtype: NativeFlagDtype | undefined;
  if (maskArg !== undefined && maskArg !== null) {
    const mask = deviceArg(maskArg, 'mask', call, 'flag', 2);
    sameDeviceShape(mask, 'mask', ts[0], tensors[0][0]);
    input.mask = mask.buffer(call);
    maskDtype = mask.dtype as NativeFlagDtype;
  }
  const [B, T] = ts[0].shape;
  if (B * T === 0) throw rangeError(`${tensors[0][0]}.shape`, 'at least one step', shapeStr(ts[0].shape), true);
  requireCuda(call);
  return { input, B, T, maskDtype };
}

/** clippedSurrogate on the device (resolved options); the scalar results come back to the host. */
export function clippedSurrogateCuda(input: DeviceSurrogateInput,
  o: { clipLow: number; clipHigh: number; dualClip: number; aggregation: string }): NativeLossResult {
  const a = lossArgs('clippedSurrogate', [['logProbs', input.logProbs], ['oldLogProbs', input.oldLogProbs], ['advantages', input.advantages]], input.mask);
  return native().rlClippedSurrogateCuda(a.input as unknown as DeviceSurrogateBuffers, { B: a.B, T: a.T, ...o, maskDtype: a.maskDtype });
}

/** clippedValueLoss on the device (resolved options; oldValues checked present when clip > 0 by the caller). */
export function clippedValueLossCuda(input: DeviceValueLossInput,
  o: { clip: number; huberDelta: number; aggregation: string }): NativeLossResult {
  const a = lossArgs('clippedValueLoss', [['values', input.values], ['returns', input.returns], ['oldValues', o.clip > 0 ? input.oldValues : undefined]],
    input.mask);
  return native().rlClippedValueLossCuda(a.input as unknown as DeviceValueLossBuffers, { B: a.B, T: a.T, ...o, maskDtype: a.maskDtype });
}

/** klPenalty on the device (resolved options). */
export function klPenaltyCuda(input: DeviceKlInput,
  o: { estimator: 'k1' | 'k2' | 'k3'; aggregation: string }): NativeLossResult {
  const a = lossArgs('klPenalty', [['logProbs', input.logProbs], ['refLogProbs', input.refLogProbs]], input.mask);
  return native().rlKlPenaltyCuda(a.input as unknown as DeviceKlBuffers, { B: a.B, T: a.T, ...o, maskDtype: a.maskDtype });
}

type DeviceSurrogateBuffers = { [K in keyof DeviceSurrogateInput]: NativeDeviceBuffer };
type DeviceValueLossBuffers = { [K in keyof DeviceValueLossInput]: NativeDeviceBuffer };
type DeviceKlBuffers = { [K in keyof DeviceKlInput]: NativeDeviceBuffer };
