// Bad LeRobot inputs: each gives an error naming the file and the episode,
// the other episodes are still labelled, and `feat2go label` exits 1. One
// v2.1 dataset carries one fault per episode (a missing video, a video
// shorter than its episode, a video at another frame rate, a duplicate
// index, a missing index, a truncated data file); v3.0 copies carry a
// truncated shared data file and a template naming files that do not
// exist; then a missing info.json and an unknown camera.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { labelPaths, openLeRobot, patchStatsEncoder, type LabelFailure } from '../../src/index.js';
import { inspectCommand, labelCommand, runCommand } from '../../src/cli/index.js';
import { captureIO } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';
import { eachDecoder } from '../helpers/decoders.js';
import { makeLeRobotDataset, type FixtureInfo, videoFixturesUnavailable } from '../fixtures/lerobot.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-lerobot-bad-'));
const CAM = 'observation.images.top';
const args = ['--encoder', 'builtin', '--grid', '4', '--window', '3', '--max-cluster-frames', '4'];
let broken: FixtureInfo;
let v3: FixtureInfo;

/** A copy of a dataset folder whose files are hard links (edits must replace files, not write into them). */
function linkCopy(src: string, dst: string): void {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isDirectory()) { fs.mkdirSync(d, { recursive: true }); linkCopy(s, d); } else { fs.mkdirSync(dst, { recursive: true }); fs.linkSync(s, d); }
  }
}

function replace(file: string, data: string | Uint8Array): void {
  fs.rmSync(file);
  fs.writeFileSync(file, data);
}

const unavailable = videoFixturesUnavailable();
const test = testIf(unavailable === undefined, unavailable ?? '');
const decoderBase = { cond: unavailable === undefined, reason: unavailable ?? '' };

uvuTest.before(async () => {
  if (unavailable) return;
  broken = await makeLeRobotDataset(path.join(dir, 'broken'), {
    version: 'v2.1', lengths: [5, 4, 6, 5, 4, 4, 5, 4], cameras: [{ key: CAM, codec: 'h264', salt: 0 }],
    videoFrames: { 2: 3 }, videoFps: { 3: 25 },
  });
  const root = broken.root;
  fs.rmSync(broken.videos[CAM][1].file); // episode 1: the template names a video that is not there
  const eps = path.join(root, 'meta', 'episodes.jsonl');
  const lines = fs.readFileSync(eps, 'utf8').trim().split('\n');
  lines.push(lines[4]); // episode 4 listed twice
  lines.splice(5, 1); // episode 5 not listed (a gap)
  replace(eps, `${lines.join('\n')}\n`);
  const d6 = broken.dataFiles[6];
  replace(d6, fs.readFileSync(d6).subarray(0, 200)); // episode 6: truncated data file
  v3 = await makeLeRobotDataset(path.join(dir, 'v3'), {
    version: 'v3.0', lengths: [4, 5, 3, 4], cameras: [{ key: CAM, codec: 'h264', salt: 0 }, { key: 'observation.images.wrist', codec: 'h264', salt: 1 }],
    dataFiles: [[0, 1], [2, 3]],
  });
});

const byEpisode = (fs2: LabelFailure[]) => new Map(fs2.filter((f) => f.episode !== undefined).map((f) => [f.episode!, f]));

eachDecoder(decoderBase, 'v2.1 with one fault per episode: each failure names the file and the episode; episodes 0 and 7 are labelled; exit 1', async () => {
  const out = path.join(dir, 'labels');
  const { out: o, io } = captureIO();
  const code = await runCommand(labelCommand, [broken.root, ...args, '--out', out, '--json'], io);
  assert.is(code, 1);
  const r = JSON.parse(o.stdout);
  assert.equal(r.episodes.map((e: { episode: string }) => e.episode), ['episode_000000', 'episode_000007']);
  const f = byEpisode(r.failures);
  assert.equal([...f.keys()].sort(), [1, 2, 3, 4, 5, 6]);
  const meta = path.join(broken.root, 'meta', 'episodes.jsonl');
  const expect: Array<[number, string, RegExp]> = [
    [1, broken.videos[CAM][1].file, /video file missing \(named by video_path 'videos\/chunk-\{episode_chunk:03d\}\/\{video_key\}\/episode_\{episode_index:06d\}\.mp4'\)/],
    [2, broken.videos[CAM][2].file, /the video is shorter than the episode: its last frame is at 0\.0666\d* s, but 3 of the 6 frames asked for lie at 0\.1\d* s to 0\.1666\d* s/],
    [3, broken.videos[CAM][3].file, /the video runs at 25 fps but meta\/info\.json says fps 30/],
    [4, meta, /episode_index 4 is listed 2 times \(.*episodes\.jsonl:5, .*episodes\.jsonl:8\)/],
    [5, meta, /episode 5 is not listed in the metadata \(the indices have a gap\)/],
    [6, broken.dataFiles[6], /cannot read parquet file: .*\(corrupt or truncated file\?\)/],
  ];
  for (const [e, file, re] of expect) {
    assert.is(f.get(e)!.file, file, `episode ${e} file`);
    assert.match(f.get(e)!.reason, re, `episode ${e}`);
  }
  // One stderr line per failure, each naming the file and the episode.
  for (const [e, file] of expect) assert.ok(o.stderr.includes(`skipped ${file} [episode ${e}]: `), `stderr for episode ${e}:\n${o.stderr}`);
  // inspect lists the faults it can see without decoding (missing file, duplicate, gap) and exits 1.
  const i = captureIO();
  assert.is(await runCommand(inspectCommand, [broken.root, '--no-probe'], i.io), 1);
  assert.match(i.out.stdout, /problems\s+3 \(these episodes cannot be read\)/);
  assert.match(i.out.stdout, /\[episode 1, observation\.images\.top\]: video file missing/);
});

test('v3.0: a truncated shared data file fails both its episodes (file and episode named), the others are labelled', async () => {
  const root = path.join(dir, 'v3-cut');
  linkCopy(v3.root, root);
  const data = path.join(root, 'data', 'chunk-000', 'file-001.parquet');
  replace(data, fs.readFileSync(data).subarray(0, fs.statSync(data).size - 50));
  const r = await labelPaths([root], { out: path.join(dir, 'labels-cut'), encoder: patchStatsEncoder({ grid: 4 }), camera: CAM, window: 3, maxClusterFrames: 4 });
  assert.equal(r.episodes.map((e) => e.episodeIndex), [0, 1]);
  assert.equal(r.failures.map((x) => [x.file, x.episode]), [[data, 2], [data, 3]]);
  assert.match(r.failures[0].reason, /cannot read parquet file/);
});

test('v3.0: a video template naming files that do not exist: every episode fails naming the missing file', async () => {
  const root = path.join(dir, 'v3-template');
  linkCopy(v3.root, root);
  const infoFile = path.join(root, 'meta', 'info.json');
  const info = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
  info.video_path = 'videos/chunk-{chunk_index:03d}/{video_key}/episode_{episode_index:06d}.mp4';
  replace(infoFile, JSON.stringify(info, null, 4));
  const r = await labelPaths([root], { out: path.join(dir, 'labels-tpl'), encoder: patchStatsEncoder({ grid: 4 }), camera: CAM });
  assert.equal(r.episodes, []);
  assert.equal(r.failures.map((x) => [path.relative(root, x.file), x.episode]), [0, 1, 2, 3].map((e) => [`videos/chunk-000/${CAM}/episode_00000${e}.mp4`, e]));
  assert.ok(r.failures.every((x) => /video file missing/.test(x.reason)));
});

test('a missing info.json, an unknown camera, several cameras without --camera, a bad --episodes', async () => {
  const root = path.join(dir, 'v3-noinfo');
  linkCopy(v3.root, root);
  fs.rmSync(path.join(root, 'meta', 'info.json'));
  const a = captureIO();
  assert.is(await runCommand(labelCommand, [root, ...args, '--camera', CAM, '--out', path.join(dir, 'l1')], a.io), 1);
  assert.match(a.out.stderr, new RegExp(`skipped ${path.join(root, 'meta', 'info.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: missing: the folder has LeRobot metadata but no meta/info\\.json`));
  await openLeRobot(root).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /info\.json: missing/));
  const b = captureIO();
  assert.is(await runCommand(labelCommand, [v3.root, ...args, '--camera', 'observation.images.side', '--out', path.join(dir, 'l2')], b.io), 1);
  assert.match(b.out.stderr, /info\.json: no camera 'observation\.images\.side': the cameras are observation\.images\.top, observation\.images\.wrist/);
  const c = captureIO();
  assert.is(await runCommand(labelCommand, [v3.root, ...args, '--out', path.join(dir, 'l3')], c.io), 2);
  assert.match(c.out.stderr, /has 2 cameras; pick one with --camera: observation\.images\.top, observation\.images\.wrist/);
  const d = captureIO();
  assert.is(await runCommand(labelCommand, [v3.root, ...args, '--camera', CAM, '--episodes', '3-1', '--out', path.join(dir, 'l4')], d.io), 2);
  assert.match(d.out.stderr, /--episodes expects episode indices such as 0,3-7 but received '3-1'/);
  const e = captureIO();
  assert.is(await runCommand(labelCommand, [v3.root, ...args, '--camera', CAM, '--episodes', '9', '--out', path.join(dir, 'l5')], e.io), 1);
  assert.match(e.out.stderr, /\[episode 9\]: episode 9 is not in the dataset \(it lists 4 episodes, 0…3\)/);
  const f = captureIO();
  assert.is(await runCommand(labelCommand, [v3.root, ...args, '--camera', CAM, '--write-lerobot', v3.root, '--out', path.join(dir, 'l6')], f.io), 2);
  assert.match(f.out.stderr, /outside the dataset for --write-lerobot/);
  const g = captureIO();
  assert.is(await runCommand(labelCommand, [v3.root, '--camera', CAM, '--out', path.join(dir, 'l7')], g.io), 2);
  assert.match(g.out.stderr, /--camera needs --encoder/);
});

uvuTest.after(() => fs.rmSync(dir, { recursive: true, force: true }));
uvuTest.run();
