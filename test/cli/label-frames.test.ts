// Frames → features → progress targets through the command line
// (`feat2go label --encoder`, `feat2go encode`) and the `npm start` main job.
// Label outputs are checked against progressTargetsSync on the features that
// `feat2go encode` wrote for the same episodes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrames, OnnxVisualEncoder, patchStatsEncoder, progressTargetsSync, readNpy, type Tensor } from '../../src/index.js';
import { commandHelp, encodeCommand, labelCommand, runCommand } from '../../src/cli/index.js';
import { encodeSceneEpisode, runMain, sampleImageEpisodes, SCENE_PROGRESS_OPTIONS } from '../../src/demo/index.js';
import { captureIO, cli } from '../helpers/cli.js';
import { patchifyEncoderModel } from '../fixtures/onnx-models.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-frames-'));


/** A uint8 .npy written by hand (format 1.0), independent of src/io. */
function npyU8(shape: number[], data: Uint8Array): Buffer {
  let h = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  h = h.padEnd(Math.ceil((10 + h.length + 1) / 64) * 64 - 11, ' ') + '\n';
  const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), data]);
}

/** Frames `[T, S, S, 3]` of a red square sliding right on grey, pausing in the middle. */
function slidingSquare(T: number, S: number): Uint8Array {
  const out = new Uint8Array(T * S * S * 3).fill(120);
  for (let t = 0; t < T; t++) {
    const k = t < T / 3 ? t : t < (2 * T) / 3 ? Math.floor(T / 3) : t - Math.floor(T / 3);
    const x0 = Math.round((k / T) * (S - 8));
    for (let y = 10; y < 18; y++) for (let x = x0; x < x0 + 8; x++) out.set([220, 30, 30], ((t * S + y) * S + x) * 3);
  }
  return out;
}

const frames = path.join(dir, 'frames');
const opts = { window: 3, maxClusterFrames: 10, threshold: 0.003, lambda: 1 };
const optArgs = ['--window', '3', '--max-cluster-frames', '10', '--threshold', '0.003', '--grid', '4'];

test.before(async () => {
  fs.mkdirSync(path.join(frames, 'ep_img'), { recursive: true });
  fs.mkdirSync(path.join(frames, 'ep_bad'));
  const S = 32;
  const img = slidingSquare(12, S);
  for (let t = 0; t < 12; t++) {
    await sharp(img.subarray(t * S * S * 3, (t + 1) * S * S * 3), { raw: { width: S, height: S, channels: 3 } }).png().toFile(path.join(frames, 'ep_img', `frame_${t}.png`));
  }
  fs.writeFileSync(path.join(frames, 'ep_arr.npy'), npyU8([15, 24, 24, 3], slidingSquare(15, 24)));
  fs.writeFileSync(path.join(frames, 'ep_bad', 'frame_0.png'), 'this is not a PNG');
});

test('label --encoder builtin: image folder and uint8 .npy labelled, bad episode one line, exit 1; values equal progressTargetsSync on encoded features', async () => {
  const out = path.join(dir, 'labels');
  const r = cli(['label', '--encoder', 'builtin', frames, '--out', out, ...optArgs]);
  assert.is(r.code, 1, r.stderr);
  const bad = path.join(frames, 'ep_bad');
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0], new RegExp(`^feat2go label: skipped ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*frame_0\\.png: cannot decode image`));
  assert.match(r.stdout, /2 episodes labelled, 1 skipped/);
  // The same episodes through `feat2go encode` (in-process), then progressTargetsSync on those features.
  const feats = path.join(dir, 'features');
  const { io: eio } = captureIO();
  assert.is(await runCommand(encodeCommand, [path.join(frames, 'ep_img'), path.join(frames, 'ep_arr.npy'), '--out', feats, '--grid', '4'], eio), 0);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.episodes.map((e: { episode: string }) => e.episode), ['ep_arr', 'ep_img']);
  assert.equal(summary.failures.map((f: { file: string }) => f.file), [bad]);
  assert.is(summary.encoder, 'builtin:patch-stats');
  for (const [name, T] of [['ep_img', 12], ['ep_arr', 15]] as const) {
    const f = readNpy(path.join(feats, `${name}.npy`));
    assert.equal(f.shape, [T, 16, 14], 'one step per frame, 4×4 patches, 14 dims');
    const want = progressTargetsSync(f as Tensor, opts);
    const d = path.join(out, name);
    assert.equal(fs.readdirSync(d).sort(), ['plot.svg', 'result.json', 'segments.json', 'segments.npy', 'similarity.npy', 'values.npy']);
    assert.equal(readNpy(path.join(d, 'values.npy')).data, want.values, `${name} values`);
    assert.equal(readNpy(path.join(d, 'similarity.npy')).data, want.similarity);
    assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'segments.json'), 'utf8')), want.segments);
    assert.ok(want.segments.length >= 2, `${name}: the slide after the pause is a new stage`);
    const res = JSON.parse(fs.readFileSync(path.join(d, 'result.json'), 'utf8'));
    assert.equal([res.encoder, res.framesIn, res.shape], ['builtin:patch-stats', T, [T, 16, 14]]);
    assert.ok(res.encodeMs >= 0);
    assert.match(fs.readFileSync(path.join(d, 'plot.svg'), 'utf8'), `${T} frames → builtin:patch-stats → [${T} × 16 × 14]`);
  }
  assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\| episode \| steps \| stages \| mean value \| time \(ms\) \| encode \(ms\) \|/);
});

test('label --encoder on a terminal: progress bar over frames and episodes, cleared before the failure line', async () => {
  let err = '';
  let stdout = '';
  const io = {
    stdout: { write: (s: string) => { stdout += s; return true; } },
    stderr: { isTTY: true, columns: 100, write: (s: string) => { err += s; return true; } },
  } as unknown as Parameters<typeof runCommand>[2];
  const code = await runCommand(labelCommand, ['--encoder', 'builtin', frames, '--out', path.join(dir, 'labels-tty'), ...optArgs], io);
  assert.is(code, 1);
  assert.match(err, /\r\x1b\[K\[#*-*\] 0\/3 ep_arr \d+\/15 frames/);
  assert.match(err, /\r\x1b\[K\[#*-*\] 2\/3 ep_img 12\/12 frames/);
  assert.match(err, /\r\x1b\[Kfeat2go label: skipped .*ep_bad: /);
  assert.ok(err.endsWith('\r\x1b[K'), 'bar cleared at the end');
  assert.match(stdout, /\| ep_img +\| +12 \|/);
});

test('encode and label --encoder: help documents every option; bad encoder or options exit 2 with a clear message', () => {
  const main = cli(['--help']);
  assert.is(main.code, 0);
  assert.match(main.stdout, /^ {2}encode +Encode frame episodes/m);
  const h = cli(['encode', '--help']);
  assert.is(h.code, 0);
  for (const o of encodeCommand.options) assert.match(h.stdout, `--${o.name}`, o.name);
  assert.match(h.stdout, 'Usage: feat2go encode <episode|folder>... --out DIR [options]');
  const lh = commandHelp(labelCommand);
  for (const o of labelCommand.options) assert.match(lh, `--${o.name}`, o.name);
  assert.match(lh, /--encoder builtin\|MODEL\|hf:ORG\/NAME\s+Treat the inputs as frame\s+episodes/);
  const missing = path.join(dir, 'missing.onnx');
  const r = cli(['label', '--encoder', missing, frames, '--out', path.join(dir, 'never')]);
  assert.is(r.code, 2);
  assert.equal(r.stderr.trim().split('\n'), [
    `feat2go label: --encoder ${missing}: OnnxVisualEncoder.load: model file ${missing} does not exist`,
    "Run 'feat2go label --help' for usage.",
  ]);
  assert.not.ok(fs.existsSync(path.join(dir, 'never')), 'nothing written');
});

test('encode/label in-process: usage errors exit 2', async () => {
  const cases: Array<[typeof labelCommand, string[], RegExp]> = [
    [labelCommand, [frames, '--grid', '4', '--out', path.join(dir, 'x')], /--grid needs --encoder/],
    [labelCommand, ['--encoder', 'resnet', frames], /--encoder resnet: Expected 'builtin', the path of an \.onnx model, .* or a model name 'hf:ORG\/NAME/],
    [labelCommand, ['--encoder', 'builtin'], /missing <episode>/],
    [labelCommand, ['--encoder', 'builtin', frames, '--image-size', '0'], /--image-size expects an integer in \[1, 8192\] but received '0'/],
    [encodeCommand, [frames, '--out', path.join(dir, 'x'), '--encoder', path.join(dir, 'nope.onnx')], /nope\.onnx does not exist/],
  ];
  for (const [cmd, argv, re] of cases) {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => { err += s; return true; } } } as unknown as Parameters<typeof runCommand>[2];
    assert.is(await runCommand(cmd, argv, io), 2, argv.join(' '));
    assert.match(err, re);
  }
  assert.not.ok(fs.existsSync(path.join(dir, 'x')));
});

test('label --encoder model.onnx: frames through a tiny ONNX video encoder, values equal progressTargetsSync on its features', async () => {
  const model = path.join(dir, 'enc.onnx');
  fs.writeFileSync(model, patchifyEncoderModel({ frames: 4, tubelet: 2, size: 8, patch: 4, dim: 3, proj: 2 }).bytes);
  const out = path.join(dir, 'labels-onnx');
  const io = { stdout: { write: () => true }, stderr: { write: () => true } } as unknown as Parameters<typeof runCommand>[2];
  const ep = path.join(frames, 'ep_img');
  assert.is(await runCommand(labelCommand, ['--encoder', model, ep, '--out', out, '--window', '2', '--max-cluster-frames', '4', '--threshold', '0.001'], io), 0);
  const features = await encodeFrames(ep, await OnnxVisualEncoder.load(model));
  assert.equal(features.shape, [6, 4, 2], '12 frames resized to 8², tubelet 2 → 6 steps of 2×2 patches');
  const want = progressTargetsSync(features, { window: 2, maxClusterFrames: 4, threshold: 0.001 });
  assert.equal(readNpy(path.join(out, 'ep_img', 'values.npy')).data, want.values);
  const res = JSON.parse(fs.readFileSync(path.join(out, 'ep_img', 'result.json'), 'utf8'));
  assert.equal([res.encoder, res.framesIn, res.shape], [model, 12, [6, 4, 2]]);
});

test('npm start main job: an output folder that cannot be made fails at once, naming it', async () => {
  let msg = '';
  try { await runMain({ out: '/proc/f2g-nope/out', log: () => {} }); } catch (e) { msg = (e as Error).message; }
  assert.match(msg, /^\/proc\/f2g-nope\/out\/episodes: cannot create folder \/proc\/f2g-nope \(/);
});

test('npm start main job: renders, encodes and labels the scene; writes plots, summary, frames and episodes', async () => {
  const out = path.join(dir, 'main');
  const lines: string[] = [];
  let err = '';
  const stderr = { write: (s: string) => { err += s; return true; } } as unknown as NodeJS.WritableStream;
  const { report, episodesDir, contactSheet } = await runMain({ out, log: (s) => lines.push(s), stderr });
  assert.is(err, '', 'no bar and no failures off a terminal');
  assert.equal(report.failures, []);
  const eps = sampleImageEpisodes();
  assert.equal(report.episodes.map((e) => e.episode), eps.map((e) => e.name));
  for (const e of report.episodes) {
    assert.ok(fs.statSync(path.join(out, e.episode, 'plot.svg')).size > 1000);
    assert.ok(fs.existsSync(path.join(episodesDir, `${e.episode}.npy`)) && fs.existsSync(path.join(episodesDir, `${e.episode}.stages.json`)));
  }
  assert.ok(fs.existsSync(path.join(out, 'summary.md')) && fs.existsSync(path.join(out, 'summary.json')));
  // The episode written to disk is the rendered one, and its labels are those of its encoded features.
  const arr = readNpy(path.join(episodesDir, 'scene_001.npy'));
  assert.equal(arr.shape, eps[1].frames.shape);
  assert.ok(Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength).equals(Buffer.from(eps[1].frames.data)));
  const want = progressTargetsSync(await encodeSceneEpisode(eps[1], patchStatsEncoder()), SCENE_PROGRESS_OPTIONS);
  assert.equal(readNpy(path.join(out, 'scene_001', 'values.npy')).data, want.values);
  assert.equal(JSON.parse(fs.readFileSync(path.join(episodesDir, 'scene_001.stages.json'), 'utf8')), eps[1].stages);
  const meta = await sharp(contactSheet!).metadata();
  assert.equal([meta.format, meta.width, meta.height], ['png', 6 * 96 + 7 * 2, 4 * (96 + 2) + 2]);
  const text = lines.join('\n');
  assert.match(text, `Plots:                 ${path.join(out, 'scene_000', 'plot.svg')}`);
  assert.match(text, `Frames of one episode: ${contactSheet}`);
  assert.match(text, /scene_000: \d+ stages found, starting at 0, .*; true stage starts 0, /);
  // It ends with the command that shows the outputs (the folder as given: outside the working folder, absolute).
  assert.equal(lines.slice(-2), [`Look at the episodes in your browser: feat2go view ${out}`, `(from a clone of the repository: node dist/cli/main.js view ${out})`]);
  for (const e of report.episodes) assert.equal(e.source.kind, 'npy', 'the frames recorded for the viewer');
});

test.run();
