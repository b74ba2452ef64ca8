#!/usr/bin/env node
// `npm run pack`: the release tarballs, in pack/ (gitignored).
//
//   pack/feat2go-<version>.tgz                 the main package: TypeScript (dist/), the
//                                              native sources with the Node-API headers
//                                              (native/vendor/, for `npx feat2go build-torch`),
//                                              the docs' text. No addon, no install script.
//   pack/feat2go-<platform>-<version>.tgz      @feat2go/<platform>: this machine's prebuilt core
//                                              addon (feat2go.node, stripped; libstdc++ and
//                                              libgcc linked in, needs only glibc ≥ the floor
//                                              recorded in its package.json)
//   pack/manifest.json                         what was written: files, bytes, the glibc floor
//
// Usage: node scripts/pack.mjs [--platform linux-arm64-gnu] [--jobs N]
//   --platform  cross-build another platform's package into pack/<platform>/ (a release
//               builds each; linux-arm64-gnu uses Debian's g++-aarch64-linux-gnu and
//               scripts/toolchains/aarch64-linux-gnu.cmake)
// The addon is reused when it is up to date: build/Release (cmake-js, the checkout's own
// build) when it is a portable build, else build-pack-<platform>/ (a plain cmake build).
// Every addon is checked before it is packed: its NEEDED libraries (glibc's only), its
// highest GLIBC_ symbol version, no sanitizer, and the size budgets (main < 1 MB,
// platform package < 5 MB).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const MAIN_BUDGET = 1_000_000;
const PLATFORM_BUDGET = 5_000_000;

/** The prebuilt platforms: npm's os/cpu/libc fields, and how to build there. */
const PLATFORMS = {
  'linux-x64-gnu': { os: 'linux', cpu: 'x64', libc: 'glibc', tools: '', toolchain: '' },
  'linux-arm64-gnu': { os: 'linux', cpu: 'arm64', libc: 'glibc', tools: 'aarch64-linux-gnu-', toolchain: 'scripts/toolchains/aarch64-linux-gnu.cmake' },
};
/** What a portable core addon may need: glibc's own libraries. */
const GLIBC_LIBS = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-[-\w.]+\.so\.\d)$/;

const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const jobs = opt('--jobs') ?? process.env.JOBS ?? String(Math.min(os.availableParallelism(), 2));

function hostPlatform() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`;
  let ldd = '';
  try { ldd = fs.readFileSync('/usr/bin/ldd', 'latin1'); } catch { /* decide below */ }
  return `linux-${process.arch}-${ldd.includes('musl') ? 'musl' : 'gnu'}`;
}
const host = hostPlatform();
const platform = opt('--platform') ?? host;
const target = PLATFORMS[platform];
if (!target) fail(`no prebuilt package is defined for ${platform} (scripts/pack.mjs PLATFORMS: ${Object.keys(PLATFORMS).join(', ')})`);
const cross = platform !== host;
const outDir = cross ? path.join(root, 'pack', platform) : path.join(root, 'pack');

function fail(msg) {
  console.error(`npm run pack: ${msg}`);
  process.exit(1);
}

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${argv.join(' ')} failed (exit ${r.status}):\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n')}`);
  return r.stdout;
}

const step = (s) => console.log(`== ${s}`);

// ---- the package list must match the table ----
const listed = Object.keys(pkg.optionalDependencies ?? {}).filter((n) => n.startsWith('@feat2go/'));
for (const p of Object.keys(PLATFORMS)) {
  if (pkg.optionalDependencies?.[`@feat2go/${p}`] !== pkg.version) fail(`package.json optionalDependencies must list "@feat2go/${p}": "${pkg.version}" (exact)`);
}
for (const n of listed) if (!PLATFORMS[n.slice('@feat2go/'.length)]) fail(`package.json lists ${n}, which scripts/pack.mjs does not build`);

// ---- the TypeScript, rebuilt when a source is newer than dist/ ----
function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}
const distIndex = path.join(root, 'dist', 'index.js');
if (!fs.existsSync(distIndex) || newest(path.join(root, 'src')) > fs.statSync(distIndex).mtimeMs) {
  step('TypeScript (dist/ is older than src/)');
  sh('npm', ['run', 'build:ts']);
} else step('TypeScript: dist/ is up to date');

// ---- the core addon ----
/** Checks a built core addon: glibc-only NEEDED, no sanitizer; returns its glibc floor. */
function inspectCore(file) {
  const dyn = sh('readelf', ['-d', '-W', file]);
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const extra = needed.filter((n) => !GLIBC_LIBS.test(n));
  const versions = sh('readelf', ['-V', '-W', file]);
  const glibc = [...versions.matchAll(/Name: GLIBC_([\d.]+)/g)].map((m) => m[1])
    .sort((a, b) => a.split('.').map(Number).reduce((acc, x, i) => acc || x - (b.split('.').map(Number)[i] ?? 0), 0)).pop();
  return { needed, extra, glibc: glibc ?? 'none' };
}

function cmakeBuild(dir) {
  const headers = path.join(root, 'node_modules', 'node-api-headers', 'include');
  if (!fs.existsSync(headers)) fail('node_modules/node-api-headers is missing: run npm install first');
  const argv = ['-S', root, '-B', dir, '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_JS_INC=${headers}`,
    `-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=${path.join(dir, 'Release')}`, '-DFEAT2GO_TORCH=OFF', '-DFEAT2GO_CUDA=OFF',
    '-DFEAT2GO_SANITIZE=', '-DFEAT2GO_STATIC_RUNTIME=ON'];
  if (target.toolchain) argv.push(`-DCMAKE_TOOLCHAIN_FILE=${path.join(root, target.toolchain)}`);
  sh('cmake', argv, { env: { ...process.env, FEAT2GO_SANITIZE: '', FEAT2GO_CUDA: 'OFF', FEAT2GO_TORCH: 'OFF' } });
  sh('cmake', ['--build', dir, '--parallel', jobs, '--target', 'feat2go']);
  return path.join(dir, 'Release', 'feat2go.node');
}

let addon;
if (!cross) {
  step('core addon: build/Release (cmake-js; a no-op when it is up to date)');
  sh('npx', ['cmake-js', 'compile', '--parallel', jobs]);
  addon = path.join(root, 'build', 'Release', 'feat2go.node');
  const cache = fs.readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8');
  const info = inspectCore(addon);
  const why = info.extra.length ? `it needs ${info.extra.join(', ')}`
    : /^FEAT2GO_CUDA:STRING=(ON|AUTO)$/m.test(cache) ? 'it was configured with FEAT2GO_CUDA'
      : /^FEAT2GO_SANITIZE:STRING=\S/m.test(cache) ? 'it was configured with FEAT2GO_SANITIZE' : '';
  if (why) {
    step(`build/Release/feat2go.node is not a portable build (${why}): building one in build-pack-${platform}/`);
    addon = cmakeBuild(path.join(root, `build-pack-${platform}`));
  }
} else {
  if (!fs.existsSync(`/usr/bin/${target.tools}g++`)) fail(`cross-building ${platform} needs ${target.tools}g++ (Debian: sudo apt-get install g++-${target.tools.slice(0, -1)})`);
  step(`core addon for ${platform}: cross-built in build-pack-${platform}/`);
  addon = cmakeBuild(path.join(root, `build-pack-${platform}`));
}
const core = inspectCore(addon);
if (core.extra.length) fail(`${addon} needs ${core.extra.join(', ')}: a prebuilt addon may need only glibc's libraries`);
console.log(`   ${path.relative(root, addon)}: NEEDED ${core.needed.join(' ')}; glibc ≥ ${core.glibc}`);

// ---- the Node-API headers, for building from the installed package ----
step('Node-API headers into native/vendor/');
const vendor = path.join(root, 'native', 'vendor');
fs.rmSync(vendor, { recursive: true, force: true });
const copy = (from, to) => { fs.mkdirSync(path.dirname(to), { recursive: true }); fs.copyFileSync(from, to); };
const nm = (p) => path.join(root, 'node_modules', p);
const versions = {};
for (const [name, files] of [
  ['node-addon-api', ['napi.h', 'napi-inl.h', 'napi-inl.deprecated.h', 'LICENSE.md']],
  ['node-api-headers', ['include/js_native_api.h', 'include/js_native_api_types.h', 'include/node_api.h', 'include/node_api_types.h', 'LICENSE']],
]) {
  versions[name] = JSON.parse(fs.readFileSync(nm(`${name}/package.json`), 'utf8')).version;
  for (const f of files) copy(nm(`${name}/${f}`), path.join(vendor, name, f));
}
fs.writeFileSync(path.join(vendor, 'README.md'),
  '# Vendored Node-API headers\n\nCopied from node_modules by `npm run pack` (scripts/pack.mjs) so that an installed\n' +
  'feat2go can build its addons (`npx feat2go build-torch`) without its devDependencies:\n\n' +
  Object.entries(versions).map(([n, v]) => `- ${n} ${v} (MIT)`).join('\n') + '\n');

// ---- the tarballs ----
fs.mkdirSync(outDir, { recursive: true });
for (const f of fs.readdirSync(outDir)) if (f.endsWith('.tgz')) fs.rmSync(path.join(outDir, f));
const written = [];

function npmPack(dir) {
  const json = JSON.parse(sh('npm', ['pack', dir, '--ignore-scripts', '--json', '--pack-destination', outDir], { env: { ...process.env, npm_config_loglevel: 'error' } }));
  const r = json[0];
  return { file: path.join(outDir, r.filename), bytes: fs.statSync(path.join(outDir, r.filename)).size, files: r.files.map((f) => f.path), unpacked: r.unpackedSize };
}

if (!cross) {
  step('main package');
  // Packed from the checkout ("files"), then re-packed with a package.json for
  // users: no scripts (the checkout's `prepare` builds from source; npm lists a
  // dependency's prepare among the install scripts to approve) and no
  // devDependencies.
  const first = npmPack(root);
  const stageMain = path.join(root, 'pack', 'stage', 'main');
  fs.rmSync(stageMain, { recursive: true, force: true });
  fs.mkdirSync(stageMain, { recursive: true });
  sh('tar', ['-xzf', first.file, '-C', stageMain]);
  fs.rmSync(first.file);
  const stagedJson = path.join(stageMain, 'package', 'package.json');
  const published = JSON.parse(fs.readFileSync(stagedJson, 'utf8'));
  delete published.scripts;
  delete published.devDependencies;
  fs.writeFileSync(stagedJson, `${JSON.stringify(published, null, 2)}\n`);
  const main = npmPack(path.join(stageMain, 'package'));
  // No data, video, model or image (but the viewer's own favicon in web/view/), no addon, no C++ tests.
  const bad = main.files.filter((f) => /^results\//.test(f) || (/\.(png|jpe?g|gif|webp|svg|mp4|webm|mkv|npy|safetensors|parquet|onnx)$/i.test(f) && !f.startsWith('web/view/')) ||
    /\.node$/.test(f) || /^native\/tests\//.test(f));
  if (bad.length) fail(`the main package must not carry ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ` (+${bad.length - 5})` : ''} (package.json "files")`);
  if (main.bytes >= MAIN_BUDGET) fail(`${main.file} is ${main.bytes} bytes, over the ${MAIN_BUDGET}-byte budget`);
  if (!main.files.includes('native/vendor/node-addon-api/napi.h')) fail('the main package lacks native/vendor (package.json "files")');
  written.push({ name: pkg.name, file: main.file, bytes: main.bytes, unpacked: main.unpacked });
}

step(`platform package @feat2go/${platform}`);
const stage = path.join(root, 'pack', 'stage', platform);
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(stage, { recursive: true });
fs.copyFileSync(addon, path.join(stage, 'feat2go.node'));
sh(`${target.tools}strip`, ['--strip-unneeded', path.join(stage, 'feat2go.node')]);
fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify({
  name: `@feat2go/${platform}`,
  version: pkg.version,
  description: `The prebuilt core addon of feat2go for ${platform} (glibc ≥ ${core.glibc}). Installed by feat2go as an optional dependency; not for direct use.`,
  license: pkg.license,
  ...(pkg.repository ? { repository: pkg.repository } : {}),
  os: [target.os], cpu: [target.cpu], ...(target.libc ? { libc: [target.libc] } : {}),
  files: ['feat2go.node'],
  feat2go: { addon: 'core', glibc: core.glibc },
}, null, 2)}\n`);
fs.writeFileSync(path.join(stage, 'README.md'),
  `# @feat2go/${platform}\n\nThe prebuilt core addon (\`feat2go.node\`) of [feat2go](https://www.npmjs.com/package/feat2go) ${pkg.version} for ${platform}:\n` +
  `kernels, progress targets, RL math, the simulator and the encoder glue. It needs glibc ≥ ${core.glibc} and nothing else.\n` +
  'feat2go installs it as an optional dependency and loads it; install feat2go, not this package.\n');
const plat = npmPack(stage);
if (plat.bytes >= PLATFORM_BUDGET) fail(`${plat.file} is ${plat.bytes} bytes, over the ${PLATFORM_BUDGET}-byte budget`);
const stripped = fs.statSync(path.join(stage, 'feat2go.node')).size;
written.push({ name: `@feat2go/${platform}`, file: plat.file, bytes: plat.bytes, unpacked: plat.unpacked, addonBytes: stripped, glibc: core.glibc, needed: core.needed });

fs.writeFileSync(path.join(outDir, 'manifest.json'), `${JSON.stringify({ version: pkg.version, platform, written }, null, 2)}\n`);
for (const w of written) {
  console.log(`   ${path.relative(root, w.file)}: ${w.bytes} bytes${w.addonBytes ? ` (feat2go.node ${w.addonBytes} bytes, glibc ≥ ${w.glibc})` : ''}`);
}
