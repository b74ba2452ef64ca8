import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patchStatsEncoder, openEpisode, encodeFrames, encodeEpisodes, OnnxVisualEncoder } from '../../src/index.js';
import { encodeCommand, parseCommandArgs, runCommand } from '../../src/cli/index.js';
import { encoderSpecFrom } from '../../src/cli/encoder-options.js';
import { captureIO } from '../helpers/cli.js';
import { rand } from '../helpers/data.js';
import { patchifyEncoderModel } from '../fixtures/onnx-models.js';

const root = mkdtempSync(join(tmpdir(), 'f2g-encode-'));

/** Independent minimal .npy float32 reader for the test. */
function readNpyF32(file: string): { shape: number[]; data: Float32Array } {
  const b = readFileSync(file);
  assert.is(b.toString('latin1', 1, 6), 'NUMPY');
  const len = b.readUInt16LE(8);
  const header = b.toString('latin1', 10, 10 + len);
  assert.match(header, "'descr': '<f4'");
  assert.is((10 + len) % 64, 0, 'header padded to 64 bytes');
  const shape = /\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + len, b.byteOffset + b.length));
  return { shape, data };
}

const io = () => captureIO();
const encode = (argv: string[], cio: ReturnType<typeof io>['io']) => runCommand(encodeCommand, argv, cio);

async function folder(name: string, T: number, S: number, seed: number): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir);
  for (let t = 0; t < T; t++) await sharp(rand(S * S * 3, seed + t), { raw: { width: S, height: S, channels: 3 } }).png().toFile(join(dir, `frame_${t}.png`));
  return dir;
}

test('encode: builtin encoder writes one .npy per episode; a bad episode is reported, the others written', async () => {
  const a = await folder('ep_a', 5, 16, 1);
  const b = await folder('ep_b', 3, 16, 50);
  const empty = join(root, 'ep_empty');
  mkdirSync(empty);
  const out = join(root, 'features');
  const { out: o, io: cio } = io();
  const code = await encode([a, empty, b, '--out', out, '--grid', '4'], cio);
  assert.is(code, 1);
  assert.equal(o.stderr.trim().split('\n'), [`feat2go encode: skipped ${empty}: no PNG or JPEG frames, .npy frame arrays or videos found in this folder`], 'one line for the bad episode');
  assert.match(o.stdout, 'encoded 2 of 3 episodes with builtin:patch-stats');
  assert.equal(readdirSync(out).sort(), ['ep_a.npy', 'ep_b.npy'], 'no temp files left behind');
  const fa = readNpyF32(join(out, 'ep_a.npy'));
  assert.equal(fa.shape, [5, 16, 14]);
  const direct = await encodeFrames(await openEpisode(a), patchStatsEncoder({ grid: 4 }));
  assert.equal(Array.from(fa.data), Array.from(direct.data));
});

test('encode: --format safetensors writes a valid header with the features tensor', async () => {
  const a = join(root, 'ep_a');
  const out = join(root, 'st');
  const { io: cio } = io();
  assert.is(await encode([a, '--out', out, '--format', 'safetensors', '--grid', '2', '--quiet'], cio), 0);
  const buf = readFileSync(join(out, 'ep_a.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n));
  assert.equal(header.features.dtype, 'F32');
  assert.equal(header.features.shape, [5, 4, 14]);
  assert.equal(header.features.data_offsets, [0, 5 * 4 * 14 * 4]);
  assert.is(header.__metadata__.encoder, 'builtin:patch-stats');
  assert.is(buf.length, 8 + n + 5 * 4 * 14 * 4);
});

test('encode: an ONNX encoder from the command line', async () => {
  const model = join(root, 'enc.onnx');
  writeFileSync(model, patchifyEncoderModel({ frames: 4, tubelet: 2, size: 8, patch: 4, dim: 3, proj: 2 }).bytes);
  const ep = await folder('ep_small', 6, 8, 7);
  const out = join(root, 'onnx-out');
  const { io: cio } = io();
  assert.is(await encode([ep, '--encoder', model, '--out', out], cio), 0);
  const f = readNpyF32(join(out, 'ep_small.npy'));
  assert.equal(f.shape, [3, 4, 2]);
  const direct = await encodeFrames(ep, await OnnxVisualEncoder.load(model));
  assert.equal(Array.from(f.data), Array.from(direct.data));
});

test('encode: usage and encoder errors exit 2 with a message', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--out', root], /at least one episode/],
    [[join(root, 'ep_a')], /--out DIR/],
    [[join(root, 'ep_a'), '--out', root, '--format', 'csv'], /npy or safetensors/],
    [[join(root, 'ep_a'), '--out', root, '--encoder', 'resnet'], /'builtin', the path of an \.onnx model, a model folder .* or a model name 'hf:ORG\/NAME\[@REVISION\]'/],
    [[join(root, 'ep_a'), '--out', root, '--encoder', join(root, 'missing.onnx')], /missing\.onnx does not exist/],
    [[join(root, 'ep_a'), '--out', root, '--grid', 'x'], /--grid expects an integer in \[1, 1024\] but received 'x'/],
    [[join(root, 'ep_a'), '--out', root, '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, re] of cases) {
    const { out: o, io: cio } = io();
    assert.is(await encode(argv, cio), 2, argv.join(' '));
    assert.match(o.stderr, re);
  }
  assert.not.ok(existsSync(join(root, 'ep_a.npy')));
  const parsed = parseCommandArgs(encodeCommand, ['x', '-o', 'd', '--image-size', '64', '--frames-per-clip', '16', '--tubelet', '2']);
  assert.equal(encoderSpecFrom(parsed.values), { imageSize: 64, framesPerClip: 16, tubelet: 2 });
  assert.equal([parsed.values.encoder, parsed.values.format], ['builtin', 'npy'], 'defaults from the option table');
});

test('encodeEpisodes: a bad episode in a batch is reported, the others encoded, in order', async () => {
  const a = join(root, 'ep_a');
  const b = join(root, 'ep_b');
  const missing = join(root, 'ep_missing');
  const progress: number[][] = [];
  const ended: number[] = [];
  const res = await encodeEpisodes([a, missing, b], patchStatsEncoder({ grid: 2 }), {
    chunkFrames: 2,
    onProgress: (e, d, t, n) => progress.push([e, d, t ?? -1, n]),
    onEpisode: (_r, i) => { ended.push(i); },
  });
  assert.equal(res.map((r) => r.ok), [true, false, true]);
  assert.equal(ended, [0, 1, 2]);
  const bad = res[1];
  assert.ok(!bad.ok && bad.error.message.includes(missing) && /no such file/.test(bad.error.message));
  assert.ok(res[0].ok && res[0].frames === 5 && res[0].features.shape[0] === 5);
  assert.equal(progress.filter((p) => p[0] === 0), [[0, 2, 5, 3], [0, 4, 5, 3], [0, 5, 5, 3]]);
});

test.run();
