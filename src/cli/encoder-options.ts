// The options of commands that encode frames (`label --encoder`, `encode`):
// their table rows, how their values become encoder settings, and how
// --encoder becomes an encoder.
import { createEncoder, type EncoderSpecOptions } from '../encoders/create.js';
import { HUB_DTYPES, HUB_DTYPE_SUFFIX, type HubDtype } from '../encoders/onnx-image.js';
import type { FrameEncoder } from '../encoders/encoder.js';
import { UsageError, intOption, type OptionSpec, type OptionValues } from './command.js';

const ENCODER_KINDS = "'builtin' (patch colour and gradient statistics, no weights), the path of an ONNX video encoder (.onnx), " +
  "or an image feature extractor by name from the model hub, hf:ORG/NAME[@REVISION] (e.g. hf:onnx-community/dinov2-small; downloaded once into the " +
  'Hugging Face cache; HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE apply) or a folder in the hub\'s layout.';

/**
 * The option rows shared by commands that encode frames. `labelling` changes what
 * --encoder's absence means: for `label` the inputs are then feature files; for
 * `encode` the builtin encoder is used.
 */
export function encoderOptionSpecs(labelling: boolean): OptionSpec[] {
  return [
    labelling
      ? { name: 'encoder', type: 'string', value: 'builtin|MODEL|hf:ORG/NAME', description: `Treat the inputs as frame episodes and encode them first: ${ENCODER_KINDS} Without it the inputs are feature files.` }
      : { name: 'encoder', type: 'string', value: 'builtin|MODEL|hf:ORG/NAME', description: ENCODER_KINDS, default: 'builtin' },
    { name: 'image-size', type: 'string', value: 'S', description: 'Frame side: short-side resize + centre crop to S×S (builtin default: frames as they are; ONNX default: the model\'s input size).' },
    { name: 'grid', type: 'string', value: 'G', description: 'Builtin encoder: G×G patches per frame.', implicitDefault: '16' },
    { name: 'frames-per-clip', type: 'string', value: 'F', description: 'ONNX encoder: frames per clip (default: the model\'s).' },
    { name: 'tubelet', type: 'string', value: 'N', description: 'ONNX encoder: frames per feature step τ (default 2, V-JEPA 2\'s tubelet).' },
    { name: 'dtype', type: 'string', value: 'fp32|fp16|q8|q4', description: `hf: encoders and model folders: which model file to use: ${HUB_DTYPES.map((d) => `${d} (model${HUB_DTYPE_SUFFIX[d]}.onnx)`).join(', ')}; the repository must have it.`, implicitDefault: 'fp32' },
    { name: 'batch-size', type: 'string', value: 'N', description: 'hf: encoders and model folders: frames per model call.', implicitDefault: '8' },
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
  const dtype = values.dtype;
  if (dtype !== undefined) {
    if (typeof dtype !== 'string' || !(HUB_DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`--dtype expects one of ${HUB_DTYPES.join(', ')} but received '${String(dtype)}'`);
    spec.dtype = dtype as HubDtype;
  }
  const batch = intOption(values['batch-size'], 'batch-size', 1, 4096);
  if (batch !== undefined) spec.batchSize = batch;
  return spec;
}

/** Creates the encoder named by `--encoder`; a bad value or an unusable model is a command-line error (exit 2). */
export async function encoderFrom(name: string, spec: EncoderSpecOptions): Promise<FrameEncoder> {
  if (name.trim() === '') throw new UsageError("--encoder expects 'builtin', the path of an .onnx model or hf:ORG/NAME but received ''");
  try {
    return await createEncoder(name, spec);
  } catch (err) {
    throw new UsageError(`--encoder ${name}: ${(err as Error).message}`);
  }
}
