// How LeRobot video frames reach the encoder: ffmpeg hands out yuv420p frames as decoded
// (converted here, or by the built-in encoder itself), and frames only ffmpeg should convert
// (4:4:4, an odd height) are decoded again as rgb24. Every frame must still be the right one
// (frames encode their own index), and the built-in encoder must give the same features from
// YUV chunks as from the RGB frames.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrames, native, patchStatsEncoder, type FrameChunk, type FrameSource } from '../../src/index.js';
import { decodeAtTimestamps } from '../../src/io/lerobot-video.js';
import { codeFrame, FRAME_SIZE, readFrameCode, run, videoFixturesUnavailable } from '../fixtures/lerobot.js';
import { eachDecoder } from '../helpers/decoders.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-lerobot-formats-'));
const unavailable = videoFixturesUnavailable();
const decoderBase = { cond: unavailable === undefined, reason: unavailable ?? '' };
const N = 23;
const codes = Array.from({ length: N }, (_, k) => (k * 2654435761) & 0xffff);

/** A video of the N code frames (64 × 64 RGB in), written with these output options. */
async function video(name: string, fps: number, out: string[]): Promise<string> {
  const file = path.join(dir, name);
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${FRAME_SIZE}x${FRAME_SIZE}`, '-r', String(fps), '-i', '-', ...out, file],
    (w) => { for (const c of codes) w.write(codeFrame(c)); });
  return file;
}

const CASES: Array<{ name: string; fps: number; args: string[]; yuv: boolean; height: number }> = [
  { name: 'h264-420.mp4', fps: 30, args: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-bf', '2', '-g', '6', '-pix_fmt', 'yuv420p'], yuv: true, height: 64 },
  { name: 'h264-709-full.mp4', fps: 30, args: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p', '-colorspace', 'bt709', '-color_range', 'pc'], yuv: true, height: 64 },
  { name: 'h264-444.mp4', fps: 30, args: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv444p'], yuv: false, height: 64 },
  { name: 'ffv1-odd.mkv', fps: 25, args: ['-vf', 'crop=64:63:0:0', '-c:v', 'ffv1', '-pix_fmt', 'yuv420p'], yuv: false, height: 63 },
];

async function collect(g: AsyncGenerator<FrameChunk>, copy: boolean): Promise<FrameChunk[]> {
  const out: FrameChunk[] = [];
  // YUV chunks' data is reused by the source: copy it before asking for the next.
  for await (const c of g) out.push(copy ? { ...c, data: c.data.slice() } : c);
  return out;
}

eachDecoder(decoderBase, 'every frame is the right one as RGB; yuv420p chunks only where ffmpeg gave 4:2:0 of an even height, and they convert to the same frames', async () => {
  for (const c of CASES) {
    const file = await video(c.name, c.fps, c.args);
    const times = Array.from({ length: N }, (_, k) => k / c.fps);
    const opts = { fps: c.fps, chunkFrames: 5, tolerance: 1e-4, label: c.name };
    const rgb = await collect(decodeAtTimestamps(file, times, opts), false);
    const yuv = await collect(decodeAtTimestamps(file, times, { ...opts, yuv420p: true }), true);
    assert.is(rgb.reduce((a, x) => a + x.count, 0), N, c.name);
    let k = 0;
    for (const ch of rgb) {
      assert.is(ch.yuv420p, undefined);
      assert.is(ch.height, c.height, c.name);
      for (let i = 0; i < ch.count; i++, k++) assert.is(readFrameCode(ch.data, ch.width, ch.height, i * ch.width * ch.height * 3), codes[k], `${c.name}: frame ${k}`);
    }
    assert.is(yuv.length, rgb.length);
    for (let j = 0; j < yuv.length; j++) {
      const y = yuv[j];
      assert.is(y.start, rgb[j].start);
      assert.is(y.count, rgb[j].count);
      if (!c.yuv) {
        assert.is(y.yuv420p, undefined, `${c.name}: no YUV chunks`);
        assert.equal(y.data, rgb[j].data);
        continue;
      }
      assert.ok(y.yuv420p, `${c.name}: YUV chunks`);
      assert.equal(y.yuv420p, c.name.includes('709') ? { matrix: 709, fullRange: true } : { matrix: 601, fullRange: false });
      // The RGB chunk is exactly the conversion of the YUV chunk.
      assert.is(y.data.length, y.count * (64 * 64 + 2 * 32 * 32));
      const conv = new Uint8Array(y.count * 64 * 64 * 3);
      native().encoderYuvToRgb({ yuv: y.data }, { n: y.count, W: 64, H: 64, matrix: y.yuv420p.matrix, fullRange: y.yuv420p.fullRange, threads: 0 }, { rgb: conv });
      assert.ok(Buffer.from(conv).equals(Buffer.from(rgb[j].data)), `${c.name}: chunk ${j}`);
    }
  }
});

eachDecoder(decoderBase, 'the built-in encoder gives the same features from the YUV chunks as from the RGB frames (encodeFrames asks for YUV)', async () => {
  for (const c of CASES.filter((x) => x.yuv)) {
    const file = path.join(dir, c.name);
    const times = Array.from({ length: N }, (_, k) => k / c.fps);
    let asked: boolean | undefined;
    const source: FrameSource = {
      path: file, kind: 'video', length: N,
      chunks: (o) => { asked = o?.yuv420p; return decodeAtTimestamps(file, times, { fps: c.fps, chunkFrames: o?.chunkFrames ?? 8, tolerance: 1e-4, label: c.name, yuv420p: o?.yuv420p === true }); },
    };
    const enc = patchStatsEncoder({ grid: 4, chunkFrames: 6 });
    const fromYuv = await encodeFrames(source, enc);
    assert.is(asked, true);
    const rgb = await collect(decodeAtTimestamps(file, times, { fps: c.fps, chunkFrames: 64, tolerance: 1e-4, label: c.name }), false);
    const want = enc.encodeSync({ data: rgb[0].data, shape: [N, 64, 64, 3] });
    assert.equal(fromYuv.shape, want.shape);
    assert.equal(Array.from(fromYuv.data), Array.from(want.data), c.name);
  }
});

uvuTest.after(() => fs.rmSync(dir, { recursive: true, force: true }));
uvuTest.run();
