// From the seeds' records to the experiment's tables: success per method and
// split (mean, and a Student-t interval from 5 seeds on), paired differences
// against sparse and Steps-To-Go, the gate (oracle-stage − Steps-To-Go in
// distribution), the base's rates, and the value-model diagnostics on the
// base's failed sampled rollouts.
import {
  EXPERIMENT_HYPERPARAMETERS, EXPERIMENT_SPLITS, methodName, type ExperimentAlgo, type ExperimentReward, type ExperimentSplit,
  type ResolvedExperimentConfig, type SeedRecord, type ValueCurve, type ValueTarget,
} from './experiment-config.js';
import { meanCi, pairedDifference, spearman } from './experiment-stats.js';

/** A column of the tables: a split, the OOD average, or the primary semantic/execution average. */
export type ExperimentColumn = ExperimentSplit | 'oodAvg' | 'semExecAvg';

/** One row of the Table-1-shaped table. */
export interface ExperimentRow {
  method: string;
  algo: 'base' | ExperimentAlgo;
  reward: 'none' | ExperimentReward;
  /** Mean success fraction over seeds. */
  success: { id: number; vision: number; semantic: number; execution: number; oodAvg: number; semExecAvg: number };
  /** 95 % Student-t half-widths over seeds (null below EXPERIMENT_HYPERPARAMETERS.minSeedsForCi seeds). */
  ci: { id: number | null; vision: number | null; semantic: number | null; execution: number | null; oodAvg: number | null; semExecAvg: number | null };
}

/** A paired difference a − b of success fractions over the seeds of the run. */
export interface PairedRow {
  algo: ExperimentAlgo;
  a: ExperimentReward;
  b: ExperimentReward;
  split: 'id' | 'semantic' | 'execution' | 'semExecAvg' | 'oodAvg';
  n: number;
  mean: number;
  ciLow: number | null;
  ciHigh: number | null;
  wins: number;
  losses: number;
}

/** The gate: oracle-stage − Steps-To-Go in distribution; passed when the 95 % interval lies above 0. */
export interface GateResult {
  algo: ExperimentAlgo;
  n: number;
  mean: number;
  ciLow: number | null;
  ciHigh: number | null;
  passed: boolean;
}

/** The base policy's rates. */
export interface BaseRates {
  /** Deterministic (mean-action) evaluation success per split, mean over seeds. */
  deterministic: Record<ExperimentSplit, number>;
  /** Success of its sampled actions in the first RL rollouts (the same for every variant of an algorithm), mean over seeds. */
  sampledSuccess: Partial<Record<ExperimentAlgo, number>>;
  /** Success of its sampled actions on the held-out probe states, mean over seeds. */
  probeSuccess: number;
  /** Fraction of the demonstrations that succeeded, mean over seeds. */
  demoSuccess: number;
}

/** Diagnostics of one value model on the base's failed sampled rollouts (pooled over seeds). */
export interface ValueModelReport {
  target: ValueTarget;
  model: string;
  /** Spearman correlation of the last-frame value with the true stage there (null when undefined). */
  spearman: number | null;
  /** Mean value per last stage 0 … 3 (null for a stage no failure ended in). */
  byStage: Array<number | null>;
  /** byStage[3] − byStage[0]. */
  spread: number | null;
  /** Failed rollouts pooled. */
  failed: number;
  /** The issue's targets: Spearman ≥ 0.85 and spread ≥ 0.3; whether both are met. */
  meetsTargets: boolean;
}

/** The JSON the `--json` option prints (stable shape). */
export interface ExperimentJson {
  config: Record<string, unknown>;
  seeds: number[];
  rows: ExperimentRow[];
  paired: PairedRow[];
  gate: GateResult | null;
  base: BaseRates;
  valueModels: ValueModelReport[];
  timings: Record<string, number>;
  /** What the numbers can and cannot say (the demonstration warning, missing intervals). */
  notes: string[];
}

/** Everything a run produced: the JSON plus what the plots and contact sheets need. */
export interface ExperimentResult extends ExperimentJson {
  /** Per method: training-rollout success per update, one array per seed. */
  curves: Record<string, number[][]>;
  /** Per seed, per method, per split: success fraction. */
  perSeed: Array<Record<string, Record<ExperimentSplit, number>>>;
  /** Per seed Spearman of each head and the number of failed probe rollouts; value curves of the first seed. */
  valueProbe: { perSeed: Array<{ feat2go: number | null; stepsToGo: number | null; failed: number }>; curves: ValueCurve[] };
  /** First seed: frames of evaluation episode 0, per method and split (`[T, S, S, 3]` each). */
  episodes: SeedRecord['episodes'];
  numStages: number;
}

const COLUMNS: ExperimentColumn[] = ['id', 'vision', 'semantic', 'execution', 'oodAvg', 'semExecAvg'];
const PAIRED_SPLITS: PairedRow['split'][] = ['id', 'semantic', 'execution', 'semExecAvg', 'oodAvg'];

function column(r: Record<ExperimentSplit, number>, c: ExperimentColumn): number {
  if (c === 'oodAvg') return (r.vision + r.semantic + r.execution) / 3;
  if (c === 'semExecAvg') return (r.semantic + r.execution) / 2;
  return r[c];
}

const nan2null = (x: number): number | null => (Number.isFinite(x) ? x : null);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The methods of a run in table order: the base, then each algorithm's rewards. */
export function experimentMethods(cfg: Pick<ResolvedExperimentConfig, 'algos' | 'rewards'>): Array<{ algo: 'base' | ExperimentAlgo; reward: 'none' | ExperimentReward }> {
  return [{ algo: 'base', reward: 'none' }, ...cfg.algos.flatMap((algo) => cfg.rewards.map((reward) => ({ algo, reward })))];
}

/** Paired differences of every reward against sparse and against Steps-To-Go (when both ran). */
export function pairedRows(cfg: Pick<ResolvedExperimentConfig, 'algos' | 'rewards'>, records: Pick<SeedRecord, 'success'>[], minN: number): PairedRow[] {
  const out: PairedRow[] = [];
  for (const algo of cfg.algos) {
    for (const b of ['sparse', 'steps-to-go'] as const) {
      if (!cfg.rewards.includes(b)) continue;
      for (const a of cfg.rewards) {
        if (a === b || a === 'sparse' || (b === 'steps-to-go' && a === 'steps-to-go')) continue;
        for (const split of PAIRED_SPLITS) {
          const xa = records.map((s) => column(s.success[methodName(algo, a)], split));
          const xb = records.map((s) => column(s.success[methodName(algo, b)], split));
          out.push({ algo, a, b, split, ...pairedDifference(xa, xb, minN) });
        }
      }
    }
  }
  return out;
}

function valueReports(cfg: ResolvedExperimentConfig, records: SeedRecord[]): ValueModelReport[] {
  const targets = (['feat2go', 'steps-to-go'] as const).filter((t) => records.every((s) => s.probe.values[t]));
  return targets.map((target) => {
    const v = records.flatMap((s) => s.probe.values[target]!);
    const st = records.flatMap((s) => s.probe.stage);
    const byStage = [0, 1, 2, 3].map((k) => {
      const xs = v.filter((_, i) => st[i] === k);
      return xs.length ? mean(xs) : null;
    });
    const rho = nan2null(spearman(v, st));
    const spread = byStage[3] !== null && byStage[0] !== null ? byStage[3] - byStage[0] : null;
    return { target, model: cfg.valueModel, spearman: rho, byStage, spread, failed: v.length, meetsTargets: rho !== null && rho >= 0.85 && spread !== null && spread >= 0.3 };
  });
}

/** Pools the seeds' records (in seed order) into the run's result. */
export function summariseExperiment(cfg: ResolvedExperimentConfig, records: SeedRecord[], meta: { ranks: number; workers: number; numStages: number; totalSeconds: number }): ExperimentResult {
  const hp = EXPERIMENT_HYPERPARAMETERS;
  const minN = hp.minSeedsForCi;
  const rows: ExperimentRow[] = experimentMethods(cfg).map(({ algo, reward }) => {
    const name = methodName(algo, reward);
    const cells = Object.fromEntries(COLUMNS.map((c) => {
      const r = meanCi(records.map((s) => column(s.success[name], c)));
      return [c, { mean: r.mean, ci: r.n >= minN ? r.ci : null }];
    })) as Record<ExperimentColumn, { mean: number; ci: number | null }>;
    return {
      method: name, algo, reward,
      success: Object.fromEntries(COLUMNS.map((c) => [c, cells[c].mean])) as ExperimentRow['success'],
      ci: Object.fromEntries(COLUMNS.map((c) => [c, cells[c].ci])) as ExperimentRow['ci'],
    };
  });
  const paired = pairedRows(cfg, records, minN);
  const g = paired.find((p) => p.algo === cfg.algos[0] && p.a === 'oracle-stage' && p.b === 'steps-to-go' && p.split === 'id');
  const gate: GateResult | null = g ? { algo: g.algo, n: g.n, mean: g.mean, ciLow: g.ciLow, ciHigh: g.ciHigh, passed: g.ciLow !== null && g.ciLow > 0 } : null;
  const base: BaseRates = {
    deterministic: Object.fromEntries(EXPERIMENT_SPLITS.map((s) => [s, mean(records.map((r) => r.success[methodName('base', 'none')][s]))])) as Record<ExperimentSplit, number>,
    sampledSuccess: Object.fromEntries(cfg.algos.map((a) => [a, mean(records.map((r) => r.curves[methodName(a, cfg.rewards[0])]?.[0] ?? NaN))])
      .filter(([, v]) => Number.isFinite(v))),
    probeSuccess: mean(records.map((r) => r.probe.success)),
    demoSuccess: mean(records.map((r) => r.demoSuccess)),
  };
  const timings: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r.timings)) timings[k] = (timings[k] ?? 0) + v;
  timings.total = meta.totalSeconds;
  for (const k of Object.keys(timings)) timings[k] = Math.round(timings[k] * 100) / 100;
  const notes: string[] = [];
  if (cfg.preset !== 'full') notes.push(`A demonstration of the pipeline at '${cfg.preset}' sizes, not a result: the numbers mean little (see the --full run in results/).`);
  if (records.length < minN) notes.push(`No confidence intervals: ${records.length} seed${records.length === 1 ? '' : 's'} (intervals need at least ${minN}).`);
  const curves: Record<string, number[][]> = {};
  for (const r of records) for (const [k, c] of Object.entries(r.curves)) (curves[k] ??= []).push(c);
  const perTarget = (s: SeedRecord, t: ValueTarget) => (s.probe.values[t] ? nan2null(spearman(s.probe.values[t]!, s.probe.stage)) : null);
  return {
    config: {
      preset: cfg.preset, seeds: cfg.seeds, seed: cfg.seed, algos: cfg.algos, rewards: cfg.rewards, task: cfg.task, horizon: cfg.horizon,
      demonstrator: cfg.demonstrator, ...(cfg.demonstrator === 'variable-pace' ? { demonstratorOptions: cfg.demonstratorOptions } : {}),
      valueModel: cfg.valueModel, threads: cfg.threads, ranks: meta.ranks, workers: meta.workers, sizes: cfg.sizes, hyperparameters: hp,
    },
    seeds: records.map((r) => r.seed),
    rows, paired, gate, base, valueModels: valueReports(cfg, records), timings, notes,
    curves,
    perSeed: records.map((r) => r.success),
    valueProbe: {
      perSeed: records.map((s) => ({ feat2go: perTarget(s, 'feat2go'), stepsToGo: perTarget(s, 'steps-to-go'), failed: s.probe.stage.length })),
      curves: records[0]?.valueCurves ?? [],
    },
    episodes: records[0]?.episodes ?? {},
    numStages: meta.numStages,
  };
}

// ------------------------------------------------------------------ tables

/** Formats a fraction (with an optional CI half-width) as "xx.x ± y.y" (percent). */
function pct(m: number, ci: number | null): string {
  return `${(m * 100).toFixed(1)}${ci === null ? '' : ` ± ${(ci * 100).toFixed(1)}`}`;
}

/** Formats a signed difference in points. */
function pts(x: number): string {
  const v = Math.round(x * 1000) / 10;
  const s = Math.abs(v).toFixed(1);
  return v > 0 ? `+${s}` : v < 0 ? `−${s}` : '0.0';
}

/** The Table-1-shaped table (success %, mean over seeds, ± 95 % CI from 5 seeds on) as Markdown. */
export function formatExperimentTable(r: Pick<ExperimentJson, 'rows' | 'seeds'>): string {
  const lines = ['| Method | In-distribution | Vision | Semantic | Execution | OOD avg | Sem./exec. avg |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const row of r.rows) {
    const c = (k: ExperimentColumn) => pct(row.success[k], row.ci[k]);
    lines.push(`| ${row.method} | ${c('id')} | ${c('vision')} | ${c('semantic')} | ${c('execution')} | ${c('oodAvg')} | ${c('semExecAvg')} |`);
  }
  const n = r.seeds.length;
  const seeds = n > 6 ? `${r.seeds[0]}–${r.seeds[n - 1]}` : r.seeds.join(', ');
  const withCi = r.rows.some((x) => x.ci.id !== null);
  lines.push('', `Success rate in %, ${withCi ? 'mean ± 95 % CI (Student t)' : 'mean (no intervals below 5 seeds)'} over n = ${n} seed${n === 1 ? '' : 's'} (${seeds}).`);
  return `${lines.join('\n')}\n`;
}

/** The paired differences (points, mean [95 % CI] wins/losses) as Markdown, one row per comparison. */
export function formatPairedTable(r: Pick<ExperimentJson, 'paired' | 'gate'>): string {
  if (r.paired.length === 0) return '';
  const name = (x: ExperimentReward) => methodName('ppo', x).replace(/^PPO (\+ )?/, '');
  const cols = PAIRED_SPLITS;
  const lines = ['| Comparison (a − b) | In-distribution | Semantic | Execution | Sem./exec. avg | OOD avg |', '|---|---:|---:|---:|---:|---:|'];
  const keys = [...new Set(r.paired.map((p) => `${p.algo}|${p.a}|${p.b}`))];
  for (const key of keys) {
    const [algo, a, b] = key.split('|') as [ExperimentAlgo, ExperimentReward, ExperimentReward];
    const cell = (split: PairedRow['split']) => {
      const p = r.paired.find((x) => x.algo === algo && x.a === a && x.b === b && x.split === split)!;
      const ci = p.ciLow === null ? '' : ` [${pts(p.ciLow)}, ${pts(p.ciHigh!)}]`;
      return `${pts(p.mean)}${ci} ${p.wins}/${p.losses}`;
    };
    lines.push(`| ${algo.toUpperCase()} ${name(a)} − ${name(b)} | ${cols.map(cell).join(' | ')} |`);
  }
  lines.push('', 'Paired over seeds, in points: mean [95 % t-interval] wins/losses (seeds where a beat b / lost to it).');
  if (r.gate) {
    const g = r.gate;
    lines.push(`Gate (${g.algo.toUpperCase()} oracle stage − Steps-To-Go, in distribution): ${pts(g.mean)}${g.ciLow === null ? '' : ` [${pts(g.ciLow)}, ${pts(g.ciHigh!)}]`}, n = ${g.n}: ${g.passed ? 'passed' : 'not passed'}.`);
  }
  return `${lines.join('\n')}\n`;
}

/** The value-model table as Markdown. */
export function formatValueModelTable(r: Pick<ExperimentJson, 'valueModels'> & Partial<Pick<ExperimentResult, 'valueProbe'>>): string {
  const lines = [
    '| Value target | Model | Spearman (value vs true stage) | Mean value by last stage 0 / 1 / 2 / 3 | Stage 3 − stage 0 | Failed rollouts |',
    '|---|---|---:|---|---:|---:|',
  ];
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  for (const v of r.valueModels) {
    lines.push(`| ${v.target === 'feat2go' ? 'Feat2Go' : 'Steps-To-Go'} | ${v.model} | ${f(v.spearman)} | ${v.byStage.map((x) => (x === null ? '–' : x.toFixed(2))).join(' / ')} | ${f(v.spread)} | ${v.failed} |`);
  }
  lines.push('', 'On the base policy\'s failed sampled rollouts from held-out initial states, pooled over seeds; targets: Spearman ≥ 0.85, spread ≥ 0.3.');
  return `${lines.join('\n')}\n`;
}
