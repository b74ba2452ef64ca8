// DLPack export/import of DeviceTensor. The struct layout, the checks on
// imported tensors (device type, dtype, strides) and the ownership rules are
// tested without a device by the C++ test native/tests/test_dlpack.cc; here
// the argument errors run everywhere and the round trips through the addon
// need a CUDA device (reported as skipped, with the reason, without one).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CudaUnavailableError, cudaStatus, DeviceTensor, type DLPackCapsule } from '../../src/index.js';
import { testIf } from '../helpers/skip.js';

const status = cudaStatus();
const cudaTest = testIf(status.available, `no CUDA device (${status.reason})`, { requiredBy: 'FEAT2GO_REQUIRE_CUDA' });
const noCudaTest = testIf(!status.available, 'a CUDA device is present (this checks the errors without one)');

test('fromDLPack: a non-object capsule is a TypeError naming capsule, before any CUDA call', () => {
  for (const bad of [undefined, null, 3, 'capsule']) {
    assert.throws(() => DeviceTensor.fromDLPack(bad as unknown as DLPackCapsule), (e: Error) =>
      e instanceof TypeError && /capsule/.test(e.message) && /DLPack capsule/.test(e.message));
  }
});

noCudaTest('fromDLPack: without a device, the one clear CUDA error', () => {
  assert.throws(() => DeviceTensor.fromDLPack({} as DLPackCapsule), (e: Error) =>
    e instanceof CudaUnavailableError && e.message.startsWith(`DeviceTensor.fromDLPack: CUDA is not available (${status.reason}`));
});

cudaTest('toDLPack/fromDLPack: float32, uint8, int32 round trips share the memory', () => {
  const cases: Array<[Float32Array | Uint8Array | Int32Array, number[]]> = [
    [Float32Array.from([1.5, -2, 3.25, 0, 1e-30, -7]), [2, 3]],
    [Uint8Array.from([0, 1, 255, 7]), [4]],
    [Int32Array.from([-2147483648, 2147483647, 0, 5, -5, 9, 1, 2]), [2, 2, 2]],
    [new Float32Array(0), [0, 3]],
    [Float32Array.from([42]), []],
  ];
  for (const [data, shape] of cases) {
    const t = DeviceTensor.fromHost(data, shape);
    const u = DeviceTensor.fromDLPack(t.toDLPack());
    assert.is(u.dtype, t.dtype);
    assert.equal([...u.shape], shape);
    assert.is(u.device, t.device);
    assert.is(u.byteSize, t.byteSize);
    assert.equal([...u.toHost()], [...data], `${t.dtype} ${JSON.stringify(shape)}`);
    if (data.length > 0) {
      // The same memory: a write through t is read through u.
      const other = data.map((x) => x + 1) as typeof data;
      t.buffer('test').upload({ data: other }, {});
      assert.equal([...u.toHost()], [...other]);
    }
    t.dispose();
    u.dispose();
  }
});

cudaTest('toDLPack: the capsule keeps the memory alive after dispose; a capsule is consumed once', () => {
  const data = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5 - 3);
  const t = DeviceTensor.fromHost(data, [10, 100]);
  const cap = t.toDLPack();
  t.dispose();
  const u = DeviceTensor.fromDLPack(cap);
  assert.equal([...u.toHost()], [...data]);
  assert.throws(() => DeviceTensor.fromDLPack(cap), (e: Error) => /DeviceTensor.fromDLPack: the capsule was already consumed/.test(e.message));
  assert.throws(() => t.toDLPack(), (e: Error) => /DeviceTensor.toDLPack: the DeviceTensor was disposed/.test(e.message));
  u.dispose();
  assert.throws(() => u.toHost(), (e: Error) => /disposed/.test(e.message));
});

cudaTest('fromDLPack: an object that is not a capsule is a TypeError', () => {
  assert.throws(() => DeviceTensor.fromDLPack({} as DLPackCapsule), (e: Error) =>
    e instanceof TypeError && /capsule/.test(e.message) && /received/.test(e.message));
  const t = DeviceTensor.fromHost(new Float32Array(2));
  assert.throws(() => DeviceTensor.fromDLPack(t as unknown as DLPackCapsule), (e: Error) => e instanceof TypeError && /capsule/.test(e.message));
  t.dispose();
});

test.run();
