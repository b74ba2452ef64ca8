// The one loader of feat2go's two native addons.
//
//  * The core addon (feat2go.node: kernels, progress targets, RL math, the
//    simulator, the encoder glue) is loaded on the first call that needs it,
//    from the first of: FEAT2GO_ADDON (or useAddon), a local build
//    (build/Release, then build/Debug: a checkout, or `npx feat2go build`),
//    then the prebuilt platform package (@feat2go/<platform>, an exact-version
//    optional dependency that npm installs only on its platform).
//  * The libtorch addon (feat2go_torch.node: the training classes and process
//    groups) is loaded on the first use of a libtorch API (or of
//    capabilities()), from the first of: FEAT2GO_TORCH_ADDON (or
//    useTorchAddon), the folder of the core addon when that was given
//    explicitly (a build folder holds both), else a local build (what
//    `npx feat2go build-torch` writes), then a prebuilt libtorch package.
//
// Each loader tries every candidate, remembers why each failed, and reports
// them all in one error with the cause and the one command that builds from
// source (the habit of sharp's lib/sharp.js).
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeCoreAddon, NativeTorchAddon } from './native-types.js';

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One place the loader tried, where it came from, and why it did not load. */
export interface AddonAttempt {
  /** The file (or the package, when it is not installed). */
  path: string;
  /** 'FEAT2GO_ADDON', 'local build', 'platform package @feat2go/linux-x64-gnu', … */
  source: string;
  /** Why it was not used: 'not found', 'not installed', or the load error's first line. */
  error: string;
}

interface Candidate { path: string; source: string; missing?: string; hint?: string }

interface PackageInfo { version: string; optionalDependencies: Record<string, string> }
let pkgInfo: PackageInfo | undefined;
function packageInfo(): PackageInfo {
  if (!pkgInfo) {
    try {
      const p = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as Partial<PackageInfo>;
      pkgInfo = { version: p.version ?? 'unknown', optionalDependencies: p.optionalDependencies ?? {} };
    } catch {
      pkgInfo = { version: 'unknown', optionalDependencies: {} };
    }
  }
  return pkgInfo;
}

/** The folder of the feat2go package (or checkout) this code runs from. */
export function packageDirectory(): string {
  return packageRoot;
}

/** Whether feat2go runs from a checkout of its repository (sources present) rather than an installed package. */
export function isCheckout(): boolean {
  return existsSync(path.join(packageRoot, 'src', 'core', 'native.ts'));
}

/** The one command that builds an addon from source here. */
export function buildCommand(which: 'core' | 'torch'): string {
  if (isCheckout()) return 'npm run build:native';
  return which === 'core' ? 'npx feat2go build' : 'npx feat2go build-torch';
}

let libcFamily: 'gnu' | 'musl' | undefined;
/** 'gnu' or 'musl' on Linux (from the system's ldd, as detect-libc does; process.report costs ~50 ms). */
function libc(): 'gnu' | 'musl' {
  if (!libcFamily) {
    let text = '';
    try { text = readFileSync('/usr/bin/ldd', 'latin1'); } catch { /* no ldd: decide below */ }
    if (text.includes('musl')) libcFamily = 'musl';
    else if (text.includes('GNU C Library') || text.includes('GLIBC')) libcFamily = 'gnu';
    else {
      const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
      libcFamily = header?.glibcVersionRuntime ? 'gnu' : 'musl';
    }
  }
  return libcFamily;
}

/** The glibc this process runs on ('2.36'), or undefined (musl, or not Linux). For messages only. */
function glibcVersion(): string | undefined {
  if (process.platform !== 'linux' || libc() !== 'gnu') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

/** This machine's platform as the prebuilt packages name it: 'linux-x64-gnu', 'linux-arm64-gnu', 'darwin-arm64', … */
export function platformId(): string {
  const base = `${process.platform}-${process.arch}`;
  return process.platform === 'linux' ? `${base}-${libc()}` : base;
}

/** The prebuilt package of the core addon for this platform (whether or not one is published). */
export function platformPackage(): string {
  return `@feat2go/${platformId()}`;
}

/** Resolves a package's folder from here (node_modules lookup), or undefined when it is not installed. */
function packageDir(name: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A candidate in an installed package: its `file`, with what the package's "feat2go" field says. */
function packageCandidate(name: string, file: string, kind: string): Candidate {
  const dir = packageDir(name);
  const source = `${kind} ${name}`;
  if (!dir) {
    const listed = name in packageInfo().optionalDependencies;
    return {
      path: name, source,
      missing: listed
        ? 'not installed (an optional dependency: was the install run with --omit=optional or --no-optional, or copied from another platform?)'
        : `not installed (no prebuilt package for ${platformId()})`,
    };
  }
  const meta = (readJson(path.join(dir, 'package.json'))?.feat2go ?? {}) as { glibc?: string; needs?: string };
  const hints: string[] = [];
  if (meta.glibc) hints.push(`it needs glibc ≥ ${meta.glibc}, this system has ${glibcVersion() ?? 'no glibc'}`);
  if (meta.needs) hints.push(`it needs ${meta.needs}`);
  return { path: path.join(dir, file), source, hint: hints.join('; ') || undefined };
}

// ------------------------------------------------------------------ loading

function loadFirst<T>(candidates: Candidate[], check: (addon: T) => string | undefined): { addon?: T; path?: string; source?: string; attempts: AddonAttempt[] } {
  // libtorch's OpenMP threads spin between parallel regions by default; on a
  // shared or oversubscribed machine that costs several times the work
  // (measured: docs/benchmarks.md, "OMP_WAIT_POLICY=PASSIVE"). libgomp reads
  // this once, when an addon loads it, so it is set here unless the user
  // chose a policy.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'PASSIVE';
  const attempts: AddonAttempt[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.path)) continue;
    seen.add(c.path);
    if (c.missing) { attempts.push({ path: c.path, source: c.source, error: c.missing }); continue; }
    if (!existsSync(c.path)) { attempts.push({ path: c.path, source: c.source, error: 'not found' }); continue; }
    try {
      const addon = require(c.path) as T;
      const wrong = check(addon);
      if (!wrong) return { addon, path: c.path, source: c.source, attempts };
      attempts.push({ path: c.path, source: c.source, error: wrong });
    } catch (err) {
      const first = String((err as Error).message).split('\n')[0];
      attempts.push({ path: c.path, source: c.source, error: c.hint ? `${first} (${c.hint})` : first });
    }
  }
  return { attempts };
}

function versionMismatch(built: unknown, which: 'core' | 'torch'): string | undefined {
  const want = packageInfo().version;
  if (built === want || want === 'unknown') return undefined;
  return `built from feat2go ${String(built)}, but this is feat2go ${want}: rebuild it (${buildCommand(which)})`;
}

// ------------------------------------------------------------------ the core addon

/** Error thrown when the core addon cannot be loaded. */
export class AddonLoadError extends Error {
  /** Each place tried and why it failed. */
  readonly attempts: AddonAttempt[];
  constructor(attempts: AddonAttempt[]) {
    const glibc = glibcVersion();
    const platform = `${platformId()}${glibc ? `, glibc ${glibc}` : ''}, Node ${process.versions.node}, N-API ${process.versions.napi}`;
    const cause = attempts.find((a) => a.error !== 'not found' && !a.error.startsWith('not installed'))?.error
      ?? 'no addon is installed or built for this platform';
    const pkg = platformPackage();
    const prebuilt = pkg in packageInfo().optionalDependencies;
    super(
      `feat2go could not load its native addon (${platform}).\n` +
      `Tried:\n${attempts.map((a) => `  - ${a.source}: ${a.path}: ${a.error}`).join('\n')}\n` +
      `Cause: ${cause}\n` +
      'Fix:\n' +
      (prebuilt && !isCheckout()
        ? `  - Reinstall with optional dependencies: \`npm install feat2go\` installs the prebuilt ${pkg} (not with --omit=optional).\n`
        : '') +
      `  - Build it from source: \`${buildCommand('core')}\`. It needs cmake ≥ 3.18 and a C++17 compiler ` +
      '(Debian/Ubuntu: `sudo apt-get install cmake g++`).\n' +
      '  - If it was built elsewhere, pass its path: useAddon("/path/to/feat2go.node") or FEAT2GO_ADDON=/path/to/feat2go.node.',
    );
    this.name = 'AddonLoadError';
    this.attempts = attempts;
  }
}

/** The loaded core addon; `explicit`: given by FEAT2GO_ADDON or useAddon (a build folder of its own). */
let core: { addon: NativeCoreAddon; path?: string; source?: string; explicit: boolean } | undefined;

function coreCandidatesOf(): Candidate[] {
  const list: Candidate[] = [];
  if (process.env.FEAT2GO_ADDON) list.push({ path: path.resolve(process.env.FEAT2GO_ADDON), source: 'FEAT2GO_ADDON' });
  list.push({ path: path.join(packageRoot, 'build', 'Release', 'feat2go.node'), source: 'local build' });
  list.push({ path: path.join(packageRoot, 'build', 'Debug', 'feat2go.node'), source: 'local build' });
  list.push(packageCandidate(platformPackage(), 'feat2go.node', 'platform package'));
  return list;
}

/** Where the loader looks for the core addon, in order (a package not installed is listed by its name). */
export function addonCandidates(): string[] {
  return coreCandidatesOf().map((c) => c.path);
}

const checkCore = (a: NativeCoreAddon): string | undefined =>
  typeof a?.systemCapabilities !== 'function'
    ? 'not a feat2go core addon (no systemCapabilities)'
    : versionMismatch(a.systemCapabilities().version, 'core');

function loadCore(candidates: Candidate[]): void {
  const r = loadFirst(candidates, checkCore);
  if (!r.addon) throw new AddonLoadError(r.attempts);
  core = { addon: r.addon, path: r.path, source: r.source, explicit: r.source === 'FEAT2GO_ADDON' || r.source === 'useAddon' };
  torch = undefined;
}

/**
 * Returns the loaded core addon, loading it on first use.
 * @throws {AddonLoadError} when no candidate loads; the message lists every place tried.
 */
export function native(): NativeCoreAddon {
  if (!core) loadCore(coreCandidatesOf());
  return core!.addon;
}

/**
 * Uses an explicit core addon: a path to a `feat2go.node` file, or an already
 * loaded addon object (for bundlers and Electron). Call before any other API.
 * The libtorch addon is then looked for beside that file (or given with
 * {@link useTorchAddon}).
 * @throws {AddonLoadError} when the path does not load.
 */
export function useAddon(pathOrAddon: string | NativeCoreAddon): void {
  if (typeof pathOrAddon === 'string') loadCore([{ path: path.resolve(pathOrAddon), source: 'useAddon' }]);
  else if (pathOrAddon && typeof pathOrAddon === 'object' && typeof pathOrAddon.systemCapabilities === 'function') {
    core = { addon: pathOrAddon, explicit: false };
    torch = undefined;
  } else throw new TypeError(`Expected a path string or a loaded feat2go addon for pathOrAddon but received ${typeof pathOrAddon}`);
}

// ------------------------------------------------------------------ the libtorch addon

/** What feat2go_torch.json (written beside feat2go_torch.node by its build) records. */
export interface TorchBuildInfo {
  feat2goVersion: string;
  torchVersion: string;
  /** The folder of the libtorch libraries it was linked against. */
  torchLibDir: string;
  torchDir?: string;
  /** 'debian', 'pip (python3)', 'Torch_DIR', … as `npx feat2go build-torch` found it ('' from a plain cmake-js build). */
  torchSource?: string;
  torchCuda: boolean;
  distributed: boolean;
}

/** The libtorch addon's state: loaded (with its path and build record), or the places tried. */
export interface TorchAddonStatus {
  addon?: NativeTorchAddon;
  path?: string;
  info?: TorchBuildInfo;
  attempts: AddonAttempt[];
  /** One line: why there is no libtorch addon (undefined when it loaded). */
  reason?: string;
  /**
   * Whether the libtorch addon uses the core addon's host memory (so host
   * tensors are read in place by its async calls), and if not, why (its calls
   * then copy their inputs). Undefined when it did not load.
   */
  hostMemory?: { shared: boolean; reason: string };
}

let torch: TorchAddonStatus | undefined;

/**
 * Hands the core addon's host-memory table to a freshly loaded libtorch addon
 * (once per addon and environment), so that host memory has one owner: the
 * core addon allocates and reference-counts it, and the libtorch addon pins
 * and allocates through it (native/bindings/host_api.h). Without a table, or
 * with one of another version, the libtorch addon copies its async inputs.
 */
function connectTorch(addon: NativeTorchAddon): { shared: boolean; reason: string } {
  if (typeof addon.torchInit !== 'function') return { shared: false, reason: 'the libtorch addon has no torchInit' };
  const hostApi = (core?.addon as { systemHostApi?: object } | undefined)?.systemHostApi;
  const r = addon.torchInit({ hostApi }, {});
  return { shared: r.hostMemory, reason: r.reason };
}

const DISABLED = new Set(['0', 'off', 'none', 'false']);

function torchCandidatesOf(): Candidate[] {
  const c = core!;
  const list: Candidate[] = [];
  const env = process.env.FEAT2GO_TORCH_ADDON;
  if (env) list.push({ path: path.resolve(env), source: 'FEAT2GO_TORCH_ADDON' });
  if (c.path && c.explicit) list.push({ path: path.join(path.dirname(c.path), 'feat2go_torch.node'), source: 'beside the core addon' });
  if (!c.explicit) {
    if (c.path && c.source === 'local build') list.push({ path: path.join(path.dirname(c.path), 'feat2go_torch.node'), source: 'local build' });
    list.push({ path: path.join(packageRoot, 'build', 'Release', 'feat2go_torch.node'), source: 'local build' });
    const prefix = `${platformPackage()}-torch`;
    for (const name of Object.keys(packageInfo().optionalDependencies).filter((n) => n.startsWith(prefix)))
      list.push(packageCandidate(name, 'feat2go_torch.node', 'prebuilt libtorch addon'));
  }
  // A libtorch addon whose libtorch has gone: say so.
  for (const k of list) {
    const info = readJson(path.join(path.dirname(k.path), 'feat2go_torch.json')) as Partial<TorchBuildInfo> | undefined;
    if (info?.torchLibDir && !existsSync(info.torchLibDir))
      k.hint = `it was built against libtorch ${info.torchVersion ?? ''} in ${info.torchLibDir}, which is not there any more`;
  }
  return list;
}

/**
 * The libtorch addon, loading it on first call (never throws): the addon with
 * its path and build record, or every place tried and why it failed. Set
 * FEAT2GO_TORCH_ADDON=off to run without it.
 */
export function torchAddonStatus(): TorchAddonStatus {
  if (torch) return torch;
  native();
  const env = process.env.FEAT2GO_TORCH_ADDON;
  if (env && DISABLED.has(env.toLowerCase())) {
    torch = { attempts: [], reason: `turned off (FEAT2GO_TORCH_ADDON=${env})` };
    return torch;
  }
  const list = torchCandidatesOf();
  const r = loadFirst<NativeTorchAddon>(list, (a) =>
    typeof a?.torchCapabilities !== 'function'
      ? 'not a feat2go libtorch addon (no torchCapabilities)'
      : versionMismatch(a.torchCapabilities().version, 'torch'));
  if (r.addon) {
    const info = readJson(path.join(path.dirname(r.path!), 'feat2go_torch.json')) as TorchBuildInfo | undefined;
    torch = { addon: r.addon, path: r.path, info, attempts: r.attempts, hostMemory: connectTorch(r.addon) };
  } else {
    const failed = r.attempts.find((a) => a.error !== 'not found' && !a.error.startsWith('not installed'));
    torch = {
      attempts: r.attempts,
      reason: failed ? `${failed.path}: ${failed.error}` : `feat2go_torch.node is not built (${buildCommand('torch')})`,
    };
  }
  return torch;
}

/**
 * Uses an explicit libtorch addon: a path to a `feat2go_torch.node` file, or
 * an already loaded addon object (bundlers, Electron).
 * @throws {AddonLoadError} when the path does not load.
 */
export function useTorchAddon(pathOrAddon: string | NativeTorchAddon): void {
  native();
  if (typeof pathOrAddon === 'string') {
    const p = path.resolve(pathOrAddon);
    const r = loadFirst<NativeTorchAddon>([{ path: p, source: 'useTorchAddon' }], (a) =>
      typeof a?.torchCapabilities !== 'function' ? 'not a feat2go libtorch addon (no torchCapabilities)' : versionMismatch(a.torchCapabilities().version, 'torch'));
    if (!r.addon) throw new AddonLoadError(r.attempts);
    torch = {
      addon: r.addon, path: p, info: readJson(path.join(path.dirname(p), 'feat2go_torch.json')) as TorchBuildInfo | undefined, attempts: [],
      hostMemory: connectTorch(r.addon),
    };
  } else if (pathOrAddon && typeof pathOrAddon === 'object' && typeof pathOrAddon.torchCapabilities === 'function') {
    torch = { addon: pathOrAddon, attempts: [], hostMemory: connectTorch(pathOrAddon) };
  } else throw new TypeError(`Expected a path string or a loaded feat2go libtorch addon for pathOrAddon but received ${typeof pathOrAddon}`);
}

/** The libtorch addon when it is already loaded (never loads it). */
export function loadedTorchAddon(): NativeTorchAddon | undefined {
  return torch?.addon;
}

/** The files the two addons were loaded from (undefined: not loaded yet, given as an object, or no libtorch addon). */
export function addonPaths(): { core?: string; torch?: string } {
  return { core: core?.path, torch: torch?.path };
}
