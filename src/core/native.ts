// The one loader of the native addon. It tries each place the addon may be,
// remembers why each failed, and throws a single error that says what was
// tried, the cause and how to fix it. Callers may hand it an explicit path
// (bundlers, Electron) with `useAddon()` or the FEAT2GO_ADDON variable.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from './native-types.js';

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let addon: NativeAddon | undefined;

/** Where the loader looks, in order. */
export function addonCandidates(): string[] {
  const list: string[] = [];
  if (process.env.FEAT2GO_ADDON) list.push(path.resolve(process.env.FEAT2GO_ADDON));
  list.push(path.join(packageRoot, 'build', 'Release', 'feat2go.node'));
  list.push(path.join(packageRoot, 'build', 'Debug', 'feat2go.node'));
  return list;
}

/** Error thrown when the native addon cannot be loaded. */
export class AddonLoadError extends Error {
  /** Each path tried and why it failed. */
  readonly attempts: Array<{ path: string; error: string }>;
  constructor(attempts: Array<{ path: string; error: string }>) {
    const platform = `${process.platform}-${process.arch}, Node ${process.versions.node}, N-API ${process.versions.napi}`;
    const cause = attempts.find((a) => !a.error.startsWith('not found'))?.error
      ?? 'the addon has not been built';
    super(
      `feat2go could not load its native addon (${platform}).\n` +
      `Tried:\n${attempts.map((a) => `  - ${a.path}: ${a.error}`).join('\n')}\n` +
      `Cause: ${cause}\n` +
      'Fix:\n' +
      '  - Build it: `npm rebuild feat2go` (in a checkout: `npm run build:native`).\n' +
      '    It needs cmake ≥ 3.18 and a C++17 compiler: on Debian/Ubuntu `apt-get install cmake g++`.\n' +
      '  - If it was built elsewhere, pass its path: useAddon("/path/to/feat2go.node") or FEAT2GO_ADDON=/path/to/feat2go.node.',
    );
    this.name = 'AddonLoadError';
    this.attempts = attempts;
  }
}

function tryLoad(candidates: string[]): NativeAddon {
  // libtorch's OpenMP threads spin between parallel regions by default; on a
  // shared or oversubscribed machine that costs several times the work
  // (measured: docs/benchmarks.md, "OMP_WAIT_POLICY=PASSIVE"). libgomp reads
  // this once, when the addon loads it, so it is set here unless the user
  // chose a policy.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'PASSIVE';
  const attempts: Array<{ path: string; error: string }> = [];
  for (const p of candidates) {
    if (!existsSync(p)) {
      attempts.push({ path: p, error: 'not found' });
      continue;
    }
    try {
      return require(p) as NativeAddon;
    } catch (err) {
      attempts.push({ path: p, error: (err as Error).message.split('\n')[0] });
    }
  }
  throw new AddonLoadError(attempts);
}

/**
 * Returns the loaded native addon, loading it on first use.
 * @throws {AddonLoadError} when no candidate loads; the message lists every path tried.
 */
export function native(): NativeAddon {
  if (!addon) addon = tryLoad(addonCandidates());
  return addon;
}

/**
 * Uses an explicit addon: a path to a `feat2go.node` file, or an already
 * loaded addon object (for bundlers and Electron). Call before any other API.
 * @throws {AddonLoadError} when the path does not load.
 */
export function useAddon(pathOrAddon: string | NativeAddon): void {
  if (typeof pathOrAddon === 'string') addon = tryLoad([path.resolve(pathOrAddon)]);
  else if (pathOrAddon && typeof pathOrAddon === 'object' && typeof pathOrAddon.systemCapabilities === 'function') addon = pathOrAddon;
  else throw new TypeError(`Expected a path string or a loaded feat2go addon for pathOrAddon but received ${typeof pathOrAddon}`);
}
