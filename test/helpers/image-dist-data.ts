// Data and settings of the data-parallel ImageValueModel test, shared by the
// test and its ranks (test/helpers/image-dist-child.ts).
import { rand, rng } from './data.js';

export const IMAGE_DIST = {
  side: 12,
  rows: 21,
  config: (seed: number) => ({
    backbone: { imageSize: 12, layers: [{ channels: 4, kernel: 3, stride: 2 }, { channels: 6, kernel: 3, stride: 2 }], embedDim: 8, seed },
    head: { hiddenDim: 8, bins: 11, seed },
  }),
  fit: { epochs: 2, batchSize: 8, lr: 3e-3, augment: { shift: 2, brightness: 0.2, contrast: 0.2, gain: 0.1 }, seed: 5 },
} as const;

/** The global set: IMAGE_DIST.rows RGB frames and their targets. */
export function imageDistData(): { frames: Uint8Array; targets: Float32Array } {
  const r = rng(31);
  return { frames: rand(IMAGE_DIST.rows * IMAGE_DIST.side * IMAGE_DIST.side * 3, 30), targets: Float32Array.from({ length: IMAGE_DIST.rows }, () => r()) };
}

/** Row boundaries of each rank's share: unequal on purpose (13 | 8 of 21 for 2 ranks). */
export function imageDistShares(n: number): number[] {
  if (n === 1) return [0, IMAGE_DIST.rows];
  const cuts = [0];
  for (let r = 1; r < n; r++) cuts.push(Math.round((IMAGE_DIST.rows * r) / n) + 2);
  cuts.push(IMAGE_DIST.rows);
  return cuts;
}
