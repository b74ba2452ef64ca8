// The options of commands that encode frames (`label --encoder`, `encode`):
// their table rows, how their values become encoder settings, and how
// --encoder becomes an encoder.
import { createEncoder, type EncoderSpecOptions } from '../encoders/create.js';
import type { FrameEncoder } from '../encoders/encoder.js';
import { UsageError, intOption, type OptionSpec, type OptionValues } from './command.js';

/**
 * The option rows shared by commands that encode frames. `labelling` changes what
 * --encoder's absence means: for `label` the inputs are then feature files; for
 * `encode` the builtin encoder is used.
 */
export function encoderOptionSpecs(labelling: boolean): OptionSpec[] {
  return [
    labelling
      ? { name: 'encoder', type: 'string', value: 'builtin|MODEL', description: "Treat the inputs as frame episodes and encode them first: 'builtin' (patch colour and gradient statistics, no weights) or the path of an ONNX video encoder (.onnx). Without it the inputs are feature files." }
      : { name: 'encoder', type: 'string', value: 'builtin|MODEL', description: "'builtin' (patch colour and gradient statistics, no weights) or the path of an ONNX video encoder (.onnx).", default: 'builtin' },
    { name: 'image-size', type: 'string', value: 'S', description: 'Frame side: short-side resize + centre crop to S×S (builtin default: frames as they are; ONNX default: the model\'s input size).' },
    { name: 'grid', type: 'string', value: 'G', description: 'Builtin encoder: G×G patches per frame.', implicitDefault: '16' },
    { name: 'frames-per-clip', type: 'string', value: 'F', description: 'ONNX encoder: frames per clip (default: the model\'s).' },
    { name: 'tubelet', type: 'string', value: 'N', description: 'ONNX encoder: frames per feature step τ (default 2, V-JEPA 2\'s tubelet).' },
  ];
}

/** `--allow-partial`, shared by the commands that decode videos. */
export const ALLOW_PARTIAL_SPEC: OptionSpec = {
  name: 'allow-partial', type: 'boolean',
  description: 'With --encoder: a video that decodes only partly (truncated or corrupt) is used with the frames that decode and a warning on stderr, instead of being skipped as a failure.',
};

/** Reads the encoder settings (`--image-size`, `--grid`, …) of {@link encoderOptionSpecs}; only the options given are set. */
export function encoderSpecFrom(values: OptionValues): EncoderSpecOptions {
  const spec: EncoderSpecOptions = {};
  const imageSize = intOption(values['image-size'], 'image-size', 1, 8192);
  const grid = intOption(values.grid, 'grid', 1, 1024);
  const framesPerClip = intOption(values['frames-per-clip'], 'frames-per-clip', 1, 100000);
  const tubelet = intOption(values.tubelet, 'tubelet', 1, 1024);
  if (imageSize !== undefined) spec.imageSize = imageSize;
  if (grid !== undefined) spec.grid = grid;
  if (framesPerClip !== undefined) spec.framesPerClip = framesPerClip;
  if (tubelet !== undefined) spec.tubelet = tubelet;
  return spec;
}

/** Creates the encoder named by `--encoder`; a bad value or an unusable model is a command-line error (exit 2). */
export async function encoderFrom(name: string, spec: EncoderSpecOptions): Promise<FrameEncoder> {
  if (name.trim() === '') throw new UsageError("--encoder expects 'builtin' or the path of an .onnx model but received ''");
  try {
    return await createEncoder(name, spec);
  } catch (err) {
    throw new UsageError(`--encoder ${name}: ${(err as Error).message}`);
  }
}
