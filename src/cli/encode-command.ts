// `feat2go encode <episode>... --encoder builtin|model.onnx --out DIR`: frames →
// features written as .npy or .safetensors for reuse. Episodes are found as
// `feat2go label --encoder` finds them; files are written by the io module.
import path from 'node:path';
import { findFrameInputs, reasonOf, type LabelFailure } from '../jobs/label.js';
import { LeRobotError } from '../io/lerobot.js';
import type { VideoDecoderChoice } from '../io/lerobot-video.js';
import { LEROBOT_OPTION_SPECS, lerobotOptionsFrom } from './lerobot-options.js';
import { encodeFrames } from '../encoders/encoder.js';
import type { EncoderSpecOptions } from '../encoders/create.js';
import { writeNpy } from '../io/npy.js';
import { writeSafetensors } from '../io/safetensors.js';
import { ensureDir, removeStaleTemps } from '../io/atomic.js';
import { UsageError, outputFolderOption, type Command, type OptionValues } from './command.js';
import { ALLOW_PARTIAL_SPEC, encoderFrom, encoderOptionSpecs, encoderSpecFrom } from './encoder-options.js';
import { failureLine, framesLabel, progressBar } from './ui.js';

/** The checked command line of `feat2go encode`. */
interface EncodeArgs {
  inputs: string[];
  encoder: string;
  out: string;
  format: 'npy' | 'safetensors';
  quiet: boolean;
  spec: EncoderSpecOptions;
  /** Use the frames of a partly decodable video (with a warning) instead of skipping it. */
  allowPartial: boolean;
  /** LeRobot inputs: camera, episodes and the video decoder. */
  lerobot: { camera?: string; episodes?: number[]; videoDecoder?: VideoDecoderChoice };
}

function encodeArgsFrom(values: OptionValues, positionals: string[]): EncodeArgs {
  if (positionals.length === 0) throw new UsageError('missing <episode>: give at least one episode (a folder of frames, a uint8 .npy or a video), or a folder of them');
  const out = typeof values.out === 'string' ? values.out : '';
  if (out.trim() === '') throw new UsageError('missing --out DIR: the folder to write the features to');
  const format = values.format;
  if (format !== 'npy' && format !== 'safetensors') throw new UsageError(`--format expects npy or safetensors but received '${String(format)}'`);
  return {
    inputs: positionals,
    encoder: String(values.encoder),
    out,
    format,
    quiet: values.quiet === true,
    spec: encoderSpecFrom(values),
    allowPartial: values['allow-partial'] === true,
    lerobot: lerobotOptionsFrom(values, positionals, false),
  };
}

/** The `feat2go encode` subcommand (listed in `COMMANDS` of src/cli/main.ts). */
export const encodeCommand: Command = {
  name: 'encode',
  summary: 'Encode frame episodes (image folders, uint8 .npy, videos) to patch features in .npy or .safetensors files.',
  usage: '<episode|folder>... --out DIR [options]',
  description: [
    'Finds the frame episodes in the inputs as `feat2go label --encoder` does: a folder of PNG/JPEG frames (natural order) is one episode, as is a [T,H,W,3] uint8 .npy file or a video (.mp4, .webm, .mkv, .mov, .avi; needs ffmpeg on PATH); a folder without frames is searched recursively for such episodes.',
    'A LeRobot dataset (a folder with meta/info.json, v2.x or v3.0) is read from the camera given by --camera (optional when it has one); each of its episodes (or those given by --episodes) is written to OUT/episode_NNNNNN.npy, NNNNNN its episode_index (safetensors metadata also records the task).',
    'Each episode is decoded chunk by chunk and encoded to features [steps,N,D] float32 (steps = frames for the builtin encoder, frames / tubelet for a video model), written atomically to OUT/<episode>.npy, or OUT/<episode>.safetensors holding the tensor "features" (metadata: encoder, source). `feat2go label` reads these files.',
    'An episode that cannot be read or encoded is skipped with one line on stderr; the others are still encoded and the exit status is then 1. Bad options, or an encoder that cannot be loaded, exit with status 2. A progress bar over frames and episodes is shown on stderr when it is a terminal.',
  ].join('\n\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', value: 'DIR', description: 'Output folder (created if missing). Required.' },
    { name: 'format', type: 'string', value: 'npy|safetensors', description: 'File format of the features.', default: 'npy' },
    ...encoderOptionSpecs(false),
    ALLOW_PARTIAL_SPEC,
    ...LEROBOT_OPTION_SPECS,
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only failures and the final line, not one line per episode.' },
  ],
  examples: [
    'feat2go encode recordings/ --out features/',
    'feat2go encode episode.mp4 --encoder vjepa2.onnx --format safetensors --out features/',
    'feat2go label features/ --out labels/',
    'feat2go encode ~/lerobot/koch_pick --camera observation.images.top --episodes 0-9 --out features/',
  ],
  async run({ values, positionals }, io) {
    const args = encodeArgsFrom(values, positionals);
    const encoder = await encoderFrom(args.encoder, args.spec);
    outputFolderOption(args.out);
    const bar = progressBar(io.stderr, io.stderr.isTTY === true);
    const { episodes, failures } = await findFrameInputs(args.inputs, {
      skipDir: args.out, ...args.lerobot, onWarning: (m) => { bar.clear(); io.stderr.write(`feat2go encode: warning: ${m}\n`); },
    });
    const fail = (f: LabelFailure) => { bar.clear(); io.stderr.write(`${failureLine(f, 'encode')}\n`); };
    failures.forEach(fail);
    let written = 0;
    const cleaned = new Set<string>(); // folders whose stale temporary files (an interrupted earlier run) were removed
    for (let i = 0; i < episodes.length; i++) {
      const src = episodes[i];
      try {
        const t0 = performance.now();
        let frames = 0;
        const source = src.lerobot ? await src.lerobot.dataset.frames(src.lerobot.episode, src.lerobot.camera) : src.file;
        const features = await encodeFrames(source, encoder, {
          onProgress: (d, t) => { frames = d; bar.update(i, episodes.length, framesLabel(src.name, d, t), (i + (t ? d / t : 0)) / episodes.length); },
          allowPartial: args.allowPartial,
          onWarning: (m) => { bar.clear(); io.stderr.write(`feat2go encode: warning: ${m}\n`); },
        });
        const file = path.join(args.out, ...`${src.name}.${args.format}`.split('/'));
        ensureDir(path.dirname(file));
        if (!cleaned.has(path.dirname(file))) { cleaned.add(path.dirname(file)); removeStaleTemps(path.dirname(file)); }
        if (args.format === 'npy') writeNpy(file, features);
        else {
          const l = src.lerobot;
          writeSafetensors(file, { features }, {
            encoder: encoder.name, source: src.file,
            ...(l ? { dataset: l.dataset.root, episode_index: String(l.episode), camera: l.camera, task: l.task, tasks: JSON.stringify(l.tasks) } : {}),
          });
        }
        written++;
        bar.clear();
        if (!args.quiet) {
          io.stdout.write(`${src.name}: ${frames} frames → [${features.shape.join(', ')}] in ${((performance.now() - t0) / 1000).toFixed(2)} s → ${file}\n`);
        }
      } catch (err) {
        const f: LabelFailure = err instanceof LeRobotError
          ? { file: err.file, ...(src.lerobot ? { episode: src.lerobot.episode } : {}), reason: err.reason }
          : { file: src.file, ...(src.lerobot ? { episode: src.lerobot.episode } : {}), reason: reasonOf(err, src.file) };
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
