// `feat2go label <file|folder>...`: progress targets for every episode found.
import path from 'node:path';
import { DEFAULT_PROGRESS_OPTIONS } from '../progress.js';
import { formatSummaryTable, labelPaths, type LabelFailure } from '../label.js';
import type { ProgressOptions } from '../types.js';
import { UsageError, intOption, numberOption, type Command, type CommandIO } from './command.js';

/** A progress bar on a terminal (stderr), redrawn in place; silent elsewhere. */
export function progressBar(stream: CommandIO['stderr'], enabled: boolean) {
  let shown = false;
  return {
    update(done: number, total: number, label: string) {
      if (!enabled) return;
      const width = 28;
      const filled = Math.round((done / total) * width);
      const cols = stream.columns ?? 80;
      const text = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${label}`;
      stream.write(`\r\x1b[K${text.slice(0, cols - 1)}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Formats one skipped file as the single line printed on stderr. */
export function failureLine(f: LabelFailure): string {
  return `feat2go label: skipped ${f.file}${f.tensor !== undefined ? ` [${f.tensor}]` : ''}: ${f.reason}`;
}

/** Reads the progress options shared by commands that label (`--window`, `--max-cluster-frames`, …). */
export function progressOptionsFrom(values: Record<string, string | boolean | undefined>): ProgressOptions {
  const o: ProgressOptions = {};
  const window = intOption(values.window, 'window', 2);
  const maxClusterFrames = intOption(values['max-cluster-frames'], 'max-cluster-frames', 1);
  const threshold = numberOption(values.threshold, 'threshold');
  const lambda = numberOption(values.lambda, 'lambda', 0);
  const threads = intOption(values.threads, 'threads', 0, 4096);
  if (window !== undefined) o.window = window;
  if (maxClusterFrames !== undefined) o.maxClusterFrames = maxClusterFrames;
  const w = window ?? DEFAULT_PROGRESS_OPTIONS.window;
  if ((maxClusterFrames ?? DEFAULT_PROGRESS_OPTIONS.maxClusterFrames) < w) {
    throw new UsageError(`--max-cluster-frames expects an integer ≥ the window (${w}) but received '${maxClusterFrames ?? DEFAULT_PROGRESS_OPTIONS.maxClusterFrames}'`);
  }
  if (threshold !== undefined) o.threshold = threshold;
  if (lambda !== undefined) o.lambda = lambda;
  if (threads !== undefined) o.threads = threads;
  return o;
}

/** Options shared by commands that label episodes. */
export const PROGRESS_OPTION_SPECS: Command['options'] = [
  { name: 'window', type: 'string', value: 'N', description: 'Sliding-window length w ≥ 2 of the slope test.', default: String(DEFAULT_PROGRESS_OPTIONS.window) },
  { name: 'max-cluster-frames', type: 'string', value: 'N', description: 'Most frames one stage may hold (≥ window).', default: String(DEFAULT_PROGRESS_OPTIONS.maxClusterFrames) },
  { name: 'threshold', type: 'string', value: 'X', description: 'Slope τ above which a window starts a rising trend (a new stage).', default: String(DEFAULT_PROGRESS_OPTIONS.threshold) },
  { name: 'lambda', type: 'string', value: 'X', description: 'L1 penalty λ ≥ 0 of the patch similarity (β = λ / D).', default: String(DEFAULT_PROGRESS_OPTIONS.lambda) },
  { name: 'threads', type: 'string', value: 'N', description: 'Threads to use; 0 = every core.', default: '0' },
];

export const labelCommand: Command = {
  name: 'label',
  summary: 'Label episode feature files with Feat2Go progress targets, plots and a summary.',
  usage: '<file|folder>... [options]',
  description: [
    'Finds every episode in the given files and folders (folders are searched recursively): each .npy file holds one episode, a float32 or float16 array [T,N,D] (T frames, N patches, D feature dims, C order); each rank-3 F32/F16/BF16 tensor in a .safetensors file is one episode.',
    'For each episode it writes OUT/<name>/values.npy [T], similarity.npy [T], segments.npy [K,2] int32 (inclusive start, end), segments.json, result.json (everything, with the options) and plot.svg; then OUT/summary.json and OUT/summary.md, and prints the summary table. Every file is written atomically.',
    'A file that cannot be read or labelled is skipped with one line on stderr; the others are still labelled and the exit status is then 1. Bad options exit with status 2. A progress bar is shown on stderr when it is a terminal and there is more than one episode.',
  ].join('\n\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', value: 'DIR', description: 'Output folder (created if missing; never searched for inputs).', default: './feat2go-out' },
    ...PROGRESS_OPTION_SPECS,
    { name: 'json', type: 'boolean', description: 'Print one JSON object on stdout ({ ok, out, options, episodes, failures }) instead of the table.' },
  ],
  examples: [
    'feat2go label episodes/ --out labels/',
    'feat2go label run.safetensors --window 7 --threshold 0.005 --json',
  ],
  async run({ values, positionals }, io) {
    if (positionals.length === 0) throw new UsageError('missing <file|folder>: give at least one .npy or .safetensors file, or a folder of them');
    const out = typeof values.out === 'string' ? values.out : 'feat2go-out';
    if (out.trim() === '') throw new UsageError("--out expects a folder path but received ''");
    const opts = progressOptionsFrom(values);
    const json = values.json === true;
    let bar: ReturnType<typeof progressBar> | undefined;
    const report = await labelPaths(positionals, {
      ...opts,
      out,
      onFailure(f) {
        bar?.clear();
        io.stderr.write(`${failureLine(f)}\n`);
      },
      onProgress(done, total, name) {
        bar ??= progressBar(io.stderr, io.stderr.isTTY === true && total > 1);
        bar.update(done, total, name);
      },
    });
    bar?.clear();
    const ok = report.failures.length === 0;
    if (json) {
      io.stdout.write(`${JSON.stringify({ ok, out: path.resolve(report.out), options: report.options, episodes: report.episodes, failures: report.failures, summary: report.summary })}\n`);
    } else {
      io.stdout.write(formatSummaryTable({ episodes: report.episodes, failures: [] }));
      io.stdout.write(`\n${report.episodes.length} episode${report.episodes.length === 1 ? '' : 's'} labelled` +
        `${report.failures.length ? `, ${report.failures.length} skipped` : ''}; outputs in ${path.resolve(report.out)}` +
        ` (summary: ${report.summary.md})\n`);
    }
    return ok ? 0 : 1;
  },
};
