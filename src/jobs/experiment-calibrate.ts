// `feat2go experiment calibrate`: the RL horizon of a task, chosen on
// calibration seeds that are never reported, so that the base policy's sampled
// success is 5–10 % (rare success, as in the paper). Per calibration seed: the
// demonstrations and the behaviour-cloned base (phases 1 and 3 of the
// experiment, unchanged), then the base sampling on training initial states
// exactly as in its first RL rollouts, with a long horizon: an episode that
// succeeds by step H succeeds in a rollout of horizon H (the actions up to H
// do not depend on the horizon), so one rollout gives the success at every H.
// With `gate`, the gate then runs on the same seeds at the chosen horizon:
// PPO with the oracle-stage and Steps-To-Go rewards only (no Feat2Go run, so
// no Feat2Go result is seen while settings are chosen).
import { torchAddon } from '../torch/common.js';
import { resolveExperimentConfig, type ExperimentConfig, type ExperimentProgress } from './experiment-config.js';
import { checkWorkers, runExperiment, runExperimentJob, type CalibrationSeedRecord } from './experiment.js';
import { meanCi } from './experiment-stats.js';
import type { ExperimentRow, GateResult } from './experiment-summary.js';

/** Options of {@link calibrateExperiment}. */
export interface CalibrationConfig {
  /** The experiment's settings (task, demonstrator, sizes, threads); seeds default to 20 from 1000, sizes to the full preset's. */
  experiment?: ExperimentConfig;
  /** Rollout batches of `numEnvs` sampled episodes per seed (default 4). */
  batches?: number;
  /** Longest horizon tried (default 100). */
  maxHorizon?: number;
  /** The band of sampled success aimed at (default [0.05, 0.10]); the horizon closest to its middle is chosen. */
  target?: [number, number];
  /** Also run the gate on the same seeds at the chosen horizon (default false). */
  gate?: boolean;
}

/** What a calibration found. */
export interface CalibrationResult {
  task: string;
  seeds: number[];
  /** The base's sampled success for horizons 1 … maxHorizon: mean over seeds, 95 % half-width, each seed's. */
  successByHorizon: Array<{ horizon: number; mean: number; ci: number | null; perSeed: number[] }>;
  /** The chosen horizon and the mean sampled success there. */
  horizon: number;
  sampledSuccess: number;
  /** Whether that mean lies in the target band. */
  inTarget: boolean;
  target: [number, number];
  /** Fraction of the demonstrations that succeeded, mean over seeds. */
  demoSuccess: number;
  /** The gate on the calibration seeds (with `gate`), with that run's rows. */
  gate: (GateResult & { rows: ExperimentRow[] }) | null;
  config: Record<string, unknown>;
  timings: Record<string, number>;
}

/** Options of {@link calibrateExperiment}'s run. */
export interface CalibrateOptions {
  onProgress?: (p: ExperimentProgress) => void;
  /** Worker processes, as runExperiment's (default 1). */
  workers?: number;
}

/**
 * The success of the base at every horizon from the steps at which its sampled episodes succeeded
 * (per seed), and the horizon whose mean success is closest to the middle of `target`.
 */
export function chooseHorizon(stepsPerSeed: number[][], maxHorizon: number, target: [number, number]): Pick<CalibrationResult, 'successByHorizon' | 'horizon' | 'sampledSuccess' | 'inTarget'> {
  const successByHorizon = Array.from({ length: maxHorizon }, (_, k) => {
    const H = k + 1;
    const perSeed = stepsPerSeed.map((s) => s.filter((t) => t > 0 && t <= H).length / s.length);
    const m = meanCi(perSeed);
    return { horizon: H, mean: m.mean, ci: m.ci, perSeed };
  });
  const mid = (target[0] + target[1]) / 2;
  let best = successByHorizon[0];
  for (const row of successByHorizon) if (Math.abs(row.mean - mid) < Math.abs(best.mean - mid)) best = row;
  return { successByHorizon, horizon: best.horizon, sampledSuccess: best.mean, inTarget: best.mean >= target[0] && best.mean <= target[1] };
}

/**
 * Calibrates the RL horizon of a task on calibration seeds (never the reported ones) and,
 * with `gate`, runs the gate there.
 * @throws {TypeError|RangeError} naming a bad field
 * @example
 * const c = await calibrateExperiment({ experiment: { task: 'knock' }, gate: true }, { workers: 2 });
 * console.log(c.horizon, c.sampledSuccess, c.gate);
 */
export async function calibrateExperiment(c: CalibrationConfig = {}, opts: CalibrateOptions = {}): Promise<CalibrationResult> {
  if (c === null || typeof c !== 'object') throw new TypeError(`Expected an options object for config but received ${String(c)}`);
  for (const k of Object.keys(c)) {
    if (!['experiment', 'batches', 'maxHorizon', 'target', 'gate'].includes(k)) throw new TypeError(`Expected config keys among experiment, batches, maxHorizon, target, gate but received '${k}'`);
  }
  const cfg = resolveExperimentConfig({ preset: 'full', seeds: 20, seed: 1000, ...c.experiment });
  const batches = c.batches ?? 4; const maxHorizon = c.maxHorizon ?? 100; const target = c.target ?? [0.05, 0.1];
  if (!Number.isInteger(batches) || batches < 1 || batches > 1000) throw new RangeError(`Expected config.batches an integer in [1, 1000] but received ${batches}`);
  if (!Number.isInteger(maxHorizon) || maxHorizon < 1 || maxHorizon > 1000) throw new RangeError(`Expected config.maxHorizon an integer in [1, 1000] but received ${maxHorizon}`);
  if (!Array.isArray(target) || target.length !== 2 || !(target[0] >= 0 && target[0] < target[1] && target[1] <= 1)) {
    throw new RangeError(`Expected config.target [lo, hi] with 0 ≤ lo < hi ≤ 1 but received ${JSON.stringify(target)}`);
  }
  const workers = checkWorkers(opts.workers);
  torchAddon('calibrateExperiment');
  const report = opts.onProgress ?? (() => {});
  const t0 = performance.now();
  const per = await runExperimentJob(cfg, workers, report, { kind: 'calibrate', batches, maxHorizon }) as CalibrationSeedRecord[];
  const chosen = chooseHorizon(per.map((p) => p.steps), maxHorizon, target);
  const tHorizon = (performance.now() - t0) / 1000;
  let gate: CalibrationResult['gate'] = null;
  if (c.gate) {
    const g = await runExperiment({ ...c.experiment, preset: cfg.preset, seeds: cfg.seeds, seed: cfg.seed, horizon: chosen.horizon, algos: ['ppo'], rewards: ['steps-to-go', 'oracle-stage'] },
      { workers, onProgress: report });
    gate = { ...g.gate!, rows: g.rows };
  }
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    task: cfg.task, seeds: per.map((p) => p.seed), ...chosen, target, demoSuccess: per.reduce((a, p) => a + p.demoSuccess, 0) / per.length, gate,
    config: { task: cfg.task, demonstrator: cfg.demonstrator, demonstratorOptions: cfg.demonstratorOptions, sizes: cfg.sizes, batches, maxHorizon, threads: cfg.threads, workers },
    timings: { horizon: r2(tHorizon), total: r2((performance.now() - t0) / 1000) },
  };
}

/** The calibration as Markdown: the chosen horizon, the success around it, and the gate. */
export function calibrationMarkdown(c: CalibrationResult, commandLine?: string): string {
  const p = (x: number) => `${(x * 100).toFixed(1)} %`;
  const around = c.successByHorizon.filter((r) => Math.abs(r.horizon - c.horizon) <= 10);
  const lines = [
    `# feat2go experiment calibrate: task '${c.task}'`, '',
    ...(commandLine ? [`Command: \`${commandLine}\``, ''] : []),
    `Calibration seeds ${c.seeds[0]}–${c.seeds[c.seeds.length - 1]} (n = ${c.seeds.length}, never reported). Demonstrations that succeeded: ${p(c.demoSuccess)}.`, '',
    `**Horizon ${c.horizon}**: the base's sampled success ${p(c.sampledSuccess)} (target ${p(c.target[0])}–${p(c.target[1])}: ${c.inTarget ? 'in' : 'NOT in'} the band).`, '',
    '| Horizon | Sampled success (mean ± 95 % CI over seeds) |', '|---:|---:|',
    ...around.map((r) => `| ${r.horizon} | ${p(r.mean)}${r.ci === null ? '' : ` ± ${(r.ci * 100).toFixed(1)}`} |`), '',
  ];
  if (c.gate) {
    const g = c.gate;
    const pts = (x: number | null) => (x === null ? 'n/a' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`);
    lines.push('## Gate', '', `PPO oracle stage − Steps-To-Go, in distribution, n = ${g.n}: ${pts(g.mean)} points [${pts(g.ciLow)}, ${pts(g.ciHigh)}]: **${g.passed ? 'passed' : 'not passed'}**.`, '',
      '| Method | In-distribution |', '|---|---:|', ...g.rows.map((r) => `| ${r.method} | ${p(r.success.id)} |`), '');
  }
  lines.push('## Settings', '', '```json', JSON.stringify(c.config, null, 2), '```', '', `Time: ${c.timings.total} s.`, '');
  return lines.join('\n');
}
