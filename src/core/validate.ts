// Argument checks shared by every public function. Messages follow one
// pattern: "Expected <what> for <argument> but received <value>".
import { totalmem } from 'node:os';
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

/**
 * What the errors of {@link typeError} and {@link rangeError} carry besides
 * their message, for callers that word them in their own terms (the command
 * line says `--window expects …`): the argument, every value it accepts, and
 * the value received.
 */
export interface ArgumentErrorFields {
  /** The argument named, e.g. 'opts.window'. */
  argument: string;
  /** Every value the argument accepts, e.g. 'an integer ≥ 2' (may say more than the message: a TypeError says only 'an integer'). */
  accepts: string;
  received: unknown;
}

/** The {@link ArgumentErrorFields} of an error from this module, or undefined for any other error. */
export function argumentErrorFields(err: unknown): ArgumentErrorFields | undefined {
  const e = err as Partial<ArgumentErrorFields> | null;
  return e !== null && typeof e === 'object' && typeof e.argument === 'string' && typeof e.accepts === 'string'
    ? { argument: e.argument, accepts: e.accepts, received: e.received } : undefined;
}

/**
 * A TypeError "Expected `expected` for `name` but received <description of `received`>".
 * `accepts` (default `expected`) describes every value the argument takes.
 */
export function typeError(name: string, expected: string, received: unknown, accepts = expected): TypeError {
  const e = new TypeError(`Expected ${expected} for ${name} but received ${describe(received)}`);
  return Object.assign(e, { argument: name, accepts, received });
}

/**
 * A RangeError in the same words as {@link typeError}; `raw` prints `received` as it is (a number, a shape string).
 * `accepts` (default `expected`) describes every value the argument takes.
 */
export function rangeError(name: string, expected: string, received: unknown, raw = false, accepts = expected): RangeError {
  const e = new RangeError(`Expected ${expected} for ${name} but received ${raw ? String(received) : describe(received)}`);
  return Object.assign(e, { argument: name, accepts, received });
}

function bytesStr(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return u === 0 ? `${n} bytes` : `${n.toFixed(2)} ${units[u]}`;
}

/**
 * A new zero-filled Float32Array of `count` elements for the output `name`
 * (`shape` describes it in messages), refused with a RangeError before
 * anything is allocated when it cannot be: more bytes than the machine's
 * memory, or more elements than a typed array may hold.
 */
export function allocFloat32(count: number, name: string, shape: string): Float32Array {
  const bytes = count * 4;
  const limit = totalmem();
  if (!Number.isSafeInteger(count) || bytes > limit) {
    throw new RangeError(`Cannot allocate ${name} of shape ${shape}: ${count} float32 values need ${bytesStr(bytes)}, ` +
      `more than this machine's ${bytesStr(limit)} of memory`);
  }
  try {
    return new Float32Array(count);
  } catch (err) {
    throw new RangeError(`Cannot allocate ${name} of shape ${shape} (${bytesStr(bytes)}): ${(err as Error).message}`);
  }
}

/** An integer in [min, max]. Non-integers are a TypeError, out of range a RangeError. */
export function checkInt(v: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw typeError(name, 'an integer', v, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`);
  }
  if (v < min || v > max) {
    // past 2^53 − 1 the value is an integer ≥ min all right, but not one a double holds exactly
    const range = max !== Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]`
      : v > max ? `a safe integer ≥ ${min} (at most 2^53 − 1 = ${max})` : `an integer ≥ ${min}`;
    throw rangeError(name, range, v);
  }
  return v;
}

/** A finite number in [min, max] (bounds optional). */
export function checkNumber(v: unknown, name: string, min = -Infinity, max = Infinity, what?: string): number {
  const parts = [Number.isFinite(min) ? `≥ ${min}` : '', Number.isFinite(max) ? `≤ ${max}` : ''].filter(Boolean);
  const range = what ?? `a finite number${parts.length ? ` ${parts.join(' and ')}` : ''}`;
  if (typeof v !== 'number') throw typeError(name, 'a number', v, range);
  if (!Number.isFinite(v) || v < min || v > max) throw rangeError(name, range, v);
  return v;
}

/**
 * Every option name of an options type, as an object literal (`{ window: 1, … }`):
 * the compiler then insists on exactly the keys of `T`, so the runtime list of
 * valid names cannot drift from the type.
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: 1 };

/** Levenshtein edit distance (insert, delete, substitute: cost 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function isSubsequence(short: string, long: string): boolean {
  let j = 0;
  for (let i = 0; i < long.length && j < short.length; i++) if (long[i] === short[j]) j++;
  return j === short.length;
}

/**
 * The valid name closest to `key`: Levenshtein distance, where a difference
 * only in case counts ½, and a key that is part of a name or the other way
 * round (`thread` → `threads`, `huber` → `huberDelta`) or an abbreviation of
 * it (`lr` ← `learningRate`) counts as near.
 */
export function closestName(key: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const k = key.toLowerCase();
  for (const n of names) {
    const m = n.toLowerCase();
    let d = Math.min(editDistance(key, n), editDistance(k, m) + 0.5);
    const [short, long] = k.length <= m.length ? [k, m] : [m, k];
    const lenDiff = 0.01 * (long.length - short.length);
    if (short.length >= 2 && long.includes(short)) d = Math.min(d, 1 + lenDiff);
    else if (short.length >= 2 && isSubsequence(short, long)) d = Math.min(d, 2 + lenDiff);
    if (d < bestD) { bestD = d; best = n; }
  }
  return best;
}

/**
 * An options object or undefined. A key that `known` (see {@link OptionKeys})
 * does not list is a TypeError naming the key and the closest valid name, so a
 * misspelt option never falls back to its default silently.
 */
export function checkOptions<T extends object>(v: T | undefined, name: string, known: OptionKeys<T>, what: 'option' | 'field' = 'option'): Partial<T> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw typeError(name, 'an options object', v);
  checkKeys(v, name, known, what);
  return v;
}

/**
 * Refuses own keys of `v` that `known` does not list (a TypeError naming the key
 * and the closest valid name). `what` is the word used: 'option' for options
 * objects, 'field' for input objects such as `{ logProbs, …, mask }`, where a
 * misspelt optional field (`maks`) would otherwise be ignored.
 */
export function checkKeys<T extends object>(v: T, name: string, known: OptionKeys<T>, what: 'option' | 'field' = 'field'): void {
  const names = Object.keys(known);
  for (const key of Object.keys(v)) {
    if (Object.prototype.hasOwnProperty.call(known, key)) continue;
    const near = closestName(key, names);
    throw new TypeError(`Unknown ${what} ${name}.${key}${near ? ` (did you mean ${name}.${near}?)` : ''}; `
      + `valid ${what}s of ${name}: ${names.join(', ') || 'none'}`);
  }
}

/** Checks that `shape` is an array of non-negative integers of the given rank. */
function checkShape(shape: unknown, name: string, rank?: number, rankLabel?: string): number[] {
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

/** 'NaN', 'Infinity' or '-Infinity'. */
function nonFiniteWord(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** " (NaN at patch 2, dim 5)" for element `element` (patch·D + dim) of a frame holding `value`; '' when unknown (−1). */
export function nonFiniteAt(element: number, value: number, D: number): string {
  return element < 0 ? '' : ` (${nonFiniteWord(value)} at patch ${Math.floor(element / D)}, dim ${element % D})`;
}

/**
 * The RangeError for NaN/Inf in frame `frame` of an episode named `where`:
 * "Expected finite values in features but frame 7 contains NaN or Inf
 * (Infinity at patch 2, dim 5)", the place in parentheses when the first bad
 * `element` of the frame (patch·D + dim) and its `value` are known.
 */
export function nonFiniteFrameError(where: string, frame: number | string, element = -1, value = Number.NaN, D = 1): RangeError {
  return new RangeError(`Expected finite values in ${where} but frame ${frame} contains NaN or Inf${nonFiniteAt(element, value, D)}`);
}

/** The RangeError for NaN/Inf in element `index` of a `[rows, L]` series named `name`. */
export function nonFiniteElementError(name: string, index: number, value: number, L: number): RangeError {
  return new RangeError(`Expected finite values in ${name} but ${name}.data[${index}] (row ${Math.floor(index / L)}, `
    + `column ${index % L}) is ${nonFiniteWord(value)}`);
}

/** "'a', 'b' or 'c'": the allowed strings of an option, for messages. */
export function oneOf(names: readonly string[]): string {
  const q = names.map((n) => `'${n}'`);
  return q.length < 2 ? q.join('') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
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
