// Tensors that live in CUDA device memory, and the CUDA paths of the progress
// and RL functions (native/cuda, bound by native/bindings/cuda.cc). A
// DeviceTensor owns device memory through a native DeviceBuffer: dispose() frees
// it at once; a forgotten tensor is freed by its finaliser when garbage
// collected (the GC does not see device memory, so dispose tensors you are done
// with). Kernels read their inputs and write new DeviceTensors: nothing is
// copied back to the host unless toHost() is called.
import { native } from './native.js';
import type { NativeDeviceBuffer, NativeDeviceProgress, NativeLossResult } from './native-types.js';
import type { Segment } from './types.js';
import { checkInt, checkNumber, checkOptions, rangeError, shapeStr, typeError, withCallerStack } from './validate.js';

/** Element types a {@link DeviceTensor} can hold. */
export type DeviceDtype = 'float32' | 'uint8' | 'int32';
/** The typed array of each {@link DeviceDtype}. */
export type HostArray = Float32Array | Uint8Array | Int32Array;

const BYTES: Record<DeviceDtype, number> = { float32: 4, uint8: 1, int32: 4 };

declare const dlpackBrand: unique symbol;
/**
 * An opaque DLPack capsule: an N-API External holding one `DLManagedTensor`
 * (DLPack v0.8 ABI) until a consumer adopts it. Made by
 * {@link DeviceTensor.toDLPack}, consumed by {@link DeviceTensor.fromDLPack}
 * or by a native library following docs/cuda.md#dlpack. A capsule nobody
 * adopts releases its tensor when garbage collected.
 */
export type DLPackCapsule = object & { readonly [dlpackBrand]: true };

/** Thrown by every CUDA path when CUDA cannot be used; `reason` says why. */
export class CudaUnavailableError extends Error {
  /** 'no driver' | 'no device' | 'not built' */
  readonly reason: string;
  constructor(call: string, reason: string) {
    super(`${call}: CUDA is not available (${reason}${reason === 'not built' ? ': rebuild the addon with FEAT2GO_CUDA=ON' : ''})`);
    this.name = 'CudaUnavailableError';
    this.reason = reason;
  }
}

/**
 * Whether the CUDA kernels were built and a device can run them, and if not, why.
 * @example cudaStatus() // { available: false, reason: 'not built', devices: 0 }
 */
export function cudaStatus(): { available: boolean; reason?: 'no driver' | 'no device' | 'not built'; devices: number } {
  const c = native().capabilities();
  return c.cuda ? { available: true, devices: c.cudaDevices ?? 0 } : { available: false, reason: c.cudaReason ?? 'not built', devices: 0 };
}

function requireCuda(call: string): void {
  const s = cudaStatus();
  if (!s.available) throw new CudaUnavailableError(call, s.reason ?? 'not built');
}

function dtypeOf(a: unknown): DeviceDtype | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int32Array) return 'int32';
  return undefined;
}

function checkDeviceShape(shape: unknown, name: string): number[] {
  if (!Array.isArray(shape)) throw typeError(name, 'an array of non-negative integers', shape);
  return shape.map((d, i) => checkInt(d, `${name}[${i}]`, 0));
}

/**
 * A tensor in CUDA device memory: `dtype`, `shape` (row-major), `device`
 * (CUDA device index) and `byteSize`. Create one with {@link DeviceTensor.fromHost}
 * or {@link DeviceTensor.empty}; read it back with {@link DeviceTensor.toHost}.
 * Functions that take a `Tensor` (patchSimilarity, slidingSlopes,
 * progressTargets, gae, grpoAdvantages, stepAdvantages, clippedSurrogate) take
 * DeviceTensors too and then return DeviceTensors.
 *
 * @example
 * const x = DeviceTensor.fromHost(features.data, features.shape); // [T,N,D] on GPU 0
 * const s = patchSimilarity(x, -1);                               // DeviceTensor [T]
 * const host = s.toHost();                                        // Float32Array
 * x.dispose(); s.dispose();
 */
export class DeviceTensor {
  /** Element type. */
  readonly dtype: DeviceDtype;
  /** Row-major shape. */
  readonly shape: readonly number[];
  /** CUDA device index. */
  readonly device: number;
  /** Bytes of device memory the elements occupy. */
  readonly byteSize: number;
  #buf: NativeDeviceBuffer | undefined;

  private constructor(buf: NativeDeviceBuffer, dtype: DeviceDtype, shape: number[], device: number) {
    this.#buf = buf;
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.device = device;
    this.byteSize = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
  }

  /** Number of elements. */
  get size(): number {
    return this.byteSize / BYTES[this.dtype];
  }

  /** True after {@link DeviceTensor.dispose}. */
  get disposed(): boolean {
    return this.#buf === undefined;
  }

  /**
   * Allocates an uninitialised tensor on a CUDA device.
   * @param opts `device` (default 0)
   * @throws {CudaUnavailableError} without a usable CUDA device; Error naming cudaMalloc when out of memory
   */
  static empty(dtype: DeviceDtype, shape: number[], opts?: { device?: number }): DeviceTensor {
    return DeviceTensor.alloc('DeviceTensor.empty', dtype, shape, opts);
  }

  private static alloc(call: string, dtype: DeviceDtype, shape: number[], opts?: { device?: number }): DeviceTensor {
    if (dtype !== 'float32' && dtype !== 'uint8' && dtype !== 'int32') throw rangeError('dtype', "'float32', 'uint8' or 'int32'", dtype);
    const s = checkDeviceShape(shape, 'shape');
    const o = checkOptions(opts, 'opts', { device: 1 });
    const device = o.device === undefined ? 0 : checkInt(o.device, 'opts.device', 0, 1024);
    requireCuda(call);
    const bytes = s.reduce((a, b) => a * b, 1) * BYTES[dtype];
    const Ctor = native().DeviceBuffer;
    return new DeviceTensor(new Ctor(bytes, device), dtype, s, device);
  }

  /**
   * Copies a typed array to a new tensor on a CUDA device (synchronously).
   * @param data Float32Array, Uint8Array or Int32Array
   * @param shape default `[data.length]`; its product must equal data.length
   * @param opts `device` (default 0)
   * @throws {TypeError|RangeError} on an unsupported array or a shape that does not match; {@link CudaUnavailableError}
   */
  static fromHost(data: HostArray, shape?: number[], opts?: { device?: number }): DeviceTensor {
    const dtype = dtypeOf(data);
    if (dtype === undefined) throw typeError('data', 'a Float32Array, Uint8Array or Int32Array', data);
    const s = shape === undefined ? [data.length] : checkDeviceShape(shape, 'shape');
    const n = s.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw rangeError('shape', `a shape of ${data.length} elements (data.length)`, shapeStr(s), true);
    const t = DeviceTensor.alloc('DeviceTensor.fromHost', dtype, s, opts);
    try {
      t.#buf!.upload(data);
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  }

  /** Copies the tensor to a new typed array of its dtype (synchronously). */
  toHost(): HostArray {
    const b = this.buffer('DeviceTensor.toHost');
    const out = this.dtype === 'float32' ? new Float32Array(this.size) : this.dtype === 'uint8' ? new Uint8Array(this.size) : new Int32Array(this.size);
    b.download(out);
    return out;
  }

  /** A device-to-device copy into a new tensor of the same dtype, shape and device. */
  clone(): DeviceTensor {
    const b = this.buffer('DeviceTensor.clone');
    const t = DeviceTensor.empty(this.dtype, [...this.shape], { device: this.device });
    t.#buf!.copyFrom(b);
    return t;
  }

  /**
   * Exports the tensor as a DLPack capsule for another native library (no
   * copy): a `DLManagedTensor` with device kDLCUDA, this tensor's device,
   * dtype and shape, compact strides (NULL) and byte_offset 0. The capsule
   * keeps the device memory alive until its consumer calls the tensor's
   * deleter, even after this tensor is disposed. The memory is shared: writes
   * through either side are seen by the other. Every synchronous CUDA call
   * has finished before it returns, so the data is ready when exported.
   * @example const t2 = DeviceTensor.fromDLPack(t.toDLPack()); // same memory
   */
  toDLPack(): DLPackCapsule {
    return this.buffer('DeviceTensor.toDLPack').toDLPack(this.dtype, this.shape) as DLPackCapsule;
  }

  /**
   * Adopts the tensor of a DLPack capsule without a copy (the capsule is
   * consumed; a second import throws). The tensor must be a CUDA tensor
   * (kDLCUDA) of dtype float32, uint8 or int32 (one lane) with NULL or
   * compact row-major strides; its producer's deleter is called when the
   * returned DeviceTensor is disposed or collected.
   * @throws {TypeError} when `capsule` is not a DLPack capsule, or for another dtype;
   *   {RangeError} for another device type, non-compact strides or a bad shape (the capsule keeps its tensor);
   *   {CudaUnavailableError} without a usable CUDA device
   */
  static fromDLPack(capsule: DLPackCapsule): DeviceTensor {
    if (typeof capsule !== 'object' || capsule === null) throw typeError('capsule', 'a DLPack capsule (from DeviceTensor.toDLPack)', capsule);
    requireCuda('DeviceTensor.fromDLPack');
    const r = native().cudaFromDLPack(capsule);
    return new DeviceTensor(r.buffer, r.dtype, r.shape, r.device);
  }

  /** Frees the device memory now (later if a running kernel still reads it). Idempotent. */
  dispose(): void {
    this.#buf?.dispose();
    this.#buf = undefined;
  }

  /** @internal The native buffer; throws once disposed (naming `call`). */
  buffer(call: string): NativeDeviceBuffer {
    if (this.#buf === undefined) throw new Error(`${call}: the DeviceTensor was disposed`);
    return this.#buf;
  }
}

/** Whether `x` is a {@link DeviceTensor}. */
export function isDeviceTensor(x: unknown): x is DeviceTensor {
  return x instanceof DeviceTensor;
}

function dt(x: unknown, name: string, call: string, dtype: DeviceDtype | 'flag', rank?: number, label?: string): DeviceTensor {
  if (!(x instanceof DeviceTensor)) throw typeError(name, `a DeviceTensor${label ? ` ${label}` : ''}`, x);
  x.buffer(call);  // use after dispose
  if (dtype === 'flag' ? x.dtype === 'int32' : x.dtype !== dtype) {
    throw typeError(`${name}.dtype`, dtype === 'flag' ? "'uint8' or 'float32'" : `'${dtype}'`, x.dtype);
  }
  if (rank !== undefined && x.shape.length !== rank) throw rangeError(`${name}.shape`, `rank ${rank} ${label ?? ''}`.trim(), shapeStr(x.shape), true);
  return x;
}

function sameDeviceShape(t: DeviceTensor, name: string, ref: DeviceTensor, refName: string): void {
  if (t.shape.length !== ref.shape.length || t.shape.some((d, i) => d !== ref.shape[i])) {
    throw rangeError(`${name}.shape`, `${shapeStr(ref.shape)} (the shape of ${refName})`, shapeStr(t.shape), true);
  }
  if (t.device !== ref.device) throw rangeError(`${name}.device`, `${ref.device} (the device of ${refName})`, t.device);
}

/** Allocates the output tensor; frees it again if the kernel call throws. */
function withOut<R>(dtype: DeviceDtype, shape: number[], device: number, fn: (out: DeviceTensor) => R): R {
  const out = DeviceTensor.empty(dtype, shape, { device });
  try {
    return fn(out);
  } catch (e) {
    out.dispose();
    throw e;
  }
}

// ---------------------------------------------------------------- §1–3

/** CUDA path of patchSimilarity: features [T,N,D], goal a frame index or [N,D]; returns [T] on the device. */
export function devicePatchSimilarity(features: DeviceTensor, goal: number | DeviceTensor, lambda: number): DeviceTensor {
  const call = 'patchSimilarity';
  const f = dt(features, 'features', call, 'float32', 3, '[T, N, D]');
  const [T, N, D] = f.shape;
  if (T < 1 || N < 1 || D < 1) throw rangeError('features.shape', '[T, N, D] with T, N, D ≥ 1', shapeStr(f.shape), true);
  requireCuda(call);
  const args: Record<string, unknown> = { features: f.buffer(call), T, N, D, lambda };
  if (typeof goal === 'number') {
    if (!Number.isInteger(goal) || goal < -T || goal >= T) throw rangeError('goal', `a frame index in [${-T}, ${T - 1}]`, goal);
    args.goalFrame = goal < 0 ? T + goal : goal;
  } else {
    const g = dt(goal, 'goal', call, 'float32', 2, '[N, D]');
    if (g.shape[0] !== N || g.shape[1] !== D) throw rangeError('goal.shape', `[N,D] = ${shapeStr([N, D])} to match features`, shapeStr(g.shape), true);
    if (g.device !== f.device) throw rangeError('goal.device', `${f.device} (the device of features)`, g.device);
    args.goal = g.buffer(call);
  }
  return withOut('float32', [T], f.device, (out) => {
    native().cudaPatchSimilarity({ ...args, out: out.buffer(call) });
    return out;
  });
}

/** CUDA path of slidingSlopes: series [B,L] → [B, L−w+1] on the device. */
export function deviceSlidingSlopes(series: DeviceTensor, window: number): DeviceTensor {
  const call = 'slidingSlopes';
  const s = dt(series, 'series', call, 'float32', 2, '[B, L]');
  const [B, L] = s.shape;
  const w = checkInt(window, 'window', 2);
  if (w > L) throw rangeError('window', `an integer ≤ series.shape[1] (${L})`, w);
  requireCuda(call);
  return withOut('float32', [B, L - w + 1], s.device, (out) => {
    native().cudaSlidingSlopes({ series: s.buffer(call), B, L, window: w, out: out.buffer(call) });
    return out;
  });
}

/** Progress targets of one episode whose values and similarities stay on the device. */
export interface DeviceProgressResult {
  /** V(t), `[T]` on the device. */
  values: DeviceTensor;
  /** Similarity of each frame to its stage's subgoal, `[T]` on the device. */
  similarity: DeviceTensor;
  /** Stages in temporal order (small: returned on the host). */
  segments: Segment[];
}

/** Resolved options of the paper rule, the one the CUDA path implements (every field set). */
export interface DevicePaperOptions {
  lambda: number;
  window: number;
  maxClusterFrames: number;
  threshold: number;
}

/**
 * CUDA path of progressTargets for episodes stored back to back in one
 * `[ΣT, N, D]` tensor (`lengths` frames each). One GPU block per episode;
 * the promise resolves when the stream has finished. Values and similarity
 * stay on the device, one `[ΣT]` tensor each; `segments[e]` are episode-local.
 */
export function deviceProgressTargets(features: DeviceTensor, lengths: readonly number[], o: DevicePaperOptions):
  Promise<{ values: DeviceTensor; similarity: DeviceTensor; segments: Segment[][] }> {
  const stack = new Error().stack;
  const call = 'progressTargets';
  try {
    const f = dt(features, 'features', call, 'float32', 3, '[T, N, D]');
    const [total, N, D] = f.shape;
    if (N < 1 || D < 1) throw rangeError('features.shape', '[T, N, D] with N, D ≥ 1', shapeStr(f.shape), true);
    const offsets = new Float64Array(lengths.length + 1);
    lengths.forEach((L, i) => { offsets[i + 1] = offsets[i] + checkInt(L, `lengths[${i}]`, 1); });
    if (offsets[lengths.length] !== total) throw rangeError('lengths', `lengths summing to features.shape[0] (${total})`, offsets[lengths.length]);
    requireCuda(call);
    const values = DeviceTensor.empty('float32', [total], { device: f.device });
    const similarity = DeviceTensor.empty('float32', [total], { device: f.device });
    const fail = (e: unknown): never => { values.dispose(); similarity.dispose(); throw e; };
    let p: Promise<NativeDeviceProgress>;
    try {
      p = native().cudaProgressTargets({
        features: f.buffer(call), offsets, N, D, lambda: o.lambda, window: o.window,
        maxClusterFrames: o.maxClusterFrames, threshold: o.threshold,
        values: values.buffer(call), similarity: similarity.buffer(call),
      });
    } catch (e) {
      return fail(e);
    }
    return withCallerStack(p.then((r) => {
      const segments: Segment[][] = [];
      for (let e = 0; e < lengths.length; e++) {
        if (r.bad[e] >= 0) {
          fail(new RangeError(`Expected finite values in features but ${lengths.length > 1 ? `episode ${e}, ` : ''}frame ${r.bad[e]} contains NaN or Inf`));
        }
        const o0 = offsets[e];
        const segs: Segment[] = [];
        for (let k = 0; k < r.segCount[e]; k++) segs.push({ start: r.segStart[o0 + k], end: r.segEnd[o0 + k] });
        segments.push(segs);
      }
      return { values, similarity, segments };
    }, fail), stack);
  } catch (err) {
    return Promise.reject(err);
  }
}

// ---------------------------------------------------------------- §6–8

/** Inputs of the CUDA path of gae: `[B,T]` (or `[T,B]`) DeviceTensors; flags uint8 or float32. */
export interface DeviceGaeInput {
  rewards: DeviceTensor;
  values: DeviceTensor;
  nextValues: DeviceTensor;
  terminated: DeviceTensor;
  done: DeviceTensor;
}

/** CUDA path of gae: one thread per environment; advantages and returns stay on the device. */
export function deviceGae(input: DeviceGaeInput, gamma: number, lambda: number, timeMajor: boolean):
  { advantages: DeviceTensor; returns: DeviceTensor } {
  const call = 'gae';
  const r = dt(input.rewards, 'rewards', call, 'float32', 2, timeMajor ? '[T, B]' : '[B, T]');
  const v = dt(input.values, 'values', call, 'float32', 2);
  const nv = dt(input.nextValues, 'nextValues', call, 'float32', 2);
  const term = dt(input.terminated, 'terminated', call, 'flag', 2);
  const done = dt(input.done, 'done', call, 'flag', 2);
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
      native().cudaGae({
        rewards: r.buffer(call), values: v.buffer(call), nextValues: nv.buffer(call),
        terminated: term.buffer(call), terminatedDtype: term.dtype, done: done.buffer(call), doneDtype: done.dtype,
        B, T, gamma, lambda, timeMajor, advantages: adv.buffer(call), returns: ret.buffer(call),
      });
    } catch (e) {
      adv.dispose();
      throw e;
    }
    return { advantages: adv, returns: ret };
  });
}

/** CUDA path of grpoAdvantages: rewards `[n]` → advantages `[n]` on the device. */
export function deviceGrpoAdvantages(rewards: DeviceTensor, groupSize: number, epsilon: number,
  std: 'sample' | 'population' | 'none', batchScale: boolean): DeviceTensor {
  const call = 'grpoAdvantages';
  const R = dt(rewards, 'rewards', call, 'float32');
  const n = R.size;
  if (n % groupSize !== 0) throw rangeError('opts.groupSize', `a divisor of the number of rewards (${n})`, groupSize);
  requireCuda(call);
  return withOut('float32', [n], R.device, (out) => {
    native().cudaGrpoAdvantages({ rewards: R.buffer(call), n, groupSize, epsilon, std, batchScale, out: out.buffer(call) });
    return out;
  });
}

/** CUDA path of stepAdvantages: `[B]` advantages (device), host lengths → `[B, horizon]` on the device. */
export function deviceStepAdvantages(adv: DeviceTensor, lengths: Int32Array, horizon: number, gamma: number): DeviceTensor {
  const call = 'stepAdvantages';
  const a = dt(adv, 'trajectoryAdvantages', call, 'float32');
  const B = a.size;
  if (lengths.length !== B) throw rangeError('lengths.length', `${B} (one per trajectory)`, lengths.length, true);
  requireCuda(call);
  const L = DeviceTensor.fromHost(lengths, [B], { device: a.device });
  try {
    return withOut('float32', [B, horizon], a.device, (out) => {
      native().cudaStepAdvantages({ advantages: a.buffer(call), lengths: L.buffer(call), B, horizon, gamma, out: out.buffer(call) });
      return out;
    });
  } finally {
    L.dispose();
  }
}

/** Inputs of the CUDA path of clippedSurrogate: `[B,T]` DeviceTensors, optional uint8/float32 mask. */
export interface DeviceSurrogateInput {
  logProbs: DeviceTensor;
  oldLogProbs: DeviceTensor;
  advantages: DeviceTensor;
  mask?: DeviceTensor;
}

/**
 * A masked loss over `[B,T]` DeviceTensors reduced on the device (the scalars
 * come back): `tensors` are the kernel's inputs in order (name, value; an
 * undefined value is left out), `params` its options.
 */
export function deviceLoss(call: string, kind: 'surrogate' | 'value' | 'kl', tensors: Array<[string, unknown]>, maskArg: unknown,
  params: Record<string, unknown>): NativeLossResult {
  const ts: DeviceTensor[] = [];
  tensors.forEach(([name, t], i) => {
    if (t === undefined) return;
    const d = dt(t, name, call, 'float32', 2, '[B, T]');
    if (i > 0) sameDeviceShape(d, name, ts[0], tensors[0][0]);
    ts.push(d);
  });
  let mask: DeviceTensor | undefined;
  if (maskArg !== undefined && maskArg !== null) {
    mask = dt(maskArg, 'mask', call, 'flag', 2);
    sameDeviceShape(mask, 'mask', ts[0], tensors[0][0]);
  }
  const [B, T] = ts[0].shape;
  if (B * T === 0) throw rangeError(`${tensors[0][0]}.shape`, 'at least one step', shapeStr(ts[0].shape), true);
  requireCuda(call);
  const args: Record<string, unknown> = { ...params, kind, B, T, mask: mask?.buffer(call), maskDtype: mask?.dtype };
  ts.forEach((t, i) => { args['abc'[i]] = t.buffer(call); });
  const r = native().cudaLoss(args);
  if (r.masked === 0) throw rangeError('mask', 'at least one 1', 'no ones', true);
  return r;
}

/** CUDA path of clippedSurrogate; the scalar results come back to the host. */
export function deviceClippedSurrogate(input: DeviceSurrogateInput, clipLow: number, clipHigh: number, dualClip: number,
  aggregation: string): { loss: number; clipFraction: number; dualClipFraction: number; approxKl: number } {
  const r = deviceLoss('clippedSurrogate', 'surrogate',
    [['logProbs', input.logProbs], ['oldLogProbs', input.oldLogProbs], ['advantages', input.advantages]], input.mask,
    { clipLow, clipHigh, dualClip, aggregation });
  return { loss: r.loss, clipFraction: r.clipFraction, dualClipFraction: r.dualClipFraction, approxKl: r.approxKl };
}

/** Checks a number option the CUDA paths share with the CPU ones. */
export function deviceLambda(v: unknown): number {
  return v === undefined ? 1 : checkNumber(v, 'opts.lambda', 0, Infinity, 'a finite number ≥ 0');
}
