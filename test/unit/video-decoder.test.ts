// The in-process video decoder (native/media/libav_decoder.h through
// VideoDecoderNative): frames and times as the ffmpeg CLI path hands them out
// (byte for byte, on AV1 and on H.264 with B-frames, from the start and after
// seeks that land mid-GOP), and its bad inputs: wrong types, a closed decoder,
// a call while another runs, a missing and a truncated file, a cancelled call.
// Fixture videos are made here with ffmpeg; each frame shows its own index.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { labelPaths, native, openLeRobot, videoDecoderStatus } from '../../src/index.js';
import { hostArray } from '../../src/core/host.js';
import { decodeAtTimestamps } from '../../src/io/lerobot-video.js';
import type { FrameChunk } from '../../src/io/episodes.js';
import { FRAME_SIZE, encodeVideos, frameCode, readFrameCode, videoFixturesUnavailable } from '../fixtures/lerobot.js';
import { rejectsWith, throwsLike } from '../helpers/asserts.js';
import { testIf } from '../helpers/skip.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-video-decoder-'));
const N = 24;
const FPS = 30;
const S = FRAME_SIZE;
const FB = S * S + 2 * (S / 2) * (S / 2);
const files: Record<'av1' | 'h264', string> = { av1: path.join(dir, 'a.mp4'), h264: path.join(dir, 'h.mp4') };
const status = videoDecoderStatus();
const fixtures = videoFixturesUnavailable();
const test = testIf(status.available && fixtures === undefined, status.available ? fixtures ?? '' : `in-process decoding unavailable: ${status.reason}`);

uvuTest.before(async () => {
  if (!status.available || fixtures) return;
  const codes = Array.from({ length: N }, (_, i) => frameCode(0, i, 0));
  await encodeVideos(codes, [{ file: files.av1, start: 0, count: N }], 'av1', FPS);
  await encodeVideos(codes, [{ file: files.h264, start: 0, count: N }], 'h264', FPS);
});
uvuTest.after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The frame indices shown by `count` packed yuv420p frames. */
function codesOf(yuv: Uint8Array, count: number): number[] {
  const rgb = new Uint8Array(count * S * S * 3);
  native().encoderYuvToRgb({ yuv: yuv.subarray(0, count * FB) }, { n: count, W: S, H: S, matrix: 601, fullRange: false, threads: 1 }, { rgb });
  return Array.from({ length: count }, (_, i) => readFrameCode(rgb, S, S, i * S * S * 3));
}

async function collect(g: AsyncGenerator<FrameChunk>): Promise<{ data: Uint8Array; starts: number[] }> {
  const parts: Uint8Array[] = [];
  const starts: number[] = [];
  for await (const c of g) { parts.push(c.data.slice()); starts.push(c.start); }
  const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { data.set(p, o); o += p.length; }
  return { data, starts };
}

uvuTest('the decoder option: a RangeError naming it for anything but auto, libav or ffmpeg', async () => {
  await labelPaths([dir], { out: path.join(dir, 'out'), videoDecoder: 'gpu' as never }).then(() => assert.unreachable(), (e: Error) => {
    assert.instance(e, RangeError);
    assert.match(e.message, /Expected opts\.videoDecoder 'auto', 'libav' or 'ffmpeg' but received 'gpu'/);
  });
  await openLeRobot(dir, { decoder: 3 as never }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /Expected opts\.decoder 'auto', 'libav' or 'ffmpeg' but received 3/));
});

uvuTest('videoDecoderStatus says whether in-process decoding is available, and names the libraries', () => {
  assert.type(status.available, 'boolean');
  assert.ok(status.available ? status.reason === '' : status.reason.length > 0, status.reason);
  if (status.reason !== 'built without libav headers (libavformat-dev, libavcodec-dev, libavutil-dev)') assert.match(status.libraries, /libavformat\.so\.\d+, libavcodec\.so\.\d+, libavutil\.so\.\d+/);
  if (status.available) assert.match(status.versions, /^libavformat \d+\.\d+\.\d+, libavcodec \d+\.\d+\.\d+, libavutil \d+\.\d+\.\d+$/);
});

for (const codec of ['av1', 'h264'] as const) {
  test(`${codec}: every frame from the start, in order, at i / fps, each showing its own index`, async () => {
    const { VideoDecoderNative } = native();
    const d = new VideoDecoderNative({}, { file: files[codec] });
    const info = await d.open({}, {});
    assert.is(info.codec, codec);
    assert.equal([info.width, info.height, info.fpsNum / info.fpsDen], [S, S, FPS]);
    const f = await d.seek({}, { time: 0 });
    // The format and colour tags as ffmpeg's showinfo reports them for the first frame (what the CLI path reads).
    const log = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-i', files[codec], '-frames:v', '1', '-vf', 'showinfo', '-f', 'null', '-'], { encoding: 'utf8' }).stderr;
    const fmt = / fmt:(\S+) /.exec(log)?.[1];
    const colour = /color_range:(\S+) color_space:(\S+)/.exec(log);
    assert.ok(fmt && colour, log);
    assert.equal(f, { width: S, height: S, pixFmt: fmt, colorRange: colour[1], colorSpace: colour[2] });
    const out = hostArray(Uint8Array, 10 * FB);
    const got: number[] = [];
    const times: number[] = [];
    for (;;) {
      const r = await d.read({}, { frames: 10, frameBytes: FB }, { data: out });
      if (r.count === 0) break;
      got.push(...codesOf(out, r.count));
      times.push(...r.times);
      assert.is(r.lastTime, r.times[r.count - 1]);
    }
    assert.equal(got, Array.from({ length: N }, (_, i) => frameCode(0, i, 0)));
    for (let i = 0; i < N; i++) assert.ok(Math.abs(times[i] - i / FPS) < 1e-4, `frame ${i} at ${times[i]}`);
    d.close();
  });

  test(`${codec}: a seek mid-GOP starts at the first frame at or after the time (earlier frames of the GOP dropped)`, async () => {
    const { VideoDecoderNative } = native();
    const d = new VideoDecoderNative({}, { file: files[codec] });
    await d.open({}, {});
    for (const k of [7, 13, 3, 20]) {
      assert.ok(await d.seek({}, { time: (k - 0.5) / FPS }));
      const out = hostArray(Uint8Array, 2 * FB);
      const r = await d.read({}, { frames: 2, frameBytes: FB }, { data: out });
      assert.is(r.count, 2);
      assert.equal(codesOf(out, 2), [frameCode(0, k, 0), frameCode(0, k + 1, 0)], `seek to frame ${k}`);
    }
    assert.is(await d.seek({}, { time: 100 }), null, 'past the end');
    d.close();
  });

  test(`${codec}: the same frames, byte for byte, and the same chunks as through the ffmpeg CLI`, async () => {
    const times = Float64Array.from({ length: 9 }, (_, i) => (i + 5) / FPS);
    const common = { fps: FPS, chunkFrames: 4, tolerance: 1e-4, label: 'test', yuv420p: true, firstIndex: 5 };
    const a = await collect(decodeAtTimestamps(files[codec], times, { ...common, decoder: 'libav' }));
    const b = await collect(decodeAtTimestamps(files[codec], times, { ...common, decoder: 'ffmpeg' }));
    assert.equal(a.starts, [5, 9, 13]);
    assert.equal(a.starts, b.starts);
    assert.is(a.data.length, 9 * FB);
    assert.ok(Buffer.compare(a.data, b.data) === 0, 'identical YUV bytes');
    assert.equal(codesOf(a.data, 9), Array.from({ length: 9 }, (_, i) => frameCode(0, i + 5, 0)));
    // RGB chunks too, and a query repeated (two queries on one frame get it twice, across a chunk boundary).
    const rep = Float64Array.from([1, 2, 3, 3, 3, 4, 5].map((i) => i / FPS));
    const c = await collect(decodeAtTimestamps(files[codec], rep, { ...common, chunkFrames: 3, yuv420p: false, decoder: 'libav' }));
    const e = await collect(decodeAtTimestamps(files[codec], rep, { ...common, chunkFrames: 3, yuv420p: false, decoder: 'ffmpeg' }));
    assert.ok(Buffer.compare(c.data, e.data) === 0, 'identical RGB bytes with repeated queries');
    const codes = Array.from({ length: 7 }, (_, i) => readFrameCode(c.data, S, S, i * S * S * 3));
    assert.equal(codes, [1, 2, 3, 3, 3, 4, 5].map((i) => frameCode(0, i, 0)));
  });
}

test('bad inputs: wrong types and sizes, a closed decoder, a call while another runs, read before open', async () => {
  const { VideoDecoderNative } = native();
  throwsLike(() => new VideoDecoderNative({}, {} as never), TypeError, /opts\.file/);
  throwsLike(() => new VideoDecoderNative({}, { file: 3 } as never), TypeError, /opts\.file/);
  throwsLike(() => new VideoDecoderNative({}, { file: '' }), RangeError, /opts\.file/);
  const d = new VideoDecoderNative({}, { file: files.h264 });
  throwsLike(() => d.read({}, { frames: 1, frameBytes: FB }, { data: new Uint8Array(FB) }), Error, /not open \(call open first\)/);
  const opening = d.open({}, {});
  throwsLike(() => d.seek({}, { time: 0 }), Error, /another call is still running on this decoder/);
  await opening;
  assert.ok(await d.seek({}, { time: 0 }));
  throwsLike(() => d.read({}, { frames: 2, frameBytes: FB }, { data: new Uint8Array(FB) }), RangeError, /out\.data/);
  throwsLike(() => d.read({}, { frames: 1, frameBytes: FB }, { data: new Float32Array(FB) as never }), TypeError, /out\.data/);
  throwsLike(() => d.read({}, { frames: 0, frameBytes: FB }, { data: new Uint8Array(FB) }), RangeError, /opts\.frames/);
  throwsLike(() => d.seek({}, { time: NaN }), RangeError, /opts\.time/);
  throwsLike(() => d.read({}, { frames: 1, frameBytes: FB, cancel: new Int32Array(1) }, { data: new Uint8Array(FB) }), TypeError, /opts\.cancel/);
  // A plain (not host) array is written through a copy; the frame is right either way.
  const plain = new Uint8Array(FB);
  const r = await d.read({}, { frames: 1, frameBytes: FB }, { data: plain });
  assert.is(r.count, 1);
  assert.equal(codesOf(plain, 1), [frameCode(0, 0, 0)]);
  // A frame size the decoder's frames do not have.
  await d.read({}, { frames: 1, frameBytes: FB + 2 }, { data: new Uint8Array(FB + 2) }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /not the size the output was made for/));
  d.close();
  d.close();
  throwsLike(() => d.seek({}, { time: 0 }), Error, /the decoder is closed/);
  // Closing while a call runs: the call still ends (the decoder is freed after it).
  const e = new VideoDecoderNative({}, { file: files.av1 });
  const p = e.open({}, {});
  e.close();
  await p;
});

test('a missing file, a file that is not a video, a truncated video, a cancelled call', async () => {
  const { VideoDecoderNative } = native();
  const missing = path.join(dir, 'nope.mp4');
  await new VideoDecoderNative({}, { file: missing }).open({}, {}).then(() => assert.unreachable(), (e: Error) => {
    assert.ok(e.message.startsWith(`${missing}: cannot read video (`), e.message);
    assert.match(e.message, /No such file or directory/);
  });
  const text = path.join(dir, 'text.mp4');
  fs.writeFileSync(text, 'not a video at all\n'.repeat(20));
  await new VideoDecoderNative({}, { file: text }).open({}, {}).then(() => assert.unreachable(), (e: Error) => assert.ok(e.message.startsWith(`${text}: cannot read video (`), e.message));
  // Truncated: the moov atom is at the end (ffmpeg's default), so the cut file has no index.
  const cut = path.join(dir, 'cut.mp4');
  fs.writeFileSync(cut, fs.readFileSync(files.h264).subarray(0, Math.floor(fs.statSync(files.h264).size / 2)));
  await new VideoDecoderNative({}, { file: cut }).open({}, {}).then(() => assert.unreachable(), (e: Error) => assert.ok(e.message.startsWith(`${cut}: cannot read video (`), e.message));
  // Through decodeAtTimestamps, it names the file and the episode.
  const times = Float64Array.from([0, 1 / FPS]);
  const g = decodeAtTimestamps(cut, times, { fps: FPS, chunkFrames: 2, tolerance: 1e-4, label: 'episode 4 (cam)', decoder: 'libav' });
  await g.next().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: episode 4 \\(cam\\): cannot read video`)));
  // A cancel flag already set: the call rejects with an AbortError and decodes nothing.
  const d = new VideoDecoderNative({}, { file: files.av1 });
  await d.open({}, {});
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  cancel[0] = 1;
  await d.seek({}, { time: 0, cancel }).then(() => assert.unreachable(), (e: Error) => { assert.is(e.name, 'AbortError'); assert.match(e.message, /cancelled/); });
  d.close();
});

test('decoders dropped without close() are freed when collected: their open files are closed', () => {
  // A child with --expose-gc: 40 opened decoders hold 40 open files; dropped and collected, none is left.
  const code = `
    import fs from 'node:fs';
    import { native } from './src/index.ts';
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const { VideoDecoderNative } = native();
    const base = fds();
    let ds = [];
    for (let i = 0; i < 40; i++) { const d = new VideoDecoderNative({}, { file: ${JSON.stringify(files.h264)} }); await d.open({}, {}); ds.push(d); }
    const open = fds();
    ds = null;
    for (let i = 0; i < 20 && fds() > base + 2; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ base, open, after: fds() }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', cwd: path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..') });
  assert.is(r.status, 0, r.stderr);
  const { base, open, after } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { base: number; open: number; after: number };
  assert.ok(open >= base + 40, `40 open decoders hold their files (${base} → ${open})`);
  assert.ok(after <= base + 2, `after collection ${after} descriptors are open (base ${base})`);
});

test('decodeAtTimestamps: an AbortSignal stops the decode between chunks and the generator rejects with its reason', async () => {
  const times = Float64Array.from({ length: N }, (_, i) => i / FPS);
  const ac = new AbortController();
  const g = decodeAtTimestamps(files.av1, times, { fps: FPS, chunkFrames: 4, tolerance: 1e-4, label: 'episode 0 (cam)', decoder: 'libav', signal: ac.signal });
  const c = await g.next();
  assert.is((c.value as FrameChunk).count, 4);
  const reason = new Error('stop here');
  ac.abort(reason);
  await rejectsWith(g.next(), reason);
  const pre = new AbortController();
  pre.abort(reason);
  await rejectsWith(decodeAtTimestamps(files.h264, times, { fps: FPS, chunkFrames: 4, tolerance: 1e-4, label: 'e', decoder: 'libav', signal: pre.signal }).next(), reason);
});

test('decodeAtTimestamps: a video shorter than the episode names the file, the episode and the frames missing', async () => {
  const times = Float64Array.from({ length: N + 3 }, (_, i) => i / FPS);
  const g = decodeAtTimestamps(files.h264, times, { fps: FPS, chunkFrames: 8, tolerance: 1e-4, label: 'episode 2 (cam)', decoder: 'libav' });
  await (async () => { for await (const c of g) void c; })().then(() => assert.unreachable(), (e: Error) => {
    assert.ok(e.message.startsWith(`${files.h264}: episode 2 (cam): the video is shorter than the episode: its last frame is at 0.766`), e.message);
    assert.match(e.message, /but 3 of the 27 frames asked for lie at 0\.8 s to 0\.8666\d* s/);
  });
  const wrongFps = decodeAtTimestamps(files.av1, times.subarray(0, 2), { fps: 25, chunkFrames: 8, tolerance: 1e-4, label: 'episode 3 (cam)', decoder: 'libav' });
  await wrongFps.next().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /episode 3 \(cam\): the video runs at 30 fps but meta\/info\.json says fps 25/));
});

uvuTest.run();
