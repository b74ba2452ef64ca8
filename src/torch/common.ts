// Shared pieces of the libtorch-backed classes (value head, policy, trainers).
import { native } from '../core/native.js';
import type { NativeAddon } from '../core/native-types.js';
import { capabilities } from '../core/system.js';
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
  if (!capabilities().torch || typeof a.ValueHeadNative !== 'function') throw new TorchUnavailableError(what);
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

/** Where a training call stopped: 1-based epoch, minibatch and optimizer step with their totals. */
export interface TrainingStep {
  /** The epoch that failed (1-based). */
  epoch: number;
  /** Epochs of the call. */
  epochs: number;
  /** The minibatch within that epoch (1-based). */
  minibatch: number;
  /** Minibatches per epoch. */
  minibatches: number;
  /** The optimizer step within the call (1-based). */
  step: number;
  /** Optimizer steps the call would have taken. */
  steps: number;
}

/**
 * Thrown by `ValueHead.fit`/`fitSync`/`trainStep` and `PpoTrainer`/`GrpoTrainer`
 * `update`/`updateSync` when a loss, a metric, a gradient or an updated weight
 * is NaN or ±Infinity (what PyTorch users get from anomaly detection or a
 * gradient scaler's inf check). The check runs on every step before the
 * optimizer applies it, and on the weights after the last step; the whole call
 * is one transaction, so when this is thrown the model's weights, its AdamW
 * moments and step counts and its random streams are exactly as before the
 * call (earlier steps of the same call are undone too). The message names the
 * quantity (`loss`, `gradient of 'head.mean.weight'`, `metric approxKl`,
 * `weight 'net.0.weight'`) and the step.
 */
export class NonFiniteError extends Error {
  /** The step that failed, when the failure belongs to one (absent for a single `trainStep`). */
  readonly step: TrainingStep | undefined;

  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteError';
    const m = /epoch (\d+) of (\d+), minibatch (\d+) of (\d+) \(optimizer step (\d+) of (\d+)\)/.exec(message);
    this.step = m
      ? { epoch: +m[1], epochs: +m[2], minibatch: +m[3], minibatches: +m[4], step: +m[5], steps: +m[6] }
      : undefined;
  }
}

const NON_FINITE = /^Non-finite /;

/** The native layer's non-finite training failure as a {@link NonFiniteError}; anything else unchanged. */
export function asNonFinite(err: unknown): unknown {
  if (err instanceof Error && !(err instanceof NonFiniteError) && err.constructor === Error && NON_FINITE.test(err.message)) {
    const e = new NonFiniteError(err.message);
    e.stack = `${e.name}: ${e.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
    return e;
  }
  return err;
}

/** Runs a native training call, turning its non-finite failure into a {@link NonFiniteError}. */
export function training<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asNonFinite(err);
  }
}
