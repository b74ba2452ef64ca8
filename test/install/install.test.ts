// The package as a user installs it: `npm run pack` (scripts/pack.mjs)
// writes the main package and this machine's platform package to pack/; they
// are installed with npm into an empty project with every C/C++ compiler, make,
// ninja and cmake hidden, and that project then uses the library and the CLI.
//
// Hiding: as root, inside `unshare -m` (a private mount namespace), a stub that
// logs its call and exits 127 is bind-mounted over every such program on PATH
// (the real file behind each symlink). Where unshare is not permitted, stubs of
// the same names go first on PATH instead (and CC/CXX point at the stub). The
// stub's log must stay empty: nothing tried to compile.
//
// The installed project's answers are compared with this checkout's (src/,
// through the local build) on the same inputs, and with hand-worked values
// where there are some (GAE). A torch class there throws TorchUnavailableError
// naming `npx feat2go build-torch` (no libtorch addon is installed).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patchStatsEncoder, PickPlaceEnv, platformPackage, progressTargetsSync, readNpyFloat32 } from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { testIf } from '../helpers/skip.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const INSTALL_BUDGET_S = 60;
const MAIN_BUDGET = 1_000_000;
const PLATFORM_BUDGET = 5_000_000;

/** The environment of a user's shell: none of npm's run-script variables, no feat2go overrides. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^FEAT2GO_/.test(k) || k === 'NODE_OPTIONS' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

// ---- the compilers, hidden ----
const TOOL = /^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|cmake|make|gmake|ninja|ninja-build)(-[\d.]+)?$|^[\w]+-linux-gnu-(gcc|g\+\+|c\+\+|cpp)(-[\d.]+)?$/;

/** The real files behind every compiler, make, ninja and cmake on PATH. */
function toolsOnPath(): { names: string[]; files: string[] } {
  const names = new Set<string>();
  const files = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    let entries: string[] = [];
    try { entries = fs.readdirSync(dir); } catch { continue; }
    for (const e of entries) {
      if (!TOOL.test(e)) continue;
      try {
        const real = fs.realpathSync(path.join(dir, e));
        if (fs.statSync(real).isFile()) { names.add(e); files.add(real); }
      } catch { /* a dangling link */ }
    }
  }
  return { names: [...names].sort(), files: [...files].sort() };
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-install-'));
const stub = path.join(work, 'stub');
const stubLog = path.join(work, 'stub.log');
fs.writeFileSync(stub, `#!/bin/sh\necho "$0 $*" >> '${stubLog}'\necho "compiler hidden by test/install/install.test.ts: $0" >&2\nexit 127\n`, { mode: 0o755 });
const tools = toolsOnPath();
const canUnshare = process.platform === 'linux' && process.getuid?.() === 0 &&
  spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;
const stubDir = path.join(work, 'stubs');
if (!canUnshare) {
  fs.mkdirSync(stubDir);
  for (const n of tools.names) fs.symlinkSync(stub, path.join(stubDir, n));
}

/** Runs `cmd args` in `cwd` with every compiler hidden; returns its status, output and seconds. */
function hidden(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): { code: number | null; stdout: string; stderr: string; seconds: number } {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  let r;
  const t0 = performance.now();
  if (canUnshare) {
    const mounts = tools.files.map((f) => `mount --bind '${stub}' '${f}'`).join(' && ');
    r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --make-rprivate / && ${mounts || 'true'} && exec ${quoted}`],
      { cwd, env: userEnv(), encoding: 'utf8', timeout: timeoutMs });
  } else {
    r = spawnSync('sh', ['-c', `exec ${quoted}`], {
      cwd, encoding: 'utf8', timeout: timeoutMs,
      env: userEnv({ PATH: `${stubDir}:${process.env.PATH ?? ''}`, CC: stub, CXX: stub }),
    });
  }
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds: (performance.now() - t0) / 1000 };
}

// ---- the inputs, and this checkout's answers ----
const T = 40, N = 16, D = 8;
const rand = rng(18);
const features = new Float32Array(T * N * D);
// Two stages: frames drift from one pattern towards another.
for (let t = 0; t < T; t++) for (let i = 0; i < N * D; i++) features[t * N * D + i] = (t < T / 2 ? Math.sin(i) : Math.cos(i)) + 0.05 * t / T + 0.01 * rand();
const frames = new Uint8Array(3 * 32 * 32 * 3);
for (let i = 0; i < frames.length; i++) frames[i] = Math.floor(rand() * 256);

const reference = {
  progress: Array.from(progressTargetsSync({ data: features, shape: [T, N, D] }, { window: 5, maxClusterFrames: 20 }).values),
  encoded: Array.from(patchStatsEncoder({ grid: 4 }).encodeSync({ data: frames, shape: [3, 32, 32, 3] }).data),
  sim: (() => {
    const env = new PickPlaceEnv({ numEnvs: 2, split: 'id', imageSize: 32 });
    env.reset([0, 1]);
    for (let s = 0; s < 5; s++) env.step(env.expertActions(0.1, 7));
    return { proprio: Array.from(env.proprio), frames: Buffer.from(env.frames).toString('base64'), stage: Array.from(env.stage) };
  })(),
};

/** The user's program, run in the installed project (plain ESM, the package's own entry). */
const USE = `
import fs from 'node:fs';
import { addonPaths, capabilities, gae, patchStatsEncoder, PickPlaceEnv, progressTargetsSync, ValueHead, Policy,
  TorchUnavailableError, OnnxVisualEncoder, OnnxRuntimeUnavailableError, writeNpy } from 'feat2go';
const input = JSON.parse(fs.readFileSync('input.json', 'utf8'));
const out = {};
const features = new Float32Array(input.features);
out.progress = Array.from(progressTargetsSync({ data: features, shape: input.shape }, { window: 5, maxClusterFrames: 20 }).values);
writeNpy('ep.npy', { data: features, shape: input.shape });
const row = (data) => ({ data, shape: [1, 3] });
const g = gae({ rewards: row(new Float32Array([0, 0, 1])), values: row(new Float32Array(3)), nextValues: row(new Float32Array(3)),
  terminated: row(new Uint8Array([0, 0, 1])), done: row(new Uint8Array([0, 0, 1])) }, { gamma: 0.5, lambda: 1 });
out.gae = { advantages: Array.from(g.advantages.data), returns: Array.from(g.returns.data) };
out.encoded = Array.from(patchStatsEncoder({ grid: 4 }).encodeSync({ data: Uint8Array.from(Buffer.from(input.frames, 'base64')), shape: [3, 32, 32, 3] }).data);
const env = new PickPlaceEnv({ numEnvs: 2, split: 'id', imageSize: 32 });
env.reset([0, 1]);
for (let s = 0; s < 5; s++) env.step(env.expertActions(0.1, 7));
out.sim = { proprio: Array.from(env.proprio), frames: Buffer.from(env.frames).toString('base64'), stage: Array.from(env.stage) };
const caps = capabilities();
out.caps = { torch: caps.torch, torchReason: caps.torchReason, simd: caps.simd };
out.torchErrors = [];
for (const make of [() => new ValueHead({ inputDim: 8, hiddenDim: 8 }), () => new Policy({ obsDim: 4, actionDim: 2 })]) {
  try { make(); out.torchErrors.push({ ok: true }); }
  catch (e) { out.torchErrors.push({ name: e.name, isClass: e instanceof TorchUnavailableError, message: e.message }); }
}
fs.writeFileSync('model.onnx', 'not a model');
try { await OnnxVisualEncoder.load('model.onnx'); out.onnx = { ok: true }; }
catch (e) { out.onnx = { name: e.name, isClass: e instanceof OnnxRuntimeUnavailableError, message: e.message }; }
out.paths = addonPaths();
process.stdout.write(JSON.stringify(out));
`;

const haveNpm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
const installTest = testIf(haveNpm && process.platform === 'linux', 'needs npm and Linux (the prebuilt packages are linux-*-gnu)');

installTest('npm run pack writes the main package (< 1 MB, no install script) and this platform\'s package (< 5 MB)', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'pack.mjs')], { cwd: root, encoding: 'utf8', env: userEnv(), timeout: 600_000 });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'pack', 'manifest.json'), 'utf8')) as {
    written: Array<{ name: string; file: string; bytes: number; glibc?: string; needed?: string[] }>;
  };
  const main = manifest.written.find((w) => w.name === 'feat2go')!;
  const plat = manifest.written.find((w) => w.name === platformPackage())!;
  assert.ok(main && plat, JSON.stringify(manifest));
  assert.ok(main.bytes < MAIN_BUDGET, `main package ${main.bytes} bytes`);
  assert.ok(plat.bytes < PLATFORM_BUDGET, `platform package ${plat.bytes} bytes`);
  // The core addon needs glibc's libraries and nothing else (libstdc++ and libgcc linked in).
  assert.ok(plat.needed!.every((n) => /^(libc\.so\.6|libm\.so\.6|ld-linux[-\w.]*\.so\.\d)$/.test(n)), plat.needed!.join(' '));
  // The documented glibc floor (docs/install.md): a new symbol version in the addon raises it.
  assert.match(plat.glibc!, /^2\.\d+$/);
  assert.ok(Number(plat.glibc!.split('.')[1]) <= 34, `the addon needs glibc ${plat.glibc}, above the documented floor 2.34`);
  const list = spawnSync('tar', ['-tzf', main.file], { encoding: 'utf8' }).stdout.split('\n');
  for (const f of ['package/dist/index.js', 'package/native/vendor/node-addon-api/napi.h', 'package/CMakeLists.txt', 'package/web/view/index.html'])
    assert.ok(list.includes(f), `${f} is packed`);
  const heavy = list.filter((f) => /\.(node|png|jpe?g|gif|npy|onnx|js\.map|ts\.map)$/.test(f) || /^package\/(build|native\/tests|docs\/[^/]+)\//.test(f));
  assert.equal(heavy, [], 'no binary, image, source map, build or C++ test in the main package');
  const pj = JSON.parse(spawnSync('tar', ['-xzOf', main.file, 'package/package.json'], { encoding: 'utf8' }).stdout) as {
    scripts?: Record<string, string>; dependencies: Record<string, string>; optionalDependencies: Record<string, string>; version: string;
  };
  for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) assert.is(pj.scripts?.[s], undefined, `no ${s} script`);
  for (const d of ['cmake-js', 'node-addon-api', 'node-api-headers', 'onnxruntime-node']) assert.is(pj.dependencies[d], undefined, `${d} is not a dependency`);
  assert.is(pj.optionalDependencies[platformPackage()], pj.version, 'the platform package is an exact-version optional dependency');
});

installTest(`installed into an empty project with every compiler, make, ninja and cmake hidden, in under ${INSTALL_BUDGET_S} s`, () => {
  // The hiding itself works.
  assert.ok(tools.files.length > 0, 'found the compilers to hide');
  const probe = hidden('g++', ['--version'], work);
  assert.is.not(probe.code, 0, 'g++ is hidden');
  const probeCmake = hidden('cmake', ['--version'], work);
  assert.is.not(probeCmake.code, 0, 'cmake is hidden');
  fs.rmSync(stubLog, { force: true });

  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'pack', 'manifest.json'), 'utf8')) as { written: Array<{ file: string }> };
  const project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-feat2go', version: '1.0.0', private: true, type: 'module' }));
  const r = hidden('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...manifest.written.map((w) => w.file)], project, 180_000);
  console.log(`   npm install (${canUnshare ? 'unshare -m, stubs bind-mounted' : 'stubs first on PATH'} over ${tools.files.length} programs): ${r.seconds.toFixed(1)} s`);
  assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.not.match(r.stderr, /install-scripts/, 'npm finds no install script to approve');
  assert.ok(r.seconds < INSTALL_BUDGET_S, `install took ${r.seconds.toFixed(1)} s`);
  assert.not.ok(fs.existsSync(stubLog), `nothing compiles during the install: ${fs.existsSync(stubLog) ? fs.readFileSync(stubLog, 'utf8') : ''}`);
  const nm = path.join(project, 'node_modules');
  assert.ok(fs.existsSync(path.join(nm, platformPackage(), 'feat2go.node')), 'the prebuilt addon is installed');
  assert.not.ok(fs.existsSync(path.join(nm, 'feat2go', 'build')), 'nothing was built in the package');
  for (const d of ['cmake-js', 'onnxruntime-node']) assert.not.ok(fs.existsSync(path.join(nm, d)), `${d} is not installed`);
});

installTest('in that project: progressTargets, gae, PickPlaceEnv, the built-in encoder and `npx feat2go label` work; torch classes throw TorchUnavailableError', () => {
  const project = path.join(work, 'project');
  assert.ok(fs.existsSync(path.join(project, 'node_modules', 'feat2go')), 'installed by the test before');
  fs.writeFileSync(path.join(project, 'use.mjs'), USE);
  fs.writeFileSync(path.join(project, 'input.json'), JSON.stringify({ features: Array.from(features), shape: [T, N, D], frames: Buffer.from(frames).toString('base64') }));
  const r = hidden(process.execPath, ['use.mjs'], project);
  assert.is(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as {
    progress: number[]; gae: { advantages: number[]; returns: number[] }; encoded: number[]; sim: typeof reference.sim;
    caps: { torch: boolean; torchReason?: string }; torchErrors: Array<{ name?: string; isClass?: boolean; message?: string; ok?: boolean }>;
    onnx: { name?: string; isClass?: boolean; message?: string }; paths: { core?: string; torch?: string };
  };
  // The prebuilt addon, from the platform package, gives this checkout's answers.
  assert.ok(got.paths.core?.startsWith(path.join(project, 'node_modules', platformPackage())), got.paths.core);
  assert.equal(got.progress, reference.progress);
  assert.equal(got.encoded, reference.encoded);
  assert.equal(got.sim, reference.sim);
  // GAE by hand: δ = [0, 0, 1]; A2 = 1, A1 = 0.5·1, A0 = 0.5·0.5 (γ = 0.5, λ = 1, V = 0).
  assert.equal(got.gae, { advantages: [0.25, 0.5, 1], returns: [0.25, 0.5, 1] });
  // No libtorch addon: the training classes say how to get one.
  assert.is(got.caps.torch, false);
  assert.match(got.caps.torchReason ?? '', /feat2go_torch\.node is not built \(npx feat2go build-torch\)/);
  for (const e of got.torchErrors) {
    assert.is(e.name, 'TorchUnavailableError');
    assert.ok(e.isClass, 'instanceof TorchUnavailableError');
    assert.match(e.message!, /npx feat2go build-torch/);
    assert.match(e.message!, /libtorch-dev/);
    assert.match(e.message!, /pip install torch/);
  }
  assert.match(got.torchErrors[0].message!, /^ValueHead/);
  // No onnxruntime-node (an optional peer): the ONNX encoder says how to install it.
  assert.is(got.onnx.name, 'OnnxRuntimeUnavailableError');
  assert.ok(got.onnx.isClass);
  assert.match(got.onnx.message!, /npm install onnxruntime-node/);
  assert.match(got.onnx.message!, /ONNXRUNTIME_NODE_INSTALL=skip/);

  // The CLI, as a user runs it.
  const l = hidden('npx', ['--no-install', 'feat2go', 'label', 'ep.npy', '--out', 'labels', '--window', '5', '--max-cluster-frames', '20'], project);
  assert.is(l.code, 0, `${l.stdout}\n${l.stderr}`);
  const values = readNpyFloat32(path.join(project, 'labels', 'ep', 'values.npy'), 1);
  assert.equal(Array.from(values.data), reference.progress);
  assert.not.ok(fs.existsSync(stubLog), 'nothing compiled');
});

installTest('`npx feat2go build-torch` in that project fails with a clear message when no compiler is there', () => {
  const project = path.join(work, 'project');
  const r = hidden('npx', ['--no-install', 'feat2go', 'build-torch'], project);
  assert.is(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^feat2go build-torch: /m);
});

test.after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

test.run();
