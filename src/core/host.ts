// Host memory: typed arrays whose memory the addon allocates and counts
// references to (native/bindings/napi_util.h: HostBlock). JavaScript sees an
// external ArrayBuffer; its finaliser drops one reference and every pending
// call that reads it holds another, so asynchronous calls read such arrays in
// place (no copy, no stall of the event loop) and a detach or a garbage
// collection during the call cannot free memory the call reads. Library
// outputs (readNpy, readSafetensors, encoders, framesToChw, the simulator's
// frames, the kernels' results) come from here; `hostTensor` allocates one.
import { native } from './native.js';
import { rangeError, shapeStr, typeError } from './validate.js';

/** Element types of {@link hostTensor}. */
export type HostDtype = 'float32' | 'uint8' | 'int32';

/** The typed array of each {@link HostDtype}. */
export interface HostDtypeArrays {
  float32: Float32Array;
  uint8: Uint8Array;
  int32: Int32Array;
}

/** A row-major tensor in host memory, as {@link hostTensor} returns it. */
export interface HostTensor<D extends HostDtype = 'float32'> {
  data: HostDtypeArrays[D];
  shape: number[];
}

type HostCtor = Float32ArrayConstructor | Uint8ArrayConstructor | Int32ArrayConstructor;

const CTORS = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array } as const;

/**
 * A new typed array of `length` elements for an output of the library, in
 * host memory when it is large enough to matter (64 KiB; smaller ones are
 * plain arrays, which async calls copy for next to nothing). `zero: false`
 * skips the zero fill, for outputs that are written whole.
 * @internal
 */
export function hostArray<C extends HostCtor>(Ctor: C, length: number, opts: { zero?: boolean; always?: boolean } = {}): InstanceType<C> {
  const bytes = length * Ctor.BYTES_PER_ELEMENT;
  if (bytes < 65536) return new Ctor(length) as InstanceType<C>;
  const buf = native().systemHostBuffer({}, { bytes, always: opts.always === true });
  const a = new Ctor(buf, 0, length) as InstanceType<C>;
  if (opts.zero !== false) a.fill(0);
  return a;
}

/**
 * Allocates a tensor in the addon's host memory, zero-filled. Asynchronous
 * calls (`progressTargets`, `progressTargetsBatch`, the built-in encoder's
 * `encode`, `ValueHead.fit`, trainer `update`, `fitBehaviourCloning`) read
 * host memory in place: no copy and no stall of the event loop however large
 * the tensor, and transferring or dropping the array while a call runs is
 * safe. The library's own outputs (readNpy, readSafetensors, encoders, the
 * simulator's frames, kernel results) are host memory already.
 *
 * Writing to the tensor while a call that reads it is pending gives that call
 * unspecified values (as with a SharedArrayBuffer); await it first.
 *
 * Memory returns to the addon when the array is garbage-collected and the
 * event loop next turns (Node runs the finalisers of external buffers there),
 * and is reused for the next tensor of about the same size. Where the runtime
 * refuses external buffers (a V8 sandbox, as in Electron) or
 * `FEAT2GO_HOST_EXTERNAL=0`, the data is a plain ArrayBuffer (see
 * {@link isHostMemory}) and async calls copy it as they copy any other.
 *
 * @param shape non-negative integer dimensions
 * @param dtype `'float32'` (default), `'uint8'` or `'int32'`
 * @param opts `zero: false` leaves the memory uninitialised (it may hold the
 *   bytes of an earlier tensor) for data you are about to write whole
 * @throws {TypeError|RangeError} naming the argument, on a bad shape or dtype or a size this machine cannot hold
 * @example
 * const x = hostTensor([300, 256, 1024]);                // 315 MB, zero-filled
 * fs.readSync(fd, x.data, 0, x.data.byteLength, 128);       // fill it (here: a .npy body)
 * const { values } = await progressTargets(x);            // read in place: no copy, no stall
 */
export function hostTensor(shape: readonly number[], dtype?: 'float32', opts?: { zero?: boolean }): HostTensor<'float32'>;
export function hostTensor<D extends HostDtype>(shape: readonly number[], dtype: D, opts?: { zero?: boolean }): HostTensor<D>;
export function hostTensor(shape: readonly number[], dtype: HostDtype = 'float32', opts: { zero?: boolean } = {}): HostTensor<HostDtype> {
  if (!Array.isArray(shape)) throw typeError('shape', 'an array of non-negative integers', shape);
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d)) throw typeError(`shape[${i}]`, 'a non-negative integer', d);
    if (d < 0) throw rangeError(`shape[${i}]`, 'a non-negative integer', d);
  });
  if (typeof dtype !== 'string' || !(dtype in CTORS)) throw rangeError('dtype', "'float32', 'uint8' or 'int32'", dtype);
  if (opts === null || typeof opts !== 'object') throw typeError('opts', 'an options object', opts);
  for (const k of Object.keys(opts)) if (k !== 'zero') throw typeError(`opts.${k}`, 'no such option (the options are: zero)', k);
  if (opts.zero !== undefined && typeof opts.zero !== 'boolean') throw typeError('opts.zero', 'a boolean', opts.zero);
  const Ctor = CTORS[dtype];
  const n = shape.reduce((a, d) => a * d, 1);
  const limit = 2 ** 32; // elements of a typed array (Node 20: 2^32 for 1-byte, 2^32 for 4-byte elements)
  if (!Number.isSafeInteger(n * Ctor.BYTES_PER_ELEMENT) || n > limit) {
    throw rangeError('shape', `at most ${limit} elements`, shapeStr(shape), true);
  }
  const data = hostArray(Ctor, n, { zero: opts.zero !== false, always: true });
  return { data, shape: [...shape] } as HostTensor<HostDtype>;
}

/**
 * Whether `view` lies in the addon's host memory (so async calls read it in
 * place), e.g. an array from {@link hostTensor} or readNpy, or a subarray of one.
 */
export function isHostMemory(view: ArrayBufferView): boolean {
  if (!ArrayBuffer.isView(view)) throw typeError('view', 'a typed array', view);
  return native().systemHostInfo({ view }, {}).host;
}
