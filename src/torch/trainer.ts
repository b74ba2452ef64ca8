// PPO and GRPO updates of a Policy on libtorch (SPEC §8).
import type { NativeBatch, NativeTrainer, NativeTrainerOptions } from '../core/native-types.js';
import { checkClasses, nativePolicy, Policy } from './policy.js';
import { asNonFinite, checkSeed, torchAddon, training } from './common.js';
import { resolveDistributedFlag } from './distributed.js';
import type { FlagTensor, Tensor } from '../core/types.js';
import { checkInt, checkNumber, checkOptions, checkTensor, oneOf, rangeError, shapeStr, typeError, withCallerStack, type OptionKeys } from '../core/validate.js';
import { AGGREGATIONS, type Aggregation } from '../core/rl.js';
import { cancellable, checkSignal } from '../core/cancel.js';

/** Loss aggregation over `[B, T]` steps with mask (SPEC §8; the names of core/rl.ts's AGGREGATIONS). */
export type { Aggregation };

/** Options shared by {@link PpoTrainer} and {@link GrpoTrainer}. */
export interface TrainerOptions {
  /** ε of the clip (both sides unless clipLow/clipHigh are given). PPO default 0.2. */
  clipRange?: number;
  /** εlow: ratio clipped at 1 − εlow. */
  clipLow?: number;
  /** εhigh: ratio clipped at 1 + εhigh (GRPO "clip-higher": εhigh > εlow; GRPO default 0.28). */
  clipHigh?: number;
  /** Dual clip c > 1: where A < 0 the loss is at most c·|A|. Default off. */
  dualClip?: number;
  /** Default 'token-mean'. */
  aggregation?: Aggregation;
  /** Entropy bonus coefficient. Default 0. */
  entropyCoef?: number;
  /** Coefficient of the k3 KL penalty to the policy as it was when the trainer was created. Default 0 (the paper's). */
  klCoef?: number;
  /** Gradient-norm clip over all trained tensors (0: none). Default 0.5. */
  maxGradNorm?: number;
  /** AdamW learning rate of the actor (adapters, head). Default 3e-4. */
  actorLr?: number;
  /** AdamW decoupled weight decay. Default 0. */
  weightDecay?: number;
  /** Passes over the batch per update. PPO default 4, GRPO default 1. */
  epochs?: number;
  /** Minibatches per epoch (split over sequences). PPO default 4, GRPO default 1. */
  minibatches?: number;
  /** Seed of the minibatch shuffling. Default 0. */
  seed?: number;
  /**
   * Data parallel over the process group ({@link initDistributed}); default:
   * whether a group is initialised when the trainer is created. Every rank
   * creates the trainer with the same options and calls `update` with its
   * share of the global batch (the ranks' batches concatenated in rank order
   * form the global batch; shares may differ in size). Parameters are
   * broadcast from rank 0 at the first update; each minibatch is a slice of
   * one seeded permutation of the global batch, each rank computes its part
   * of the minibatch's mean loss, and the summed gradients (one bucketed
   * all-reduce) are clipped and stepped identically on every rank. An update
   * therefore equals a single-process update on the whole batch (up to float
   * summation order; adapter dropout masks aside), and the metrics are the
   * global figures on every rank. `minibatches` counts global minibatches.
   */
  distributed?: boolean;
}

/** PPO options: adds the critic's terms. */
export interface PpoOptions extends TrainerOptions {
  /** Value-loss coefficient. Default 0.5. */
  valueCoef?: number;
  /** Clip of V around the old values (0/absent: unclipped). */
  valueClip?: number;
  /** AdamW learning rate of the critic. Default 1e-3. */
  criticLr?: number;
}

const TRAINER_KEYS: OptionKeys<TrainerOptions> = {
  clipRange: 1, clipLow: 1, clipHigh: 1, dualClip: 1, aggregation: 1, entropyCoef: 1, klCoef: 1, maxGradNorm: 1,
  actorLr: 1, weightDecay: 1, epochs: 1, minibatches: 1, seed: 1, distributed: 1,
};
const PPO_KEYS: OptionKeys<PpoOptions> = { ...TRAINER_KEYS, valueCoef: 1, valueClip: 1, criticLr: 1 };

/**
 * A batch of B sequences × T steps. Per-step arrays are `[B, T]` tensors, or
 * plain Float32Arrays of length N for a flat batch (B = N, T = 1) whose
 * `obs`/`actions` are `[N, dim]`.
 */
export interface RolloutBatch {
  obs: Tensor;
  actions: Tensor;
  oldLogProbs: Tensor | Float32Array;
  advantages: Tensor | Float32Array;
  /** PPO: value targets. */
  returns?: Tensor | Float32Array;
  /** PPO with valueClip: values at rollout time. */
  oldValues?: Tensor | Float32Array;
  /**
   * 1 = step counts (default all ones). At least one 1 (a RangeError otherwise;
   * in a distributed update, at least one over all ranks). A minibatch with no 1
   * takes no optimizer step.
   */
  mask?: FlagTensor | Uint8Array | Float32Array;
}

/** Metrics of an update, averaged over its optimizer steps (or of `losses()`). */
export interface UpdateMetrics {
  policyLoss: number;
  valueLoss: number;
  entropy: number;
  clipFraction: number;
  approxKl: number;
  /** Total gradient norm before clipping (0 for `losses()`). */
  gradNorm: number;
  /** k3 KL to the reference (0 unless klCoef > 0). */
  kl: number;
  /** The optimised total loss. */
  loss: number;
  /** Optimizer steps taken. */
  steps: number;
}

function perStep(v: unknown, name: string, B: number, T: number): Float32Array {
  if (v instanceof Float32Array) {
    if (T !== 1 || v.length !== B) throw rangeError(`${name}.length`, `${B * T} (a [B, T] = ${shapeStr([B, T])} batch)`, v.length, true);
    return v;
  }
  const t = checkTensor(v, name, 2, '[B, T]');
  if (t.shape[0] !== B || t.shape[1] !== T) throw rangeError(`${name}.shape`, shapeStr([B, T]), shapeStr(t.shape), true);
  return t.data.subarray(0, B * T);
}

function maskOf(v: unknown, B: number, T: number): { mask: Float32Array; ones: number } {
  let d: Uint8Array | Float32Array;
  if (v instanceof Uint8Array || v instanceof Float32Array) d = v;
  else if (v && typeof v === 'object' && ((v as FlagTensor).data instanceof Uint8Array || (v as FlagTensor).data instanceof Float32Array)) {
    const f = v as FlagTensor;
    if (f.shape.length !== 2 || f.shape[0] !== B || f.shape[1] !== T) throw rangeError('batch.mask.shape', shapeStr([B, T]), shapeStr(f.shape), true);
    d = f.data;
  } else throw typeError('batch.mask', 'a flag tensor or a Uint8Array / 0-1 Float32Array', v);
  if (d.length < B * T) throw rangeError('batch.mask.length', `${B * T}`, d.length, true);
  const out = new Float32Array(B * T);
  let ones = 0;
  for (let i = 0; i < B * T; i++) {
    const x = d[i];
    if (x !== 0 && x !== 1) throw rangeError(`batch.mask[${i}]`, '0 or 1', x);
    out[i] = x;
    ones += x;
  }
  return { mask: out, ones };
}

/**
 * The batch as the native trainer takes it. An all-masked batch is refused
 * (as `clippedSurrogate` refuses it) unless `localShare`: a rank's share
 * of a distributed batch may be all masked when another rank's is not (the
 * native update then refuses a batch masked out on every rank).
 */
function toNativeBatch(policy: Policy, batch: RolloutBatch, critic: boolean, valueClip: boolean, localShare = false): NativeBatchCall {
  const b = checkOptions(batch, 'batch', { obs: 1, actions: 1, oldLogProbs: 1, advantages: 1, returns: 1, oldValues: 1, mask: 1 }, 'field');
  const obs = checkTensor(b.obs, 'batch.obs');
  let B: number; let T: number;
  if (obs.shape.length === 2) { B = obs.shape[0]; T = 1; } else if (obs.shape.length === 3) { B = obs.shape[0]; T = obs.shape[1]; } else {
    throw rangeError('batch.obs.shape', 'rank 2 [N, obsDim] or rank 3 [B, T, obsDim]', shapeStr(obs.shape), true);
  }
  if (B < 1 || T < 1) throw rangeError('batch.obs.shape', 'at least one step', shapeStr(obs.shape), true);
  const O = policy.obsDim; const W = policy.actionWidth;
  if (obs.shape[obs.shape.length - 1] !== O) throw rangeError('batch.obs.shape', `last dim obsDim = ${O}`, shapeStr(obs.shape), true);
  const act = checkTensor(b.actions, 'batch.actions');
  const wantA = obs.shape.length === 2 ? [B, W] : [B, T, W];
  if (act.shape.length !== wantA.length || act.shape.some((d, i) => d !== wantA[i])) throw rangeError('batch.actions.shape', shapeStr(wantA), shapeStr(act.shape), true);
  const actions = act.data.subarray(0, B * T * W);
  const head = policy.spec.head;
  if (head.type === 'categorical') checkClasses(actions, B * T * W, head.bins, 'batch.actions');
  const out: NativeBatch = {
    obs: obs.data.subarray(0, B * T * O), actions,
    oldLogProbs: perStep(b.oldLogProbs, 'batch.oldLogProbs', B, T),
    advantages: perStep(b.advantages, 'batch.advantages', B, T),
  };
  if (critic) {
    if (b.returns === undefined) throw typeError('batch.returns', 'value targets [B, T] (PPO with a critic)', b.returns);
    out.returns = perStep(b.returns, 'batch.returns', B, T);
    if (valueClip) {
      if (b.oldValues === undefined) throw typeError('batch.oldValues', 'rollout values [B, T] (valueClip is set)', b.oldValues);
      out.oldValues = perStep(b.oldValues, 'batch.oldValues', B, T);
    }
  }
  if (b.mask !== undefined) {
    const { mask, ones } = maskOf(b.mask, B, T);
    if (ones === 0 && !localShare) {
      throw rangeError('batch.mask', `at least one 1 (a step to learn from; all ${B * T} steps of the [B, T] = ${shapeStr([B, T])} batch are masked out)`, 'no ones', true);
    }
    out.mask = mask;
  }
  return { input: out, opts: Object.freeze({ B, T }) };
}

/** A batch as the native trainer's methods take it: (input, opts). */
interface NativeBatchCall { input: NativeBatch; opts: { B: number; T: number } }

abstract class TrainerBase {
  /** The policy this trainer updates. */
  readonly policy: Policy;
  protected readonly n: NativeTrainer;
  protected readonly critic: boolean;
  protected readonly valueClip: boolean;

  protected constructor(what: string, policy: Policy, opts: PpoOptions | undefined, grpo: boolean) {
    const addon = torchAddon(what);
    if (!(policy instanceof Policy)) throw typeError('policy', 'a Policy', policy);
    const o = checkOptions(opts, 'opts', grpo ? TRAINER_KEYS : PPO_KEYS) as PpoOptions;
    const eps = checkNumber(o.clipRange ?? 0.2, 'opts.clipRange', 0, 1);
    const clipLow = checkNumber(o.clipLow ?? eps, 'opts.clipLow', 0, 1);
    const clipHigh = checkNumber(o.clipHigh ?? (grpo && o.clipRange === undefined ? 0.28 : eps), 'opts.clipHigh', 0);
    const dual = o.dualClip === undefined ? 0 : checkNumber(o.dualClip, 'opts.dualClip');
    if (o.dualClip !== undefined && dual <= 1) throw rangeError('opts.dualClip', 'a number > 1', dual);
    const agg = o.aggregation ?? 'token-mean';
    if (!AGGREGATIONS.includes(agg)) throw typeError('opts.aggregation', oneOf(AGGREGATIONS), agg);
    this.critic = !grpo;
    if (this.critic && !policy.spec.critic) throw new TypeError('Expected a policy with a critic for PpoTrainer (spec.critic) but received one without; use GrpoTrainer for critic-free updates');
    const valueClip = o.valueClip === undefined ? 0 : checkNumber(o.valueClip, 'opts.valueClip', 0);
    this.valueClip = valueClip > 0;
    const n: NativeTrainerOptions = {
      clipLow, clipHigh, dualClip: dual, aggregation: agg,
      valueCoef: grpo ? 0 : checkNumber(o.valueCoef ?? 0.5, 'opts.valueCoef', 0), valueClip,
      entropyCoef: checkNumber(o.entropyCoef ?? 0, 'opts.entropyCoef'), klCoef: checkNumber(o.klCoef ?? 0, 'opts.klCoef', 0),
      maxGradNorm: checkNumber(o.maxGradNorm ?? 0.5, 'opts.maxGradNorm', 0), actorLr: checkNumber(o.actorLr ?? 3e-4, 'opts.actorLr', 0),
      criticLr: checkNumber(o.criticLr ?? 1e-3, 'opts.criticLr', 0), weightDecay: checkNumber(o.weightDecay ?? 0, 'opts.weightDecay', 0),
      epochs: checkInt(o.epochs ?? (grpo ? 1 : 4), 'opts.epochs', 1), minibatches: checkInt(o.minibatches ?? (grpo ? 1 : 4), 'opts.minibatches', 1),
      useCritic: !grpo, seed: checkSeed(o.seed ?? 0, 'opts.seed'),
      distributed: resolveDistributedFlag(o.distributed, 'opts.distributed'),
    };
    this.policy = policy;
    this.n = new addon.TrainerNative({ policy: nativePolicy(policy) }, Object.freeze(n));
    this.minibatches = n.minibatches;
    this.distributed = n.distributed === true;
  }

  /** Whether updates are data parallel over the process group. */
  readonly distributed: boolean;

  private readonly minibatches: number;

  private batch(batch: RolloutBatch, local = false): NativeBatchCall {
    const b = toNativeBatch(this.policy, batch, this.critic, this.valueClip, this.distributed && !local);
    const { B } = b.opts;
    if (!this.distributed && this.minibatches > B) throw rangeError('opts.minibatches', `at most the batch's ${B} sequences`, this.minibatches);
    return b;
  }

  /**
   * Runs epochs × minibatches AdamW steps on the batch off the main thread.
   * The policy refuses other calls until the Promise settles. The batch's
   * arrays in host memory (the library's outputs, `hostTensor`) or over a
   * SharedArrayBuffer are read in place (write to them only once the Promise
   * settled); other arrays are copied before the call returns, so the caller
   * may reuse or transfer them meanwhile (`updateSync` reads them in place).
   * `opts.signal` cancels the update: it stops before its next optimizer step,
   * everything is restored as on a failure, and the Promise rejects with
   * `signal.reason` (an already-aborted signal rejects without any work).
   *
   * An update is all or nothing. Every step checks its loss and metrics and
   * the total gradient norm before AdamW applies it, and after the last step
   * the updated weights and the loss they give on the last minibatch are
   * checked too. When any of them is NaN or ±Infinity, or the call fails for
   * any other reason, the policy's weights, the AdamW moments and step counts
   * and the random streams of the policy and trainer are restored to what they
   * were when the call began, and the Promise rejects.
   *
   * The log-ratio log π − log π_old is clamped at 20 before `exp` (ρ ≤ e^20 ≈
   * 4.85e8; likewise log π_ref − log π in the k3 penalty), so finite but stale
   * `oldLogProbs` cannot overflow: the clip range lies inside that bound, so
   * the surrogate equals SPEC §8's everywhere except that the unclipped term
   * of a negative advantage stops growing past ρ = e^20, as a dual clip at
   * e^20 would make it. approxKl is computed from the clamped log-ratio.
   * @throws {NonFiniteError} (rejects with) naming the quantity (loss and the
   *   non-finite terms, `gradient of '<tensor>'`, a metric, `weight '<tensor>'`)
   *   and the step (`epoch e of E, minibatch m of M (optimizer step s of S)`)
   */
  update(batch: RolloutBatch, opts?: { signal?: AbortSignal }): Promise<UpdateMetrics> {
    const stack = new Error().stack;
    const b = this.batch(batch);
    const signal = checkSignal(checkOptions(opts, 'opts', { signal: 1 }).signal, 'opts.signal');
    return cancellable(signal, (cancel) => withCallerStack(this.n.update(b.input, { ...b.opts, cancel }).catch((err: unknown) => { throw asNonFinite(err); }), stack));
  }

  /**
   * Synchronous twin of {@link update} (all or nothing in the same way).
   * @throws {NonFiniteError} as {@link update}
   */
  updateSync(batch: RolloutBatch): UpdateMetrics {
    const b = this.batch(batch);
    return training(() => this.n.updateSync(b.input, b.opts));
  }

  /** The losses and metrics of the whole batch as one minibatch, without a step (no dropout). Local to this process, also for a distributed trainer (no collective). */
  losses(batch: RolloutBatch): UpdateMetrics {
    const b = this.batch(batch, true);
    return this.n.losses(b.input, b.opts);
  }
}

/**
 * PPO (SPEC §8, paper Eq. 6): clipped surrogate (+ optional dual clip), value
 * loss ½(V − R)² optionally clipped around old values, entropy bonus, k3 KL
 * to a frozen reference, gradient-norm clipping, AdamW with separate actor and
 * critic learning rates.
 * @example
 * const ppo = new PpoTrainer(policy, { epochs: 4, minibatches: 4, actorLr: 3e-4, criticLr: 1e-3 });
 * const m = await ppo.update({ obs, actions, oldLogProbs, advantages, returns });
 */
export class PpoTrainer extends TrainerBase {
  constructor(policy: Policy, opts?: PpoOptions) {
    super('PpoTrainer', policy, opts, false);
  }
}

/**
 * GRPO (SPEC §8, paper Eq. 8): the clipped surrogate with clip-higher
 * (defaults εlow 0.2, εhigh 0.28) on group-relative advantages, no critic.
 * @example
 * const grpo = new GrpoTrainer(policy, { aggregation: 'seq-mean-token-mean' });
 * await grpo.update({ obs, actions, oldLogProbs, advantages, mask });
 */
export class GrpoTrainer extends TrainerBase {
  constructor(policy: Policy, opts?: TrainerOptions) {
    super('GrpoTrainer', policy, opts, true);
  }
}
