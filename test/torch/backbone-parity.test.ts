// Parity of the ConvBackbone / ImageValueModel forward pass with PyTorch:
// an equivalent module built in PyTorch with random weights, saved with the
// documented names, loads into feat2go and gives the same embeddings and
// values. Runs with Debian's python3-torch, else with the venv of
// test/helpers/peft-venv.ts (built once from wheels on disk); reported as
// skipped, with the reason, without libtorch or without either Python.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { augmentFrames, ImageValueModel } from '../../src/index.js';
import { hasTorch, testIf, torchTest } from '../helpers/skip.js';
import { rand } from '../helpers/data.js';
import { peftPython } from '../helpers/peft-venv.js';

const here = path.dirname(fileURLToPath(import.meta.url));
function torchPython(): { python: string } | { skip: string } {
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) return { python: '/usr/bin/python3' };
  return peftPython();
}
const py = hasTorch ? torchPython() : { skip: 'the addon was built without libtorch' };
const parityTest = hasTorch ? testIf('python' in py, 'skip' in py ? py.skip : '') : torchTest;

parityTest('ConvBackbone and ImageValueModel saved from PyTorch load and match its embeddings and values', () => {
  const H = 20; const W = 18; const B = 4;
  const cases = [
    { layers: [{ channels: 6, kernel: 4, stride: 4 }, { channels: 8, kernel: 3, stride: 1 }], pool: 'flatten', activation: 'relu' },
    { layers: [{ channels: 5, kernel: 3, stride: 2 }, { channels: 7, kernel: 3, stride: 1, pool: 2 }], pool: 'spatial-softmax', activation: 'gelu' },
    { layers: [{ channels: 4, kernel: 5, stride: 2, padding: 1 }], pool: 'avg', activation: 'silu' },
    { layers: [{ channels: 4, kernel: 2, stride: 2 }, { channels: 6, kernel: 3, stride: 2 }], pool: 'max', activation: 'tanh' },
  ] as const;
  const f = { data: rand(B * H * W * 3, 12), shape: [B, H, W, 3] };
  const x = augmentFrames(f, { augment: false }).data;
  const dir = mkdtempSync(path.join(tmpdir(), 'f2g-bb-parity-'));
  const models = cases.map((c) => new ImageValueModel({ backbone: { imageSize: [H, W], layers: c.layers.map((l) => ({ ...l })), pool: c.pool, activation: c.activation, embedDim: 9 }, head: { hiddenDim: 10, bins: 21 } }));
  writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify({
    frames: Array.from(x), B, H, W,
    cases: cases.map((c, k) => ({ layers: models[k].backbone.config.layers, activation: c.activation, pool: c.pool, embedDim: 9, hiddenDim: 10, bins: 21 })),
  }));
  const run = spawnSync((py as { python: string }).python, [path.join(here, '..', 'fixtures', 'backbone_parity.py'), dir], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.is(run.status, 0, run.stderr);
  const wants = JSON.parse(run.stdout.trim().split('\n').pop()!) as Array<{ embed: number[]; values: number[] }>;
  cases.forEach((c, k) => {
    const vm = models[k]; const want = wants[k];
    vm.loadWeights(path.join(dir, `model${k}.safetensors`));
    const e = vm.embed(f).data;
    for (let i = 0; i < want.embed.length; i++) assert.ok(Math.abs(e[i] - want.embed[i]) < 2e-5, `${c.pool} embed[${i}] ${e[i]} vs ${want.embed[i]}`);
    const v = vm.predict(f);
    for (let b = 0; b < B; b++) assert.ok(Math.abs(v[b] - want.values[b]) < 1e-5, `${c.pool} value[${b}] ${v[b]} vs ${want.values[b]}`);
  });
});

test.run();
