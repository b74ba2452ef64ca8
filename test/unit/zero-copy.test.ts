// Zero-copy host memory (src/core/host.ts, native/bindings/napi_util.h
// HostBlock): what is host memory, that async calls read it in place (counted
// among the memory's readers while they run, never copied), that writers of
// addon memory wait for those readers, that a detach, a garbage collection or
// an environment teardown during a call cannot free what it reads (child
// processes, also under ASan), the fallback where external buffers are
// refused, the per-turn budget of synchronous loops, and the RSS target of
// the zero-copy card (the lag is measured by bench/zero-copy.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  gae, hostTensor, isHostMemory, native, patchStatsEncoder, PickPlaceEnv, progressTargets, progressTargetsBatch, progressTargetsSync, readNpy,
  readSafetensors, writeNpy, writeSafetensors,
} from '../../src/index.js';
import { throwsLike } from '../helpers/asserts.js';
import { rng } from '../helpers/data.js';
import { runScenario } from '../helpers/run-scenario.js';
import { testIf, torchTest } from '../helpers/skip.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const external = native().systemHostStats({}, {}).external;
const withExternal = testIf(external, 'this runtime refuses external ArrayBuffers (or FEAT2GO_HOST_EXTERNAL=0): host memory falls back to plain arrays');

function episode(T: number, N: number, D: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(T * N * D);
  // frames drifting from a start towards a goal, with noise: several stages
  for (let t = 0; t < T; t++) for (let i = 0; i < N * D; i++) x[t * N * D + i] = Math.sin(i * 0.37 + (t / T) * 3) + (r() - 0.5) * 0.1;
  return x;
}

withExternal('hostTensor: zero-filled host memory of the shape and dtype; subarrays are host memory, plain arrays are not', () => {
  const x = hostTensor([4, 64, 128]);
  assert.instance(x.data, Float32Array);
  assert.equal(x.shape, [4, 64, 128]);
  assert.is(x.data.length, 4 * 64 * 128);
  assert.ok(x.data.every((v) => v === 0), 'zero-filled');
  assert.is(isHostMemory(x.data), true);
  assert.is(isHostMemory(x.data.subarray(1000, 2000)), true);
  assert.is(isHostMemory(new Float32Array(x.data.length)), false);
  const u = hostTensor([100, 1000], 'uint8');
  assert.instance(u.data, Uint8Array);
  assert.is(isHostMemory(u.data), true);
  const i = hostTensor([70000], 'int32');
  assert.instance(i.data, Int32Array);
  assert.is(isHostMemory(i.data), true);
  // A small tensor is a plain array (async calls copy it for nothing), still zero-filled.
  const small = hostTensor([3, 4]);
  assert.is(small.data.length, 12);
  assert.ok(small.data.every((v) => v === 0));
  assert.equal(hostTensor([0, 5]).data.length, 0);
});

test('hostTensor: a bad shape, dtype or option is a TypeError/RangeError naming it', () => {
  throwsLike(() => hostTensor('3' as unknown as number[]), TypeError, /shape/);
  throwsLike(() => hostTensor([2, 1.5]), TypeError, /shape\[1\]/, /1\.5/);
  throwsLike(() => hostTensor([2, -1]), RangeError, /shape\[1\]/, /-1/);
  throwsLike(() => hostTensor([2, 2], 'float64' as 'float32'), RangeError, /dtype/, /float64/);
  throwsLike(() => hostTensor([2 ** 20, 2 ** 20]), RangeError, /shape/, /1048576,1048576/);
  throwsLike(() => hostTensor([2], 'float32', { zeros: true } as unknown as { zero: boolean }), TypeError, /opts\.zeros/);
  throwsLike(() => hostTensor([2], 'float32', { zero: 1 } as unknown as { zero: boolean }), TypeError, /opts\.zero/);
  throwsLike(() => isHostMemory([1, 2] as unknown as Float32Array), TypeError, /view/);
});

withExternal('library outputs are host memory: readNpy, readSafetensors, the built-in encoder, gae, the simulator\'s frames', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-host-'));
  try {
    const x = episode(8, 32, 128, 1);
    writeNpy(path.join(dir, 'x.npy'), { data: x, shape: [8, 32, 128] });
    const a = readNpy(path.join(dir, 'x.npy'));
    assert.is(isHostMemory(a.data), true, 'readNpy');
    assert.equal(Array.from(a.data.subarray(0, 50)), Array.from(x.subarray(0, 50)));
    assert.is(isHostMemory(readNpy(path.join(dir, 'x.npy'), { shared: true }).data), false, 'shared: a SharedArrayBuffer');
    writeSafetensors(path.join(dir, 'x.safetensors'), { features: { data: x, shape: [8, 32, 128] } });
    const s = readSafetensors(path.join(dir, 'x.safetensors')).get('features')!;
    assert.is(isHostMemory(s.data), true, 'readSafetensors');
    assert.equal(Array.from(s.data.subarray(100, 150)), Array.from(x.subarray(100, 150)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const enc = patchStatsEncoder({ grid: 16, bins: 8 });
  const frames = hostTensor([20, 64, 64, 3], 'uint8');
  const f = enc.encodeSync({ data: frames.data, shape: frames.shape });
  assert.is(isHostMemory(f.data), true, 'encoder output');
  const B = 256, T = 1024, n = B * T;
  const t = (seed: number) => { const q = rng(seed); return { data: Float32Array.from({ length: n }, () => q()), shape: [B, T] }; };
  const flags = { data: new Uint8Array(n), shape: [B, T] };
  const g = gae({ rewards: t(1), values: t(2), nextValues: t(3), terminated: flags, done: flags }, { gamma: 0.99, lambda: 0.95 });
  assert.is(isHostMemory(g.advantages.data), true, 'gae advantages');
  assert.is(isHostMemory(g.returns.data), true, 'gae returns');
  const env = new PickPlaceEnv({ numEnvs: 16, imageSize: 64 });
  assert.is(isHostMemory(env.frames), true, 'simulator frames');
  assert.is(isHostMemory(env.proprio), false, 'small outputs are plain arrays');
});

withExternal('async calls read host memory in place: one reader per pending episode, none after; a plain input is copied', async () => {
  // A batch of many episodes on one thread runs for a while (tens of ms
  // here), and its readers are released only when the whole batch is done,
  // so the count seen right after the call returned is not a race.
  const shape = [120, 64, 256];
  const x = hostTensor(shape);
  x.data.set(episode(120, 64, 256, 3));
  const expected = progressTargetsSync({ data: x.data.slice(), shape });
  const count = 30;
  const p = progressTargetsBatch(Array.from({ length: count }, () => x), { threads: 1 });
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, count, 'every pending episode reads the host memory');
  const got = await p;
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, 0, 'released when the call ended');
  for (const r of got) assert.equal(Array.from(r.values), Array.from(expected.values));
  assert.equal(got[0].segments, expected.segments);
  // One episode, the same values.
  assert.equal(Array.from((await progressTargets(x, { threads: 1 })).values), Array.from(expected.values));
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, 0);
  // A plain array is copied: no reader of anything.
  const plain = x.data.slice();
  const pp = progressTargetsBatch(Array.from({ length: 4 }, () => ({ data: plain, shape })), { threads: 1 });
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, 0);
  assert.is(native().systemHostInfo({ view: plain }, {}).host, false);
  for (const r of await pp) assert.equal(Array.from(r.values), Array.from(expected.values));
  // A subarray of host memory is read in place too.
  const half = { data: x.data.subarray(0, 60 * 64 * 256), shape: [60, 64, 256] };
  const p2 = progressTargetsBatch(Array.from({ length: count }, () => half), { threads: 1 });
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, count);
  const expHalf = Array.from(progressTargetsSync({ data: half.data.slice(), shape: half.shape }).values);
  for (const r of await p2) assert.equal(Array.from(r.values), expHalf);
  // Frames in host memory, and the encoder writes its output (host memory) in place.
  const enc = patchStatsEncoder({ grid: 8, bins: 8, threads: 1 });
  const frames = hostTensor([192, 128, 128, 3], 'uint8');
  const rr = rng(5);
  for (let i = 0; i < frames.data.length; i++) frames.data[i] = Math.floor(rr() * 256);
  const pe = enc.encode({ data: frames.data, shape: frames.shape });
  assert.is(native().systemHostInfo({ view: frames.data }, {}).readers, 1);
  const fe = await pe;
  assert.is(isHostMemory(fe.data), true, 'the features are host memory');
  assert.equal(Array.from(fe.data), Array.from(enc.encodeSync({ data: frames.data.slice(), shape: frames.shape }).data));
});

withExternal('the simulator waits for pending readers of its frames before it steps (the call sees the frames it was given)', async () => {
  const env = new PickPlaceEnv({ numEnvs: 48, imageSize: 96, split: 'vision' });
  env.reset(Array.from({ length: 48 }, (_, i) => i));
  const enc = patchStatsEncoder({ grid: 12, bins: 12 });
  const shape = [48, 96, 96, 3];
  for (let k = 0; k < 3; k++) {
    const before = env.frames.slice();
    const p = enc.encode({ data: env.frames, shape });
    env.step(new Float32Array(48 * 3).fill(0.5)); // moves the gripper: the frames change
    assert.is(native().systemHostInfo({ view: env.frames }, {}).readers, 0, 'step waited for the encode');
    const got = await p;
    assert.equal(Array.from(got.data), Array.from(enc.encodeSync({ data: before, shape }).data), `round ${k}`);
    assert.not.equal(Array.from(env.frames.subarray(0, 4096)), Array.from(before.subarray(0, 4096)), 'the step changed the frames');
  }
});

// ---------- detach, garbage collection, teardown during a call (child processes) ----------
// The core addon's scenarios run in one child process, one after the other (one start-up, not five).
const HOST_SCENARIOS = ['detach-host-progress', 'drop-host-progress', 'detach-host-patch-stats', 'terminate-host-progress', 'detach-every-core'];
let hostReports: Record<string, unknown> | null | undefined;
function hostScenario(name: string): Record<string, unknown> {
  if (hostReports === undefined) hostReports = runScenario(HOST_SCENARIOS.join(','));
  assert.ok(hostReports, 'the scenarios reported a skip');
  const r = hostReports[name] as Record<string, unknown>;
  assert.ok(r && r.ok === true && r.skip === undefined, `${name}: ${JSON.stringify(r)}`);
  return r;
}
for (const name of HOST_SCENARIOS.slice(0, 4)) {
  withExternal(`host memory cannot be freed under a running call: ${name}`, () => {
    const r = hostScenario(name);
    if ('same' in r) assert.is(r.same, true, JSON.stringify(r));
    if ('detached' in r) assert.is(r.detached, true, 'the ArrayBuffer was detached by transfer()');
  });
}

test('every async call of the core addon, inputs (and out) in host memory or plain, moved away by transfer() mid-call: no crash, the same results', () => {
  const r = hostScenario('detach-every-core');
  assert.is(r.same, true, JSON.stringify(r.calls));
});

torchTest('every libtorch async call (ValueHead.fit, ImageValueModel.fit, update, fitBehaviourCloning), inputs in host memory (the core addon\'s, pinned through its table: read in place) or plain, moved away mid-call: no crash, the same results', () => {
  const r = runScenario('detach-every-torch');
  assert.ok(r, 'detach-every-torch reported a skip');
  assert.is(r.same, true, JSON.stringify(r.calls));
});

test('where external buffers are refused (FEAT2GO_HOST_EXTERNAL=0) host tensors are plain arrays, copied by async calls, with the same results', () => {
  const r = runScenario('host-fallback', 240_000, { FEAT2GO_HOST_EXTERNAL: '0' });
  assert.ok(r);
  assert.is(r.host, false);
  assert.is(r.same, true, JSON.stringify(r));
});

withExternal('a synchronous loop holds at most one turn\'s budget of host memory; outputs are host memory again once the loop turns', () => {
  const r = runScenario('host-turn-budget', 240_000, { FEAT2GO_HOST_TURN_MB: '8' });
  assert.ok(r);
  // 1 MiB outputs: the first 8 MiB of a turn are host memory, the rest plain.
  assert.is(r.hostInFirstTurn, 8, JSON.stringify(r));
  assert.is(r.plainInFirstTurn, 32, JSON.stringify(r));
  assert.ok((r.liveBlocksAfterTurn as number) <= 1, JSON.stringify(r));
  assert.is(r.hostAfterTurn, true);
});

// ---------- the memory target of zero-copy host memory ----------
// The measurement itself (315 MB episode, RSS and event-loop lag, against
// SharedArrayBuffer and plain inputs) is `npm run bench -- zero-copy`; lag is
// a timing on a shared machine, so it is only printed here. This test asserts
// the memory on a [64, 256, 1024] episode (64 MiB, sized down for CI): read in
// place, a call adds under a quarter of the input's size to the RSS (on the
// bench's 315 MB episode the target is 100 MB); a plain input is copied, which
// adds over three quarters of it (the measure does see a copy).
const underAsan = (process.env.LD_PRELOAD ?? '').includes('libasan');
const measured = testIf(external && !underAsan, underAsan
  ? 'resident memory is not meaningful under AddressSanitizer (shadow memory, quarantine)'
  : 'this runtime refuses external ArrayBuffers');
for (const mode of ['readNpy', 'hostTensor', 'plain']) {
  const copied = mode === 'plain';
  measured(`await progressTargets on a [64, 256, 1024] episode from ${mode}: ${copied ? 'the input is copied (over 3/4 of its size in extra RSS: the measure sees a copy)' : 'under 1/4 of its size in extra RSS (read in place)'}`, () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, '..', 'helpers', 'rss-lag-child.ts'), mode, '64', '256', '1024'],
      { encoding: 'utf8', timeout: 240_000 });
    assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { host: boolean; inputMB: number; first: { extraRssMB: number; maxLagMs: number }; second: { extraRssMB: number; maxLagMs: number } };
    console.log(`  ${mode}: ${JSON.stringify(out)}`);
    assert.is(out.host, !copied);
    if (copied) {
      assert.ok(out.first.extraRssMB > 0.75 * out.inputMB, `first call: ${out.first.extraRssMB.toFixed(1)} MB of extra RSS for a copied ${out.inputMB} MB input`);
    } else {
      for (const k of ['first', 'second'] as const) assert.ok(out[k].extraRssMB < 0.25 * out.inputMB, `${k} call: ${out[k].extraRssMB.toFixed(1)} MB of extra RSS for a ${out.inputMB} MB input`);
    }
  });
}

test.run();
