// The paper's experiment in miniature (Tables 1 and 3), run only through
// feat2go's public API on the built-in pick-and-place task. Per seed, six
// phases (src/jobs/experiment-phases.ts): variable-pace demonstrations →
// Feat2Go and Steps-To-Go value models on the same frames → a weak base policy
// by behaviour cloning → one RL run per algorithm and terminal reward (sparse,
// Steps-To-Go, Feat2Go, and the controls oracle-stage and constant), all from
// the same base with the same initial states and sampling stream → every policy
// on the four splits → the value models on the base's own failed rollouts.
// The seeds' records are then pooled (src/jobs/experiment-summary.ts): means,
// paired differences with t-intervals, the gate, the value diagnostics.
// Seeds run in this process, in worker processes (`workers`), or as one rank
// of a data-parallel group (`distributed`).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSignal } from '../core/cancel.js';
import { PickPlaceEnv } from '../sim/pick-place.js';
import { torchAddon } from '../torch/common.js';
import { allReduce, isDistributed, rank as distRank, worldSize as distWorldSize } from '../torch/distributed.js';
import {
  EXPERIMENT_HYPERPARAMETERS, checkExperimentRanks, methodName, resolveExperimentConfig,
  type ExperimentConfig, type ExperimentEnvClass, type ExperimentProgress, type ResolvedExperimentConfig, type SeedRecord,
} from './experiment-config.js';
import {
  Features, baseSuccessSteps, cloneBasePolicy, collectDemonstrations, evaluatePolicies, makeBase, probeValueModels, trainValueModels, trainVariant,
  type SeedContext,
} from './experiment-phases.js';
import { summariseExperiment, type ExperimentResult } from './experiment-summary.js';
import type { Policy } from '../torch/policy.js';

export {
  EXPERIMENT_HYPERPARAMETERS, EXPERIMENT_REWARDS, EXPERIMENT_SPLITS, EXPERIMENT_TASK_HORIZONS, checkExperimentRanks, experimentPreset, methodName,
  resolveExperimentConfig,
  type ExperimentAlgo, type ExperimentConfig, type ExperimentDemonstrator, type ExperimentEnv, type ExperimentEnvClass, type ExperimentPreset,
  type ExperimentProgress, type ExperimentReward, type ExperimentSizes, type ExperimentSplit, type ExperimentTask, type ResolvedExperimentConfig,
  type SeedRecord, type ValueCurve, type ValueTarget,
} from './experiment-config.js';
export {
  formatExperimentTable, formatPairedTable, formatValueModelTable, summariseExperiment,
  type BaseRates, type ExperimentColumn, type ExperimentJson, type ExperimentResult, type ExperimentRow, type GateResult, type PairedRow, type ValueModelReport,
} from './experiment-summary.js';
export { EXPERIMENT_VALUE_MODELS, type ExperimentValueModelKind } from './experiment-value.js';

/** Options of {@link runExperiment}. */
export interface RunExperimentOptions {
  onProgress?: (p: ExperimentProgress) => void;
  /** The environment class (default: the built-in `PickPlaceEnv`; only in this process, not with `workers`). */
  env?: ExperimentEnvClass;
  /**
   * Run as one rank of a data-parallel group (default: whether
   * `initDistributed()` was called). Every rank runs the same call; each
   * steps its own share of the RL and evaluation environments, labels its
   * share of the demonstrations, and the ranks train one set of value models,
   * one base policy and one policy per variant together (gradients summed
   * over ranks). Success rates are summed over ranks, so every rank returns
   * the same tables; only rank 0's `episodes` show global episode 0.
   */
  distributed?: boolean;
  /**
   * Worker processes (default 1: this process). The seeds are split into
   * contiguous shares, one per worker, each run with `threads` cores (default:
   * the cores / workers); the records come back and are pooled in seed order.
   * A seed's numbers depend on its seed and thread count only.
   */
  workers?: number;
  /**
   * Cancels the experiment: the labelling, value-model fits, behaviour
   * cloning, policy updates and collectives it runs stop at their next check
   * (an episode, an optimizer step), every progress report checks it too
   * (between phases and steps), worker processes are killed, and the Promise
   * rejects with `signal.reason`; no output of the run is kept. An
   * already-aborted signal rejects before any work.
   */
  signal?: AbortSignal;
}

/** What the seeds of one process share. */
export interface SeedRun {
  cfg: ResolvedExperimentConfig;
  E: ExperimentEnvClass;
  rank: number;
  world: number;
  report: (p: ExperimentProgress) => void;
  /** Whether this process runs the run's first seed (the one whose frames and curves are kept). */
  pictures: boolean;
  /** Cancels the run (passed to every long call; see {@link RunExperimentOptions.signal}). */
  signal?: AbortSignal;
}

/** The six phases of one seed. */
async function runSeed(ctx: SeedContext): Promise<SeedRecord> {
  await collectDemonstrations(ctx);
  await trainValueModels(ctx);
  await cloneBasePolicy(ctx);
  const policies = new Map<string, Policy>([[methodName('base', 'none'), makeBase(ctx)]]);
  for (const algo of ctx.cfg.algos) {
    for (const reward of ctx.cfg.rewards) policies.set(methodName(algo, reward), await trainVariant(ctx, algo, reward));
  }
  await evaluatePolicies(ctx, policies);
  await probeValueModels(ctx);
  return ctx.record;
}

/** What to do per seed: the experiment's six phases, or the horizon calibration's base sampling. */
export type SeedJob = { kind: 'experiment' } | { kind: 'calibrate'; batches: number; maxHorizon: number };

/** What a calibration seed returns: the step at which each sampled base episode succeeded (0: never). */
export interface CalibrationSeedRecord { seed: number; demoSuccess: number; steps: number[]; timings: Record<string, number> }

/**
 * Runs `seeds` one after the other in this process and returns their records
 * (the unit {@link summariseExperiment} pools). Used by {@link runExperiment},
 * the calibration, and the worker processes.
 */
export async function runExperimentSeeds(run: SeedRun, seeds: readonly number[], job: SeedJob = { kind: 'experiment' }): Promise<Array<SeedRecord | CalibrationSeedRecord>> {
  const { cfg, hp } = { cfg: run.cfg, hp: EXPERIMENT_HYPERPARAMETERS };
  const sumRanks = async (values: number[]): Promise<Float64Array> => {
    const a = Float64Array.from(values);
    return run.world > 1 ? allReduce(a, 'sum', { signal: run.signal }) : a;
  };
  const tmp = mkdtempSync(path.join(tmpdir(), 'feat2go-experiment-'));
  const records: Array<SeedRecord | CalibrationSeedRecord> = [];
  try {
    for (const [k, seed] of seeds.entries()) {
      const ctx: SeedContext = {
        cfg, hp, E: run.E, seed, keepPictures: run.pictures && k === 0, rank: run.rank, world: run.world, sumRanks, report: run.report, tmp, signal: run.signal,
        feat: new Features(hp.encoderGrid, hp.encoderBins, hp.poolGrid, cfg.threads), horizon: cfg.horizon,
        record: { seed, demoSuccess: 0, success: {}, curves: {}, probe: { success: 0, stage: [], progress: [], values: {} }, valueCurves: [], episodes: {}, timings: {} },
      };
      if (job.kind === 'experiment') records.push(await runSeed(ctx));
      else records.push({ seed, steps: await baseSuccessSteps(ctx, job.batches, job.maxHorizon), demoSuccess: ctx.record.demoSuccess, timings: ctx.record.timings });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return records;
}

/** The worker script beside this module (.ts under tsx, .js when built). */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `experiment-worker${path.extname(here)}`);
}

/** A message from a worker process. */
export type WorkerMessage = { type: 'progress'; p: ExperimentProgress } | { type: 'records'; records: Array<SeedRecord | CalibrationSeedRecord> } | { type: 'error'; message: string };

/** The threads each of `workers` processes uses: `threads`, or the cores shared out. */
export function workerThreads(threads: number, workers: number): number {
  return threads || Math.max(1, Math.floor(availableParallelism() / workers));
}

/** Runs contiguous shares of the seeds in `workers` child processes; their records, in seed order. */
async function runInWorkers(cfg: ResolvedExperimentConfig, seeds: number[], workers: number, report: (p: ExperimentProgress) => void, job: SeedJob,
  signal?: AbortSignal): Promise<Array<SeedRecord | CalibrationSeedRecord>> {
  signal?.throwIfAborted();
  const threads = workerThreads(cfg.threads, workers);
  const shares = Array.from({ length: workers }, (_, w) => seeds.slice(Math.floor((seeds.length * w) / workers), Math.floor((seeds.length * (w + 1)) / workers)))
    .filter((s) => s.length > 0);
  const children = shares.map(() => fork(workerScript(), [], {
    execArgv: process.execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // libtorch's threads too (once per process), unless the caller fixed them
    env: { ...process.env, OMP_NUM_THREADS: String(threads), FEAT2GO_TORCH_THREADS: process.env.FEAT2GO_TORCH_THREADS ?? String(threads) },
  }));
  let onAbort: (() => void) | undefined;
  try {
    // An abort kills the workers (their calls end with their processes) and rejects with the signal's reason.
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const parts = await Promise.race([aborted, Promise.all(children.map((child, w) => new Promise<Array<SeedRecord | CalibrationSeedRecord>>((resolve, reject) => {
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') {
          try { report(m.p); } catch (err) { reject(err); }
        }
        else if (m.type === 'records') resolve(m.records);
        else reject(new Error(`experiment worker ${w} (seeds ${shares[w].join(', ')}): ${m.message}`));
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => reject(new Error(`experiment worker ${w} (seeds ${shares[w].join(', ')}) exited (${signal ?? `code ${code}`}) before returning its records`)));
      child.send({ config: { ...cfg, threads }, seeds: shares[w], pictures: w === 0, job });
    })))]);
    return parts.flat();
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
  }
}

/**
 * Runs `job` for every seed of `cfg`, in this process or in `workers` processes; the records in seed order.
 * @internal (runExperiment and the calibration)
 */
export async function runExperimentJob(cfg: ResolvedExperimentConfig, workers: number, report: (p: ExperimentProgress) => void, job: SeedJob,
  run: Omit<SeedRun, 'cfg' | 'report' | 'pictures'> = { E: PickPlaceEnv, rank: 0, world: 1 }): Promise<Array<SeedRecord | CalibrationSeedRecord>> {
  const seeds = Array.from({ length: cfg.seeds }, (_, k) => cfg.seed + k);
  return workers > 1
    ? runInWorkers(cfg, seeds, Math.min(workers, seeds.length), report, job, run.signal)
    : runExperimentSeeds({ ...run, cfg, report, pictures: true }, seeds, job);
}

/** Checks `opts.workers`: an integer in [1, 1024] (default 1). */
export function checkWorkers(v: unknown): number {
  const w = v ?? 1;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > 1024) throw new RangeError(`Expected opts.workers an integer in [1, 1024] but received ${JSON.stringify(v)}`);
  return w;
}

/**
 * Runs the experiment: for each seed, demonstrations → value models →
 * behaviour-cloned base → one RL run per algorithm and reward → evaluation on
 * every split → the value models on the base's failed rollouts; then the
 * tables pooled over seeds. Deterministic for a given seed and thread count.
 * @throws {TorchUnavailableError} without libtorch; {TypeError|RangeError} on a bad config or option
 * @example
 * const r = await runExperiment({ preset: 'quick', seeds: 2 }, { onProgress: (p) => console.error(p.phase, p.done, p.total) });
 * console.log(formatExperimentTable(r), formatPairedTable(r));
 */
export async function runExperiment(config: ExperimentConfig = {}, opts: RunExperimentOptions = {}): Promise<ExperimentResult> {
  const cfg = resolveExperimentConfig(config);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`Expected an options object for opts but received ${String(opts)}`);
  torchAddon('runExperiment'); // fail before any work without libtorch
  if (opts.distributed !== undefined && typeof opts.distributed !== 'boolean') {
    throw new TypeError(`Expected a boolean for opts.distributed but received ${JSON.stringify(opts.distributed)}`);
  }
  const workers = checkWorkers(opts.workers);
  const dist = opts.distributed ?? isDistributed();
  if (dist && !isDistributed()) throw new Error('runExperiment: opts.distributed is true but no process group is initialised; call initDistributed() first');
  if (workers > 1 && dist) throw new TypeError('Expected opts.workers = 1 under a process group (ranks already split the work) but received ' + workers);
  if (workers > 1 && opts.env) throw new TypeError('Expected no opts.env with opts.workers > 1 (worker processes use the built-in PickPlaceEnv)');
  const world = dist ? distWorldSize() : 1;
  checkExperimentRanks(cfg.sizes, world);
  const E = opts.env ?? PickPlaceEnv;
  const signal = checkSignal(opts.signal, 'opts.signal');
  signal?.throwIfAborted();
  const onProgress = opts.onProgress ?? (() => {});
  const report = (p: ExperimentProgress): void => {
    signal?.throwIfAborted(); // between phases and steps too, not only inside the native calls
    onProgress(p);
  };
  const t0 = performance.now();
  const records = await runExperimentJob(cfg, workers, report, { kind: 'experiment' }, { E, rank: dist ? distRank() : 0, world, signal }) as SeedRecord[];
  const used = Math.min(workers, cfg.seeds);
  return summariseExperiment(used > 1 ? { ...cfg, threads: workerThreads(cfg.threads, used) } : cfg, records, {
    ranks: world, workers: used, numStages: E.numStages, totalSeconds: (performance.now() - t0) / 1000,
  });
}
