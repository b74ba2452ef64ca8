// Encoders: frames/s of the built-in patch-statistics encoder and of a
// V-JEPA-2-shaped ONNX stand-in on [64, 3, 256, 256] clips, and the time from
// an image folder of 300 frames to progress targets.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeFrames, framesFromArray, OnnxVisualEncoder, patchStatsEncoder, progressTargets } from '../src/index.js';
import { sampleImageEpisodes } from '../src/demo/index.js';
import { patchifyEncoderModel } from '../test/fixtures/onnx-models.js';
import { randomBytes } from '../src/core/random.js';
import { table } from './common.js';

/** `T` random RGB frames of side `S`, as one [T,S,S,3] byte array. */
function clipFrames(T: number, S: number): Uint8Array {
  return randomBytes(T * S * S * 3, 12345);
}

export async function run(): Promise<void> {
  const T = 64, S = 256;
  const frames = clipFrames(T, S);
  const clip = { data: frames, shape: [T, S, S, 3] };
  const builtin = patchStatsEncoder();
  const builtin1 = patchStatsEncoder({ threads: 1 });

  const dir = mkdtempSync(join(tmpdir(), 'f2g-bench-enc-'));
  // V-JEPA 2 ViT-L shapes: [1, 64, 3, 256, 256] → [1, 32·256, 1024]; a tubelet-2 16×16 patchify
  // conv, a projection and 2 MLP layers stand in for the 24 transformer blocks.
  const model = join(dir, 'vjepa2-standin.onnx');
  writeFileSync(model, patchifyEncoderModel({ frames: T, tubelet: 2, size: S, patch: 16, dim: 1024, proj: 1024, mlpLayers: 2 }).bytes);
  const onnx = await OnnxVisualEncoder.load(model);

  // 300 frames of the built-in scene at 256×256, as PNGs
  const folder = join(dir, 'ep300');
  mkdirSync(folder);
  const eps = sampleImageEpisodes({ count: 5, size: S });
  let n = 0;
  for (const ep of eps) {
    const fb = S * S * 3;
    for (let t = 0; t < ep.frames.shape[0] && n < 300; t++, n++) {
      await sharp(ep.frames.data.subarray(t * fb, (t + 1) * fb), { raw: { width: S, height: S, channels: 3 } }).png({ compressionLevel: 1 }).toFile(join(folder, `frame_${n}.png`));
    }
  }
  const small = patchStatsEncoder({ imageSize: 128 });

  const rows = await table(`encoders: one [${T}, 3, ${S}, ${S}] clip, and an image folder of ${n} frames → progress targets`, [
    { name: 'builtin patchStats 16×16×14, all threads', async: true, fn: () => builtin.encode(clip) },
    { name: 'builtin patchStats, 1 thread', async: true, fn: () => builtin1.encode(clip) },
    { name: `ONNX V-JEPA-2 stand-in (${onnx.executionProvider}), 1 clip`, async: true, fn: () => encodeFrames(framesFromArray(clip), onnx) },
    { name: `folder of ${n} PNG 256² → builtin → progressTargets`, async: true, fn: async () => progressTargets(await encodeFrames(folder, builtin)) },
    { name: `folder of ${n} PNG 256² → resize 128 → builtin → progressTargets`, async: true, fn: async () => progressTargets(await encodeFrames(folder, small)) },
  ]);
  console.log('');
  rows.slice(0, 3).forEach((r) => console.log(`- ${r.name}: ${(T / (r.ms / 1000)).toFixed(1)} frames/s`));
  rows.slice(3).forEach((r) => console.log(`- ${r.name}: ${(n / (r.ms / 1000)).toFixed(1)} frames/s`));
  await onnx.dispose();
  rmSync(dir, { recursive: true, force: true });
}
