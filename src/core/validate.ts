// Argument checks shared by every public function. Messages follow one
// pattern: "Expected <what> for <argument> but received <value>".
import type { FlagTensor, Tensor } from './types.js';

/** Short description of a received value for error messages. */
export function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string '${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (typeof v === 'bigint') return `the bigint ${v}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}(${(v as unknown as ArrayLike<unknown>).length ?? v.byteLength})`;
  if (Array.isArray(v)) return v.length <= 6 ? `the array [${v.map((x) => (typeof x === 'number' ? x : typeof x)).join(', ')}]` : `an Array(${v.length})`;
  if (typeof v === 'function') return 'a function';
  return 'an object';
}

/** Formats a shape as "[2,3]". */
export function shapeStr(shape: ArrayLike<number>): string {
  return `[${Array.from(shape).join(',')}]`;
}

export function typeError(name: string, expected: string, received: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(received)}`);
}

export function rangeError(name: string, expected: string, received: unknown, raw = false): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received ${raw ? String(received) : describe(received)}`);
}

/** An integer in [min, max]. Non-integers are a TypeError, out of range a RangeError. */
export function checkInt(v: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(name, 'an integer', v);
  if (v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw rangeError(name, range, v);
  }
  return v;
}

/** A finite number in [min, max] (bounds optional). */
export function checkNumber(v: unknown, name: string, min = -Infinity, max = Infinity, what?: string): number {
  if (typeof v !== 'number') throw typeError(name, 'a number', v);
  if (!Number.isFinite(v) || v < min || v > max) {
    const parts = [Number.isFinite(min) ? `≥ ${min}` : '', Number.isFinite(max) ? `≤ ${max}` : ''].filter(Boolean);
    throw rangeError(name, what ?? `a finite number${parts.length ? ` ${parts.join(' and ')}` : ''}`, v);
  }
  return v;
}

/** An options object or undefined. */
export function checkOptions<T extends object>(v: T | undefined, name = 'opts'): Partial<T> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw typeError(name, 'an options object', v);
  return v;
}

/** Checks that `shape` is an array of non-negative integers of the given rank. */
export function checkShape(shape: unknown, name: string, rank?: number, rankLabel?: string): number[] {
  if (!Array.isArray(shape)) throw typeError(`${name}.shape`, 'an array of integers', shape);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d)) throw typeError(`${name}.shape[${i}]`, 'an integer', d);
    if (d < 0) throw rangeError(`${name}.shape[${i}]`, 'a size ≥ 0', d);
  }
  if (rank !== undefined && shape.length !== rank) {
    throw rangeError(`${name}.shape`, `rank ${rank}${rankLabel ? ` (${rankLabel})` : ''}`, shapeStr(shape), true);
  }
  return shape as number[];
}

/**
 * Checks a Float32 tensor: `data` a Float32Array, `shape` integers of `rank`,
 * and data at least as long as the shape says. Returns it unchanged.
 */
export function checkTensor(t: unknown, name: string, rank?: number, rankLabel?: string): Tensor {
  if (t === null || typeof t !== 'object') throw typeError(name, 'a tensor { data: Float32Array, shape: number[] }', t);
  const { data, shape } = t as Tensor;
  if (!(data instanceof Float32Array)) throw typeError(`${name}.data`, 'a Float32Array', data);
  const s = checkShape(shape, name, rank, rankLabel);
  const n = s.reduce((a, b) => a * b, 1);
  if (data.length < n) {
    throw new RangeError(`Expected ${name}.data to hold at least ${n} elements for shape ${shapeStr(s)} but received ${data.length}`);
  }
  return t as Tensor;
}

/** Checks a flag tensor (Uint8Array or 0/1 Float32Array) of the given shape. */
export function checkFlags(t: unknown, name: string, shape: number[]): FlagTensor {
  if (t === null || typeof t !== 'object') throw typeError(name, 'a flag tensor { data: Uint8Array | Float32Array, shape }', t);
  const { data } = t as FlagTensor;
  if (!(data instanceof Uint8Array) && !(data instanceof Float32Array)) {
    throw typeError(`${name}.data`, 'a Uint8Array or a 0/1 Float32Array', data);
  }
  const s = checkShape((t as FlagTensor).shape, name, shape.length);
  if (s.some((d, i) => d !== shape[i])) throw rangeError(`${name}.shape`, `shape ${shapeStr(shape)}`, shapeStr(s), true);
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length < n) throw new RangeError(`Expected ${name}.data to hold at least ${n} elements for shape ${shapeStr(shape)} but received ${data.length}`);
  return t as FlagTensor;
}

/**
 * Wraps a promise so that a rejection carries the caller's JS stack (captured
 * before the native work was queued), as sharp does for its async errors.
 */
export function withCallerStack<T>(p: Promise<T>, callerStack: string | undefined): Promise<T> {
  return p.catch((err: unknown) => {
    if (err instanceof Error && callerStack) {
      const frames = callerStack.split('\n').slice(1).join('\n');
      err.stack = `${err.name}: ${err.message}\n${frames}`;
    }
    throw err;
  });
}
