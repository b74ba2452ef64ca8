// Model files of the libtorch classes: state dicts as [name, data, shape]
// lists, read and written through the one safetensors reader/writer pair of
// src/io, plus the check that a file's tensors match what a model expects.
import { FileFormatError } from '../io/common.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../io/safetensors.js';

/** One tensor as exchanged with the native classes: name, float32 data, shape. */
export type NamedTensor = [name: string, data: Float32Array, shape: number[]];

/** Error for a file that is not a valid safetensors file or does not match what a model expects. */
export class SafetensorsError extends RangeError {
  constructor(file: string, message: string) {
    super(`Invalid safetensors file ${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Writes a state dict (float32 tensors, in the given order) to a .safetensors file atomically. */
export function writeStateDict(file: string, tensors: NamedTensor[], metadata?: Record<string, string>): void {
  writeSafetensors(file, new Map(tensors.map(([n, data, shape]) => [n, { data, shape }])), metadata);
}

/** A state dict read from a .safetensors file: tensors converted to float32, in file order, and its metadata. */
export interface StateDictFile {
  tensors: NamedTensor[];
  metadata: Record<string, string>;
}

/**
 * Reads a state dict from a .safetensors file strictly (with `readSafetensors`
 * of src/io): F32/F16/BF16 tensors as float32, in header order, and the
 * `__metadata__` map.
 * @throws {SafetensorsError} naming the file and what is wrong
 */
export function readStateDict(file: string): StateDictFile {
  try {
    const metadata = readSafetensorsHeader(file).metadata;
    const tensors: NamedTensor[] = [...readSafetensors(file)].map(([n, t]) => [n, t.data, t.shape]);
    return { tensors, metadata };
  } catch (err) {
    if (err instanceof FileFormatError) throw new SafetensorsError(file, err.reason);
    throw err;
  }
}

/**
 * Checks that `got` holds exactly the tensors `expected` names with the same
 * shapes; the error lists missing, unexpected and mis-shaped tensors.
 */
export function matchTensors(file: string, got: NamedTensor[], expected: Array<[string, number[]]>): void {
  const have = new Map(got.map((t) => [t[0], t[2]]));
  const want = new Map(expected);
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const s = have.get(name);
    if (!s) problems.push(`missing tensor '${name}' [${shape}]`);
    else if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) problems.push(`tensor '${name}' has shape [${s}] but the model expects [${shape}]`);
  }
  for (const name of have.keys()) if (!want.has(name)) problems.push(`unexpected tensor '${name}'`);
  if (problems.length) throw new SafetensorsError(file, `its tensors do not match the model: ${problems.join('; ')}`);
}
