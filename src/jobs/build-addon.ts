// Builds feat2go's addons from the sources an installed package carries
// (native/, CMakeLists.txt, the Node-API headers in native/vendor/), with
// cmake and a C++ compiler: `npx feat2go build` (the core addon, and the
// libtorch addon when a libtorch is found) and `npx feat2go build-torch` (the
// libtorch addon alone, against Debian's libtorch, a pip PyTorch or a
// LibTorch download). cmake-js is a devDependency, so this drives cmake
// itself. The result goes to <package>/build/Release, where the loader looks
// first (src/core/native.ts), with feat2go_torch.json beside the libtorch
// addon recording the torch version and library folder.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageDirectory } from '../core/native.js';
import { checkInt, typeError } from '../core/validate.js';
import { ensureDir } from '../io/atomic.js';

/** A libtorch that CMake can build against. */
export interface TorchInstall {
  /** 'Torch_DIR', 'debian' or 'pip (<python>)'. */
  source: string;
  /** The folder holding TorchConfig.cmake (passed as Torch_DIR). */
  torchDir: string;
  /** As the install reports it ('1.13.0', '2.4.1+cpu'), when known. */
  version?: string;
}

/** Options of {@link buildAddons}. */
export interface BuildAddonOptions {
  /** 'all': the core addon, plus the libtorch addon when a libtorch is found; 'torch': the libtorch addon alone (a libtorch is required). */
  target: 'all' | 'torch';
  /** A LibTorch's (or any torch's) folder holding TorchConfig.cmake. Default: the Torch_DIR environment variable. */
  torchDir?: string;
  /** Build against this Python's pip PyTorch (e.g. 'python3', '.venv/bin/python'). */
  python?: string;
  /** Where the .node files go. Default <package>/build/Release (where the loader looks). */
  outDir?: string;
  /** Parallel compile jobs. Default: the CPUs this process may use. */
  jobs?: number;
  /** Also compile the CUDA kernels into the core addon (FEAT2GO_CUDA=ON; needs nvcc). */
  cuda?: boolean;
  /** Where progress lines go. */
  log?: (line: string) => void;
  /** Show every line of cmake's output (otherwise the progress lines, and the log's tail on failure). */
  verbose?: boolean;
}

/** What {@link buildAddons} built. */
export interface BuildAddonResult {
  /** The .node files written. */
  files: string[];
  /** The libtorch the libtorch addon was built against (undefined: none built). */
  torch?: TorchInstall;
  /** cmake's full output. */
  logFile: string;
}

/** Failure of a build step; the message says what is missing and how to get it. */
export class AddonBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddonBuildError';
  }
}

const TORCH_HELP =
  'Install one: Debian/Ubuntu `sudo apt-get install libtorch-dev libgloo-dev` (libgloo-dev: distributed training); ' +
  'or a pip PyTorch (`pip install torch`, then `--python <python>` if it is not python3 on PATH); ' +
  'or a LibTorch download (`--torch-dir <LibTorch>/share/cmake/Torch`, or Torch_DIR).';

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)));
}

function torchVersionAt(dir: string): string | undefined {
  try {
    return /PACKAGE_VERSION "([^"]+)"/.exec(readFileSync(path.join(dir, 'TorchConfigVersion.cmake'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The pip PyTorch of `python`, or the reason there is none. */
export function pipTorch(python: string): TorchInstall | string {
  const r = run(python, ['-c', 'import torch; print(torch.utils.cmake_prefix_path); print(torch.__version__)']);
  if (!r.ok) return r.out.includes('No module named') ? `${python} has no torch module` : `${python}: ${r.out.split('\n').pop() || 'did not run'}`;
  const [prefix, version] = r.out.split('\n').slice(-2);
  const torchDir = path.join(prefix, 'Torch');
  if (!existsSync(path.join(torchDir, 'TorchConfig.cmake'))) return `${python}'s torch ${version} has no ${torchDir}/TorchConfig.cmake`;
  return { source: `pip (${python})`, torchDir, version };
}

/** Debian/Ubuntu's libtorch-dev (/usr/lib/<multiarch>/cmake/Torch), if installed. */
export function debianTorch(): TorchInstall | undefined {
  let dirs: string[] = [];
  try { dirs = readdirSync('/usr/lib').filter((d) => /-linux-gnu/.test(d)); } catch { /* not Linux */ }
  for (const d of dirs) {
    const torchDir = path.join('/usr/lib', d, 'cmake', 'Torch');
    if (existsSync(path.join(torchDir, 'TorchConfig.cmake'))) return { source: 'debian', torchDir, version: torchVersionAt(torchDir) };
  }
  return undefined;
}

/**
 * Finds the libtorch to build against, in order: `torchDir` (or Torch_DIR),
 * `python`'s pip PyTorch, Debian's libtorch-dev, python3's pip PyTorch.
 * @returns the choice and notes about the others (for the log)
 * @throws {AddonBuildError} when an explicit choice does not hold one
 */
export function findTorch(opts: { torchDir?: string; python?: string } = {}): { torch?: TorchInstall; notes: string[] } {
  const notes: string[] = [];
  const dir = opts.torchDir ?? process.env.Torch_DIR;
  if (dir) {
    const abs = path.resolve(dir);
    if (!existsSync(path.join(abs, 'TorchConfig.cmake')))
      throw new AddonBuildError(`${opts.torchDir ? '--torch-dir' : 'Torch_DIR'} ${abs} holds no TorchConfig.cmake (expected <LibTorch>/share/cmake/Torch)`);
    return { torch: { source: 'Torch_DIR', torchDir: abs, version: torchVersionAt(abs) }, notes };
  }
  if (opts.python) {
    const p = pipTorch(opts.python);
    if (typeof p === 'string') throw new AddonBuildError(`--python: ${p}. ${TORCH_HELP}`);
    return { torch: p, notes };
  }
  const deb = debianTorch();
  const pip = onPath('python3') ? pipTorch('python3') : 'python3 is not on PATH';
  if (deb) {
    if (typeof pip !== 'string') notes.push(`python3 also has torch ${pip.version}: \`--python python3\` builds against it instead`);
    return { torch: deb, notes };
  }
  if (typeof pip !== 'string') return { torch: pip, notes };
  notes.push(`no libtorch found: no Debian libtorch-dev (/usr/lib/*/cmake/Torch), ${pip}, Torch_DIR not set`);
  return { notes };
}

/** The Node-API headers: node_modules in a checkout, else the copy in native/vendor (npm run pack puts it there). */
function napiHeaders(root: string): string {
  const req = createRequire(path.join(root, 'package.json'));
  try {
    const inc = path.join(path.dirname(req.resolve('node-api-headers/package.json')), 'include');
    if (existsSync(path.join(inc, 'node_api.h'))) return inc;
  } catch { /* not a checkout */ }
  const vendored = path.join(root, 'native', 'vendor', 'node-api-headers', 'include');
  if (existsSync(path.join(vendored, 'node_api.h'))) return vendored;
  throw new AddonBuildError(`the Node-API headers are missing (neither node_modules/node-api-headers nor ${vendored}); reinstall feat2go`);
}

function spawnLogged(cmd: string, args: string[], logFile: string, log: (l: string) => void, verbose: boolean): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const chunks: string[] = [];
    let partial = '';
    const onData = (b: Buffer) => {
      const text = partial + b.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        chunks.push(line);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (verbose || /^\[\s*\d+%?\]|^\[\d+\/\d+\]|^-- feat2go:|error:/.test(line)) log(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (partial) { chunks.push(partial); tail.push(partial); }
      try { writeFileSync(logFile, `${chunks.join('\n')}\n`, { flag: 'a' }); } catch { /* the log is a convenience */ }
      resolve({ code: code ?? 1, tail });
    });
  });
}

/** Loads a built addon in a child process (a broken binary must not take this one down) and returns what it reports. */
function probe(file: string, fn: 'systemCapabilities' | 'torchCapabilities'): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(file)}).${fn}()))`],
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } });
  if (r.status !== 0) throw new AddonBuildError(`${file} was built but does not load: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * Builds the addons from source with cmake (see {@link BuildAddonOptions}).
 * @throws {AddonBuildError} when cmake, a compiler or (for 'torch') a libtorch is missing, or the build fails
 */
export async function buildAddons(opts: BuildAddonOptions): Promise<BuildAddonResult> {
  if (opts.target !== 'all' && opts.target !== 'torch') throw typeError('opts.target', "'all' or 'torch'", opts.target);
  const jobs = opts.jobs === undefined ? Math.max(1, os.availableParallelism()) : checkInt(opts.jobs, 'opts.jobs', 1, 1024);
  const log = opts.log ?? ((l: string) => console.log(l));
  const root = packageDirectory();
  const outDir = path.resolve(opts.outDir ?? path.join(root, 'build', 'Release'));
  const buildDir = path.join(path.dirname(outDir), `cmake-${path.basename(outDir)}`);

  if (!onPath('cmake')) throw new AddonBuildError('cmake is not on PATH: install cmake ≥ 3.18 (Debian/Ubuntu: `sudo apt-get install cmake g++ make`)');
  if (!process.env.CXX && !['c++', 'g++', 'clang++'].some(onPath))
    throw new AddonBuildError('no C++ compiler on PATH (c++, g++ or clang++; or set CXX): Debian/Ubuntu `sudo apt-get install g++ make`');
  const headers = napiHeaders(root);

  const { torch, notes } = findTorch({ torchDir: opts.torchDir, python: opts.python });
  for (const n of notes) log(`note: ${n}`);
  if (!torch && opts.target === 'torch') throw new AddonBuildError(`no libtorch to build the libtorch addon against. ${TORCH_HELP}`);
  if (torch) log(`libtorch: ${torch.source}${torch.version ? ` ${torch.version}` : ''} (${torch.torchDir})`);

  try {
    ensureDir(outDir);
    ensureDir(buildDir);
  } catch (err) {
    throw new AddonBuildError(`cannot write ${outDir} (${(err as Error).message.split('\n')[0]}): pass --out <dir> and load the result with ` +
      'FEAT2GO_ADDON=<dir>/feat2go.node (FEAT2GO_TORCH_ADDON=<dir>/feat2go_torch.node)');
  }
  const logFile = path.join(buildDir, 'build.log');
  writeFileSync(logFile, '');
  const configure = [
    '-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release',
    `-DCMAKE_JS_INC=${headers}`, `-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=${outDir}`,
    `-DFEAT2GO_TORCH=${torch ? 'ON' : 'OFF'}`, `-DFEAT2GO_CUDA=${opts.cuda ? 'ON' : 'OFF'}`,
    ...(torch ? [`-DTorch_DIR=${torch.torchDir}`, `-DFEAT2GO_TORCH_SOURCE=${torch.source}`] : []),
  ];
  log(`configuring in ${buildDir}`);
  const c = await spawnLogged('cmake', configure, logFile, log, opts.verbose === true);
  if (c.code !== 0) throw new AddonBuildError(`cmake could not configure the build (log: ${logFile}):\n${c.tail.join('\n')}`);
  const targets = opts.target === 'torch' ? ['feat2go_torch'] : torch ? ['feat2go', 'feat2go_torch'] : ['feat2go'];
  log(`compiling ${targets.map((t) => `${t}.node`).join(' and ')} with ${jobs} job${jobs === 1 ? '' : 's'} (a few minutes)`);
  const b = await spawnLogged('cmake', ['--build', buildDir, '--parallel', String(jobs), '--target', ...targets], logFile, log, opts.verbose === true);
  if (b.code !== 0) throw new AddonBuildError(`the build failed (log: ${logFile}):\n${b.tail.join('\n')}`);

  const files = targets.map((t) => path.join(outDir, `${t}.node`));
  for (const f of files) {
    if (!existsSync(f) || statSync(f).size === 0) throw new AddonBuildError(`the build did not write ${f} (log: ${logFile})`);
  }
  if (targets.includes('feat2go')) {
    const caps = probe(files[0], 'systemCapabilities');
    log(`built ${files[0]} (simd ${String(caps.simd)}, cuda ${String(caps.cuda)})`);
  }
  if (targets.includes('feat2go_torch')) {
    const f = files[files.length - 1];
    const caps = probe(f, 'torchCapabilities');
    log(`built ${f} (libtorch ${String(caps.torchVersion)}, torchCuda ${String(caps.torchCuda)}, distributed ${String(caps.distributed)}; recorded in ${path.join(outDir, 'feat2go_torch.json')})`);
  }
  return { files, torch, logFile };
}
