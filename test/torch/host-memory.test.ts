// Host memory has one owner across the two addons: the core addon allocates
// and reference-counts it, and the libtorch addon reaches it through the
// table the loader hands over at load (torchInit, native/bindings/host_api.h).
// Checked here: the loader connected them; host tensors from hostTensor and
// readNpy (core allocations) are read in place by libtorch calls (counted
// among the core's readers of that memory while the call runs, none after)
// with the same results as on a copy; the libtorch addon's outputs are host
// memory the core recognises; and a libtorch addon without the table (or
// given something else) copies instead (a child process that loads both
// addons directly). Detaching such inputs mid-call: zero-copy.test.ts,
// detach-every-torch.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addonPaths, hostTensor, ImageValueModel, isHostMemory, native, readNpy, torchAddonStatus, ValueHead, writeNpy,
} from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { testIf, torchTest } from '../helpers/skip.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const external = native().systemHostStats({}, {}).external;
const t = testIf(external && torchAddonStatus().addon !== undefined,
  external ? 'the libtorch addon is not built' : 'this runtime refuses external ArrayBuffers (or FEAT2GO_HOST_EXTERNAL=0): no host memory to share');

function fill(a: Float32Array, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * r();
  return a;
}
const readers = (view: ArrayBufferView): number => native().systemHostInfo({ view }, {}).readers;

torchTest('the loader hands the core addon\'s host-memory table to the libtorch addon', () => {
  const s = torchAddonStatus();
  assert.ok(s.hostMemory, 'hostMemory is reported once the libtorch addon loaded');
  assert.is(s.hostMemory!.shared, true, s.hostMemory!.reason);
  assert.is(s.hostMemory!.reason, '');
});

t('ValueHead.fit reads a hostTensor and a readNpy tensor in place: one reader while it runs, none after, the losses of a copy', async () => {
  const B = 4096, H = 32;
  const cfg = { inputDim: H, hiddenDim: 32, bins: 21, seed: 4 };
  const fo = { epochs: 2, batchSize: 256, seed: 2 };
  const x = hostTensor([B, H]);
  fill(x.data, 1);
  const y = fill(new Float32Array(B), 2, 0, 1);
  const ref = new ValueHead(cfg).fitSync({ data: x.data.slice(), shape: [B, H] }, y, fo);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-host-torch-'));
  try {
    writeNpy(path.join(dir, 'x.npy'), { data: x.data, shape: [B, H] });
    const fromNpy = readNpy(path.join(dir, 'x.npy'));
    assert.is(isHostMemory(fromNpy.data), true, 'readNpy gives host memory');
    for (const [name, input] of [['hostTensor', x], ['readNpy', fromNpy]] as const) {
      const p = new ValueHead(cfg).fit({ data: input.data as Float32Array, shape: [B, H] }, y, fo);
      assert.is(readers(input.data), 1, `${name}: the libtorch call counts among the core's readers (read in place, not copied)`);
      const got = await p;
      assert.is(readers(input.data), 0, `${name}: released when the call ended`);
      assert.equal(got.losses, ref.losses, `${name}: the losses of a fit on a copy`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A plain array is copied: it is not host memory, and the host tensor gains no reader.
  const plain = x.data.slice();
  const p = new ValueHead(cfg).fit({ data: plain, shape: [B, H] }, y, fo);
  assert.is(native().systemHostInfo({ view: plain }, {}).host, false);
  assert.is(readers(x.data), 0);
  assert.equal((await p).losses, ref.losses);
});

t('ImageValueModel.fit reads uint8 frames in host memory in place', async () => {
  const cfg = { backbone: { imageSize: 16, layers: [{ channels: 8, kernel: 4, stride: 4 }], embedDim: 12, seed: 1 }, head: { hiddenDim: 16, bins: 21, seed: 2 } };
  const B = 512;
  const frames = hostTensor([B, 16, 16, 3], 'uint8');
  const r = rng(9);
  for (let i = 0; i < frames.data.length; i++) frames.data[i] = Math.floor(r() * 256);
  const y = fill(new Float32Array(B), 10, 0, 1);
  const fo = { stage: 'joint' as const, epochs: 1, batchSize: 64, seed: 1 };
  const ref = new ImageValueModel(cfg).fitSync({ data: frames.data.slice(), shape: frames.shape }, y, fo);
  const p = new ImageValueModel(cfg).fit(frames, y, fo);
  assert.is(readers(frames.data), 1, 'read in place');
  const got = await p;
  assert.is(readers(frames.data), 0);
  assert.equal(got.losses, ref.losses);
});

t('the libtorch addon\'s large outputs are host memory of the core addon (read in place by the next call)', async () => {
  const B = 20000, H = 8;
  const head = new ValueHead({ inputDim: H, hiddenDim: 16, bins: 21, seed: 1 });
  const x = fill(new Float32Array(B * H), 3);
  const v = head.predict({ data: x, shape: [B, H] });
  assert.is(v.length, B);
  assert.is(isHostMemory(v), true, `${B * 4} bytes of predictions: host memory the core addon recognises`);
  assert.is(isHostMemory(head.predict({ data: x.subarray(0, 64 * H), shape: [64, H] })), false, 'a small output is a plain array');
  // Fed back to the libtorch addon as targets of a fit: read in place.
  const p = new ValueHead({ inputDim: H, hiddenDim: 16, bins: 21, seed: 2 }).fit({ data: x, shape: [B, H] }, v, { epochs: 1, batchSize: 512, seed: 1 });
  assert.is(readers(v), 1);
  await p;
  assert.is(readers(v), 0);
});

t('a libtorch addon without the core\'s table copies its inputs (child process: both addons loaded directly)', () => {
  const { core, torch } = addonPaths();
  const r = spawnSync(process.execPath, [path.join(here, '..', 'helpers', 'host-api-child.mjs'), core!, torch!], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    host: boolean; before: { readers: number; after: number }; refused: { readers: number; after: number }; connected: { readers: number; after: number };
    refusedInit: { hostMemory: boolean; reason: string }; connectedInit: { hostMemory: boolean; reason: string }; againInit: { hostMemory: boolean };
    typeError: string; sameLosses: boolean;
  };
  assert.is(out.host, true, 'the input is the core addon\'s host memory');
  assert.is(out.before.readers, 0, 'before torchInit: copied');
  assert.is(out.refusedInit.hostMemory, false);
  assert.match(out.refusedInit.reason, /no host-memory table/);
  assert.match(out.typeError, /^TypeError: .*input\.hostApi/);
  assert.is(out.refused.readers, 0, 'without a table: copied');
  assert.is(out.connectedInit.hostMemory, true, out.connectedInit.reason);
  assert.is(out.againInit.hostMemory, true, 'the same table again is accepted');
  assert.is(out.connected.readers, 1, 'with the table: read in place');
  for (const k of ['before', 'refused', 'connected'] as const) assert.is(out[k].after, 0);
  assert.is(out.sameLosses, true, 'copied or in place, the same fit');
});

test.run();
