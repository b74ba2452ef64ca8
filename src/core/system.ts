// Build information and the memory-read probe.
import { native, torchAddonStatus } from './native.js';
import type { Capabilities } from './types.js';
import { checkInt, checkOptions, typeError } from './validate.js';

/**
 * What the native addons were built with and run on. The libtorch fields come
 * from the libtorch addon, which this loads on first call when it is present
 * (libtorch takes a moment to load); without it `torch` and `distributed` are
 * false and `torchReason` says why.
 * @example capabilities() // { version: '0.1.0', threads: 8, simd: 'avx2', torch: true, cuda: false, ... }
 */
export function capabilities(): Capabilities {
  const c = native().systemCapabilities();
  const t = torchAddonStatus();
  if (t.addon) return { ...c, ...t.addon.torchCapabilities(), version: c.version };
  return { ...c, torch: false, distributed: false, torchReason: t.reason };
}

/** The core addon's fields of {@link capabilities} alone (does not load the libtorch addon). */
export function coreCapabilities(): Capabilities {
  return native().systemCapabilities();
}

/**
 * Sums a buffer with the shared pool's threads: the memory-read probe that
 * benchmarks compare streaming kernels against (the physical limit here).
 * Pass data that has been written: a freshly allocated, never-written large
 * typed array is backed by the OS's shared zero page, which is read from
 * cache and overstates the bandwidth two- to threefold.
 * @returns the sum (so the read cannot be optimised away)
 */
export function memoryReadProbe(data: Float32Array, opts?: { threads?: number }): number {
  if (!(data instanceof Float32Array)) throw typeError('data', 'a Float32Array', data);
  const o = checkOptions(opts, 'opts', { threads: 1 });
  return native().systemReadProbe({ data }, { threads: o.threads === undefined ? 0 : checkInt(o.threads, 'opts.threads', 0, 4096) });
}
