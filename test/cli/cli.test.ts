// `feat2go label` end to end on a temp folder, in a child process, exactly as
// a user runs it; outputs compared with progressTargetsSync on the same data.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labelPaths, progressTargetsSync, readNpy, type Tensor } from '../../src/index.js';
import { sampleEpisodes } from '../../src/demo/index.js';
import { cli } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-cli-'));

// Hand-rolled writers (independent of src/io) for the input files.
function npyBytes(descr: string, shape: number[], data: Uint8Array): Buffer {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  h = h.padEnd(Math.ceil((10 + h.length + 1) / 64) * 64 - 11, ' ') + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(h.length, 8);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), data]);
}
const f32bytes = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
function bf16(t: Tensor): { bytes: Buffer; asFloat: Float32Array } {
  // Truncate to bfloat16 (round toward zero) and keep the float32 values it stands for.
  const bits = new Uint32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  const bytes = Buffer.alloc(bits.length * 2);
  const asBits = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) { bytes.writeUInt16LE(bits[i] >>> 16, 2 * i); asBits[i] = bits[i] & 0xffff0000; }
  return { bytes, asFloat: new Float32Array(asBits.buffer) };
}
function safetensorsBytes(entries: Array<[string, string, number[], Buffer]>): Buffer {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, dtype, shape, b] of entries) { header[name] = { dtype, shape, data_offsets: [off, off + b.length] }; off += b.length; }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e[3])]);
}

const eps = sampleEpisodes({ seed: 11, frames: [60, 90, 45], patches: 8, dims: 32 });
const opts = { window: 4, maxClusterFrames: 30, threshold: 0.01, lambda: 1 };
const inputs = path.join(dir, 'in');
fs.mkdirSync(path.join(inputs, 'sub'), { recursive: true });
fs.writeFileSync(path.join(inputs, 'a.npy'), npyBytes('<f4', eps[0].features.shape, f32bytes(eps[0].features)));
const b16 = bf16(eps[2].features);
fs.writeFileSync(path.join(inputs, 'sub', 'run.safetensors'), safetensorsBytes([
  ['cam/left', 'F32', eps[1].features.shape, f32bytes(eps[1].features)],
  ['steps', 'F32', [2], Buffer.alloc(8)], // not rank 3: ignored
  ['right', 'BF16', eps[2].features.shape, b16.bytes],
]));
const expected: Record<string, { features: Tensor; file: string; tensor?: string }> = {
  a: { features: eps[0].features, file: path.join(inputs, 'a.npy') },
  'sub/run/cam_left': { features: eps[1].features, file: path.join(inputs, 'sub', 'run.safetensors'), tensor: 'cam/left' },
  'sub/run/right': { features: { data: b16.asFloat, shape: eps[2].features.shape }, file: path.join(inputs, 'sub', 'run.safetensors'), tensor: 'right' },
};

function checkEpisodeOutputs(out: string, name: string, features: Tensor) {
  const want = progressTargetsSync(features, opts);
  const d = path.join(out, ...name.split('/'));
  assert.equal(fs.readdirSync(d).sort(), ['plot.svg', 'result.json', 'segments.json', 'segments.npy', 'similarity.npy', 'values.npy'], name);
  const values = readNpy(path.join(d, 'values.npy'));
  assert.equal([values.dtype, values.shape], ['float32', [features.shape[0]]]);
  assert.equal(values.data, want.values, `${name} values bit-identical`);
  assert.equal(readNpy(path.join(d, 'similarity.npy')).data, want.similarity);
  const seg = readNpy(path.join(d, 'segments.npy'));
  assert.equal([seg.dtype, seg.shape], ['int32', [want.segments.length, 2]]);
  assert.equal(Array.from(seg.data), want.segments.flatMap((s) => [s.start, s.end]));
  assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'segments.json'), 'utf8')), want.segments);
  const result = JSON.parse(fs.readFileSync(path.join(d, 'result.json'), 'utf8'));
  assert.equal(result.shape, features.shape);
  assert.equal(result.segments, want.segments);
  assert.equal(result.options, { ...opts, segmenter: 'paper', threads: 0 });
  assert.equal(result.values.map(Math.fround), Array.from(want.values), 'JSON values round-trip float32 exactly');
  assert.equal(result.similarity.map(Math.fround), Array.from(want.similarity));
  const svg = fs.readFileSync(path.join(d, 'plot.svg'), 'utf8');
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.trimEnd().endsWith('</svg>'));
  assert.is((svg.match(/stroke-dasharray="4 3"/g) ?? []).length, want.segments.length - 1 + 1, 'one dashed line per boundary, plus the legend');
  assert.equal(result.boundaries, want.boundaries, 'each boundary with the rule that placed it');
  return { want, result };
}

function noTempFiles(d: string) {
  for (const e of fs.readdirSync(d, { withFileTypes: true, recursive: true })) assert.not.match(e.name, /\.tmp$/, `leftover ${e.name}`);
}

test('label: a folder of .npy and .safetensors episodes, outputs equal progressTargetsSync', () => {
  const out = path.join(dir, 'out-good');
  const r = cli(['label', inputs, '--out', out, '--window', '4', '--max-cluster-frames', '30', '--threshold', '0.01', '--lambda', '1']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '', 'no progress bar when stderr is not a terminal');
  for (const [name, e] of Object.entries(expected)) checkEpisodeOutputs(out, name, e.features);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.episodes.map((e: { episode: string }) => e.episode), ['a', 'sub/run/cam_left', 'sub/run/right']);
  assert.equal(summary.failures, []);
  for (const e of summary.episodes) {
    const want = progressTargetsSync(expected[e.episode].features, opts);
    assert.is(e.frames, want.values.length);
    assert.is(e.stages, want.segments.length);
    assert.ok(Math.abs(e.meanValue - want.values.reduce((a, b) => a + b, 0) / want.values.length) < 1e-9);
    assert.ok(e.ms >= 0);
  }
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.match(md, /\| episode +\| frames \| stages \| mean value \| time \(ms\) \|/);
  for (const line of md.split('\n').filter((l) => l.startsWith('| sub/run/right'))) assert.match(line, /\| +45 \|/);
  assert.match(r.stdout, /\| a +\| +60 \|/, 'table printed');
  assert.match(r.stdout, /3 episodes labelled; outputs in /);
  noTempFiles(out);
  // Labelling a folder that holds inputs and this earlier output: the outputs are not taken for episodes.
  const again = cli(['label', dir, '--out', path.join(dir, 'out-again'), '--window', '4', '--max-cluster-frames', '30', '--json']);
  assert.is(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).episodes.map((e: { episode: string }) => e.episode), ['in/a', 'in/sub/run/cam_left', 'in/sub/run/right']);
});

test('label: a bad file among good ones is skipped with one line; the rest are labelled; exit 1', () => {
  const mixed = path.join(dir, 'mixed');
  fs.mkdirSync(mixed);
  fs.copyFileSync(path.join(inputs, 'a.npy'), path.join(mixed, 'a.npy'));
  const good = fs.readFileSync(path.join(inputs, 'a.npy'));
  fs.writeFileSync(path.join(mixed, 'b-truncated.npy'), good.subarray(0, good.length - 3));
  fs.writeFileSync(path.join(mixed, 'c-float64.npy'), npyBytes('<f8', [2, 1, 1], Buffer.alloc(16)));
  fs.writeFileSync(path.join(mixed, 'd-rank2.npy'), npyBytes('<f4', [2, 2], Buffer.alloc(16)));
  const nan = new Float32Array(eps[0].features.data);
  nan[5 * 8 * 32 + 3] = NaN;
  fs.writeFileSync(path.join(mixed, 'e-nan.npy'), npyBytes('<f4', eps[0].features.shape, Buffer.from(nan.buffer)));
  fs.writeFileSync(path.join(mixed, 'f.safetensors'), safetensorsBytes([['x', 'I64', [1, 1, 1], Buffer.alloc(8)]]));
  fs.writeFileSync(path.join(mixed, 'notes.txt'), 'ignored');
  const out = path.join(dir, 'out-mixed');
  const r = cli(['label', mixed, '--out', out, '--window', '4', '--max-cluster-frames', '30', '--threshold', '0.01']);
  assert.is(r.code, 1);
  const lines = r.stderr.trimEnd().split('\n');
  assert.is(lines.length, 5, r.stderr);
  const expectLine = (file: string, re: RegExp) => {
    const l = lines.find((x) => x.includes(path.join(mixed, file)));
    assert.ok(l, `a line for ${file}`);
    assert.ok(l!.startsWith('feat2go label: skipped '), l);
    assert.match(l!, re);
  };
  expectLine('b-truncated.npy', /truncated data: shape \(60, 8, 32\) of float32 needs 61440 bytes but only 61437/);
  expectLine('c-float64.npy', /dtype '<f8' is not supported/);
  expectLine('d-rank2.npy', /expected a \[T,N,D\] \(rank-3\) array but its shape is \(2, 2\)/);
  expectLine('e-nan.npy', /frame 5 contains NaN or Inf/);
  expectLine('f.safetensors', /\[x\]: tensor 'x' has dtype I64/);
  checkEpisodeOutputs(out, 'a', eps[0].features);
  assert.equal(fs.readdirSync(out).sort(), ['a', 'summary.json', 'summary.md'], 'nothing written for skipped files');
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.is(summary.episodes.length, 1);
  assert.is(summary.failures.length, 5);
  assert.match(r.stdout, /1 episode labelled, 5 skipped/);
  noTempFiles(out);
});

test('label --json prints one parseable object; missing inputs are failures', () => {
  const out = path.join(dir, 'out-json');
  const r = cli(['label', path.join(inputs, 'a.npy'), path.join(dir, 'missing.npy'), '--out', out, '--json', '--window=4', '--max-cluster-frames=30', '--threshold=0.01', '--threads', '1']);
  assert.is(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.is(j.ok, false);
  assert.is(j.out, out);
  assert.equal(j.options, { ...opts, segmenter: 'paper', threads: 1 });
  assert.equal(j.episodes.map((e: { episode: string; frames: number }) => [e.episode, e.frames]), [['a', 60]]);
  assert.equal(j.failures, [{ file: path.join(dir, 'missing.npy'), reason: 'no such file or folder' }]);
  assert.is(r.stderr.trim(), `feat2go label: skipped ${path.join(dir, 'missing.npy')}: no such file or folder`);
});

test('label: the default segmenter; the cap warning on stderr and in result.json; a window over 50 is fine without a cap', () => {
  const out = path.join(dir, 'out-cap');
  const r = cli(['label', path.join(inputs, 'a.npy'), '--out', out, '--max-cluster-frames', '10', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).options.segmenter, 'motion');
  assert.match(r.stderr, /^feat2go label: warning: a: stages were cut by --max-cluster-frames, not by the data \(\d+ of \d+ boundaries\)$/m);
  const res = JSON.parse(fs.readFileSync(path.join(out, 'a', 'result.json'), 'utf8'));
  assert.ok(res.boundaries.length >= 5 && res.boundaries.every((b: { rule: string }) => b.rule === 'cap' || b.rule === 'onset' || b.rule === 'pause'));
  assert.ok(res.warnings.some((w: string) => w.startsWith('stages were cut by --max-cluster-frames')));
  const wide = cli(['label', path.join(inputs, 'a.npy'), '--out', path.join(dir, 'out-wide'), '--window', '60', '--json']);
  assert.is(wide.code, 0, wide.stderr);
  assert.equal(JSON.parse(wide.stdout).options, { segmenter: 'motion', lambda: 1, window: 60, maxClusterFrames: 0, threads: 0 });
});

test('--help documents every option; bad command lines exit 2 with a clear message', () => {
  const h = cli(['--help']);
  assert.is(h.code, 0);
  assert.match(h.stdout, /Usage: feat2go <command>/);
  assert.match(h.stdout, /label +Label episode/);
  const lh = cli(['label', '--help']);
  assert.is(lh.code, 0);
  for (const o of ['--out DIR', '--segmenter motion|paper', '--window N', '--max-cluster-frames N', '--threshold X', '--lambda X', '--threads N', '--json', '--help']) {
    assert.ok(lh.stdout.includes(o), `label --help mentions ${o}`);
  }
  const bad: Array<[string[], RegExp]> = [
    [['label', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['label', 'x', '--window', '1'], /--window expects an integer ≥ 2 but received '1'/],
    [['label', 'x', '--window', '4.5'], /--window expects an integer ≥ 2 but received '4.5'/],
    [['label', 'x', '--window', '9007199254740993'], /--window expects a safe integer ≥ 2 \(at most 2\^53 − 1 = 9007199254740991\) but received '9007199254740993'/],
    [['label', 'x', '--threshold', 'abc'], /--threshold expects a finite number but received 'abc'/],
    [['label', 'x', '--lambda=-1'], /--lambda expects a finite number ≥ 0 but received '-1'/],
    [['label', 'x', '--segmenter', 'paper', '--window', '60'], /--max-cluster-frames expects an integer ≥ the window \(60\), or 0 for no cap but received '50'/],
    [['label', 'x', '--threshold', '0.01', '--window', '60'], /--max-cluster-frames expects an integer ≥ the window \(60\), or 0 for no cap but received '50'/],
    [['label', 'x', '--max-cluster-frames', '3'], /--max-cluster-frames expects an integer ≥ the window \(5\), or 0 for no cap but received '3'/],
    [['label', 'x', '--segmenter', 'trend'], /--segmenter expects motion or paper but received 'trend'/],
    [['label', 'x', '--segmenter', 'motion', '--threshold', '0.01'], /--threshold applies to --segmenter paper only/],
    [['label', 'x', '--threads', '-2'], /argument is ambiguous|--threads expects/],
    [['label'], /missing <file\|folder>/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['label', 'x', '--window'], /argument missing/],
  ];
  for (const [args, re] of bad) {
    const r = cli(args);
    assert.is(r.code, 2, `${args.join(' ')} → exit 2 (got ${r.code}: ${r.stderr})`);
    assert.match(r.stderr, re);
    assert.is(r.stdout, '');
  }
  const none = cli([]);
  assert.is(none.code, 2);
  assert.match(none.stderr, /Usage: feat2go/);
});

test('labelPaths rejects bad options before reading or writing anything', async () => {
  const out = path.join(dir, 'never');
  for (const [o, re] of [
    [{ out, window: 1 }, /opts\.window/],
    [{ out, window: 6, maxClusterFrames: 5 }, /opts\.maxClusterFrames/],
    [{ out, lambda: -1 }, /opts\.lambda/],
  ] as const) {
    await labelPaths([inputs], o).then(() => assert.unreachable('should reject'), (e: Error) => assert.match(e.message, re));
  }
  await labelPaths([inputs], { out: '' } as never).then(() => assert.unreachable('should reject'), (e: Error) => assert.instance(e, TypeError));
  assert.not.ok(fs.existsSync(out));
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
