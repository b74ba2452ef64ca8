// Tensors that live in CUDA device memory (native/bindings/device.cc), and
// what the CUDA paths of the progress and RL functions share (the paths
// themselves sit beside their CPU twins: progress-cuda.ts, rl-cuda.ts). A
// DeviceTensor owns device memory through a native DeviceBufferNative:
// dispose() frees it at once; a forgotten tensor is freed by its finaliser when
// garbage collected (the GC does not see device memory, so dispose tensors you
// are done with). Kernels read their inputs and write new DeviceTensors:
// nothing is copied back to the host unless toHost() is called.
import { native } from './native.js';
import type { NativeDeviceBuffer } from './native-types.js';
import { coreCapabilities } from './system.js';
import { checkInt, checkOptions, rangeError, shapeStr, typeError } from './validate.js';

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
  const c = coreCapabilities();
  return c.cuda ? { available: true, devices: c.cudaDevices ?? 0 } : { available: false, reason: c.cudaReason ?? 'not built', devices: 0 };
}

/** Throws {@link CudaUnavailableError} naming `call` unless a CUDA device can run the kernels. */
export function requireCuda(call: string): void {
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
    const Ctor = native().DeviceBufferNative;
    return new DeviceTensor(new Ctor({}, { bytes, device }), dtype, s, device);
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
      t.#buf!.upload({ data }, {});
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
    b.download({}, {}, { data: out });
    return out;
  }

  /** A device-to-device copy into a new tensor of the same dtype, shape and device. */
  clone(): DeviceTensor {
    const b = this.buffer('DeviceTensor.clone');
    const t = DeviceTensor.empty(this.dtype, [...this.shape], { device: this.device });
    t.#buf!.copyFrom({ source: b }, {});
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
    return this.buffer('DeviceTensor.toDLPack').toDLPack({}, { dtype: this.dtype, shape: this.shape }) as DLPackCapsule;
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
    const r = native().DeviceBufferNative.fromDLPack({ capsule }, {});
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

/**
 * A DeviceTensor argument of a CUDA path: live (not disposed), of `dtype`
 * ('flag': uint8 or float32) and, when given, of `rank`; `label` describes the
 * shape in messages.
 */
export function deviceArg(x: unknown, name: string, call: string, dtype: DeviceDtype | 'flag', rank?: number, label?: string): DeviceTensor {
  if (!(x instanceof DeviceTensor)) throw typeError(name, `a DeviceTensor${label ? ` ${label}` : ''}`, x);
  x.buffer(call);  // use after dispose
  if (dtype === 'flag' ? x.dtype === 'int32' : x.dtype !== dtype) {
    throw typeError(`${name}.dtype`, dtype === 'flag' ? "'uint8' or 'float32'" : `'${dtype}'`, x.dtype);
  }
  if (rank !== undefined && x.shape.length !== rank) throw rangeError(`${name}.shape`, `rank ${rank} ${label ?? ''}`.trim(), shapeStr(x.shape), true);
  return x;
}

/** Checks that `t` has the shape and device of `ref`. */
export function sameDeviceShape(t: DeviceTensor, name: string, ref: DeviceTensor, refName: string): void {
  if (t.shape.length !== ref.shape.length || t.shape.some((d, i) => d !== ref.shape[i])) {
    throw rangeError(`${name}.shape`, `${shapeStr(ref.shape)} (the shape of ${refName})`, shapeStr(t.shape), true);
  }
  if (t.device !== ref.device) throw rangeError(`${name}.device`, `${ref.device} (the device of ${refName})`, t.device);
}

/** Allocates the output tensor; frees it again if the kernel call throws. */
export function withOut<R>(dtype: DeviceDtype, shape: number[], device: number, fn: (out: DeviceTensor) => R): R {
  const out = DeviceTensor.empty(dtype, shape, { device });
  try {
    return fn(out);
  } catch (e) {
    out.dispose();
    throw e;
  }
}
