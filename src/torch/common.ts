// Shared pieces of the libtorch-backed classes (value head, policy, trainers).
import { buildCommand, isCheckout, torchAddonStatus, type AddonAttempt } from '../core/native.js';
import type { NativeTorchAddon } from '../core/native-types.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkTensor, rangeError, shapeStr, typeError } from '../core/validate.js';

/** How to get a libtorch addon: the build command and the libtorch it can build against. */
export function torchBuildHelp(): string {
  return 'Build it once, against a libtorch on this machine: `npx feat2go build-torch` (needs cmake and g++, a few minutes' +
    (isCheckout() ? `; in this checkout \`${buildCommand('torch')}\` builds it too` : '') + '). It uses ' +
    'Debian/Ubuntu\'s libtorch (`sudo apt-get install libtorch-dev libgloo-dev`; libgloo-dev for distributed training), ' +
    'a pip PyTorch (`pip install torch`; found with python3 -c \'import torch; print(torch.utils.cmake_prefix_path)\', ' +
    'or `--python <python>`), or a LibTorch download (`--torch-dir <LibTorch>/share/cmake/Torch` or Torch_DIR).';
}

/**
 * Thrown by the training classes (value heads, policies, trainers, process
 * groups) when the libtorch addon (feat2go_torch.node) is not available: the
 * message lists each place tried and says how to build it
 * (`npx feat2go build-torch`). Everything else in feat2go works without it.
 */
export class TorchUnavailableError extends Error {
  /** Each place the loader tried for feat2go_torch.node and why it failed. */
  readonly attempts: AddonAttempt[];
  constructor(what: string, attempts?: AddonAttempt[], reason?: string) {
    const tried = attempts ?? [];
    super(
      `${what} needs libtorch, through feat2go's libtorch addon (feat2go_torch.node), which is not available ` +
      `(capabilities().torch is false${reason ? `: ${reason}` : ''}).\n` +
      (tried.length ? `Tried:\n${tried.map((a) => `  - ${a.source}: ${a.path}: ${a.error}`).join('\n')}\n` : '') +
      torchBuildHelp(),
    );
    this.name = 'TorchUnavailableError';
    this.attempts = tried;
  }
}

/** The libtorch addon, loading it on first use. @throws {TorchUnavailableError} naming `what` without it. */
export function torchAddon(what: string): NativeTorchAddon {
  const t = torchAddonStatus();
  if (!t.addon) throw new TorchUnavailableError(what, t.attempts, t.reason);
  return t.addon;
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
