// `feat2go experiment`: the paper's experiment in miniature on the built-in
// pick-and-place task (src/jobs/experiment.ts), with a progress bar per phase,
// the tables at the end, and every output written to --out.
import os from 'node:os';
import path from 'node:path';
import {
  EXPERIMENT_HYPERPARAMETERS, checkExperimentRanks, formatExperimentTable, formatValueModelTable, resolveExperimentConfig, runExperiment,
  type ExperimentAlgo, type ExperimentConfig, type ExperimentPreset, type ExperimentProgress, type ExperimentResult,
} from '../jobs/experiment.js';
import { experimentJson, writeExperimentOutputs } from '../jobs/experiment-report.js';
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
}

/** Turns parsed option values into an experiment config; throws {@link UsageError} on bad values. */
export function parseExperimentArgs(values: Record<string, string | boolean | undefined>, positionals: string[] = []): ExperimentArgs {
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (the experiment takes options only)`);
  const presets = (['tiny', 'quick', 'full'] as const).filter((p) => values[p]);
  if (presets.length > 1) throw new UsageError(`--${presets[0]} and --${presets[1]} exclude each other`);
  const preset: ExperimentPreset = presets[0] ?? 'quick';
  const algo = values.algo === undefined ? 'both' : String(values.algo);
  if (!['ppo', 'grpo', 'both'].includes(algo)) throw new UsageError(`--algo expects 'ppo', 'grpo' or 'both' but received '${algo}'`);
  const algos: ExperimentAlgo[] = algo === 'both' ? ['ppo', 'grpo'] : [algo as ExperimentAlgo];
  const sizes: NonNullable<ExperimentConfig['sizes']> = {};
  const envs = intOption(values.envs, 'envs', 1, 4096);
  if (envs !== undefined) sizes.numEnvs = envs;
  const group = intOption(values['group-size'], 'group-size', 1, 4096);
  if (group !== undefined) sizes.groupSize = group;
  const updates = intOption(values.updates, 'updates', 0, 100000);
  if (updates !== undefined) sizes.rlUpdates = updates;
  const evalEpisodes = intOption(values['eval-episodes'], 'eval-episodes', 1, 100000);
  if (evalEpisodes !== undefined) sizes.evalEpisodes = evalEpisodes;
  const demos = intOption(values.demos, 'demos', 1, 100000);
  if (demos !== undefined) sizes.demos = demos;
  const bcDemos = intOption(values['bc-demos'], 'bc-demos', 1, 100000);
  if (bcDemos !== undefined) sizes.bcDemos = bcDemos;
  const config: ExperimentConfig = { preset, algos, sizes };
  const seeds = intOption(values.seeds, 'seeds', 1, 1000);
  if (seeds !== undefined) config.seeds = seeds;
  const seed = intOption(values.seed, 'seed', 0, 2 ** 31 - 1);
  if (seed !== undefined) config.seed = seed;
  const threads = intOption(values.threads, 'threads', 0, 4096);
  if (threads !== undefined) config.threads = threads;
  // sizes that must agree with each other (group size divides the envs, ...) are checked here too
  try {
    resolveExperimentConfig(config);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/config\.sizes\.(\w+)/g, (_m, k: string) => `--${SIZE_FLAGS[k] ?? k}`));
  }
  const out = values.out === undefined ? path.join('feat2go-out', 'experiment') : String(values.out);
  if (!out) throw new UsageError('--out expects a directory');
  const ranks = intOption(values.ranks, 'ranks', 1, 1024) ?? 1;
  const distributed = values.distributed === true;
  if (ranks > 1 && distributed) throw new UsageError('--ranks and --distributed exclude each other (--ranks starts the ranks, each of which runs with --distributed)');
  try {
    checkExperimentRanks(resolveExperimentConfig(config).sizes, ranks);
  } catch (err) {
    throw new UsageError(`--ranks ${ranks}: ${(err as Error).message.replace(/config\.sizes\.(\w+)/g, (_m, k: string) => `--${SIZE_FLAGS[k] ?? k}`)}`);
  }
  return { config, out, json: values.json === true, ranks, distributed };
}

const SIZE_FLAGS: Record<string, string> = { numEnvs: 'envs', groupSize: 'group-size', rlUpdates: 'updates', evalEpisodes: 'eval-episodes', demos: 'demos', bcDemos: 'bc-demos' };

const PHASES: Record<ExperimentProgress['phase'], string> = {
  demos: 'demonstrations', 'value-models': 'value models', 'behaviour-cloning': 'behaviour cloning', rl: 'RL', evaluation: 'evaluation', 'value-probe': 'value probe',
};

/**
 * Runs the experiment for parsed arguments, writing progress to `io.stderr`; returns the result
 * and the files written. Under a process group (`--distributed`) only rank 0 reports progress
 * and writes the outputs (`files` is empty on the other ranks).
 */
export async function runExperimentCommand(args: ExperimentArgs, io: CommandIO, commandLine?: string): Promise<{ result: ExperimentResult; files: string[] }> {
  const tty = io.stderr.isTTY === true;
  const bar = progressBar(io.stderr, tty);
  let last = '';
  const lead = !args.distributed || distRank() === 0;
  const result = await runExperiment(args.config, {
    distributed: args.distributed,
    onProgress: (p) => {
      if (!lead) return;
      const head = `seed ${p.seed} · ${PHASES[p.phase]}`;
      if (tty) bar.update(p.done, p.total, `${head}: ${p.label}`);
      else if (head !== last) io.stderr.write(`${head}\n`);
      last = head;
    },
  });
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

/** `feat2go experiment`. */
export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'Run the paper\'s experiment in miniature: Feat2Go vs Steps-To-Go vs sparse rewards, PPO and GRPO, 4 splits.',
  usage: '[--quick | --full] [--seeds N] [--seed S] [--algo ppo|grpo|both] [--out DIR] [--json] [--ranks N | --distributed]',
  description: [
    'On the built-in pick-and-place task: scripted noisy demonstrations; their successful episodes labelled with Feat2Go progress targets and Steps-To-Go targets; two value heads (201 bins, two-hot) on the pooled built-in encoder features of the frames; a weak base policy by behaviour cloning; RL from the base with LoRA adapters (PPO with GAE, GRPO with groups from one initial state) with sparse, Steps-To-Go-shaped and Feat2Go-shaped terminal rewards; every policy evaluated on the in-distribution, vision, semantic and execution splits.',
    `The hyperparameters are fixed and the same for every reward variant; they are printed with the results. Outputs in --out: results.json, results.md, success-over-training.svg, value-curves.svg, contact-<split>.png.`,
    '--json prints only the results JSON on stdout (progress stays on stderr). Runs are deterministic for a given --seed and --threads.',
  ].join('\n\n'),
  options: [
    { name: 'quick', type: 'boolean', description: 'Quick sizes (the default; what `npm start` runs, a few minutes on 2 cores).' },
    { name: 'full', type: 'boolean', description: 'Full sizes (the README\'s table; about 20 minutes on 2 cores).' },
    { name: 'tiny', type: 'boolean', description: 'Smoke-test sizes (seconds; the numbers mean nothing).' },
    { name: 'seeds', type: 'string', value: 'N', description: 'Independent repetitions (quick 2, full 3).' },
    { name: 'seed', type: 'string', value: 'S', description: 'Base seed; repetition k uses S + k.', default: '0' },
    { name: 'algo', type: 'string', value: 'ppo|grpo|both', description: 'RL algorithms to run.', default: 'both' },
    { name: 'envs', type: 'string', value: 'N', description: 'Environments per RL rollout batch (overrides the preset).' },
    { name: 'group-size', type: 'string', value: 'G', description: 'GRPO rollouts per initial state; divides --envs.' },
    { name: 'updates', type: 'string', value: 'N', description: 'RL updates per variant (overrides the preset).' },
    { name: 'eval-episodes', type: 'string', value: 'N', description: 'Evaluation episodes per split and policy.' },
    { name: 'demos', type: 'string', value: 'N', description: 'Scripted demonstrations for the value models.' },
    { name: 'bc-demos', type: 'string', value: 'N', description: 'Successful demonstrations the base policy is cloned from (fewer: a weaker base).' },
    { name: 'threads', type: 'string', value: 'N', description: 'Pool threads (0: every core).', default: '0' },
    { name: 'out', type: 'string', value: 'DIR', description: 'Output folder.', default: 'feat2go-out/experiment' },
    { name: 'json', type: 'boolean', description: 'Print only the results JSON on stdout.' },
    { name: 'ranks', type: 'string', value: 'N', description: 'Data-parallel ranks on this machine (started as `feat2go launch` does): each steps its share of the environments; together they train one policy per variant. --threads defaults to the cores / N.', default: '1' },
    { name: 'distributed', type: 'boolean', description: 'Run as one rank of a process group given by RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (what --ranks, torchrun-style launchers, srun or a Kubernetes indexed job set); rank 0 prints and writes the outputs.' },
  ],
  examples: [
    'feat2go experiment --quick',
    'feat2go experiment --full --seeds 3 --out results/',
    'feat2go experiment --algo grpo --seed 7 --json > grpo.json',
    'feat2go experiment --quick --ranks 2',
  ],
  async run({ values, positionals }, io) {
    const args = parseExperimentArgs(values, positionals);
    const cmd = `feat2go experiment ${process.argv.slice(3).join(' ')}`.trim();
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
    const hp = EXPERIMENT_HYPERPARAMETERS;
    io.stdout.write([
      '', formatExperimentTable(result).trimEnd(), '', formatValueModelTable(result).trimEnd(), '',
      `Fixed hyperparameters: LoRA r=${hp.lora.rank} α=${hp.lora.alpha} on ${hp.lora.targets.join(', ')}; PPO γ=${hp.ppo.gamma} λ=${hp.ppo.gaeLambda} ` +
        `${hp.ppo.epochs}×${hp.ppo.minibatches} lr ${hp.ppo.actorLr}; GRPO group ${result.config.sizes ? (result.config.sizes as { groupSize: number }).groupSize : ''} ` +
        `clip ${hp.grpo.clipLow}/${hp.grpo.clipHigh} lr ${hp.grpo.actorLr}; failure scale ${hp.failureScale} (all in results.md).`,
      `Time: ${result.timings.total} s. Outputs: ${path.resolve(args.out)} (${files.map((f) => path.basename(f)).join(', ')})`, '',
    ].join('\n'));
    return 0;
  },
};
