// Shared pieces of the libtorch-backed classes (value head, policy, trainers).
import { native } from '../core/native.js';
import type { NativeAddon } from '../core/native-types.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkTensor, rangeError, shapeStr, typeError } from '../core/validate.js';

/** Thrown by the training classes when the addon was built without libtorch. */
export class TorchUnavailableError extends Error {
  constructor(what: string) {
    super(
      `${what} needs libtorch, but this feat2go addon was built without it (capabilities().torch is false). ` +
      'Enable it: on Debian/Ubuntu `sudo apt-get install libtorch-dev libopenblas0-pthread cmake` ' +
      '(or set Torch_DIR=<LibTorch>/share/cmake/Torch for a LibTorch download), then rebuild with ' +
      '`npm rebuild feat2go` (in a checkout: `npm run build:native`); FEAT2GO_TORCH=ON makes a missing libtorch a build error.',
    );
    this.name = 'TorchUnavailableError';
  }
}

/** The addon, after checking that it was built with libtorch. */
export function torchAddon(what: string): NativeAddon {
  const a = native();
  if (!a.capabilities().torch || typeof a.ValueHeadNative !== 'function') throw new TorchUnavailableError(what);
  return a;
}

/** A seed: an integer in [0, 2^53). */
export function checkSeed(v: unknown, name: string): number {
  return checkInt(v, name, 0);
}

/** A `[B, dim]` tensor with B ≥ 1 and the model's feature dim; returns its data cut to B·dim. */
export function checkBatch(t: unknown, name: string, dim: number, dimLabel: string): { data: Float32Array; B: number } {
  const x = checkTensor(t, name, 2, `[B, ${dimLabel}]`);
  const [B, D] = x.shape;
  if (B < 1) throw rangeError(`${name}.shape[0]`, 'a batch of at least 1 row', B);
  if (D !== dim) throw rangeError(`${name}.shape`, `[B, ${dim}] (${dimLabel} = ${dim})`, shapeStr(x.shape), true);
  return { data: x.data.subarray(0, B * D), B };
}

/** A Float32Array (or number array, converted) of exactly `n` values. */
export function checkVector(v: unknown, name: string, n: number): Float32Array {
  let a: Float32Array;
  if (v instanceof Float32Array) a = v;
  else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) a = Float32Array.from(v);
  else throw typeError(name, 'a Float32Array or an array of numbers', v);
  if (a.length !== n) throw rangeError(`${name}.length`, `${n} (one per batch row)`, a.length, true);
  return a;
}

/** Tensor of a `[rows, cols]` result. */
export function tensor2(data: Float32Array, rows: number, cols: number): Tensor {
  return { data, shape: [rows, cols] };
}
