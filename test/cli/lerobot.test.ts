// LeRobot datasets end to end, on small datasets built here (v2.1 and v3.0,
// two cameras, AV1 and H.264 with B-frames, episodes spread over several
// data and video files, a v3.0 port that keeps v2 path templates, an image
// feature): every decoded frame is checked against the index it encodes;
// `feat2go label --write-lerobot` output is read back by DuckDB and
// compared row by row with the input and with the label files; `encode`
// and `inspect` through the command line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import {
  labelPaths, openLeRobot, patchStatsEncoder, progressTargetsSync, readNpy, encodeFrames, type LeRobotDataset, type Tensor,
} from '../../src/index.js';
import { encodeCommand, inspectCommand, labelCommand, runCommand } from '../../src/cli/index.js';
import { captureIO } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';
import { eachDecoder } from '../helpers/decoders.js';
import { decodeFrameCode, duckdb, makeLeRobotDataset, readFrameCode, type FixtureInfo, videoFixturesUnavailable } from '../fixtures/lerobot.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-lerobot-'));
const TOP = 'observation.images.top';
const WRIST = 'observation.images.wrist';
const SALT = { top: 0, wrist: 0xa5a5, img: 0x5a5a };
const opts = { window: 3, maxClusterFrames: 4, threshold: 0.002, lambda: 1 };
const optArgs = ['--window', '3', '--max-cluster-frames', '4', '--threshold', '0.002', '--grid', '4'];
let v3: FixtureInfo;
let v2: FixtureInfo;
let port: FixtureInfo;

const unavailable = videoFixturesUnavailable();
const test = testIf(unavailable === undefined, unavailable ?? '');
const decoderBase = { cond: unavailable === undefined, reason: unavailable ?? '' };

uvuTest.before(async () => {
  if (unavailable) return;
  // v3.0: 4 episodes over 2 data files; each camera's video files split at other episodes.
  v3 = await makeLeRobotDataset(path.join(dir, 'v3'), {
    version: 'v3.0', lengths: [5, 7, 4, 6],
    cameras: [{ key: TOP, codec: 'av1', salt: SALT.top }, { key: WRIST, codec: 'h264', salt: SALT.wrist }],
    dataFiles: [[0, 1], [2, 3]], videoFiles: { [TOP]: [[0, 1, 2], [3]], [WRIST]: [[0], [1, 2, 3]] },
  });
  // v2.1: a video camera (H.264) and an image feature.
  v2 = await makeLeRobotDataset(path.join(dir, 'v2'), {
    version: 'v2.1', lengths: [6, 4, 7],
    cameras: [{ key: TOP, codec: 'h264', salt: SALT.top }, { key: WRIST, codec: 'image', salt: SALT.img }],
  });
  // A v3.0 port that keeps v2 templates ({episode_chunk}, {episode_index}): one file per episode.
  port = await makeLeRobotDataset(path.join(dir, 'port'), {
    version: 'v3.0', lengths: [3, 5], cameras: [{ key: TOP, codec: 'av1', salt: SALT.top }],
    dataFiles: [[0], [1]], videoFiles: { [TOP]: [[0], [1]] },
    dataPath: 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet',
    videoPath: 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4',
  });
});

/** Reads the (episode, frame) codes of a chunk's frames. */
function codes(chunk: { data: Uint8Array; count: number; width: number; height: number }, salt: number): string[] {
  const fb = chunk.width * chunk.height * 3;
  return Array.from({ length: chunk.count }, (_, i) => {
    const d = decodeFrameCode(readFrameCode(chunk.data, chunk.width, chunk.height, i * fb), salt);
    return `${d.episode}:${d.frame}`;
  });
}

async function allCodes(ds: LeRobotDataset, e: number, cam: string, salt: number, chunkFrames: number): Promise<string[]> {
  const src = await ds.frames(e, cam);
  const out: string[] = [];
  let next = 0;
  for await (const c of src.chunks({ chunkFrames })) {
    assert.is(c.start, next, 'chunks in order');
    next += c.count;
    out.push(...codes(c, salt));
  }
  assert.is(out.length, src.length);
  return out;
}

const expected = (e: number, n: number) => Array.from({ length: n }, (_, f) => `${e}:${f}`);

eachDecoder(decoderBase, 'v3.0: layout told by the files; every frame of every episode and camera is the right one (AV1, H.264 with B-frames, shared files, chunk boundaries)', async () => {
  const ds = await openLeRobot(v3.root);
  assert.is(ds.layout, 'v3');
  assert.is(ds.version, 'v3.0');
  assert.equal(ds.cameras.map((c) => `${c.key}:${c.kind}:${c.codec}`), [`${TOP}:video:av1`, `${WRIST}:video:h264`]);
  assert.equal(ds.episodes.map((e) => [e.index, e.length, e.task]), [[0, 5, 'pick up the cube'], [1, 7, 'put the cube in the bowl'], [2, 4, 'pick up the cube'], [3, 6, 'put the cube in the bowl']]);
  assert.equal(ds.problems, []);
  assert.equal(ds.warnings, []);
  // Episode 2 starts 12 frames into the shared top video; episode 1 starts at 0 s in the second wrist file.
  assert.equal([ds.episode(2).videos[TOP].from, ds.episode(1).videos[WRIST].from, ds.episode(3).videos[WRIST].from], [12 / 30, 0, 11 / 30]);
  // Camera by camera, episodes in order: consecutive episodes of a shared file go on in one ffmpeg run.
  for (const [cam, salt, chunk] of [[TOP, SALT.top, 3], [WRIST, SALT.wrist, 4]] as const) {
    for (const e of ds.episodes) assert.equal(await allCodes(ds, e.index, cam, salt, chunk), expected(e.index, e.length), `${cam} ${e.index}`);
  }
  // Skipping an episode of a shared file (1 then 3), going back (3 then 2), and the other camera in between.
  for (const [e, cam, salt] of [[1, WRIST, SALT.wrist], [3, WRIST, SALT.wrist], [2, WRIST, SALT.wrist], [0, TOP, SALT.top], [2, TOP, SALT.top]] as const) {
    assert.equal(await allCodes(ds, e, cam, salt, 5), expected(e, ds.episode(e).length), `${cam} ${e} (out of order)`);
  }
  // Random access at the ends of episodes that meet inside a shared file, and a range across a chunk size.
  const top2 = await ds.frames(2, TOP);
  assert.equal(codes(await top2.frame(0), SALT.top), ['2:0']);
  assert.equal(codes(await top2.frame(3), SALT.top), ['2:3']);
  const top1 = await ds.frames(1, TOP);
  assert.equal(codes(await top1.frame(6), SALT.top), ['1:6']);
  const got: string[] = [];
  for await (const c of top1.range(2, 4, { chunkFrames: 3 })) { assert.is(c.start, 2 + got.length); got.push(...codes(c, SALT.top)); }
  assert.equal(got, ['1:2', '1:3', '1:4', '1:5']);
  // Resized on the way (ffmpeg scales): the code is still readable.
  const small = await top1.frame(5, { size: 32 });
  assert.equal([small.width, small.height, codes(small, SALT.top)[0]], [32, 32, '1:5']);
  assert.equal(Array.from(top1.times, (t) => Math.round(t * 30)), [5, 6, 7, 8, 9, 10, 11]);
  const rows = await ds.rows(3);
  assert.equal(Array.from(rows.rows), [4, 5, 6, 7, 8, 9]);
  assert.throws(() => ds.episode(9), RangeError);
  await ds.frames(0, 'nope').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, new RegExp(`no camera 'nope': the cameras are ${TOP}, ${WRIST}`)));
  await ds.frames(0).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /which has 2: observation.images.top, observation.images.wrist/));
});

eachDecoder(decoderBase, 'v2.1 (a file per episode) with an image feature, and a v3.0 port with v2 templates: every frame right', async () => {
  const ds = await openLeRobot(v2.root);
  assert.is(ds.layout, 'v2');
  for (const e of ds.episodes) {
    assert.equal(await allCodes(ds, e.index, TOP, SALT.top, 2), expected(e.index, e.length), `video ${e.index}`);
    assert.equal(await allCodes(ds, e.index, WRIST, SALT.img, 3), expected(e.index, e.length), `image ${e.index}`);
  }
  const img = await ds.frames(2, WRIST);
  assert.is(img.kind, 'images');
  assert.equal(codes(await img.frame(6), SALT.img), ['2:6']);
  // --shard over episodes: shard 1 of 2 takes every second episode by name.
  const sharded = await labelPaths([v2.root], { out: path.join(dir, 'labels-shard'), encoder: patchStatsEncoder({ grid: 4 }), camera: WRIST, shard: { index: 1, count: 2 }, window: 3, maxClusterFrames: 4 });
  assert.equal(sharded.episodes.map((e) => e.episode), ['episode_000001']);
  assert.ok(fs.existsSync(path.join(dir, 'labels-shard', 'shard-1-of-2.json')));
  const p = await openLeRobot(port.root);
  assert.is(p.layout, 'v3');
  assert.equal(p.episodes.map((e) => path.relative(port.root, e.dataFile)), ['data/chunk-000/episode_000000.parquet', 'data/chunk-000/episode_000001.parquet']);
  for (const e of p.episodes) assert.equal(await allCodes(p, e.index, TOP, SALT.top, 8), expected(e.index, e.length));
});

/** Rows of a parquet glob ordered by `index`, as DuckDB reads them. */
async function duckRows(glob: string, exclude: string[] = []): Promise<Array<Record<string, unknown>>> {
  const con = await duckdb();
  const ex = exclude.length ? ` EXCLUDE (${exclude.map((c) => `"${c}"`).join(', ')})` : '';
  return (await con.runAndReadAll(`SELECT *${ex} FROM read_parquet('${glob}', union_by_name = true) ORDER BY "index"`)).getRowObjectsJson() as Array<Record<string, unknown>>;
}

const OURS = ['feat2go.progress', 'feat2go.stage', 'feat2go.similarity'];

/** Checks a written-back dataset against its input and the label outputs, row by row. */
async function checkWriteBack(root: string, out: string, labels: string, labelled: number[]): Promise<void> {
  const before = await duckRows(path.join(root, 'data', '*', '*.parquet'));
  const after = await duckRows(path.join(out, 'data', '*', '*.parquet'));
  const kept = await duckRows(path.join(out, 'data', '*', '*.parquet'), OURS);
  assert.is(after.length, before.length);
  assert.equal(kept, before, 'every original column and row unchanged');
  const pos = new Map<number, number>();
  for (const r of after) {
    const e = Number(r.episode_index);
    const k = pos.get(e) ?? 0;
    pos.set(e, k + 1);
    if (!labelled.includes(e)) {
      assert.equal([r['feat2go.progress'], r['feat2go.stage'], r['feat2go.similarity']], [null, null, null], `episode ${e} unlabelled`);
      continue;
    }
    const d = path.join(labels, `episode_${String(e).padStart(6, '0')}`);
    const values = readNpy(path.join(d, 'values.npy')).data as Float32Array;
    const sim = readNpy(path.join(d, 'similarity.npy')).data as Float32Array;
    const segments = JSON.parse(fs.readFileSync(path.join(d, 'segments.json'), 'utf8')) as Array<{ start: number; end: number }>;
    assert.is(Number(r.frame_index), k);
    assert.is(r['feat2go.progress'], values[k], `progress e${e} f${k}`);
    assert.is(r['feat2go.similarity'], sim[k]);
    assert.is(Number(r['feat2go.stage']), segments.findIndex((s) => s.start <= k && k <= s.end));
  }
  // info.json: the three features declared like timestamp, everything else as it was.
  const infoIn = JSON.parse(fs.readFileSync(path.join(root, 'meta', 'info.json'), 'utf8'));
  const infoOut = JSON.parse(fs.readFileSync(path.join(out, 'meta', 'info.json'), 'utf8'));
  const { [OURS[0]]: p, [OURS[1]]: s, [OURS[2]]: m, ...restFeatures } = infoOut.features;
  assert.equal({ ...infoOut, features: restFeatures }, infoIn);
  const { dtype: _d, ...tsRest } = infoIn.features.timestamp;
  assert.equal([p, s, m], [{ ...tsRest, dtype: 'float32' }, { ...tsRest, dtype: 'int64' }, { ...tsRest, dtype: 'float32' }]);
  // stats.json: min, max, mean, std (population), count over the labelled frames.
  const statsOut = JSON.parse(fs.readFileSync(path.join(out, 'meta', 'stats.json'), 'utf8'));
  const statsIn = JSON.parse(fs.readFileSync(path.join(root, 'meta', 'stats.json'), 'utf8'));
  for (const k of Object.keys(statsIn)) assert.equal(statsOut[k], statsIn[k]);
  const vals = after.filter((r) => labelled.includes(Number(r.episode_index))).map((r) => Number(r['feat2go.progress']));
  const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
  const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
  const ps = statsOut['feat2go.progress'];
  assert.equal([ps.min[0], ps.max[0], ps.count[0]], [Math.min(...vals), Math.max(...vals), vals.length]);
  assert.ok(Math.abs(ps.mean[0] - mean) < 1e-12 && Math.abs(ps.std[0] - std) < 1e-12, `${ps.mean} ${mean} ${ps.std} ${std}`);
  // Videos are hard links to the originals (same file), never re-encoded.
  const vids: string[] = [];
  const walk = (d: string) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const q = path.join(d, e.name); if (e.isDirectory()) walk(q); else if (q.endsWith('.mp4')) vids.push(q); } };
  walk(path.join(root, 'videos'));
  assert.ok(vids.length > 0);
  for (const v of vids) assert.is(fs.statSync(path.join(out, path.relative(root, v))).ino, fs.statSync(v).ino, v);
  // The Arrow schema pyarrow reads still matches the columns (original types plus the new ones).
  const { readParquetInfo } = await import('../../src/io/parquet.js');
  const f = path.join(out, 'data', 'chunk-000', fs.readdirSync(path.join(out, 'data', 'chunk-000'))[0]);
  const info = await readParquetInfo(f);
  const schema = arrow.tableFromIPC(Buffer.concat([Buffer.from(info.keyValue['ARROW:schema'], 'base64'), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0])])).schema;
  assert.equal(schema.fields.map((x) => x.name), info.columns);
  assert.equal(schema.fields.slice(-3).map((x) => String(x.type)), ['Float32', 'Int64', 'Float32']);
}

test('label v3.0 --write-lerobot: outputs episode_NNNNNN with tasks; DuckDB reads the new dataset row by row; per-episode stats columns; relabelling replaces it', async () => {
  const labels = path.join(dir, 'labels-v3');
  const out = path.join(dir, 'v3-feat2go');
  const { out: o, io } = captureIO();
  const code = await runCommand(labelCommand, [v3.root, '--encoder', 'builtin', '--camera', WRIST, '--episodes', '0-1,3', '--out', labels, '--write-lerobot', out, ...optArgs], io);
  assert.is(code, 0, o.stderr);
  assert.match(o.stdout, /3 episodes labelled/);
  assert.match(o.stdout, /written to .*v3-feat2go: 3 episodes labelled, 1 without labels \(null\); 2 data files rewritten/);
  assert.equal(fs.readdirSync(labels).sort(), ['episode_000000', 'episode_000001', 'episode_000003', 'summary.json', 'summary.md']);
  const result = JSON.parse(fs.readFileSync(path.join(labels, 'episode_000003', 'result.json'), 'utf8'));
  assert.equal([result.task, result.tasks, result.episodeIndex, result.camera, result.frames], ['put the cube in the bowl', ['put the cube in the bowl'], 3, WRIST, 6]);
  // The labels are progressTargets of the frames' features (encoded here through the API).
  const ds = await openLeRobot(v3.root);
  const feats = await encodeFrames(await ds.frames(1, WRIST), patchStatsEncoder({ grid: 4 }));
  assert.equal(readNpy(path.join(labels, 'episode_000001', 'values.npy')).data, progressTargetsSync(feats as Tensor, opts).values);
  await checkWriteBack(v3.root, out, labels, [0, 1, 3]);
  // Per-episode stats columns in meta/episodes, typed like timestamp's and frame_index's; null for episode 2.
  const con = await duckdb();
  const ep = (await con.runAndReadAll(`SELECT episode_index, "stats/feat2go.progress/min" AS pmin, "stats/feat2go.progress/max" AS pmax, "stats/feat2go.stage/max" AS smax, "stats/feat2go.similarity/count" AS n, "stats/timestamp/max" AS tmax FROM '${path.join(out, 'meta', 'episodes', '*', '*.parquet')}' ORDER BY episode_index`)).getRowObjectsJson();
  const v1 = readNpy(path.join(labels, 'episode_000001', 'values.npy')).data as Float32Array;
  assert.equal(ep[1], { episode_index: '1', pmin: [Math.min(...v1)], pmax: [Math.max(...v1)], smax: [String(JSON.parse(fs.readFileSync(path.join(labels, 'episode_000001', 'segments.json'), 'utf8')).length - 1)], n: ['7'], tmax: [0.2] });
  assert.equal([ep[2].pmin, ep[2].n], [null, null]);
  const origEp = (await con.runAndReadAll(`SELECT * FROM '${path.join(v3.root, 'meta', 'episodes', '*', '*.parquet')}' ORDER BY episode_index`)).getRowObjectsJson();
  const keptEp = (await con.runAndReadAll(`SELECT COLUMNS(c -> NOT starts_with(c, 'stats/feat2go')) FROM '${path.join(out, 'meta', 'episodes', '*', '*.parquet')}' ORDER BY episode_index`)).getRowObjectsJson();
  assert.equal(keptEp, origEp);
  // The written dataset is itself a LeRobot dataset feat2go reads; labelling it again replaces its feat2go columns.
  const back = await openLeRobot(out);
  assert.equal([back.layout, back.episodes.length, back.problems], ['v3', 4, []]);
  const again = await labelPaths([out], { ...opts, out: path.join(dir, 'labels-v3b'), encoder: patchStatsEncoder({ grid: 4 }), camera: WRIST, episodes: [2], writeLeRobot: path.join(dir, 'v3-feat2go-b') });
  assert.equal([again.episodes.length, again.failures, again.lerobot?.labelled, again.lerobot?.unlabelled], [1, [], [2], [0, 1, 3]]);
  const cols = (await con.runAndReadAll(`DESCRIBE SELECT * FROM '${path.join(dir, 'v3-feat2go-b', 'data', 'chunk-000', 'file-001.parquet')}'`)).getRowObjectsJson().map((r) => r.column_name);
  assert.equal(cols.filter((c) => String(c).startsWith('feat2go')), OURS, 'one set of feat2go columns');
  // Writing over a folder that is not an earlier output is refused, leaving it as it was.
  const other = path.join(dir, 'not-ours');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'keep.txt'), 'x');
  const refused = await labelPaths([v3.root], { ...opts, out: path.join(dir, 'labels-v3c'), encoder: patchStatsEncoder({ grid: 4 }), camera: WRIST, episodes: [2], writeLeRobot: other })
    .then(() => undefined, (e: Error) => e);
  assert.instance(refused, RangeError);
  assert.match(refused!.message, /opts\.writeLeRobot .*holds other files \(only an earlier feat2go output is replaced\)/);
  assert.not.ok(fs.existsSync(path.join(dir, 'labels-v3c', 'episode_000002')), 'refused before labelling');
  await labelPaths([v3.root], { ...opts, out: path.join(dir, 'labels-v3c'), encoder: patchStatsEncoder({ grid: 4 }), writeLeRobot: path.join(v3.root, 'sub') })
    .then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /outside the dataset/));
  assert.equal(fs.readdirSync(other), ['keep.txt']);
  assert.equal(fs.readdirSync(dir).filter((n) => n.includes('.tmp')), [], 'no temporary folder left');
});

test('label v2.1 --write-lerobot from the image feature: episodes_stats.jsonl and stats.json gain the features; DuckDB row by row', async () => {
  const labels = path.join(dir, 'labels-v2');
  const out = path.join(dir, 'v2-feat2go');
  const r = await labelPaths([v2.root], { ...opts, out: labels, encoder: patchStatsEncoder({ grid: 4 }), camera: WRIST, writeLeRobot: out });
  assert.equal([r.episodes.map((e) => e.episode), r.failures], [['episode_000000', 'episode_000001', 'episode_000002'], []]);
  await checkWriteBack(v2.root, out, labels, [0, 1, 2]);
  const linesIn = fs.readFileSync(path.join(v2.root, 'meta', 'episodes_stats.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const linesOut = fs.readFileSync(path.join(out, 'meta', 'episodes_stats.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (let e = 0; e < 3; e++) {
    const { [OURS[0]]: p, [OURS[1]]: s, [OURS[2]]: m, ...rest } = linesOut[e].stats;
    assert.equal(rest, linesIn[e].stats);
    const v = readNpy(path.join(labels, `episode_00000${e}`, 'values.npy')).data as Float32Array;
    assert.equal([p.min, p.max, p.count, s.min, m.count], [[Math.min(...v)], [Math.max(...v)], [v.length], [0], [v.length]]);
  }
  // The text of the original lines is kept: only the new members are appended.
  const rawIn = fs.readFileSync(path.join(v2.root, 'meta', 'episodes_stats.jsonl'), 'utf8').split('\n')[0];
  assert.ok(fs.readFileSync(path.join(out, 'meta', 'episodes_stats.jsonl'), 'utf8').startsWith(rawIn.slice(0, -2)));
  assert.equal(fs.readdirSync(path.join(out, 'meta')).sort(), fs.readdirSync(path.join(v2.root, 'meta')).sort());
});

test('encode: a LeRobot root → OUT/episode_NNNNNN.npy for the chosen episodes; inspect describes the datasets', async () => {
  const feats = path.join(dir, 'feats');
  const { out: o, io } = captureIO();
  assert.is(await runCommand(encodeCommand, [v3.root, '--camera', TOP, '--episodes', '1,3', '--grid', '4', '--out', feats], io), 0, o.stderr);
  assert.equal(fs.readdirSync(feats).sort(), ['episode_000001.npy', 'episode_000003.npy']);
  assert.equal(readNpy(path.join(feats, 'episode_000003.npy')).shape, [6, 16, 14]);
  const c2 = captureIO();
  assert.is(await runCommand(encodeCommand, [v3.root, '--out', feats], c2.io), 2);
  assert.match(c2.out.stderr, /has 2 cameras; pick one with --camera: observation\.images\.top, observation\.images\.wrist/);
  const i1 = captureIO();
  assert.is(await runCommand(inspectCommand, [v3.root], i1.io), 0, i1.out.stderr);
  for (const re of [/version\s+v3\.0 \(files in the v3\.0 layout/, /fps\s+30\s+robot so100/, /episodes\s+4 \(0…3\)/, /frames\s+22\n/, /observation\.images\.top\s+video 64×64×3 av1 — first video: av1 64×64 at 30 fps/, /observation\.images\.wrist\s+video 64×64×3 h264 — first video: h264/, /0\s+"pick up the cube" \(2 episodes\)/]) {
    assert.match(i1.out.stdout, re);
  }
  const i2 = captureIO();
  assert.is(await runCommand(inspectCommand, [v2.root, '--json', '--no-probe'], i2.io), 0);
  const j = JSON.parse(i2.out.stdout);
  assert.equal([j.version, j.layout, j.fps, j.cameras.map((c: { key: string; kind: string }) => `${c.key}:${c.kind}`), j.episodes, j.frames, j.tasks.length, j.problems],
    ['v2.1', 'v2', 30, [`${TOP}:video`, `${WRIST}:image`], { listed: 3, infoTotal: 3, first: 0, last: 2 }, { listed: 17, infoTotal: 17 }, 2, []]);
});

uvuTest.after(() => fs.rmSync(dir, { recursive: true, force: true }));
uvuTest.run();
