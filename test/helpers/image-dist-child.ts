// One rank of the data-parallel ImageValueModel test
// (test/torch/image-value-dist.test.ts). The environment (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, FEAT2GO_DIST_TIMEOUT_MS) describes the group.
// Prints one JSON line `RESULT {...}` (or `ERROR {...}`).
import { allGather, destroyDistributed, ImageValueModel, initDistributed, rank, worldSize } from '../../src/index.js';
import { IMAGE_DIST, imageDistData, imageDistShares } from './image-dist-data.js';

const out = (tag: string, v: unknown) => process.stdout.write(`${tag} ${JSON.stringify(v)}\n`);

try {
  await initDistributed();
  const r = rank();
  const cut = imageDistShares(worldSize());
  const { frames, targets } = imageDistData();
  const px = IMAGE_DIST.side * IMAGE_DIST.side * 3;
  const mine = { data: frames.subarray(cut[r] * px, cut[r + 1] * px), shape: [cut[r + 1] - cut[r], IMAGE_DIST.side, IMAGE_DIST.side, 3] };
  // Ranks other than 0 start from other weights: the fit must broadcast rank 0's.
  const vm = new ImageValueModel(IMAGE_DIST.config(r === 0 ? 0 : 100 + r));
  const t = targets.subarray(cut[r], cut[r + 1]);
  const head = await vm.fit(mine, t, { ...IMAGE_DIST.fit, stage: 'head' });
  const joint = await vm.fit(mine, t, { ...IMAGE_DIST.fit, stage: 'joint', seed: IMAGE_DIST.fit.seed + 1 });
  // every rank holds the same weights: compare a checksum of their bytes
  let h = 0x811c9dc5 | 0;
  for (const [, d] of vm.stateDict()) {
    const b = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  }
  const all = await allGather(Int32Array.of(h));
  const res: Record<string, unknown> = { rank: r, same: all.every((x) => x === all[0]), head: head.losses, joint: joint.losses };
  if (r === 0) res.weights = vm.stateDict().map(([n, d]) => [n, Array.from(d)]);
  out('RESULT', res);
  await destroyDistributed();
} catch (e) {
  out('ERROR', { name: (e as Error).name, message: (e as Error).message });
}
