// `feat2go encode <episode>... --encoder builtin|model.onnx --out DIR`: frames →
// features written as .npy or .safetensors for reuse. Episodes are found as
// `feat2go label --encoder` finds them; files are written by the io module.
import fs from 'node:fs';
import path from 'node:path';
import { findFrameEpisodes, reasonOf, type LabelFailure } from '../jobs/label.js';
import { encodeFrames } from '../encoders/encoder.js';
import type { EncoderSpecOptions } from '../encoders/create.js';
import { writeNpy } from '../io/npy.js';
import { writeSafetensors } from '../io/safetensors.js';
import { UsageError, parseCommandArgs, runCommand, type Command, type CommandIO } from './command.js';
import { encoderFrom, encoderOptionSpecs, encoderSpecFrom, failureLine, framesLabel, progressBar } from './label-command.js';

/** The parsed command line of `feat2go encode`. */
export interface EncodeArgs {
  inputs: string[];
  encoder: string;
  out: string;
  format: 'npy' | 'safetensors';
  quiet: boolean;
  spec: EncoderSpecOptions;
}

function encodeArgsFrom(values: Record<string, string | boolean | undefined>, positionals: string[]): EncodeArgs {
  if (positionals.length === 0) throw new UsageError('missing <episode>: give at least one episode (a folder of frames, a uint8 .npy or a video), or a folder of them');
  const out = typeof values.out === 'string' ? values.out : '';
  if (out.trim() === '') throw new UsageError('missing --out DIR: the folder to write the features to');
  const format = values.format ?? 'npy';
  if (format !== 'npy' && format !== 'safetensors') throw new UsageError(`--format expects npy or safetensors but received '${String(format)}'`);
  return {
    inputs: positionals,
    encoder: typeof values.encoder === 'string' ? values.encoder : 'builtin',
    out,
    format,
    quiet: values.quiet === true,
    spec: encoderSpecFrom(values),
  };
}

/** The `feat2go encode` subcommand (listed in `COMMANDS` of src/cli/main.ts). */
export const encodeCommandSpec: Command = {
  name: 'encode',
  summary: 'Encode frame episodes (image folders, uint8 .npy, videos) to patch features in .npy or .safetensors files.',
  usage: '<episode|folder>... --out DIR [options]',
  description: [
    'Finds the frame episodes in the inputs as `feat2go label --encoder` does: a folder of PNG/JPEG frames (natural order) is one episode, as is a [T,H,W,3] uint8 .npy file or a video (.mp4, .webm, .mkv, .mov, .avi; needs ffmpeg on PATH); a folder without frames is searched recursively for such episodes.',
    'Each episode is decoded chunk by chunk and encoded to features [steps,N,D] float32 (steps = frames for the builtin encoder, frames / tubelet for a video model), written atomically to OUT/<episode>.npy, or OUT/<episode>.safetensors holding the tensor "features" (metadata: encoder, source). `feat2go label` reads these files.',
    'An episode that cannot be read or encoded is skipped with one line on stderr; the others are still encoded and the exit status is then 1. Bad options, or an encoder that cannot be loaded, exit with status 2. A progress bar over frames and episodes is shown on stderr when it is a terminal.',
  ].join('\n\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', value: 'DIR', description: 'Output folder (created if missing). Required.' },
    { name: 'format', type: 'string', value: 'npy|safetensors', description: 'File format of the features.', default: 'npy' },
    ...encoderOptionSpecs(false),
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only failures and the final line, not one line per episode.' },
  ],
  examples: [
    'feat2go encode recordings/ --out features/',
    'feat2go encode episode.mp4 --encoder vjepa2.onnx --format safetensors --out features/',
    'feat2go label features/ --out labels/',
  ],
  async run({ values, positionals }, io) {
    const args = encodeArgsFrom(values, positionals);
    const encoder = await encoderFrom(args.encoder, args.spec);
    const { episodes, failures } = findFrameEpisodes(args.inputs, args.out);
    const bar = progressBar(io.stderr, io.stderr.isTTY === true);
    const fail = (f: LabelFailure) => { bar.clear(); io.stderr.write(`${failureLine(f, 'encode')}\n`); };
    failures.forEach(fail);
    fs.mkdirSync(args.out, { recursive: true });
    let written = 0;
    for (let i = 0; i < episodes.length; i++) {
      const src = episodes[i];
      try {
        const t0 = performance.now();
        let frames = 0;
        const features = await encodeFrames(src.file, encoder, {
          onProgress: (d, t) => { frames = d; bar.update(i, episodes.length, framesLabel(src.name, d, t), (i + (t ? d / t : 0)) / episodes.length); },
        });
        const file = path.join(args.out, ...`${src.name}.${args.format}`.split('/'));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        if (args.format === 'npy') writeNpy(file, features);
        else writeSafetensors(file, { features }, { encoder: encoder.name, source: src.file });
        written++;
        bar.clear();
        if (!args.quiet) {
          io.stdout.write(`${src.name}: ${frames} frames → [${features.shape.join(', ')}] in ${((performance.now() - t0) / 1000).toFixed(2)} s → ${file}\n`);
        }
      } catch (err) {
        const f: LabelFailure = { file: src.file, reason: reasonOf(err, src.file) };
        failures.push(f);
        fail(f);
      }
    }
    bar.clear();
    io.stdout.write(`encoded ${written} of ${written + failures.length} episode${written + failures.length === 1 ? '' : 's'} with ${encoder.name} into ${path.resolve(args.out)}` +
      `${failures.length ? `; ${failures.length} skipped` : ''}\n`);
    return failures.length ? 1 : 0;
  },
};

/**
 * Parses `feat2go encode` arguments (without the leading 'encode').
 *
 * @throws {UsageError} naming the bad option or value
 * @example
 * parseEncodeArgs(['ep_000', '--out', 'features', '--grid', '8']).spec; // { grid: 8 }
 */
export function parseEncodeArgs(argv: string[]): EncodeArgs {
  const { values, positionals } = parseCommandArgs(encodeCommandSpec, argv);
  return encodeArgsFrom(values, positionals);
}

/** Where {@link encodeCommand} writes: streams, or functions taking text. */
export type CliIO = CommandIO | { stdout: (s: string) => void; stderr: (s: string) => void };

function streamOf(w: CommandIO['stdout'] | ((s: string) => void)): CommandIO['stderr'] {
  return typeof w === 'function' ? ({ write: (s: string) => { w(s); return true; } } as unknown as CommandIO['stderr']) : w;
}

/**
 * Runs `feat2go encode` (as the CLI does): every episode → features →
 * `<out>/<episode>.npy|.safetensors` (atomic writes). A bad episode is reported
 * on stderr in one line and skipped; the others are still encoded.
 *
 * @param argv arguments after `encode`
 * @param io where to write (default: the process's stdout and stderr)
 * @returns exit status: 0 all encoded, 1 some episodes failed, 2 bad command line or encoder
 * @example
 * process.exitCode = await encodeCommand(['recordings/', '--out', 'features']);
 */
export function encodeCommand(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  return runCommand(encodeCommandSpec, argv, { stdout: streamOf(io.stdout), stderr: streamOf(io.stderr) });
}
