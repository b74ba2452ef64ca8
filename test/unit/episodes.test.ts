import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openEpisode, naturalSort, framesFromArray, encodeFrames, patchStatsEncoder, type FrameSource } from '../../src/index.js';
import { rand } from '../helpers/data.js';

const root = mkdtempSync(join(tmpdir(), 'f2g-episodes-'));

/** A uint8 .npy written by hand (format 1.0). */
function npyBytes(shape: number[], data: Uint8Array, descr = '|u1'): Uint8Array {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  h += ' '.repeat((64 - ((10 + h.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + h.length + data.length);
  out.set([0x93, 78, 85, 77, 80, 89, 1, 0]);
  out[8] = h.length & 255; out[9] = h.length >> 8;
  out.set(Buffer.from(h, 'latin1'), 10);
  out.set(data, 10 + h.length);
  return out;
}

async function collect(src: FrameSource, opts?: { chunkFrames?: number; size?: number }) {
  const chunks: Array<{ start: number; count: number; height: number; width: number }> = [];
  const parts: Uint8Array[] = [];
  for await (const c of src.chunks(opts)) {
    chunks.push({ start: c.start, count: c.count, height: c.height, width: c.width });
    parts.push(c.data.slice());
  }
  return { chunks, data: Buffer.concat(parts) };
}

async function writePng(file: string, rgb: Uint8Array, W: number, H: number): Promise<void> {
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  await p.then(() => assert.unreachable('resolved'), (e: Error) => { for (const s of parts) assert.match(e.message, s); });
}

test('naturalSort puts frame_2 before frame_10', () => {
  assert.equal(naturalSort(['frame_10.png', 'frame_2.png', 'frame_1.png', 'frame_100.png']), ['frame_1.png', 'frame_2.png', 'frame_10.png', 'frame_100.png']);
});

test('image folder: natural order, exact PNG pixels, chunks of chunkFrames, non-images ignored', async () => {
  const dir = join(root, 'ep_png');
  mkdirSync(dir);
  const [W, H, T] = [12, 10, 12];
  const fr = Array.from({ length: T }, (_, t) => rand(W * H * 3, t + 1));
  for (let t = 0; t < T; t++) await writePng(join(dir, `frame_${t}.png`), fr[t], W, H);
  writeFileSync(join(dir, 'notes.txt'), 'not a frame');
  const src = await openEpisode(dir);
  assert.is(src.kind, 'images');
  assert.is(src.length, T);
  const { chunks, data } = await collect(src, { chunkFrames: 5 });
  assert.equal(chunks.map((c) => [c.start, c.count]), [[0, 5], [5, 5], [10, 2]]);
  assert.ok(data.equals(Buffer.concat(fr)), 'frames in natural order, pixel-exact');
});

test('image folder: JPEG frames decode to RGB of the right size; resize + centre crop', async () => {
  const dir = join(root, 'ep_jpg');
  mkdirSync(dir);
  const flat = new Uint8Array(40 * 20 * 3).fill(0);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) { const i = (y * 40 + x) * 3; flat[i] = x < 10 || x >= 30 ? 255 : 0; flat[i + 2] = 200; }
  await sharp(flat, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).toFile(join(dir, 'a_1.jpg'));
  await sharp(flat, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).toFile(join(dir, 'a_2.JPEG'));
  const src = await openEpisode(dir);
  const full = await collect(src);
  assert.equal(full.chunks[0], { start: 0, count: 2, height: 20, width: 40 });
  // short side 20 → 10: the 40×20 frame becomes 20×10 and the centre 10×10 is the black-red middle
  const small = await collect(src, { size: 10 });
  assert.equal(small.chunks[0], { start: 0, count: 2, height: 10, width: 10 });
  let maxRed = 0;
  for (let i = 0; i < 100; i++) maxRed = Math.max(maxRed, small.data[i * 3]);
  assert.ok(maxRed < 40, `centre crop kept only the dark middle (max red ${maxRed})`);
});

test('greyscale and RGBA PNG frames decode to 8-bit RGB', async () => {
  const dir = join(root, 'ep_grey');
  mkdirSync(dir);
  const g = new Uint8Array(16).map((_, i) => i * 10);
  await sharp(g, { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(join(dir, 'f_1.png'));
  const rgba = new Uint8Array(64).map((_, i) => (i % 4 === 3 ? 255 : i));
  await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } }).png().toFile(join(dir, 'f_2.png'));
  const got = await collect(await openEpisode(dir));
  assert.equal(got.chunks, [{ start: 0, count: 2, height: 4, width: 4 }]);
  assert.equal(Array.from(got.data.subarray(0, 48)), Array.from(g).flatMap((v) => [v, v, v]));
  assert.equal(Array.from(got.data.subarray(48, 96)), Array.from(rgba).filter((_, i) => i % 4 !== 3));
});

test('image folder errors: empty folder, unreadable image, frames of mixed sizes — naming the file', async () => {
  const empty = join(root, 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 'readme.md'), '#');
  await rejectsWith(openEpisode(empty), empty, 'no PNG or JPEG frames');
  const bad = join(root, 'bad_image');
  mkdirSync(bad);
  await writePng(join(bad, 'f_0.png'), rand(48, 1), 4, 4);
  writeFileSync(join(bad, 'f_1.png'), 'this is not a png');
  await rejectsWith(collect(await openEpisode(bad)), join(bad, 'f_1.png'), 'cannot decode image');
  const mixed = join(root, 'mixed');
  mkdirSync(mixed);
  await writePng(join(mixed, 'f_1.png'), rand(48, 1), 4, 4);
  await writePng(join(mixed, 'f_2.png'), rand(60, 2), 5, 4);
  await rejectsWith(collect(await openEpisode(mixed)), join(mixed, 'f_2.png'), '5×4', '4×4', 'f_1.png');
  // also across chunks, and even when frames are resized
  await rejectsWith(collect(await openEpisode(mixed), { chunkFrames: 1, size: 4 }), 'f_2.png', 'one size');
  await rejectsWith(openEpisode(join(root, 'does-not-exist')), 'does-not-exist', 'no such file');
  writeFileSync(join(root, 'x.txt'), '');
  await rejectsWith(openEpisode(join(root, 'x.txt')), 'x.txt', "unsupported episode type '.txt'");
});

test('npy [T,H,W,3] uint8: streamed in chunks, exact; bad dtype / shape / truncation / zero frames named', async () => {
  const [T, H, W] = [7, 6, 5];
  const data = rand(T * H * W * 3, 3);
  const file = join(root, 'ep.npy');
  writeFileSync(file, npyBytes([T, H, W, 3], data));
  const src = await openEpisode(file);
  assert.is(src.kind, 'npy');
  assert.is(src.length, T);
  const got = await collect(src, { chunkFrames: 3 });
  assert.equal(got.chunks.map((c) => c.count), [3, 3, 1]);
  assert.ok(got.data.equals(Buffer.from(data)));
  const f32 = join(root, 'f32.npy');
  writeFileSync(f32, npyBytes([1, 2, 2, 3], new Uint8Array(48), '<f4'));
  await rejectsWith(openEpisode(f32), f32, "dtype '<f4'");
  const gray = join(root, 'gray.npy');
  writeFileSync(gray, npyBytes([2, 4, 4], new Uint8Array(32)));
  await rejectsWith(openEpisode(gray), gray, 'shape [T, H, W, 3]', '[2,4,4]');
  const zero = join(root, 'zero.npy');
  writeFileSync(zero, npyBytes([0, 4, 4, 3], new Uint8Array(0)));
  await rejectsWith(openEpisode(zero), zero, 'zero frames');
  const trunc = join(root, 'trunc.npy');
  writeFileSync(trunc, npyBytes([2, 4, 4, 3], new Uint8Array(50)));
  await rejectsWith(openEpisode(trunc), trunc, 'truncated', '96 bytes');
  const junk = join(root, 'junk.npy');
  writeFileSync(junk, 'hello world, not numpy');
  await rejectsWith(openEpisode(junk), junk, 'cannot read .npy file', 'bad magic');
});

test('in-memory frames: zero-length and bad shapes rejected', () => {
  assert.throws(() => framesFromArray({ data: new Uint8Array(0), shape: [0, 4, 4, 3] }, 'mine'), (e: Error) => e instanceof RangeError && /mine: the episode has zero frames/.test(e.message));
  assert.throws(() => framesFromArray({ data: new Uint8Array(16), shape: [1, 4, 4, 1] }), (e: Error) => e instanceof RangeError && /\[T, H, W, 3\]/.test(e.message));
  assert.throws(() => framesFromArray({ data: [1, 2] as unknown as Uint8Array, shape: [1, 1, 1, 3] }), (e: Error) => e instanceof TypeError && /frames\.data/.test(e.message));
});

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

test('MP4 through ffmpeg: lossless RGB video decodes pixel-exact, streamed in chunks; resized on the fly', async () => {
  const [T, H, W] = [9, 16, 24];
  const raw = rand(T * H * W * 3, 8);
  const rawFile = join(root, 'v.rgb');
  writeFileSync(rawFile, raw);
  const mp4 = join(root, 'ep.mp4');
  ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', '10', '-i', rawFile, '-c:v', 'libx264rgb', '-qp', '0', mp4]);
  const src = await openEpisode(mp4);
  assert.is(src.kind, 'video');
  const got = await collect(src, { chunkFrames: 4 });
  assert.equal(got.chunks.map((c) => [c.start, c.count, c.height, c.width]), [[0, 4, 16, 24], [4, 4, 16, 24], [8, 1, 16, 24]]);
  assert.ok(got.data.equals(Buffer.from(raw)), 'lossless video round-trips exactly');
  const small = await collect(src, { size: 8 });
  assert.equal(small.chunks[0], { start: 0, count: 9, height: 8, width: 8 });
  const f = await encodeFrames(mp4, patchStatsEncoder({ grid: 4 }));
  assert.equal(f.shape, [9, 16, 14]);
});

test('WebM through ffmpeg (lossy VP8): frame count and size', async () => {
  const webm = join(root, 'ep.webm');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=10', '-frames:v', '6', '-c:v', 'libvpx', webm]);
  const got = await collect(await openEpisode(webm));
  assert.equal(got.chunks, [{ start: 0, count: 6, height: 24, width: 32 }]);
});

test('video without ffmpeg on PATH, and a corrupt video → errors naming the tool / the file', async () => {
  const mp4 = join(root, 'ep.mp4');
  const saved = process.env.PATH;
  const emptyBin = join(root, 'empty-bin');
  mkdirSync(emptyBin, { recursive: true });
  process.env.PATH = emptyBin;
  try {
    await rejectsWith(openEpisode(mp4), mp4, "needs 'ffmpeg' on PATH", 'ffmpeg was not found');
  } finally {
    process.env.PATH = saved;
  }
  const broken = join(root, 'broken.mp4');
  writeFileSync(broken, rand(2000, 5));
  await rejectsWith(openEpisode(broken), broken, 'cannot read video');
  const zero = join(root, 'zero.mp4');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=10', '-frames:v', '0', '-c:v', 'libx264', zero]);
  await rejectsWith(openEpisode(zero), zero, 'zero frames');
});

test('encodeFrames on a folder streams chunks: same features as encoding all frames at once', async () => {
  const dir = join(root, 'ep_png');
  const enc = patchStatsEncoder({ grid: 2, bins: 4 });
  const all = await collect(await openEpisode(dir));
  const whole = enc.encodeSync({ data: new Uint8Array(all.data), shape: [12, 10, 12, 3] });
  const seen: Array<[number, number | undefined]> = [];
  const streamed = await encodeFrames(dir, enc, { chunkFrames: 5, onProgress: (d, t) => seen.push([d, t]) });
  assert.equal(seen, [[5, 12], [10, 12], [12, 12]]);
  assert.equal(Array.from(streamed.data), Array.from(whole.data));
});

test.run();
