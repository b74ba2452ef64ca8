// Files and the command line under hostile input: truncated videos, named
// pipes, folders where files belong, output paths that are files or cannot
// be created, integer options in exponent form, and per-episode atomic folders.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import {
  FileFormatError, encodeFrames, labelPaths, openEpisode, patchStatsEncoder, readNpy, readNpyHeader, readSafetensors,
  readSafetensorsHeader, writeFileAtomic,
} from '../../src/index.js';
import { intOption, UsageError } from '../../src/cli/command.js';
import { ensureDir } from '../../src/io/atomic.js';
import { cli } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-robust-'));
const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 && spawnSync('ffprobe', ['-version']).status === 0;
const withFfmpeg = testIf(hasFfmpeg, 'ffmpeg and ffprobe are not on PATH');
const withMkfifo = testIf(spawnSync('mkfifo', ['--version']).status === 0, 'mkfifo is not on PATH');

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

/** A 50-frame MP4 (moov atom first, as streaming-friendly files are) and the same file cut to 60 %. */
function videos(): { full: string; cut: string } {
  const full = path.join(dir, 'full.mp4');
  const cut = path.join(dir, 'cut.mp4');
  if (!fs.existsSync(cut)) {
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '5', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', full]);
    const bytes = fs.readFileSync(full);
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  }
  return { full, cut };
}

async function rejects(p: Promise<unknown>, ...patterns: RegExp[]): Promise<Error> {
  try {
    await p;
  } catch (e) {
    for (const re of patterns) assert.match((e as Error).message, re);
    return e as Error;
  }
  assert.unreachable(`expected a rejection matching ${patterns.join(', ')}`);
  throw new Error('unreachable');
}

// ---------- truncated videos ----------
withFfmpeg('a video cut to 60 % is an error naming the file; allowPartial uses the decoded frames with a warning', async () => {
  const { full, cut } = videos();
  const enc = patchStatsEncoder({ grid: 2, bins: 4 });
  const whole = await encodeFrames(full, enc);
  assert.is(whole.shape[0], 50, 'the intact file decodes all 50 frames without a warning');
  const e = await rejects(encodeFrames(cut, enc), new RegExp(`${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: partial decode`),
    /decoded \d+ of 50 frames/, /allowPartial/);
  assert.not.match(e.message, /decoded 50 of 50/);
  const warnings: string[] = [];
  const part = await encodeFrames(cut, enc, { allowPartial: true, onWarning: (m) => warnings.push(m) });
  assert.ok(part.shape[0] > 0 && part.shape[0] < 50, `partial frames: ${part.shape[0]}`);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], new RegExp(`decoded ${part.shape[0]} of 50 frames`));
  // The decoded prefix equals the intact file's first frames.
  const F = part.shape[1] * part.shape[2];
  for (let i = 0; i < part.shape[0] * F; i++) {
    if (part.data[i] !== whole.data[i]) assert.unreachable(`partial decode differs from the intact file at ${i}`);
  }
});

withFfmpeg('CLI: a truncated video is skipped (exit 1) unless --allow-partial (exit 0, warning on stderr)', () => {
  const { cut } = videos();
  const out = path.join(dir, 'cli-out');
  const r = cli(['label', '--encoder', 'builtin', '--grid', '2', cut, '--out', out]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /cut\.mp4.*partial decode.*decoded \d+ of 50 frames/);
  assert.not.ok(fs.existsSync(path.join(out, 'cut', 'values.npy')), 'no labels from a refused video');
  const ok = cli(['label', '--encoder', 'builtin', '--grid', '2', cut, '--out', out, '--allow-partial', '--json']);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /warning: .*cut\.mp4: partial decode/);
  const report = JSON.parse(ok.stdout);
  assert.ok(report.episodes[0].frames < 50);
  assert.match(report.episodes[0].warnings[0], /partial decode/);
  const bad = cli(['label', cut, '--out', out, '--allow-partial']);
  assert.is(bad.code, 2, 'allow-partial without --encoder is a usage error');
});

// ---------- named pipes and folders ----------
withMkfifo('a named pipe is refused at once, not read (readers, openEpisode, CLI)', async () => {
  const fifo = path.join(dir, 'pipe.npy');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const t0 = Date.now();
  for (const fn of [() => readNpy(fifo), () => readNpyHeader(fifo), () => readSafetensors(fifo), () => readSafetensorsHeader(fifo)]) {
    try {
      fn();
      assert.unreachable('a named pipe was read');
    } catch (e) {
      assert.instance(e, FileFormatError);
      assert.match((e as Error).message, /pipe\.npy: cannot read .*a named pipe, not a regular file/);
    }
  }
  await rejects(openEpisode(fifo), /pipe\.npy: a named pipe, not a regular file/);
  const frames = path.join(dir, 'frames-with-pipe');
  fs.mkdirSync(frames, { recursive: true });
  spawnSync('mkfifo', [path.join(frames, 'frame_0.png')]);
  await rejects(openEpisode(frames), /frame_0\.png: a named pipe, not a regular image file/);
  const r = cli(['label', fifo, '--out', path.join(dir, 'o-fifo')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /pipe\.npy.*a named pipe, not a regular file/);
  assert.ok(Date.now() - t0 < 20000, 'nothing blocked');
});

test('a folder where a file is expected names the path', () => {
  const d = path.join(dir, 'a-folder.npy');
  fs.mkdirSync(d, { recursive: true });
  for (const fn of [() => readNpy(d), () => readSafetensors(d)]) {
    try {
      fn();
      assert.unreachable('a folder was read');
    } catch (e) {
      assert.instance(e, FileFormatError);
      assert.match((e as Error).message, /a-folder\.npy: cannot read .*a folder, not a regular file/);
    }
  }
  try {
    writeFileAtomic(d, 'x');
    assert.unreachable('wrote over a folder');
  } catch (e) {
    assert.match((e as Error).message, /a-folder\.npy: is a directory \(EISDIR\)/);
  }
  assert.equal(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left in the parent');
});

test('a dangling symbolic link is named, with its missing target: a frame, an episode file, an input', async () => {
  const root = path.join(dir, 'dangling');
  const frames = path.join(root, 'frames', 'ep_a');
  fs.mkdirSync(frames, { recursive: true });
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40, g: 90, b: 200 } } }).png().toFile(path.join(frames, 'frame_000.png'));
  const gone = path.join(root, 'moved-away.png');
  fs.symlinkSync(gone, path.join(frames, 'frame_001.png'));
  const why = (link: string, target: string) => `${link}: a dangling symbolic link: its target '${target}' does not exist`;
  await openEpisode(frames).then(() => assert.unreachable('opened'), (e: Error) => assert.is(e.message, why(path.join(frames, 'frame_001.png'), gone)));
  // through label: the failure names the frame, not a bare ENOENT
  const r = await labelPaths([path.join(root, 'frames')], { out: path.join(root, 'out'), encoder: patchStatsEncoder({ grid: 2 }), window: 2, maxClusterFrames: 2 });
  assert.is(r.failures.length, 1);
  assert.is(r.failures[0].reason, why(path.join(frames, 'frame_001.png'), gone));
  // an episode file that is a dangling link: reported (it used to be passed over in silence), and read directly it is named
  const feats = path.join(root, 'features');
  fs.mkdirSync(feats);
  fs.symlinkSync(path.join(root, 'gone.npy'), path.join(feats, 'ep.npy'));
  const r2 = await labelPaths([feats], { out: path.join(root, 'out2') });
  assert.equal(r2.failures, [{ file: path.join(feats, 'ep.npy'), reason: `a dangling symbolic link: its target '${path.join(root, 'gone.npy')}' does not exist` }]);
  assert.throws(() => readNpy(path.join(feats, 'ep.npy')), (e: Error) => e instanceof FileFormatError && e.message === `${path.join(feats, 'ep.npy')}: cannot read npy file: a dangling symbolic link: its target '${path.join(root, 'gone.npy')}' does not exist`);
  // given as an input
  const r3 = await labelPaths([path.join(feats, 'ep.npy')], { out: path.join(root, 'out3') });
  assert.equal(r3.failures.map((f) => f.reason), [`a dangling symbolic link: its target '${path.join(root, 'gone.npy')}' does not exist`]);
});

// ---------- --out ----------
test('--out that is a file is a usage error (exit 2); --out under /proc fails fast', () => {
  const file = path.join(dir, 'afile.txt');
  fs.writeFileSync(file, 'hello');
  const feat = path.join(dir, 'feat');
  fs.mkdirSync(feat, { recursive: true });
  const r = cli(['label', feat, '--out', file]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--out .*afile\.txt: exists and is a file, not a folder/);
  assert.is(fs.readFileSync(file, 'utf8'), 'hello');
  const under = cli(['label', feat, '--out', path.join(file, 'sub')]);
  assert.is(under.code, 2);
  assert.match(under.stderr, /afile\.txt is a file, not a folder/);
  const t0 = Date.now();
  const proc = cli(['label', feat, '--out', '/proc/feat2go-x/y']);
  assert.is(proc.code, 2, proc.stderr);
  assert.match(proc.stderr, /--out \/proc\/feat2go-x\/y: cannot create folder \/proc\/feat2go-x/);
  assert.ok(Date.now() - t0 < 20000);
  const enc = cli(['encode', feat, '--out', file]);
  assert.is(enc.code, 2);
  assert.match(enc.stderr, /exists and is a file/);
  assert.throws(() => ensureDir(path.join(file, 'x')), /is a file, not a folder/);
  ensureDir(path.join(dir, 'made', 'deep', 'er'));
  assert.ok(fs.statSync(path.join(dir, 'made', 'deep', 'er')).isDirectory());
});

// ---------- integer options ----------
test('integer options accept exponent form when the value is whole', () => {
  assert.is(intOption('1e3', 'window', 2), 1000);
  assert.is(intOption('5', 'window', 2), 5);
  assert.is(intOption('1000.0', 'window', 2), 1000);
  assert.is(intOption(' 7 ', 'window', 2), 7);
  for (const bad of ['12.5', '1e-3', '0x10', 'abc', '', '1e400', '2e']) {
    assert.throws(() => intOption(bad, 'window', 2), (e: Error) => e instanceof UsageError && /--window expects an integer/.test(e.message), bad);
  }
  assert.throws(() => intOption('1e0', 'window', 2), /≥ 2/);
});

// ---------- per-episode atomic folders ----------
function npyF32(shape: number[], data: Float32Array): Buffer {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  h = h.padEnd(Math.ceil((10 + h.length + 1) / 64) * 64 - 11, ' ') + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(h.length, 8);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

test('leftover hidden temporaries of an interrupted label are removed when provably ours and stale, and only then', async () => {
  const inp = path.join(dir, 'stale-in');
  fs.mkdirSync(path.join(inp, 'b'), { recursive: true });
  const T = 12, N = 2, D = 3;
  const feat = npyF32([T, N, D], Float32Array.from({ length: T * N * D }, (_, i) => Math.cos(i * 0.21)));
  fs.writeFileSync(path.join(inp, 'ep.npy'), feat);
  fs.writeFileSync(path.join(inp, 'b', 'ep1.npy'), feat);
  const out = path.join(dir, 'stale-out');
  fs.mkdirSync(path.join(out, 'b'), { recursive: true });
  // the temporary-name scheme of src/io/atomic.ts: .<name>.<host>~<pid>.<12 hex>.tmp|old
  const host = os.hostname().replace(/[^A-Za-z0-9-]/g, '-').slice(0, 32) || 'host';
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const live = String(process.pid);
  const hour = (Date.now() - 3600e3) / 1000;
  const make = (parent: string, name: string, files: string[] | null) => {
    const p = path.join(parent, name);
    if (files) {
      fs.mkdirSync(p);
      for (const f of files) fs.writeFileSync(path.join(p, f), 'x');
    } else {
      fs.writeFileSync(p, 'partial');
    }
    return p;
  };
  const epFiles = ['values.npy', 'similarity.npy', 'result.json'];
  const gone = [
    make(out, `.ep.${host}~${dead}.0123456789ab.tmp`, epFiles),
    make(out, `.ep.${host}~${dead}.0123456789ab.old`, [...epFiles, 'plot.svg', `.result.json.${host}~${dead}.aaaaaaaaaaaa.tmp`]),
    make(out, `.summary.json.${host}~${dead}.bbbbbbbbbbbb.tmp`, null),
    make(path.join(out, 'b'), `.ep1.${host}~${dead}.cccccccccccc.tmp`, epFiles),
  ];
  const kept = [
    make(out, `.ep.${host}~${live}.dddddddddddd.tmp`, epFiles), // its process runs
    make(out, `.ep.other-host~${dead}.eeeeeeeeeeee.tmp`, epFiles), // another machine's (a shared folder)
    make(out, `.ep.${host}~${dead}.ffffffffffff.tmp`, [...epFiles, 'notes.txt']), // holds something feat2go never writes
    make(out, `.ep.${dead}.0a0a0a0a0a0a.tmp`, epFiles), // no host in the name: not provably ours
    make(out, `.summary.md.${host}~${dead}.abababababab.tmp`, null), // recent: set below
  ];
  for (const p of [...gone, ...kept.slice(0, 4)]) fs.utimesSync(p, hour, hour);
  const r = await labelPaths([inp], { out, window: 2, maxClusterFrames: 4 });
  assert.is(r.episodes.length, 2);
  for (const p of gone) assert.not.ok(fs.existsSync(p), `${path.relative(out, p)} was left`);
  for (const p of kept) assert.ok(fs.existsSync(p), `${path.relative(out, p)} was removed`);
  assert.equal(fs.readdirSync(path.join(out, 'ep')).sort(), ['plot.svg', 'result.json', 'segments.json', 'segments.npy', 'similarity.npy', 'values.npy']);
});

test('each episode folder appears whole: written under a hidden temporary name and renamed; a rerun replaces it', async () => {
  const inp = path.join(dir, 'atomic-in');
  fs.mkdirSync(inp, { recursive: true });
  const T = 12, N = 2, D = 3;
  fs.writeFileSync(path.join(inp, 'ep.npy'), npyF32([T, N, D], Float32Array.from({ length: T * N * D }, (_, i) => Math.sin(i * 0.37))));
  const out = path.join(dir, 'atomic-out');
  const report = await labelPaths([inp], { out, window: 2, maxClusterFrames: 4 });
  const all = ['plot.svg', 'result.json', 'segments.json', 'segments.npy', 'similarity.npy', 'values.npy'];
  assert.equal(fs.readdirSync(path.join(out, 'ep')).sort(), all);
  assert.equal(fs.readdirSync(out).filter((n) => n.startsWith('.')), [], 'no temporary folders left');
  assert.is(report.episodes.length, 1);
  // Rerun over an existing folder with a stray file: replaced whole.
  fs.writeFileSync(path.join(out, 'ep', 'stray.txt'), 'old');
  await labelPaths([inp], { out, window: 3, maxClusterFrames: 6 });
  assert.equal(fs.readdirSync(path.join(out, 'ep')).sort(), all, 'the old folder was replaced, not merged');
  assert.is(JSON.parse(fs.readFileSync(path.join(out, 'ep', 'result.json'), 'utf8')).options.window, 3);
  assert.equal(fs.readdirSync(out).filter((n) => n.startsWith('.')), []);
  const before = fs.readFileSync(path.join(out, 'ep', 'result.json'), 'utf8');
  // A write that fails halfway (the plot, written after the .npy files): the episode is
  // a failure, and the folder is the previous run's, whole, not a mix.
  const rename = fs.renameSync;
  (fs as { renameSync: typeof fs.renameSync }).renameSync = (from, to) => {
    if (String(to).endsWith('plot.svg')) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    return rename(from, to);
  };
  let failed;
  try {
    failed = await labelPaths([inp], { out, window: 4, maxClusterFrames: 8 });
  } finally {
    (fs as { renameSync: typeof fs.renameSync }).renameSync = rename;
  }
  assert.is(failed.episodes.length, 0);
  assert.match(failed.failures[0].reason, /ENOSPC/);
  assert.equal(fs.readdirSync(path.join(out, 'ep')).sort(), all);
  assert.is(fs.readFileSync(path.join(out, 'ep', 'result.json'), 'utf8'), before, 'the earlier result is untouched');
  assert.equal(fs.readdirSync(out).filter((n) => n.startsWith('.')), [], 'the half-written temporary folder was removed');
  // The same on a first run: no episode folder at all.
  const out2 = path.join(dir, 'atomic-out2');
  (fs as { renameSync: typeof fs.renameSync }).renameSync = (from, to) => {
    if (String(to).endsWith('plot.svg')) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    return rename(from, to);
  };
  try {
    await labelPaths([inp], { out: out2 });
  } finally {
    (fs as { renameSync: typeof fs.renameSync }).renameSync = rename;
  }
  assert.not.ok(fs.existsSync(path.join(out2, 'ep')), 'no partial episode folder');
  assert.equal(fs.readdirSync(out2).filter((n) => n.startsWith('.')), []);
});

test.run();
