// Parity with PyTorch itself (when Debian's python3-torch is installed):
// modules built in PyTorch with the documented state_dict names load into
// feat2go and give the same log-probs, entropies, values and value-head
// predictions. Runs with Debian's python3-torch, else with the venv of
// test/helpers/peft-venv.ts (built once from wheels on disk); reported as
// skipped, with the reason, without libtorch or without either Python.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Policy, ValueHead } from '../../src/index.js';
import { hasTorch, testIf, torchTest } from '../helpers/skip.js';
import { rng } from '../helpers/data.js';
import { peftPython } from '../helpers/peft-venv.js';

const here = path.dirname(fileURLToPath(import.meta.url));
function torchPython(): { python: string } | { skip: string } {
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) return { python: '/usr/bin/python3' };
  return peftPython();
}
const py = hasTorch ? torchPython() : { skip: 'the addon was built without libtorch' };
const parityTest = hasTorch
  ? testIf('python' in py, 'skip' in py ? py.skip : '')
  : torchTest;

parityTest('PyTorch-saved state_dicts load and match PyTorch outputs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'f2g-parity-'));
  const r = rng(8);
  const N = 6;
  const inputs = {
    obs: Array.from({ length: N * 5 }, () => r() * 2 - 1),
    actions: Array.from({ length: N * 3 }, () => r() * 2 - 1),
    hidden: Array.from({ length: N * 12 }, () => r() * 4 - 2),
  };
  writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify(inputs));
  const run = spawnSync((py as { python: string }).python, [path.join(here, '..', 'fixtures', 'pytorch_parity.py'), dir], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.is(run.status, 0, run.stderr);
  const want = JSON.parse(run.stdout.trim().split('\n').pop()!) as { logp: number[]; entropy: number[]; values: number[]; pred: number[] };
  const policy = new Policy({ obsDim: 5, trunk: { sizes: [8, 6] }, head: { type: 'gaussian', actionDim: 3 }, critic: { sizes: [7] } });
  policy.loadWeights(path.join(dir, 'policy.safetensors'));
  const e = policy.evaluate({ data: Float32Array.from(inputs.obs), shape: [N, 5] }, { data: Float32Array.from(inputs.actions), shape: [N, 3] });
  for (let i = 0; i < N; i++) {
    assert.ok(Math.abs(e.logProbs[i] - want.logp[i]) < 1e-4, `logp ${e.logProbs[i]} vs ${want.logp[i]}`);
    assert.ok(Math.abs(e.entropy[i] - want.entropy[i]) < 1e-5);
    assert.ok(Math.abs(e.values[i] - want.values[i]) < 1e-5);
  }
  const head = new ValueHead({ inputDim: 12, hiddenDim: 16, bins: 21 });
  head.loadWeights(path.join(dir, 'value.safetensors'));
  const pred = head.predict({ data: Float32Array.from(inputs.hidden), shape: [N, 12] });
  for (let i = 0; i < N; i++) assert.ok(Math.abs(pred[i] - want.pred[i]) < 1e-5, `value ${pred[i]} vs ${want.pred[i]}`);
});

test.run();
