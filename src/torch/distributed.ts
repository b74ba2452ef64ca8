// Process groups over libtorch's c10d (Gloo on CPU): one Node process is one
// rank. Ranks meet through a TCPStore hosted by rank 0 at masterAddr:masterPort,
// the way torchrun, Slurm and Kubernetes indexed jobs describe a job in the
// environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
import { buildCommand, torchAddonStatus } from '../core/native.js';
import type { NativeTorchAddon } from '../core/native-types.js';
import { checkInt, checkOptions, rangeError, typeError, withCallerStack } from '../core/validate.js';
import { cancellable, checkSignal } from '../core/cancel.js';

/** Collective backends: 'gloo' (CPU, any build with c10d) or 'nccl' (CUDA builds with NCCL only). */
export type DistributedBackend = 'gloo' | 'nccl';

/** Options of {@link initDistributed}; each defaults from the environment. */
export interface DistributedOptions {
  /** Default 'gloo'. */
  backend?: DistributedBackend;
  /** This process's rank in [0, worldSize). Default `RANK`, else 0. */
  rank?: number;
  /** Number of ranks. Default `WORLD_SIZE`, else 1. */
  worldSize?: number;
  /** Host of rank 0's rendezvous store. Default `MASTER_ADDR`, else '127.0.0.1'. */
  masterAddr?: string;
  /** Port of rank 0's rendezvous store. Default `MASTER_PORT`, else 29500. */
  masterPort?: number;
  /**
   * How long the rendezvous and every collective may wait for the other
   * ranks before failing with an error that names the missing ranks: an
   * integer in [1, {@link MAX_DISTRIBUTED_TIMEOUT_MS}] (2^31 − 1, about 24.8
   * days; a longer wait overflows the counts the store and Gloo keep).
   * Default `FEAT2GO_DIST_TIMEOUT_MS`, else 300000 (5 min).
   */
  timeoutMs?: number;
  /**
   * Data-parallel training: start each gradient bucket's all-reduce while
   * backward still runs (true), or sum the buckets one by one after it
   * (false). Both give identical gradients. Default `FEAT2GO_DIST_OVERLAP`
   * ('1'/'true' or '0'/'false'), else true.
   */
  overlapGradients?: boolean;
  /**
   * Data-parallel training: the size cap of a gradient bucket in MiB (the
   * first bucket is at most 1 MiB); every rank must use the same value.
   * Default `FEAT2GO_DIST_BUCKET_MIB`, else 25.
   */
  gradientBucketMiB?: number;
}

/** The group this process belongs to, as {@link initDistributed} resolved it. */
export interface DistributedInfo {
  backend: DistributedBackend;
  rank: number;
  worldSize: number;
  /** `LOCAL_RANK` (rank on this machine; pick a device with it), else the rank. */
  localRank: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  overlapGradients: boolean;
  gradientBucketMiB: number;
}

/** Reduction of {@link allReduce}: 'avg' is the sum divided by the world size (float arrays only). */
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

/** Typed arrays the collectives take (element types Gloo reduces). */
export type CollectiveArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Int8Array | Uint8Array;

/**
 * Thrown by initDistributed when process groups are not available: no libtorch
 * addon at all (see {@link TorchUnavailableError} for its message), or one
 * built against a libtorch without c10d/Gloo (capabilities().distributed is false).
 */
export class DistributedUnavailableError extends Error {
  constructor(reason?: string) {
    super(
      'initDistributed needs libtorch with c10d and the Gloo backend, through feat2go\'s libtorch addon, but ' +
      (reason ? `there is no libtorch addon (${reason}). ` : 'the libtorch addon was built without them (capabilities().distributed is false). ') +
      'Enable it: on Debian/Ubuntu `sudo apt-get install libtorch-dev libgloo-dev` (or a pip PyTorch, which ships Gloo), ' +
      `then build the libtorch addon: \`${buildCommand('torch')}\`; FEAT2GO_DISTRIBUTED=ON makes a missing c10d a build error.`,
    );
    this.name = 'DistributedUnavailableError';
  }
}

/** Largest `timeoutMs` (2^31 − 1 ms, about 24.8 days): a longer one overflows the millisecond and nanosecond counts of the store and Gloo. */
export const MAX_DISTRIBUTED_TIMEOUT_MS = 2 ** 31 - 1;

let info: DistributedInfo | undefined;

function addon(): NativeTorchAddon {
  const t = torchAddonStatus();
  if (!t.addon) throw new DistributedUnavailableError(t.reason ?? 'not built');
  if (!t.addon.distAvailable) throw new DistributedUnavailableError();
  return t.addon;
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw rangeError(`environment variable ${name}`, 'a non-negative integer', v);
  return n;
}

function envBool(name: string): boolean | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw rangeError(`environment variable ${name}`, "'1', 'true', '0' or 'false'", v);
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw rangeError(`environment variable ${name}`, 'a number', v);
  return n;
}

/** Whether this build can join process groups (c10d with Gloo linked). */
export function distributedAvailable(): boolean {
  return torchAddonStatus().addon?.distAvailable === true;
}

/**
 * Resolves the options of {@link initDistributed} against the environment
 * without joining anything (for launchers and logs).
 * @throws {TypeError | RangeError} naming the bad option or variable
 */
export function resolveDistributedOptions(opts?: DistributedOptions): DistributedInfo {
  const o = checkOptions(opts, 'opts', {
    backend: 1, rank: 1, worldSize: 1, masterAddr: 1, masterPort: 1, timeoutMs: 1, overlapGradients: 1, gradientBucketMiB: 1,
  });
  const backend = o.backend ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl') throw typeError('opts.backend', "'gloo' or 'nccl'", backend);
  const worldSize = checkInt(o.worldSize ?? envInt('WORLD_SIZE') ?? 1, o.worldSize !== undefined ? 'opts.worldSize' : 'WORLD_SIZE', 1);
  const rank = checkInt(o.rank ?? envInt('RANK') ?? 0, o.rank !== undefined ? 'opts.rank' : 'RANK', 0);
  if (rank >= worldSize) throw rangeError(o.rank !== undefined ? 'opts.rank' : 'RANK', `an integer in [0, ${worldSize - 1}] (worldSize ${worldSize})`, rank);
  const masterAddr = o.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  if (typeof masterAddr !== 'string' || masterAddr === '') throw typeError('opts.masterAddr', 'a host name or address', masterAddr);
  const masterPort = checkInt(o.masterPort ?? envInt('MASTER_PORT') ?? 29500, o.masterPort !== undefined ? 'opts.masterPort' : 'MASTER_PORT', 1, 65535);
  const timeoutMs = checkInt(o.timeoutMs ?? envInt('FEAT2GO_DIST_TIMEOUT_MS') ?? 300_000,
    o.timeoutMs !== undefined ? 'opts.timeoutMs' : 'FEAT2GO_DIST_TIMEOUT_MS', 1, MAX_DISTRIBUTED_TIMEOUT_MS);
  const localRank = envInt('LOCAL_RANK') ?? rank;
  const overlapGradients = o.overlapGradients ?? envBool('FEAT2GO_DIST_OVERLAP') ?? true;
  if (typeof overlapGradients !== 'boolean') throw typeError('opts.overlapGradients', 'a boolean', overlapGradients);
  const bucketName = o.gradientBucketMiB !== undefined ? 'opts.gradientBucketMiB' : 'FEAT2GO_DIST_BUCKET_MIB';
  const gradientBucketMiB = o.gradientBucketMiB ?? envNumber('FEAT2GO_DIST_BUCKET_MIB') ?? 25;
  if (typeof gradientBucketMiB !== 'number') throw typeError(bucketName, 'a number of MiB', gradientBucketMiB);
  if (!(gradientBucketMiB >= 1 / 1024 && gradientBucketMiB <= 4096)) throw rangeError(bucketName, 'a number of MiB in [1/1024, 4096]', gradientBucketMiB);
  return { backend, rank, worldSize, localRank, masterAddr, masterPort, timeoutMs, overlapGradients, gradientBucketMiB };
}

/**
 * Joins the process group: every rank calls it with the same worldSize and
 * master address; it resolves once all ranks have arrived. Fails (never
 * hangs) after `timeoutMs` naming the ranks that did not join, and with a
 * clear error for a port already in use, a worldSize that disagrees with
 * another rank's, or a rank number taken twice.
 * @example
 * // RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 node train.mjs (and RANK=1 …)
 * const g = await initDistributed();
 * await allReduce(grads, 'avg');
 * await destroyDistributed();
 * @throws {DistributedUnavailableError} when the addon was built without c10d
 */
export async function initDistributed(opts?: DistributedOptions): Promise<DistributedInfo> {
  const stack = new Error().stack;
  const a = addon();
  if (info) throw new Error('initDistributed: a process group is already initialised; call destroyDistributed() first');
  const r = resolveDistributedOptions(opts);
  await withCallerStack(a.distInit({}, Object.freeze({
    backend: r.backend, rank: r.rank, worldSize: r.worldSize, masterAddr: r.masterAddr, masterPort: r.masterPort, timeoutMs: r.timeoutMs,
    overlapGradients: r.overlapGradients, bucketBytes: Math.round(r.gradientBucketMiB * 1048576),
  })), stack);
  info = r;
  return r;
}

/** Leaves the process group (a no-op when none). Other ranks' later collectives then fail. */
export async function destroyDistributed(): Promise<void> {
  if (!info) return;
  info = undefined;
  await torchAddonStatus().addon!.distDestroy();
}

/** The group this process belongs to, or undefined before {@link initDistributed}. */
export function distributedInfo(): DistributedInfo | undefined {
  return info;
}

/** Whether a process group is initialised in this process. */
export function isDistributed(): boolean {
  return info !== undefined;
}

/** This process's rank (0 without a group). */
export function rank(): number {
  return info?.rank ?? 0;
}

/** Number of ranks (1 without a group). */
export function worldSize(): number {
  return info?.worldSize ?? 1;
}

function group(what: string): NativeTorchAddon {
  if (!info) throw new Error(`${what}: no process group; call initDistributed() first`);
  return torchAddonStatus().addon!;
}

const ARRAY_TYPES = 'a Float32Array, Float64Array, Int32Array, BigInt64Array, Int8Array or Uint8Array';
function checkArray(v: unknown, what: string): CollectiveArray {
  if (v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array || v instanceof BigInt64Array ||
    v instanceof Int8Array || v instanceof Uint8Array) return v;
  throw typeError(`${what}: array`, ARRAY_TYPES, v);
}

/**
 * Turns the overlap of the gradient all-reduce with backward on or off for
 * this rank from the next data-parallel step on (initDistributed's
 * `overlapGradients`). Both settings give identical gradients, so ranks may
 * differ; call it between updates, for example to compare the two.
 * @throws {TypeError} when `on` is not a boolean; {Error} without a group
 */
export function setGradientOverlap(on: boolean): void {
  if (typeof on !== 'boolean') throw typeError('on', 'a boolean', on);
  group('setGradientOverlap').distSetOverlap({}, { on });
  info!.overlapGradients = on;
}

/** Cumulative figures of this process's collectives since {@link initDistributed}. */
export interface CollectiveStats {
  /** Collectives run (including the small ones the trainers add: sizes, denominators, metrics). */
  calls: number;
  /** Milliseconds spent in them (waiting for the slowest rank included). */
  ms: number;
  /** Bytes this rank passed in (array sizes, summed). */
  bytes: number;
  /** Gradient buckets the data-parallel trainers all-reduced (each also counts in `calls`). */
  gradientBuckets: number;
  /** Of those, the ones launched while backward still ran (0 with `overlapGradients: false`). */
  bucketsDuringBackward: number;
}

/**
 * Calls, time and bytes of this process's collectives so far (zeros before
 * {@link initDistributed}); subtract two readings to get one update's share.
 */
export function collectiveStats(): CollectiveStats {
  const a = torchAddonStatus().addon;
  return a ? a.distStats() : { calls: 0, ms: 0, bytes: 0, gradientBuckets: 0, bucketsDuringBackward: 0 };
}

/** Options of the collectives. */
export interface CollectiveOptions {
  /**
   * Cancels the collective: this rank stops waiting within about 100 ms and
   * the Promise rejects with `signal.reason`; the group is then broken (call
   * destroyDistributed() and initDistributed() again), and the other ranks'
   * pending or next collective fails within about a second with an error
   * naming this rank as the one that cancelled. An already-aborted signal
   * rejects without starting the collective.
   */
  signal?: AbortSignal;
}

function collectiveSignal(opts: CollectiveOptions | undefined): AbortSignal | undefined {
  return checkSignal(checkOptions(opts, 'opts', { signal: 1 }).signal, 'opts.signal');
}

/** Resolves once every rank has called it; `opts.signal` cancels it (see {@link CollectiveOptions}). */
export function barrier(opts?: CollectiveOptions): Promise<void> {
  const stack = new Error().stack;
  const a = group('barrier');
  const signal = collectiveSignal(opts);
  return cancellable(signal, (cancel) => withCallerStack(a.distBarrier({}, { cancel }), stack));
}

/**
 * Reduces `array` element-wise over all ranks, in place; every rank must
 * pass an array of the same type and length (checked: a mismatch is a
 * RangeError listing each rank's array). `opts.signal` cancels it (see
 * {@link CollectiveOptions}).
 * @returns a Promise of the same array, now holding the result
 */
export function allReduce<T extends CollectiveArray>(array: T, op: ReduceOp = 'sum', opts?: CollectiveOptions): Promise<T> {
  const stack = new Error().stack;
  const a = group('allReduce');
  checkArray(array, 'allReduce');
  if (!['sum', 'avg', 'max', 'min', 'product'].includes(op)) throw typeError('op', "'sum', 'avg', 'max', 'min' or 'product'", op);
  if (op === 'avg' && !(array instanceof Float32Array || array instanceof Float64Array)) {
    throw typeError('array', "a Float32Array or Float64Array for op 'avg'", array);
  }
  const signal = collectiveSignal(opts);
  return cancellable(signal, (cancel) => withCallerStack(a.distAllReduce({ array }, { op, cancel }) as Promise<T>, stack));
}

/**
 * Copies `root`'s array into every rank's array (in place); `opts.signal`
 * cancels it (see {@link CollectiveOptions}).
 * @returns a Promise of the same array
 */
export function broadcast<T extends CollectiveArray>(array: T, root = 0, opts?: CollectiveOptions): Promise<T> {
  const stack = new Error().stack;
  const a = group('broadcast');
  checkArray(array, 'broadcast');
  const r = checkInt(root, 'root', 0);
  if (r >= worldSize()) throw rangeError('root', `a rank in [0, ${worldSize() - 1}]`, r);
  const signal = collectiveSignal(opts);
  return cancellable(signal, (cancel) => withCallerStack(a.distBroadcast({ array }, { root: r, cancel }) as Promise<T>, stack));
}

/**
 * Gathers every rank's array (same type and length on every rank);
 * `opts.signal` cancels it (see {@link CollectiveOptions}).
 * @returns a Promise of a new array of worldSize × length values, rank 0's first
 */
export function allGather<T extends CollectiveArray>(array: T, opts?: CollectiveOptions): Promise<T> {
  const stack = new Error().stack;
  const a = group('allGather');
  checkArray(array, 'allGather');
  const signal = collectiveSignal(opts);
  return cancellable(signal, (cancel) => withCallerStack(a.distAllGather({ array }, { cancel }) as Promise<T>, stack));
}

/**
 * The `distributed` option of the trainers and the value head: explicit
 * true/false, or (undefined) whether a group is initialised.
 * @internal
 */
export function resolveDistributedFlag(v: unknown, name: string): boolean {
  if (v === undefined) return isDistributed();
  if (typeof v !== 'boolean') throw typeError(name, 'a boolean', v);
  if (v && !isDistributed()) throw new Error(`${name} is true but no process group is initialised; call initDistributed() first`);
  return v;
}
