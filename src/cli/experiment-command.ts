// `feat2go experiment`: the paper's experiment in miniature on the built-in
// pick-and-place task (src/jobs/experiment.ts), with a progress bar per phase,
// the tables at the end, and every output written to --out as one set.
// `feat2go experiment calibrate`: the task's RL horizon on calibration seeds
// (src/jobs/experiment-calibrate.ts), and optionally the gate.
import os from 'node:os';
import path from 'node:path';
import { PICK_PLACE_TASKS } from '../sim/pick-place.js';
import {
  EXPERIMENT_REWARDS, EXPERIMENT_VALUE_MODELS, checkExperimentRanks, formatExperimentTable, formatPairedTable, formatValueModelTable, resolveExperimentConfig,
  runExperiment, type ExperimentAlgo, type ExperimentConfig, type ExperimentPreset, type ExperimentProgress, type ExperimentResult, type ExperimentReward,
  type ExperimentTask, type ExperimentValueModelKind,
} from '../jobs/experiment.js';
import { calibrateExperiment, calibrationMarkdown, type CalibrationResult } from '../jobs/experiment-calibrate.js';
import { checkExperimentOutputDir, experimentJson, writeExperimentOutputs, writeFileSet } from '../jobs/experiment-report.js';
import { launchRanks } from '../jobs/launch.js';
import { destroyDistributed, initDistributed, rank as distRank } from '../torch/distributed.js';
import { UsageError, intOption, type Command, type CommandIO } from './command.js';
import { progressBar } from './ui.js';

/** Parsed `feat2go experiment` arguments. */
export interface ExperimentArgs {
  config: ExperimentConfig;
  out: string;
  json: boolean;
  /** `--ranks N`: start N ranks on this machine (1: run here). */
  ranks: number;
  /** `--distributed`: this process is one rank of a group described by the environment. */
  distributed: boolean;
  /** `--workers N`: worker processes, each running a share of the seeds (1: run here). */
  workers: number;
  /** `calibrate`: calibrate the task's horizon instead of running the experiment. */
  calibrate: boolean;
  /** `calibrate --gate`: also run the gate on the calibration seeds. */
  gate: boolean;
}

const SIZE_FLAGS: Record<string, string> = { numEnvs: 'envs', groupSize: 'group-size', rlUpdates: 'updates', evalEpisodes: 'eval-episodes', demos: 'demos', bcDemos: 'bc-demos' };
const flagOf = (msg: string) => msg.replace(/config\.sizes\.(\w+)/g, (_m, k: string) => `--${SIZE_FLAGS[k] ?? k}`).replace(/config\.(\w+)/g, (_m, k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);

function listOption<T extends string>(v: unknown, name: string, allowed: readonly T[]): T[] | undefined {
  if (v === undefined) return undefined;
  const items = String(v).split(',').map((x) => x.trim()).filter(Boolean);
  const bad = items.find((x) => !allowed.includes(x as T));
  if (bad !== undefined || items.length === 0) throw new UsageError(`--${name} expects a comma-separated list of ${allowed.join(', ')} but received '${String(v)}'`);
  return items as T[];
}

function choiceOption<T extends string>(v: unknown, name: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(String(v) as T)) throw new UsageError(`--${name} expects ${allowed.map((a) => `'${a}'`).join(', ')} but received '${String(v)}'`);
  return String(v) as T;
}

/**
 * Turns parsed option values into an experiment config; throws {@link UsageError} on bad values,
 * including an --out that cannot receive the outputs (checked before any work).
 */
export function parseExperimentArgs(values: Record<string, string | boolean | undefined>, positionals: string[] = []): ExperimentArgs {
  const calibrate = positionals[0] === 'calibrate';
  const extra = positionals.slice(calibrate ? 1 : 0);
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}' (the experiment takes options, or 'calibrate' and options)`);
  const presets = (['tiny', 'quick', 'full'] as const).filter((p) => values[p]);
  if (presets.length > 1) throw new UsageError(`--${presets[0]} and --${presets[1]} exclude each other`);
  const preset: ExperimentPreset = presets[0] ?? (calibrate ? 'full' : 'quick');
  const algo = values.algo === undefined ? 'ppo' : String(values.algo);
  if (!['ppo', 'grpo', 'both'].includes(algo)) throw new UsageError(`--algo expects 'ppo', 'grpo' or 'both' but received '${algo}'`);
  const algos: ExperimentAlgo[] = algo === 'both' ? ['ppo', 'grpo'] : [algo as ExperimentAlgo];
  const sizes: NonNullable<ExperimentConfig['sizes']> = {};
  const put = (k: keyof typeof sizes, flag: string, min: number) => { const v = intOption(values[flag], flag, min, 100000); if (v !== undefined) sizes[k] = v; };
  put('numEnvs', 'envs', 1); put('groupSize', 'group-size', 1); put('rlUpdates', 'updates', 0); put('evalEpisodes', 'eval-episodes', 1);
  put('demos', 'demos', 1); put('bcDemos', 'bc-demos', 1);
  const config: ExperimentConfig = { preset, algos, sizes };
  const seeds = intOption(values.seeds, 'seeds', 1, 100000);
  if (seeds !== undefined) config.seeds = seeds;
  else if (calibrate) config.seeds = 20;
  const seed = intOption(values.seed, 'seed', 0, 2 ** 31 - 1);
  config.seed = seed ?? (calibrate ? 1000 : 0);
  const threads = intOption(values.threads, 'threads', 0, 4096);
  if (threads !== undefined) config.threads = threads;
  const horizon = intOption(values.horizon, 'horizon', 1, 10000);
  if (horizon !== undefined) config.horizon = horizon;
  const task = choiceOption<ExperimentTask>(values.task, 'task', PICK_PLACE_TASKS);
  if (task) config.task = task;
  const demonstrator = choiceOption(values.demonstrator, 'demonstrator', ['variable-pace', 'steady'] as const);
  if (demonstrator) config.demonstrator = demonstrator;
  const rewards = listOption<ExperimentReward>(values.rewards, 'rewards', EXPERIMENT_REWARDS);
  if (rewards) config.rewards = rewards;
  const valueModel = choiceOption<ExperimentValueModelKind>(values['value-model'], 'value-model', EXPERIMENT_VALUE_MODELS);
  if (valueModel) config.valueModel = valueModel;
  // sizes that must agree with each other (group size divides the envs, ...) are checked here too
  let resolved;
  try {
    resolved = resolveExperimentConfig(config);
  } catch (err) {
    throw new UsageError(flagOf((err as Error).message));
  }
  const out = values.out === undefined ? path.join('feat2go-out', calibrate ? `calibration-${resolved.task}` : 'experiment') : String(values.out);
  if (!out) throw new UsageError('--out expects a directory');
  const ranks = intOption(values.ranks, 'ranks', 1, 1024) ?? 1;
  const workers = intOption(values.workers, 'workers', 1, 1024) ?? 1;
  const distributed = values.distributed === true;
  if (ranks > 1 && distributed) throw new UsageError('--ranks and --distributed exclude each other (--ranks starts the ranks, each of which runs with --distributed)');
  if (workers > 1 && (ranks > 1 || distributed)) throw new UsageError('--workers and --ranks/--distributed exclude each other (workers split the seeds, ranks split each seed)');
  if (calibrate && (ranks > 1 || distributed)) throw new UsageError('calibrate runs in one process or in --workers, not with --ranks/--distributed');
  if (values.gate === true && !calibrate) throw new UsageError("--gate belongs to 'feat2go experiment calibrate'");
  try {
    checkExperimentRanks(resolved.sizes, ranks);
  } catch (err) {
    throw new UsageError(`--ranks ${ranks}: ${flagOf((err as Error).message)}`);
  }
  // Before any work: the outputs are written at the end, as one set.
  if (!distributed || distRankFromEnv() === 0) {
    try {
      checkExperimentOutputDir(out, calibrate ? CALIBRATION_FILES : undefined);
    } catch (err) {
      const msg = (err as Error).message;
      throw new UsageError(`--out ${msg.startsWith(`${out}: `) ? msg : `${out}: ${msg}`}`);
    }
  }
  return { config, out, json: values.json === true, ranks, distributed, workers, calibrate, gate: values.gate === true };
}

const CALIBRATION_FILES = ['calibration.json', 'calibration.md'];

/** The rank a launcher gave this process (RANK), 0 without one. */
function distRankFromEnv(): number {
  const r = Number(process.env.RANK ?? 0);
  return Number.isInteger(r) ? r : 0;
}

const PHASES: Record<ExperimentProgress['phase'], string> = {
  demos: 'demonstrations', 'value-models': 'value models', 'behaviour-cloning': 'behaviour cloning', rl: 'RL', evaluation: 'evaluation', 'value-probe': 'value probe',
};

function progressReporter(io: CommandIO, lead: boolean) {
  const tty = io.stderr.isTTY === true;
  const bar = progressBar(io.stderr, tty);
  let last = '';
  return {
    bar,
    onProgress: (p: ExperimentProgress) => {
      if (!lead) return;
      const head = `seed ${p.seed} · ${PHASES[p.phase]}`;
      if (tty) bar.update(p.done, p.total, `${head}: ${p.label}`);
      else if (head !== last) io.stderr.write(`${head}\n`);
      last = head;
    },
  };
}

/**
 * Runs the experiment for parsed arguments, writing progress to `io.stderr`; returns the result
 * and the files written. Under a process group (`--distributed`) only rank 0 reports progress
 * and writes the outputs (`files` is empty on the other ranks).
 */
export async function runExperimentCommand(args: ExperimentArgs, io: CommandIO, commandLine?: string): Promise<{ result: ExperimentResult; files: string[] }> {
  const lead = !args.distributed || distRank() === 0;
  const { bar, onProgress } = progressReporter(io, lead);
  const result = await runExperiment(args.config, { distributed: args.distributed, workers: args.workers, onProgress });
  bar.clear();
  const files = lead ? await writeExperimentOutputs(result, args.out, commandLine) : [];
  return { result, files };
}

/**
 * `--ranks N`: starts N ranks of this same command with `--distributed` (and `--threads`
 * cores / N unless given) through the launcher; rank 0's stdout passes through unprefixed.
 */
async function launchExperimentRanks(args: ExperimentArgs, io: CommandIO): Promise<number> {
  const argv = process.argv.slice(2);
  const childArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ranks') { i++; continue; }
    if (argv[i].startsWith('--ranks=')) continue;
    childArgs.push(argv[i]);
  }
  const threads = args.config.threads || Math.max(1, Math.floor(os.availableParallelism() / args.ranks));
  if (!args.config.threads) childArgs.push('--threads', String(threads));
  childArgs.push('--distributed');
  const r = await launchRanks({
    nproc: args.ranks, script: process.argv[1], args: childArgs, prefixStdout: false,
    env: { OMP_NUM_THREADS: String(threads) }, stdout: io.stdout, stderr: io.stderr,
  });
  return r.status;
}

/** `feat2go experiment calibrate`: the horizon (and with --gate, the gate), written to --out/calibration.{json,md}. */
async function runCalibrateCommand(args: ExperimentArgs, io: CommandIO, commandLine: string): Promise<number> {
  const { bar, onProgress } = progressReporter(io, true);
  const c: CalibrationResult = await calibrateExperiment({ experiment: args.config, gate: args.gate }, { workers: args.workers, onProgress });
  bar.clear();
  writeFileSet(args.out, [
    ['calibration.json', `${JSON.stringify({ command: commandLine, ...c }, null, 2)}\n`], ['calibration.md', calibrationMarkdown(c, commandLine)],
  ], CALIBRATION_FILES);
  if (args.json) {
    io.stdout.write(`${JSON.stringify(c)}\n`);
    return 0;
  }
  const p = (x: number) => `${(x * 100).toFixed(1)} %`;
  io.stdout.write([
    '', `Task '${c.task}', calibration seeds ${c.seeds[0]}–${c.seeds[c.seeds.length - 1]}: horizon ${c.horizon} (the base's sampled success ${p(c.sampledSuccess)}${c.inTarget ? '' : ', outside the target band'}).`,
    ...(c.gate ? [`Gate (PPO oracle stage − Steps-To-Go, id, n = ${c.gate.n}): ${(c.gate.mean * 100).toFixed(1)} points [${c.gate.ciLow === null ? 'n/a' : (c.gate.ciLow * 100).toFixed(1)}, ${c.gate.ciHigh === null ? 'n/a' : (c.gate.ciHigh * 100).toFixed(1)}]: ${c.gate.passed ? 'passed' : 'not passed'}.`] : []),
    `Time: ${c.timings.total} s. Outputs: ${path.resolve(args.out)} (calibration.json, calibration.md)`, '',
  ].join('\n'));
  return 0;
}

/** `feat2go experiment`. */
export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'Run the paper\'s experiment in miniature: Feat2Go vs Steps-To-Go vs sparse rewards (and two controls), paired over seeds, 4 splits.',
  usage: '[calibrate] [--quick | --full] [--task T] [--seeds N] [--seed S] [--algo ppo|grpo|both] [--out DIR] [--json] [--workers N | --ranks N | --distributed]',
  description: [
    'On the built-in pick-and-place task: demonstrations by a variable-pace scripted teleoperator (pauses, slow approaches, drops and regrasps); their successful episodes labelled with Feat2Go progress targets and Steps-To-Go targets; one value model per target on the same frames; a weak base policy by behaviour cloning; RL from the base with LoRA adapters, one run per terminal reward — sparse, Steps-To-Go, Feat2Go, and two controls: oracle-stage (the simulator\'s true progress) and constant (a placebo) — all from the same base with the same initial states and sampling stream; every policy evaluated on the in-distribution, vision, semantic and execution splits; the value models probed on the base\'s own failed rollouts.',
    'The RL horizon is the task\'s calibrated one (rare success: the base succeeds in 5–10 % of its sampled rollouts); `feat2go experiment calibrate [--task T] [--gate]` recomputes it on calibration seeds 1000+ (never reported) and, with --gate, runs the gate (PPO oracle-stage vs Steps-To-Go) there.',
    'Outputs in --out, written as one set (a hidden folder beside it, renamed over it): results.json, results.md (success per method, paired differences, the base\'s rates, the value models), details.json, success-over-training.svg, value-curves.svg, contact-<split>.png. --out must be new, empty, or a previous output set.',
    '--json prints only the results JSON on stdout (progress stays on stderr). Runs are deterministic for a given --seed and --threads (--workers sets the threads per worker).',
  ].join('\n\n'),
  options: [
    { name: 'quick', type: 'boolean', description: 'Quick sizes (the default; what `npm start` runs; a demonstration, not a result: 2 seeds, no intervals).' },
    { name: 'full', type: 'boolean', description: 'Full sizes (the README\'s table: 20 seeds, 300 evaluation episodes per split; about 30 minutes on 2 cores with --workers 2).' },
    { name: 'tiny', type: 'boolean', description: 'Smoke-test sizes (seconds; the numbers mean nothing).' },
    { name: 'task', type: 'string', value: 'T', description: 'Task variant: pick-place, slip (a high grip slips while carrying) or knock (a rim knocks a low-carried cube away).', implicitDefault: 'pick-place' },
    { name: 'seeds', type: 'string', value: 'N', description: 'Independent repetitions (tiny 1, quick 2, full 20; calibrate 20).' },
    { name: 'seed', type: 'string', value: 'S', description: 'Base seed; repetition k uses S + k (calibrate: 1000).', implicitDefault: '0' },
    { name: 'algo', type: 'string', value: 'ppo|grpo|both', description: 'RL algorithms to run.', implicitDefault: 'ppo' },
    { name: 'rewards', type: 'string', value: 'LIST', description: `Comma-separated reward variants among ${EXPERIMENT_REWARDS.join(', ')}.`, implicitDefault: 'all' },
    { name: 'horizon', type: 'string', value: 'H', description: 'RL and evaluation horizon (overrides the task\'s calibrated one).' },
    { name: 'demonstrator', type: 'string', value: 'variable-pace|steady', description: 'Demonstration source.', implicitDefault: 'variable-pace' },
    { name: 'value-model', type: 'string', value: 'KIND', description: `What the value models see: ${EXPERIMENT_VALUE_MODELS.join(', ')}.`, implicitDefault: EXPERIMENT_VALUE_MODELS[0] },
    { name: 'envs', type: 'string', value: 'N', description: 'Environments per RL rollout batch (overrides the preset).' },
    { name: 'group-size', type: 'string', value: 'G', description: 'GRPO rollouts per initial state; divides --envs.' },
    { name: 'updates', type: 'string', value: 'N', description: 'RL updates per variant (overrides the preset).' },
    { name: 'eval-episodes', type: 'string', value: 'N', description: 'Evaluation episodes per split and policy (at most 400 held-out states).' },
    { name: 'demos', type: 'string', value: 'N', description: 'Scripted demonstrations for the value models.' },
    { name: 'bc-demos', type: 'string', value: 'N', description: 'Successful demonstrations the base policy is cloned from (fewer: a weaker base).' },
    { name: 'threads', type: 'string', value: 'N', description: 'Pool threads per process (0: every core, or the cores / workers).', default: '0' },
    { name: 'workers', type: 'string', value: 'N', description: 'Worker processes, each running a share of the seeds (faster than --ranks on one machine).', default: '1' },
    { name: 'out', type: 'string', value: 'DIR', description: 'Output folder (new, empty, or a previous output set).', implicitDefault: 'feat2go-out/experiment (calibrate: feat2go-out/calibration-<task>)' },
    { name: 'json', type: 'boolean', description: 'Print only the results JSON on stdout.' },
    { name: 'gate', type: 'boolean', description: 'calibrate: also run the gate (PPO oracle-stage vs Steps-To-Go) on the calibration seeds.' },
    { name: 'ranks', type: 'string', value: 'N', description: 'Data-parallel ranks on this machine (started as `feat2go launch` does): each steps its share of the environments; together they train one policy per variant. --threads defaults to the cores / N.', default: '1' },
    { name: 'distributed', type: 'boolean', description: 'Run as one rank of a process group given by RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (what --ranks, torchrun-style launchers, srun or a Kubernetes indexed job set); rank 0 prints and writes the outputs.' },
  ],
  examples: [
    'feat2go experiment --quick',
    'feat2go experiment --full --workers 2 --out results/experiment-full',
    'feat2go experiment calibrate --task knock --gate --workers 2',
    'feat2go experiment --algo grpo --seed 7 --json > grpo.json',
    'feat2go experiment --quick --ranks 2',
  ],
  async run({ values, positionals }, io) {
    const args = parseExperimentArgs(values, positionals);
    const cmd = `feat2go experiment ${process.argv.slice(3).join(' ')}`.trim();
    if (args.calibrate) return runCalibrateCommand(args, io, cmd);
    if (args.ranks > 1) return launchExperimentRanks(args, io);
    const myRank = args.distributed ? (await initDistributed()).rank : 0;
    let outcome: { result: ExperimentResult; files: string[] };
    try {
      outcome = await runExperimentCommand(args, io, cmd);
    } finally {
      if (args.distributed) await destroyDistributed();
    }
    const { result, files } = outcome;
    if (myRank !== 0) return 0; // rank 0 prints the tables
    if (args.json) {
      io.stdout.write(`${JSON.stringify(experimentJson(result))}\n`);
      return 0;
    }
    const b = result.base;
    const p = (x: number) => `${(x * 100).toFixed(1)} %`;
    io.stdout.write([
      '', ...result.notes.map((n) => `NOTE: ${n}`), ...(result.notes.length ? [''] : []),
      formatExperimentTable(result).trimEnd(), '',
      ...(result.paired.length ? [formatPairedTable(result).trimEnd(), ''] : []),
      `The base: ${p(b.deterministic.id)} in distribution with its mean action; ${Object.entries(b.sampledSuccess).map(([a, v]) => `${p(v)} of its sampled ${a.toUpperCase()} rollouts`).join(', ')} (task '${(result.config as { task: string }).task}', horizon ${(result.config as { horizon: number }).horizon}).`, '',
      formatValueModelTable(result).trimEnd(), '',
      `Time: ${result.timings.total} s. Settings and hyperparameters in results.md. Outputs: ${path.resolve(args.out)} (${files.map((f) => path.basename(f)).join(', ')})`, '',
    ].join('\n'));
    return 0;
  },
};
