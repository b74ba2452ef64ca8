// Cancellation of long native calls. Each cancellable call gets a cancel flag
// (an Int32Array over a SharedArrayBuffer) that an AbortSignal sets; the
// native call's loops see it within a step (native/kernels/cancel.h, and the
// addon's watchdog: native/bindings/napi_util.h CallStop). A call cancelled
// this way rejects with the signal's reason. Independently of any signal,
// every running cancellable call is stopped when the process exits (a
// listener on process 'exit', added on first use) or when its worker_thread
// is terminated (the addon notices that itself), so neither waits for a
// training run to finish.
import { isMainThread } from 'node:worker_threads';
import { loadedTorchAddon, native } from './native.js';
import { typeError } from './validate.js';

let exitHooked = false;

/** Stops the running native calls when this process (or, in a worker_thread, this worker) exits. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // On the main thread process.exit() waits for every running call of every
  // thread (libuv joins its pool), so all of them are stopped; a worker stops its own.
  process.on('exit', () => cancelRunningCalls(isMainThread));
}

/**
 * Stops the running cancellable native calls of both addons (each tracks its
 * own): this environment's, or every environment's with `everywhere`.
 * @internal
 */
export function cancelRunningCalls(everywhere: boolean): void {
  try {
    native().systemCancelCalls({}, { everywhere });
  } catch {
    // the core addon could not be reached: nothing to stop there
  }
  try {
    loadedTorchAddon()?.torchCancelCalls({}, { everywhere });
  } catch {
    // an older libtorch addon without torchCancelCalls: its worker_threads still stop at teardown
  }
}

/** `v` as an AbortSignal, or undefined when absent; a TypeError naming `name` otherwise. */
export function checkSignal(v: unknown, name: string): AbortSignal | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof AbortSignal)) throw typeError(name, 'an AbortSignal', v);
  return v;
}

/**
 * Runs a cancellable native call: `start(cancel)` queues it with `cancel`, its
 * flag. With an already-aborted `signal` nothing is started and the promise
 * rejects with `signal.reason`; when `signal` aborts while the call runs, the
 * call stops at its next check (an optimizer step, an episode, a slice of a
 * collective's wait) and the promise rejects with `signal.reason`. A training
 * call stopped this way leaves the model as it was.
 * @internal
 */
export function cancellable<T>(signal: AbortSignal | undefined, start: (cancel: Int32Array | undefined) => Promise<T>): Promise<T> {
  hookExit();
  if (signal === undefined) return start(undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(flag, 0, 1);
  signal.addEventListener('abort', onAbort, { once: true });
  let p: Promise<T>;
  try {
    p = start(flag);
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    return Promise.reject(err);
  }
  return p.then(
    (r) => {
      signal.removeEventListener('abort', onAbort);
      return r;
    },
    (err: unknown) => {
      signal.removeEventListener('abort', onAbort);
      throw signal.aborted && isAbortError(err) ? signal.reason : err;
    },
  );
}

/** Whether `err` is the addon's AbortError (a native call that saw its cancel flag). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
