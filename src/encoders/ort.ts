// onnxruntime-node, loaded on first use: it is an optional peer dependency of
// feat2go (only the ONNX encoders need it, and its install downloads CUDA
// libraries from outside the npm registry), so nothing imports it at load time.
import type * as Ort from 'onnxruntime-node';

/** Thrown by the ONNX encoders when onnxruntime-node is not installed; the message says how to install it. */
export class OnnxRuntimeUnavailableError extends Error {
  constructor(what: string, cause: string) {
    super(
      `${what} needs onnxruntime-node, an optional peer dependency of feat2go that could not be loaded (${cause}). ` +
      'Install it beside feat2go: `npm install onnxruntime-node`. On a machine that cannot download its CUDA ' +
      'libraries (offline, or no NVIDIA GPU), skip them: `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` ' +
      '(or put onnxruntime-node-install=skip in .npmrc); inference then runs on the CPU.',
    );
    this.name = 'OnnxRuntimeUnavailableError';
  }
}

let loaded: typeof Ort | undefined;
let loading: Promise<typeof Ort> | undefined;

/**
 * onnxruntime-node, imported on first call.
 * @throws {OnnxRuntimeUnavailableError} naming `what` when it is not installed or does not load
 */
export function onnxRuntime(what: string): Promise<typeof Ort> {
  if (loaded) return Promise.resolve(loaded);
  loading ??= import('onnxruntime-node').then((m) => {
    loaded = m;
    return m;
  });
  return loading.catch((err: unknown) => {
    loading = undefined;
    const msg = String((err as Error)?.message ?? err);
    const cause = /Cannot find (package|module) 'onnxruntime-node'/.test(msg) ? 'it is not installed' : msg.split('\n')[0];
    throw new OnnxRuntimeUnavailableError(what, cause);
  });
}

/** onnxruntime-node once {@link onnxRuntime} has loaded it (every session was made through it). */
export function loadedOnnxRuntime(): typeof Ort {
  if (!loaded) throw new Error('onnxruntime-node is used before it was loaded (internal error)');
  return loaded;
}
