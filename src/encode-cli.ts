// `feat2go encode <episodes…> --encoder builtin|model.onnx --out DIR [--format npy|safetensors]`:
// frames → features written for reuse. Exported as functions so the CLI
// entry point (src/cli.ts) only dispatches. Also holds `createEncoder`, the
// one place that turns an `--encoder` value into an encoder.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { patchStatsEncoder } from './encoders/builtin.js';
import { encodeFrames, type FrameEncoder } from './encoders/encoder.js';
import { OnnxVisualEncoder } from './encoders/onnx.js';
import type { Tensor } from './types.js';
import { typeError } from './validate.js';

/** Settings shared by `--encoder` users (encode and label). */
export interface EncoderSpecOptions {
  /** Frame side (short-side resize + centre crop); builtin default: native size, ONNX default: the model's. */
  imageSize?: number;
  /** ONNX: frames per clip. */
  framesPerClip?: number;
  /** ONNX: frames per step. */
  tubelet?: number;
  /** Builtin: patch grid side (default 16). */
  grid?: number;
  /** ONNX: execution providers. */
  executionProviders?: string[];
}

/**
 * Turns an `--encoder` value into an encoder: `'builtin'` → {@link patchStatsEncoder},
 * a path ending in `.onnx` → {@link OnnxVisualEncoder.load}.
 *
 * @throws {Error} for a missing/corrupt/unfit model (naming the file), {@link TypeError} for other values
 */
export async function createEncoder(spec: string, opts: EncoderSpecOptions = {}): Promise<FrameEncoder> {
  if (typeof spec !== 'string' || spec.length === 0) throw typeError('encoder', "'builtin' or the path of an .onnx model", spec);
  if (spec === 'builtin') return patchStatsEncoder({ imageSize: opts.imageSize, grid: opts.grid });
  if (extname(spec).toLowerCase() !== '.onnx') throw new TypeError(`Expected 'builtin' or the path of an .onnx model for --encoder but received '${spec}'`);
  return OnnxVisualEncoder.load(spec, {
    imageSize: opts.imageSize, framesPerClip: opts.framesPerClip, tubelet: opts.tubelet, executionProviders: opts.executionProviders,
  });
}

/** Writes `data` to `path` atomically (temp file in the same folder, then rename). */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Serialises a float32 tensor as a NumPy `.npy` (format 1.0, '<f4', C order). */
export function float32Npy(t: Tensor): Uint8Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const dims = t.shape.length === 1 ? `${t.shape[0]},` : t.shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + n * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, n * 4), 10 + header.length);
  return out;
}

/** Serialises named float32 tensors as `.safetensors` (8-byte LE header length, JSON header, data). */
export function float32Safetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [k, t] of Object.entries(tensors)) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[k] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const t of Object.values(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * 4;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, n), p);
    p += n;
  }
  return out;
}

/** Name of an episode's output file: folder name, or file name without extension. */
export function episodeName(path: string): string {
  const b = basename(path.replace(/[/\\]+$/, ''));
  const e = extname(b);
  return e && e.length < b.length ? b.slice(0, -e.length) : b;
}

interface EncodeArgs {
  inputs: string[];
  encoder: string;
  out: string;
  format: 'npy' | 'safetensors';
  quiet: boolean;
  spec: EncoderSpecOptions;
}

const USAGE = `Usage: feat2go encode <episode>... --out DIR [--encoder builtin|model.onnx] [--format npy|safetensors]
                      [--image-size S] [--frames-per-clip F] [--tubelet N] [--grid G] [--quiet]
  <episode>  a folder of PNG/JPEG frames, a .npy [T,H,W,3] uint8 array, or an MP4/WebM video (needs ffmpeg)
  Writes DIR/<episode>.npy (float32 [steps, N, D]) or DIR/<episode>.safetensors (tensor 'features').`;

function intFlag(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1) throw new RangeError(`Expected a positive integer for ${name} but received ${v === undefined ? 'nothing' : `'${v}'`}`);
  return n;
}

/** Parses `feat2go encode` arguments (without the leading 'encode'). */
export function parseEncodeArgs(argv: string[]): EncodeArgs {
  const a: EncodeArgs = { inputs: [], encoder: 'builtin', out: '', format: 'npy', quiet: false, spec: {} };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new TypeError(`Expected a value after ${x}\n${USAGE}`);
      return v;
    };
    switch (x) {
      case '--encoder': a.encoder = val(); break;
      case '--out': case '-o': a.out = val(); break;
      case '--format': {
        const f = val();
        if (f !== 'npy' && f !== 'safetensors') throw new TypeError(`Expected npy or safetensors for --format but received '${f}'`);
        a.format = f; break;
      }
      case '--image-size': a.spec.imageSize = intFlag(x, val()); break;
      case '--frames-per-clip': a.spec.framesPerClip = intFlag(x, val()); break;
      case '--tubelet': a.spec.tubelet = intFlag(x, val()); break;
      case '--grid': a.spec.grid = intFlag(x, val()); break;
      case '--quiet': case '-q': a.quiet = true; break;
      default:
        if (x.startsWith('-')) throw new TypeError(`Unknown option ${x}\n${USAGE}`);
        a.inputs.push(x);
    }
  }
  if (a.inputs.length === 0) throw new TypeError(`Expected at least one episode\n${USAGE}`);
  if (!a.out) throw new TypeError(`Expected --out DIR\n${USAGE}`);
  return a;
}

/** Where `encodeCommand` writes its messages. */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIO: CliIO = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

/**
 * Runs `feat2go encode`: every episode → features → `<out>/<name>.npy|.safetensors`
 * (atomic writes), with a progress line over frames and episodes on stderr. A
 * bad episode is reported and skipped; the others are still encoded.
 *
 * @param argv arguments after `encode`
 * @returns exit code: 0 all encoded, 1 some episodes failed, 2 usage or encoder error
 */
export async function encodeCommand(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let args: EncodeArgs;
  let encoder: FrameEncoder;
  try {
    args = parseEncodeArgs(argv);
    encoder = await createEncoder(args.encoder, args.spec);
  } catch (err) {
    io.stderr(`feat2go encode: ${(err as Error).message}\n`);
    return 2;
  }
  await mkdir(args.out, { recursive: true });
  const failed: string[] = [];
  const tty = !args.quiet && process.stderr.isTTY === true && io === defaultIO;
  for (let e = 0; e < args.inputs.length; e++) {
    const input = args.inputs[e];
    const tag = `[${e + 1}/${args.inputs.length}] ${input}`;
    try {
      const t0 = performance.now();
      let frames = 0;
      const features = await encodeFrames(input, encoder, {
        onProgress: (done, total) => {
          frames = done;
          if (tty) io.stderr(`\r${tag}: ${done}${total ? `/${total}` : ''} frames`);
        },
      });
      const name = episodeName(input);
      const file = join(args.out, `${name}.${args.format}`);
      const bytes = args.format === 'npy' ? float32Npy(features)
        : float32Safetensors({ features }, { encoder: encoder.name, source: input });
      await writeFileAtomic(file, bytes);
      const secs = (performance.now() - t0) / 1000;
      if (!args.quiet) io.stderr(`${tty ? '\r' : ''}${tag}: ${frames} frames → [${features.shape.join(', ')}] in ${secs.toFixed(2)} s → ${file}\n`);
    } catch (err) {
      failed.push(input);
      io.stderr(`${tty ? '\n' : ''}${tag}: FAILED: ${(err as Error).message}\n`);
    }
  }
  const ok = args.inputs.length - failed.length;
  io.stdout(`encoded ${ok} of ${args.inputs.length} episode(s) with ${encoder.name} into ${args.out}${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`);
  return failed.length ? 1 : 0;
}
