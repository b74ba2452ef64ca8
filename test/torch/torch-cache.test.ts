// The CPU tensor cache (native/torch/cpu_cache.cc) only changes where
// libtorch's buffers come from: a PPO update and a value-head fit give
// bit-identical metrics and weights with the cache on and off.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { capabilities } from '../../src/index.js';
import { torchTest } from '../helpers/skip.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function run(cacheMB: string | undefined): Record<string, unknown> {
  const env = { ...process.env };
  if (cacheMB === undefined) delete env.FEAT2GO_TORCH_CACHE_MB;
  else env.FEAT2GO_TORCH_CACHE_MB = cacheMB;
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, '..', 'helpers', 'torch-train-run.ts')], { encoding: 'utf8', env, timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

torchTest('capabilities report the cache limit (default 256 MiB)', () => {
  if (process.env.FEAT2GO_TORCH_CACHE_MB === undefined) assert.is(capabilities().torchCpuCacheMB, 256);
  else assert.type(capabilities().torchCpuCacheMB, 'number');
});

torchTest('training gives bit-identical results with the cache on (default, 1 MiB) and off', () => {
  const off = run('0');
  const on = run(undefined);
  const small = run('1'); // cap below the working set: some blocks cached, the rest freed
  assert.is(off.cacheMB, 0);
  assert.is(on.cacheMB, 256);
  assert.is(small.cacheMB, 1);
  assert.ok(Number.isFinite((off.m1 as { loss: number }).loss));
  for (const k of ['m1', 'm2', 'losses', 'step', 'policy', 'head']) {
    assert.equal(on[k], off[k], k);
    assert.equal(small[k], off[k], k);
  }
});

test.run();
