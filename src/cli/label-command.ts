// `feat2go label <file|folder>...`: progress targets for every episode found —
// feature tensors, or frames encoded first with --encoder. Also holds the
// progress options (--window, --threshold, …) of commands that label.
import path from 'node:path';
import { DEFAULT_PROGRESS_OPTIONS, PAPER_PROGRESS_OPTIONS, resolveProgressOptions } from '../core/progress.js';
import { formatSummaryTable, labelPaths } from '../jobs/label.js';
import type { ProgressOptions, ResolvedProgressOptions, Segmenter } from '../core/types.js';
import {
  UsageError, numberValue, outputFolderOption, usageErrorFrom, type Command, type OptionSpec, type OptionValues,
} from './command.js';
import { ALLOW_PARTIAL_SPEC, encoderFrom, encoderOptionSpecs, encoderSpecFrom } from './encoder-options.js';
import { failureLine, framesLabel, progressBar, type ProgressBar } from './ui.js';
import { LEROBOT_OPTION_SPECS, lerobotOptionsFrom, lerobotRoots } from './lerobot-options.js';
import { checkLeRobotOutput } from '../io/lerobot-write.js';

/** The command-line option of each progress option (the library's argument name → the flag). */
const NUMBER_FLAGS = {
  window: 'window', maxClusterFrames: 'max-cluster-frames', threshold: 'threshold', lambda: 'lambda', threads: 'threads',
} as const satisfies Readonly<Record<Exclude<keyof ProgressOptions, 'segmenter'>, string>>;
const PROGRESS_FLAGS: Readonly<Record<keyof ProgressOptions, string>> = { ...NUMBER_FLAGS, segmenter: 'segmenter' };

/**
 * Reads the progress options shared by commands that label (`--window`,
 * `--max-cluster-frames`, …): the strings are parsed here, and the values are
 * checked and resolved once, by the library (resolveProgressOptions), whose
 * errors are worded as command-line errors. The result goes down as it is.
 */
function progressOptionsFrom(values: OptionValues): ResolvedProgressOptions {
  const o: ProgressOptions = {};
  for (const [key, flag] of Object.entries(NUMBER_FLAGS) as Array<[keyof typeof NUMBER_FLAGS, string]>) {
    const v = numberValue(values[flag]);
    if (v !== undefined) o[key] = v;
  }
  if (values.segmenter !== undefined) o.segmenter = String(values.segmenter) as Segmenter;
  try {
    return resolveProgressOptions(o);
  } catch (err) {
    if (o.segmenter === 'motion' && o.threshold !== undefined) {
      throw new UsageError('--threshold applies to --segmenter paper only (the motion segmenter has no slope threshold)');
    }
    throw usageErrorFrom(err, Object.fromEntries(Object.entries(PROGRESS_FLAGS).map(([k, f]) => [`opts.${k}`, f])), values);
  }
}

/** Parses `--shard I/N` (0 ≤ I < N). */
function shardOption(v: string | boolean | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(String(v).trim());
  const index = m ? Number(m[1]) : NaN; const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index < count) || !Number.isSafeInteger(count)) {
    throw new UsageError(`--shard expects I/N with 0 ≤ I < N (e.g. 0/3) but received '${String(v)}'`);
  }
  return { index, count };
}

/** Options shared by commands that label episodes. */
const PROGRESS_OPTION_SPECS: OptionSpec[] = [
  { name: 'segmenter', type: 'string', value: 'motion|paper', description: 'How stages are found: motion (movement onsets and the pauses before them) or paper (SPEC §2\'s slope test, exact). A --threshold alone selects paper.', implicitDefault: DEFAULT_PROGRESS_OPTIONS.segmenter },
  { name: 'window', type: 'string', value: 'N', description: 'w ≥ 2 frames: the slope window (paper), the half-width of the speed smoothing (motion).', implicitDefault: String(DEFAULT_PROGRESS_OPTIONS.window) },
  { name: 'max-cluster-frames', type: 'string', value: 'N', description: `Most frames one stage may hold (≥ window); 0 = no cap. Default ${DEFAULT_PROGRESS_OPTIONS.maxClusterFrames} with motion, ${PAPER_PROGRESS_OPTIONS.maxClusterFrames} with paper.`, implicitDefault: `${DEFAULT_PROGRESS_OPTIONS.maxClusterFrames} (motion), ${PAPER_PROGRESS_OPTIONS.maxClusterFrames} (paper)` },
  { name: 'threshold', type: 'string', value: 'X', description: 'Slope τ above which a window starts a rising trend (a new stage); paper only, and giving it selects paper.', implicitDefault: `${PAPER_PROGRESS_OPTIONS.threshold} (paper)` },
  { name: 'lambda', type: 'string', value: 'X', description: 'L1 penalty λ ≥ 0 of the patch similarity (β = λ / D).', implicitDefault: String(DEFAULT_PROGRESS_OPTIONS.lambda) },
  { name: 'threads', type: 'string', value: 'N', description: 'Threads to use; 0 = every core.', implicitDefault: '0' },
];

/** The `feat2go label` subcommand (listed in `COMMANDS` of src/cli/main.ts). */
export const labelCommand: Command = {
  name: 'label',
  summary: 'Label episodes (feature files, or frames with --encoder) with Feat2Go progress targets, plots and a summary.',
  usage: '<file|folder>... [options]',
  description: [
    'Finds every episode in the given files and folders (folders are searched recursively): each .npy file holds one episode, a float32 or float16 array [T,N,D] (T frames, N patches, D feature dims, C order); each rank-3 F32/F16/BF16 tensor in a .safetensors file is one episode.',
    'With --encoder, the inputs are frame episodes instead: a folder of PNG/JPEG frames (natural order: frame_2 before frame_10) is one episode, as is a [T,H,W,3] uint8 .npy file or a video (.mp4, .webm, .mkv, .mov, .avi; needs ffmpeg on PATH); a folder without frames is searched recursively for such episodes. Each is encoded to features [steps,N,D] and then labelled like a feature episode (result.json also records the encoder, frames decoded and encoding time).',
    'A LeRobot dataset (a folder with meta/info.json, v2.x or v3.0) is read episode by episode from the camera given by --camera: its outputs are OUT/episode_NNNNNN/ (the episode_index), and result.json keeps the episode\'s task strings. --episodes picks episodes; --write-lerobot DIR also writes a copy of the dataset with the labels as the features feat2go.progress, feat2go.stage and feat2go.similarity (see docs/datasets.md).',
    'For each episode it writes OUT/<name>/values.npy [T], similarity.npy [T], segments.npy [K,2] int32 (inclusive start, end), segments.json, result.json (everything, with the options) and plot.svg; then OUT/summary.json and OUT/summary.md, and prints the summary table. Every file is written atomically.',
    'A file that cannot be read or labelled is skipped with one line on stderr; the others are still labelled and the exit status is then 1. Bad options exit with status 2. A progress bar is shown on stderr when it is a terminal and there is more than one episode (with --encoder: always, over frames and episodes).',
  ].join('\n\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', value: 'DIR', description: 'Output folder (created if missing; never searched for inputs).', default: './feat2go-out' },
    ...PROGRESS_OPTION_SPECS,
    ...encoderOptionSpecs(true),
    ALLOW_PARTIAL_SPEC,
    ...LEROBOT_OPTION_SPECS,
    { name: 'write-lerobot', type: 'string', value: 'DIR', description: 'With one LeRobot dataset input: also write a copy of it at DIR, in the same version, with per-frame columns feat2go.progress (float32), feat2go.stage (int64) and feat2go.similarity (float32); videos hard-linked, never re-encoded; written atomically.' },
    { name: 'json', type: 'boolean', description: 'Print one JSON object on stdout ({ ok, out, options, episodes, failures }) instead of the table.' },
    { name: 'shard', type: 'string', value: 'I/N', description: 'Label only shard I of N (0 ≤ I < N): every N-th episode by sorted name, the same split in every process given the same inputs. Writes OUT/shard-I-of-N.json (+ .md) instead of summary.json; combine the shards with `feat2go merge-summaries`.' },
  ],
  examples: [
    'feat2go label episodes/ --out labels/',
    'feat2go label episodes/ --out labels/ --shard 0/3   # … 1/3, 2/3 elsewhere; then: feat2go merge-summaries labels/',
    'feat2go label run.safetensors --window 7 --threshold 0.005 --json',
    'feat2go label --encoder builtin recordings/                       # motion segmenter (the default)',
    'feat2go label --encoder builtin recordings/ --threshold 0.003 --window 5   # the paper\'s rule',
    'feat2go label --encoder vjepa2.onnx episode.mp4 --out labels/',
    'feat2go label ~/lerobot/koch_pick --encoder builtin --camera observation.images.top --out labels/ --write-lerobot ~/lerobot/koch_pick_feat2go',
  ],
  async run({ values, positionals }, io) {
    if (positionals.length === 0) {
      throw new UsageError(values.encoder !== undefined
        ? 'missing <episode>: give at least one folder of frames, uint8 .npy or video, or a folder of them'
        : 'missing <file|folder>: give at least one .npy or .safetensors file, or a folder of them');
    }
    const out = String(values.out);
    if (out.trim() === '') throw new UsageError("--out expects a folder path but received ''");
    const progress = progressOptionsFrom(values);
    const json = values.json === true;
    const spec = encoderSpecFrom(values);
    if (values.encoder === undefined) {
      const stray = Object.keys(spec);
      if (stray.length) throw new UsageError(`--${stray[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --encoder (it sets how frames are encoded)`);
      if (values['allow-partial'] !== undefined) throw new UsageError('--allow-partial needs --encoder (it applies to videos being decoded)');
    }
    const shard = shardOption(values.shard);
    const lr = lerobotOptionsFrom(values, positionals, values.encoder === undefined);
    const writeLeRobot = values['write-lerobot'] === undefined ? undefined : String(values['write-lerobot']);
    if (writeLeRobot !== undefined) {
      if (writeLeRobot.trim() === '') throw new UsageError("--write-lerobot expects a folder path but received ''");
      if (values.encoder === undefined) throw new UsageError('--write-lerobot needs --encoder (LeRobot datasets hold frames)');
      if (shard) throw new UsageError('--write-lerobot cannot be combined with --shard: one process writes the whole dataset');
      if (positionals.length !== 1 || lerobotRoots(positionals).length !== 1) throw new UsageError('--write-lerobot needs exactly one input, a LeRobot dataset (a folder with meta/info.json)');
      try {
        checkLeRobotOutput(positionals[0], writeLeRobot, '--write-lerobot');
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    const encoder = values.encoder === undefined ? undefined : await encoderFrom(String(values.encoder), spec);
    outputFolderOption(out);
    let bar: ProgressBar | undefined;
    const report = await labelPaths(positionals, {
      progress,
      out,
      ...(shard ? { shard } : {}),
      ...lr,
      ...(writeLeRobot !== undefined ? { writeLeRobot } : {}),
      // An allowed partial decode, a dataset's warning (episode ''), or the cap's (any input).
      onWarning(message: string, episode: string) {
        bar?.clear();
        io.stderr.write(`feat2go label: warning: ${episode ? `${episode}: ` : ''}${message}\n`);
      },
      ...(encoder ? {
        encoder,
        allowPartial: values['allow-partial'] === true,
        onFrames(d: number, t: number | undefined, name: string, i: number, n: number) {
          bar ??= progressBar(io.stderr, io.stderr.isTTY === true);
          bar.update(i, n, framesLabel(name, d, t), (i + (t ? d / t : 0)) / n);
        },
      } : {}),
      onFailure(f) {
        bar?.clear();
        io.stderr.write(`${failureLine(f)}\n`);
      },
      onProgress(done, total, name) {
        bar ??= progressBar(io.stderr, io.stderr.isTTY === true && (total > 1 || encoder !== undefined));
        bar.update(done, total, name);
      },
    });
    bar?.clear();
    const ok = report.failures.length === 0;
    if (json) {
      io.stdout.write(`${JSON.stringify({ ok, out: path.resolve(report.out), options: report.options, ...(report.encoder ? { encoder: report.encoder } : {}), ...(report.shard ? { shard: report.shard } : {}), episodes: report.episodes, failures: report.failures, summary: report.summary, ...(report.lerobot ? { lerobot: report.lerobot } : {}) })}\n`);
    } else {
      io.stdout.write(formatSummaryTable({ episodes: report.episodes, failures: [], encoder: report.encoder }));
      io.stdout.write(`\n${report.episodes.length} episode${report.episodes.length === 1 ? '' : 's'} labelled` +
        `${report.failures.length ? `, ${report.failures.length} skipped` : ''}; outputs in ${path.resolve(report.out)}` +
        ` (${report.shard ? `shard ${report.shard.index}/${report.shard.count} manifest: ${report.summary.json}` : `summary: ${report.summary.md}`})\n`);
      const w = report.lerobot;
      if (w) {
        io.stdout.write(`LeRobot dataset with feat2go.progress, feat2go.stage, feat2go.similarity written to ${w.out}: ${w.labelled.length} episode${w.labelled.length === 1 ? '' : 's'} labelled` +
          `${w.unlabelled.length ? `, ${w.unlabelled.length} without labels (null)` : ''}; ${w.dataFiles} data file${w.dataFiles === 1 ? '' : 's'} rewritten, ${w.linked} file${w.linked === 1 ? '' : 's'} hard-linked, ${w.copied} copied\n`);
      }
    }
    return ok ? 0 : 1;
  },
};
