// `feat2go view`'s server without a browser: what label records about each
// episode's source, the JSON API against the files label wrote (parsed here,
// not by src/io), frames of every source kind decoded back to their index,
// HTTP Range on videos, and refusals: path traversal (raw requests, encoded,
// absolute, through symbolic links), methods other than GET/HEAD, request
// bodies, foreign Host headers. Also older outputs without a source record,
// trees moved with their inputs, shard manifests, feature-only episodes and a
// frame source registered for a new kind (how a new dataset reader plugs in).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labelPaths, loadViewIndex, patchStatsEncoder, registerViewSource, startViewServer, type ViewServer } from '../../src/index.js';
import { decodeIndex, hasFfmpeg, lerobotFixture, makeViewFixture, readF32Npy, type ViewFixture } from '../helpers/view-fixture.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';
import { testIf } from '../helpers/skip.js';
import { packageRoot } from '../helpers/cli.js';

let f: ViewFixture;
let server: ViewServer;
let base = '';

const get = (p: string, init?: RequestInit) => fetch(base + p, init);
const json = async (p: string) => {
  const r = await get(p);
  assert.is(r.status, 200, `${p}: ${r.status}`);
  return r.json() as Promise<any>;
};
const withVideo = testIf(hasFfmpeg, 'ffmpeg (with libx264) is not installed (apt-get install ffmpeg): no video fixture');
const withLeRobot = testIf(lerobotFixture.ok, lerobotFixture.reason);

test.before(async () => {
  f = await makeViewFixture();
  server = await startViewServer(f.labels, { port: 0 });
  base = server.url.replace(/\/$/, '');
});

test.after(async () => {
  await server.close();
  fs.rmSync(f.root, { recursive: true, force: true });
});

test('label records each episode\'s source: kind, absolute path, path relative to the output folder, frames, frames per step', () => {
  const summary = JSON.parse(fs.readFileSync(path.join(f.labels, 'summary.json'), 'utf8'));
  const byName = Object.fromEntries(summary.episodes.map((e: any) => [e.episode, e.source]));
  const expected: Record<string, { kind: string; file: string; frames: number }> = {
    ep_images: { kind: 'images', file: path.join(f.root, 'inputs', 'ep_images'), frames: f.frames.images },
    ep_npy: { kind: 'npy', file: path.join(f.root, 'inputs', 'ep_npy.npy'), frames: f.frames.npy },
    ...(hasFfmpeg ? { ep_video: { kind: 'video', file: path.join(f.root, 'inputs', 'ep_video.mp4'), frames: f.frames.video } } : {}),
  };
  const lr = f.lerobot;
  assert.equal(Object.keys(byName).sort(), [...Object.keys(expected), ...(lr ? lr.episodes : [])].sort());
  if (lr) {
    lr.episodes.forEach((name, i) => assert.equal(byName[name], {
      kind: 'lerobot', path: lr.root, relative: path.relative(f.labels, lr.root), episodeIndex: i, camera: 'observation.images.top', frames: lr.lengths[i], framesPerStep: 1,
    }, name));
  }
  for (const [name, e] of Object.entries(expected)) {
    const s = byName[name];
    assert.equal(s, { kind: e.kind, path: e.file, relative: path.relative(f.labels, e.file), frames: e.frames, framesPerStep: 1 }, name);
    assert.is(path.resolve(f.labels, s.relative), s.path);
    const result = JSON.parse(fs.readFileSync(path.join(f.labels, name, 'result.json'), 'utf8'));
    assert.equal(result.source, s, `${name}/result.json`);
  }
});

test('/api/index and /api/episodes list the summary\'s episodes with their numbers; the final value is values.npy\'s last', async () => {
  const ix = await json('/api/index');
  assert.is(ix.episodes, (hasFfmpeg ? 3 : 2) + (f.lerobot ? 2 : 0));
  assert.is(ix.listing, 'summary.json');
  assert.is(ix.experiment, 'experiment');
  assert.is(ix.dir, fs.realpathSync(f.labels));
  const list = await json('/api/episodes');
  const summary = JSON.parse(fs.readFileSync(path.join(f.labels, 'summary.json'), 'utf8'));
  assert.equal(list.map((e: any) => e.name), summary.episodes.map((e: any) => e.episode));
  for (const [i, e] of list.entries()) {
    const s = summary.episodes[i];
    const values = readF32Npy(path.join(f.labels, e.name, 'values.npy'));
    assert.is(e.frames, s.frames);
    assert.is(e.stages, s.stages);
    assert.is(e.meanValue, s.meanValue);
    assert.is(e.finalValue, values[values.length - 1]);
    assert.is(e.kind, s.source.kind);
    assert.is(e.hasFrames, true);
    assert.is(e.thumbFrame, s.source.frames - 1);
    assert.ok(e.spark.length > 1 && e.spark.length <= 48, `spark of ${e.spark.length}`);
    assert.not.ok('success' in e, 'no success recorded, none reported');
    assert.is(e.task, s.task, 'the task when the labels record one (LeRobot episodes)');
  }
});

test('/api/episodes/<name>: values, similarity, segments as written; Steps-To-Go t/(T−1); frame count, fps, annotations', async () => {
  for (const name of Object.values(f.episodes)) {
    const d = await json(`/api/episodes/${name}`);
    const values = readF32Npy(path.join(f.labels, name, 'values.npy'));
    const similarity = readF32Npy(path.join(f.labels, name, 'similarity.npy'));
    const T = values.length;
    assert.is(d.steps, T);
    assert.equal(d.values, Array.from(values), `${name} values`);
    assert.equal(d.similarity, Array.from(similarity), `${name} similarity`);
    assert.equal(d.segments, JSON.parse(fs.readFileSync(path.join(f.labels, name, 'segments.json'), 'utf8')));
    assert.is(d.stepsToGo.length, T);
    d.stepsToGo.forEach((v: number, t: number) => assert.is(v, Math.fround(t / (T - 1)), `stepsToGo[${t}]`));
    assert.is(d.finalValue, values[T - 1]);
    assert.is(d.source.found, true);
    assert.is(d.frames.framesPerStep, 1);
    assert.is(d.frames.width, 64);
    assert.is(d.frames.height, 48);
  }
  const npy = await json(`/api/episodes/${f.episodes.npy}`);
  assert.is(npy.frameCount, f.frames.npy);
  assert.is(npy.fps, null);
  assert.equal(npy.annotations, [{ name: 'move', start: 0, end: 19 }, { name: 'hold', start: 20, end: 39 }]);
  const imgs = await json(`/api/episodes/${f.episodes.images}`);
  assert.is(imgs.frameCount, f.frames.images);
  assert.is(imgs.annotations, undefined);
  assert.is(imgs.frames.video, undefined);
  assert.is((await get('/api/episodes/no_such_episode')).status, 404);
});

withVideo('a video episode: fps and every frame\'s time from the container, a playable URL', async () => {
  const d = await json(`/api/episodes/${f.episodes.video}`);
  assert.is(d.frameCount, f.frames.video);
  assert.is(d.fps, 12);
  assert.is(d.frames.times.length, f.frames.video);
  d.frames.times.forEach((t: number, k: number) => assert.ok(Math.abs(t - k / 12) < 1e-3, `time of frame ${k}: ${t}`));
  assert.is(d.frames.video, `/api/episodes/${f.episodes.video}/video`);
  assert.is(d.frames.videoType, 'video/mp4');
});

test('frames of image folders and .npy arrays come back as PNG showing their own index; image files are sent as they are', async () => {
  for (const [name, T] of [[f.episodes.images, f.frames.images], [f.episodes.npy, f.frames.npy]] as const) {
    for (const k of [0, 1, 17, T - 1]) {
      const r = await get(`/api/episodes/${name}/frames/${k}`);
      assert.is(r.status, 200);
      assert.is(r.headers.get('content-type'), 'image/png');
      const { data, info } = await sharp(Buffer.from(await r.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
      assert.is(decodeIndex(data, info.channels as 3 | 4, info.width, info.height), k, `${name} frame ${k}`);
    }
  }
  const r = await get(`/api/episodes/${f.episodes.images}/frames/5`);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(fs.readFileSync(path.join(f.root, 'inputs', 'ep_images', 'frame_5.png'))), 'the original file');
  const jpeg = await get(`/api/episodes/${f.episodes.npy}/frames/3?format=jpeg&w=32`);
  assert.is(jpeg.headers.get('content-type'), 'image/jpeg');
  const meta = await sharp(Buffer.from(await jpeg.arrayBuffer())).metadata();
  assert.equal([meta.format, meta.width, meta.height], ['jpeg', 32, 24]);
});

withVideo('video frames decoded by the server show their own index (seeking by the container\'s timestamps)', async () => {
  for (const k of [0, 1, 11, 12, 13, 25, f.frames.video - 1]) {
    const r = await get(`/api/episodes/${f.episodes.video}/frames/${k}`);
    assert.is(r.status, 200);
    const { data, info } = await sharp(Buffer.from(await r.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    assert.is(decodeIndex(data, info.channels as 3 | 4, info.width, info.height), k, `video frame ${k}`);
  }
});

test('bad frame requests: outside the episode or not a number → 404; unknown format or width → 400', async () => {
  const n = f.episodes.npy;
  for (const k of [String(f.frames.npy), '-1', 'abc', '1.5', '1e1', '0x1', '']) assert.is((await get(`/api/episodes/${n}/frames/${k}`)).status, 404, `frame '${k}'`);
  assert.is((await get(`/api/episodes/${n}/frames/1?format=gif`)).status, 400);
  assert.is((await get(`/api/episodes/${n}/frames/1?w=-3`)).status, 400);
  assert.is((await get(`/api/episodes/${n}/video`)).status, 404, 'an .npy episode has no video');
});

withVideo('video over HTTP: whole file, single ranges (206), suffix and open ranges, 416 past the end, If-Range, HEAD', async () => {
  const file = fs.readFileSync(path.join(f.root, 'inputs', 'ep_video.mp4'));
  const size = file.length;
  const url = `/api/episodes/${f.episodes.video}/video`;
  const whole = await get(url);
  assert.is(whole.status, 200);
  assert.is(whole.headers.get('accept-ranges'), 'bytes');
  assert.is(whole.headers.get('content-type'), 'video/mp4');
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(file));
  const etag = whole.headers.get('etag')!;
  const cases: Array<[string, number, number]> = [['bytes=0-99', 0, 99], ['bytes=100-', 100, size - 1], ['bytes=-50', size - 50, size - 1], [`bytes=${size - 10}-${size + 100}`, size - 10, size - 1], ['bytes=7-7', 7, 7]];
  for (const [range, a, b] of cases) {
    const r = await get(url, { headers: { Range: range } });
    assert.is(r.status, 206, range);
    assert.is(r.headers.get('content-range'), `bytes ${a}-${b}/${size}`, range);
    assert.is(Number(r.headers.get('content-length')), b - a + 1, range);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(file.subarray(a, b + 1)), range);
  }
  for (const range of [`bytes=${size}-`, `bytes=${size + 5}-${size + 9}`, 'bytes=-0']) {
    const r = await get(url, { headers: { Range: range } });
    assert.is(r.status, 416, range);
    assert.is(r.headers.get('content-range'), `bytes */${size}`);
  }
  const multi = await get(url, { headers: { Range: 'bytes=0-1,5-6' } });
  assert.is(multi.status, 200, 'several ranges: the whole file');
  assert.is(Number(multi.headers.get('content-length')), size);
  await multi.arrayBuffer();
  const stale = await get(url, { headers: { Range: 'bytes=0-9', 'If-Range': '"stale"' } });
  assert.is(stale.status, 200, 'If-Range that does not match: the whole file');
  await stale.arrayBuffer();
  const fresh = await get(url, { headers: { Range: 'bytes=0-9', 'If-Range': etag } });
  assert.is(fresh.status, 206);
  await fresh.arrayBuffer();
  const head = await rawRequest(server.port, `HEAD ${url} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n`);
  assert.is(head.status, 206);
  assert.is(head.headers['content-length'], '10');
  assert.is(head.body.length, 0);
});

test('path traversal is refused with 404: raw ../, percent-encoded, backslashes, absolute paths, NUL, absolute-form targets, links out of the folder', async () => {
  const secretAbs = f.secret.file;
  const enc = (s: string) => encodeURIComponent(s);
  const targets = [
    '/files/../secret.txt', '/files/%2e%2e/secret.txt', '/files/%2E%2E/secret.txt', '/files/..%2fsecret.txt', '/files/..%2Fsecret.txt', '/files/%2e%2e%2fsecret.txt',
    '/files/..\\secret.txt', '/files/..%5csecret.txt', '/files/./../secret.txt', '/files/experiment/../../secret.txt',
    `/files/${secretAbs}`, `/files/${enc(secretAbs)}`, `/files//${secretAbs}`, `/${secretAbs}`, `//${secretAbs.slice(1)}`,
    '/files/link-out.txt', '/files/link-dir/secret.txt', '/files/link-dir/inputs/ep_images/frame_0.png',
    '/../secret.txt', '/%2e%2e/secret.txt', '/assets/../../package.json', '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/assets/..%2f..%2fpackage.json',
    '/files/summary.json%00.png', '/files/%00', '/files/ep_npy/values.npy', '/files/.hidden.json',
    `http://127.0.0.1:${server.port}/files/../secret.txt`, `/api/episodes/..%2F..%2Fsecret.txt`, '/api/episodes/%2e%2e/frames/0', '/api/episodes/ep_npy/../../secret.txt',
    '/files/%2e%2e/inputs/ep_npy.npy', '/files/..%2finputs%2fep_images%2fframe_0.png',
  ];
  for (const t of targets) {
    const r = await rawGet(server.port, t);
    assert.is(r.status, 404, `${t} → ${r.status}`);
    assert.not.ok(r.body.includes(f.secret.content), `${t} leaked the secret`);
  }
  // The same through fetch (which normalises ../ before sending) and the legitimate files.
  assert.is((await get('/files/../secret.txt')).status, 404);
  const summary = await rawGet(server.port, '/files/summary.json');
  assert.is(summary.status, 200);
  assert.ok(summary.body.equals(fs.readFileSync(path.join(f.labels, 'summary.json'))));
  const plot = await rawGet(server.port, '/files/ep_npy/plot.svg');
  assert.is(plot.status, 200);
  assert.is(plot.headers['content-type'], 'image/svg+xml');
  assert.match(plot.headers['content-security-policy'], /sandbox/);
  assert.is((await rawGet(server.port, '/files/experiment/contact-id.png')).status, 200);
});

test('only GET and HEAD; a request body is never accepted; the server carries on afterwards', async () => {
  const p = server.port;
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await rawRequest(p, `${m} /api/episodes HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
    assert.is(r.status, 405, m);
    assert.is(r.headers.allow, 'GET, HEAD');
  }
  const big = await rawRequest(p, Buffer.concat([Buffer.from(`POST /api/index HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nContent-Length: ${1 << 20}\r\n\r\n`), Buffer.alloc(64 << 10, 120)]));
  assert.is(big.status, 405, 'a large body: refused at once, not read');
  const withBody = await rawRequest(p, `GET /api/index HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
  assert.is(withBody.status, 413);
  const chunked = await rawRequest(p, `GET /api/index HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
  assert.is(chunked.status, 413);
  assert.is((await get('/api/index')).status, 200);
});

test('bound to loopback: another Host header is refused (DNS rebinding); localhost is fine; pages carry CSP and nosniff', async () => {
  const p = server.port;
  const evil = await rawRequest(p, `GET /api/episodes HTTP/1.1\r\nHost: attacker.example:${p}\r\nConnection: close\r\n\r\n`);
  assert.is(evil.status, 403);
  const noHost = await rawRequest(p, 'GET /api/episodes HTTP/1.0\r\n\r\n');
  assert.is(noHost.status, 403);
  const local = await rawRequest(p, `GET /api/index HTTP/1.1\r\nHost: localhost:${p}\r\nConnection: close\r\n\r\n`);
  assert.is(local.status, 200);
  const page = await rawGet(p, '/');
  assert.is(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.headers['content-security-policy'], /script-src 'self'/);
  assert.is(page.headers['x-content-type-options'], 'nosniff');
});

test('everything the page loads is served from here: no external URL in the page or its scripts, every import exists', async () => {
  const dir = path.join(packageRoot, 'web', 'view');
  const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((r) => !r.startsWith('#'));
  assert.ok(refs.length >= 3);
  for (const r of refs) {
    assert.ok(r.startsWith('/assets/'), r);
    assert.is((await get(r)).status, 200, r);
  }
  for (const name of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    const urls = [...text.matchAll(/\bhttps?:\/\/[^\s'"`)]+/g)].map((m) => m[0]).filter((u) => u !== 'http://www.w3.org/2000/svg');
    assert.equal(urls, [], `${name} names external URLs`);
    for (const [, spec] of text.matchAll(/^import .* from '([^']+)';$/gm)) {
      assert.ok(spec.startsWith('./') && fs.existsSync(path.join(dir, spec)), `${name} imports ${spec}`);
      assert.is((await get(`/assets/${spec.slice(2)}`)).status, 200, spec);
    }
  }
  assert.is((await get('/assets/no-such.js')).status, 404);
  assert.is((await get('/favicon.ico')).status, 200);
});

test('/api/experiment: results.json and details.json of experiment/, with the files the tab shows', async () => {
  const x = await json('/api/experiment');
  assert.is(x.path, 'experiment');
  assert.equal(x.results, JSON.parse(fs.readFileSync(path.join(f.labels, 'experiment', 'results.json'), 'utf8')));
  assert.equal(Object.keys(x.details.curves), ['PPO sparse', 'PPO + Feat2Go', 'GRPO sparse']);
  assert.is(x.details.valueCurves.length, 3);
  assert.is(x.details.numStages, 3);
  const names = x.files.map((e: any) => e.name);
  for (const n of ['contact-id.png', 'contact-vision.png', 'results.md', 'success-over-training.svg', 'value-curves.svg']) assert.ok(names.includes(n), n);
  for (const e of x.files) assert.is((await get(e.url)).status, 200, e.url);
});

test('loadViewIndex: a missing folder, a file, a folder without outputs and a broken summary fail with the reason', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-view-empty-'));
  assert.throws(() => loadViewIndex(path.join(empty, 'nope')), /no such folder/);
  fs.writeFileSync(path.join(empty, 'file.txt'), 'x');
  assert.throws(() => loadViewIndex(path.join(empty, 'file.txt')), /not a folder/);
  assert.throws(() => loadViewIndex(empty), /no feat2go outputs here \(summary\.json/);
  fs.writeFileSync(path.join(empty, 'summary.json'), '{"nothing": 1}');
  assert.throws(() => loadViewIndex(empty), /not a feat2go label summary/);
  assert.throws(() => loadViewIndex(''), TypeError);
  fs.rmSync(empty, { recursive: true, force: true });
});

test('outputs written before the source was recorded: frames found from `file`, kinds guessed', async () => {
  const old = path.join(f.root, 'old-labels');
  fs.cpSync(f.labels, old, { recursive: true, verbatimSymlinks: true });
  const s = JSON.parse(fs.readFileSync(path.join(old, 'summary.json'), 'utf8'));
  for (const e of s.episodes) delete e.source;
  fs.writeFileSync(path.join(old, 'summary.json'), JSON.stringify(s));
  const v = await startViewServer(old, { port: 0 });
  try {
    const list = await (await fetch(`${v.url}api/episodes`)).json() as any[];
    assert.equal(list.map((e) => e.kind), s.episodes.map((e: any) => ({ ep_images: 'images', ep_npy: 'npy', ep_video: 'video' } as Record<string, string>)[e.episode] ?? (e.episode.startsWith('lerobot/') ? 'lerobot' : '?')));
    const r = await fetch(`${v.url}api/episodes/ep_npy/frames/9`);
    const { data, info } = await sharp(Buffer.from(await r.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    assert.is(decodeIndex(data, info.channels as 3 | 4), 9);
  } finally {
    await v.close();
  }
});

test('a tree moved with its inputs: frames found by the path relative to the label folder', async () => {
  const moved = path.join(f.root, 'moved');
  fs.mkdirSync(moved);
  fs.cpSync(path.join(f.root, 'inputs'), path.join(moved, 'inputs'), { recursive: true });
  fs.cpSync(f.labels, path.join(moved, 'labels'), { recursive: true, verbatimSymlinks: true });
  fs.renameSync(path.join(f.root, 'inputs'), path.join(f.root, 'inputs.away'));
  const v = await startViewServer(path.join(moved, 'labels'), { port: 0 });
  try {
    const d = await (await fetch(`${v.url}api/episodes/ep_images`)).json() as any;
    assert.is(d.source.found, true);
    const r = await fetch(`${v.url}api/episodes/ep_images/frames/4`);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(fs.readFileSync(path.join(moved, 'inputs', 'ep_images', 'frame_4.png'))));
  } finally {
    await v.close();
    fs.renameSync(path.join(f.root, 'inputs.away'), path.join(f.root, 'inputs'));
  }
});

test('frames that cannot be found: the detail says why, frame requests are 404, the rest works', async () => {
  fs.renameSync(path.join(f.root, 'inputs'), path.join(f.root, 'inputs.away'));
  const v = await startViewServer(f.labels, { port: 0 });
  try {
    const d = await (await fetch(`${v.url}api/episodes/ep_npy`)).json() as any;
    assert.is(d.frames, null);
    assert.match(d.frameError, /not found/);
    assert.is(d.values.length, readF32Npy(path.join(f.labels, 'ep_npy', 'values.npy')).length);
    assert.is((await fetch(`${v.url}api/episodes/ep_npy/frames/0`)).status, 404);
  } finally {
    await v.close();
    fs.renameSync(path.join(f.root, 'inputs.away'), path.join(f.root, 'inputs'));
  }
});

test('shard manifests without a summary: the shards\' episodes in discovery order', async () => {
  const out = path.join(f.root, 'sharded');
  const inputs = [path.join(f.root, 'inputs', 'ep_images'), path.join(f.root, 'inputs', 'ep_npy.npy')];
  for (const index of [0, 1]) await labelPaths(inputs, { out, encoder: patchStatsEncoder({ grid: 4 }), window: 3, threshold: 0.003, shard: { index, count: 2 } });
  const ix = loadViewIndex(out);
  assert.is(ix.listing, 'shard-0-of-2.json, shard-1-of-2.json');
  assert.equal(ix.episodes.map((e) => e.name), ['ep_images', 'ep_npy']);
  assert.is(ix.experiment, null);
});

test('feature episodes have no frames: listed without, detail says so, frame routes 404; a nested name (deep/feat) is one URL segment', async () => {
  const out = path.join(f.root, 'features-labels');
  const T = 12;
  const N = 4;
  const D = 3;
  const data = new Float32Array(T * N * D).map((_, i) => Math.sin(i * 0.7) + Math.floor(i / (N * D)) * 0.1);
  const hdr = `{'descr': '<f4', 'fortran_order': False, 'shape': (${T}, ${N}, ${D}), }`.padEnd(117, ' ') + '\n';
  const file = path.join(f.root, 'nested', 'deep', 'feat.npy');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, hdr.length, 0]), Buffer.from(hdr, 'latin1'), Buffer.from(data.buffer)]));
  await labelPaths([path.join(f.root, 'nested')], { out, window: 3 });
  const v = await startViewServer(out, { port: 0 });
  try {
    const [e] = await (await fetch(`${v.url}api/episodes`)).json() as any[];
    assert.equal([e.name, e.kind, e.hasFrames], ['deep/feat', 'features', false]);
    const r = await fetch(`${v.url}api/episodes/deep%2Ffeat`);
    assert.is(r.status, 200);
    const d = await r.json() as any;
    assert.equal([d.name, d.frames, d.frameCount, d.source.kind, d.source.path], ['deep/feat', null, null, 'features', file]);
    assert.equal(d.values, Array.from(readF32Npy(path.join(out, 'deep', 'feat', 'values.npy'))));
    assert.is((await fetch(`${v.url}api/episodes/deep/feat`)).status, 404, 'the name is one segment');
    assert.is((await fetch(`${v.url}api/episodes/deep%2Ffeat/frames/0`)).status, 404);
    assert.is((await fetch(`${v.url}api/experiment`)).status, 404);
  } finally {
    await v.close();
  }
});

test('a frame source registered for a new kind serves that kind\'s episodes (how a dataset reader plugs in)', async () => {
  const out = path.join(f.root, 'custom');
  fs.cpSync(path.join(f.labels, 'ep_npy'), path.join(out, 'ep_npy'), { recursive: true });
  const marker = path.join(f.root, 'dataset-root');
  fs.mkdirSync(marker);
  const s = JSON.parse(fs.readFileSync(path.join(f.labels, 'summary.json'), 'utf8'));
  const e = s.episodes.find((x: any) => x.episode === 'ep_npy');
  e.source = { kind: 'test-dataset', path: marker, relative: '../dataset-root', episodeIndex: 7 };
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify({ ...s, episodes: [e] }));
  const seen: unknown[] = [];
  registerViewSource('test-dataset', async (file, record) => {
    seen.push([file, record.episodeIndex]);
    return {
      kind: 'test-dataset', count: 5, width: 2, height: 1,
      image: async (k) => ({ data: await sharp(Buffer.from([k, 0, 0, 0, k, 0]), { raw: { width: 2, height: 1, channels: 3 } }).png().toBuffer(), type: 'image/png' }),
    };
  });
  assert.throws(() => registerViewSource('', async () => { throw new Error('x'); }), TypeError);
  const v = await startViewServer(out, { port: 0 });
  try {
    const d = await (await fetch(`${v.url}api/episodes/ep_npy`)).json() as any;
    assert.equal([d.frameCount, d.frames.kind, d.frames.width], [5, 'test-dataset', 2]);
    const r = await fetch(`${v.url}api/episodes/ep_npy/frames/3`);
    const { data } = await sharp(Buffer.from(await r.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    assert.equal([data[0], data[4]], [3, 3]);
    assert.equal(seen[0], [fs.realpathSync(marker), 7]);
  } finally {
    await v.close();
  }
});

test('summary entries of LeRobot episodes without a source record (dataset, episodeIndex, camera) are of kind lerobot; a root that is no dataset is a frame error', async () => {
  const out = path.join(f.root, 'lerobot-like');
  fs.cpSync(path.join(f.labels, 'ep_npy'), path.join(out, 'episode_000003'), { recursive: true });
  const s = JSON.parse(fs.readFileSync(path.join(f.labels, 'summary.json'), 'utf8'));
  const e = { ...s.episodes.find((x: any) => x.episode === 'ep_npy'), episode: 'episode_000003', dataset: f.root, episodeIndex: 3, camera: 'observation.images.top', task: 'pick the cube' };
  delete e.source;
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify({ ...s, episodes: [e] }));
  const ix = loadViewIndex(out);
  assert.equal(ix.episodes[0].source, { kind: 'lerobot', path: f.root, episodeIndex: 3, camera: 'observation.images.top', frames: f.frames.npy });
  assert.is(ix.episodes[0].task, 'pick the cube');
  const v = await startViewServer(out, { port: 0 });
  try {
    const [row] = await (await fetch(`${v.url}api/episodes`)).json() as any[];
    assert.equal([row.kind, row.task], ['lerobot', 'pick the cube']);
    const d = await (await fetch(`${v.url}api/episodes/episode_000003`)).json() as any;
    assert.is(d.frames, null);
    assert.match(d.frameError, /info\.json/, d.frameError);
    assert.is((await fetch(`${v.url}api/episodes/episode_000003/frames/0`)).status, 500);
  } finally {
    await v.close();
  }
});

withLeRobot('LeRobot episodes: frames read through the dataset, each the right (episode, frame); the video offered with its times in the shared file', async () => {
  const lr = f.lerobot!;
  for (const [i, name] of lr.episodes.entries()) {
    const d = await json(`/api/episodes/${encodeURIComponent(name)}`);
    assert.equal([d.frameCount, d.fps, d.frames.kind, d.frames.width, d.frames.height], [lr.lengths[i], 10, 'lerobot', 64, 64]);
    assert.is(d.task, ['pick up the cube', 'put the cube in the bowl'][i]);
    // v3.0: both episodes in one file; the second's frames start where the first's end (1.2 s at 10 fps).
    const start = i === 0 ? 0 : lr.lengths[0] / 10;
    d.frames.times.forEach((t: number, k: number) => assert.ok(Math.abs(t - (start + k / 10)) < 1e-4, `${name} time ${k}: ${t}`));
    assert.is(d.frames.video, `/api/episodes/${encodeURIComponent(name)}/video`);
    for (const k of [0, 5, lr.lengths[i] - 1]) {
      const r = await get(`/api/episodes/${encodeURIComponent(name)}/frames/${k}`);
      assert.is(r.status, 200);
      const { data, info } = await sharp(Buffer.from(await r.arrayBuffer())).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.equal(lr.decode(new Uint8Array(data), info.width, info.height), { episode: i, frame: k }, `${name} frame ${k}`);
    }
    assert.is((await get(`/api/episodes/${encodeURIComponent(name)}/frames/${lr.lengths[i]}`)).status, 404);
  }
  const video = await get(`/api/episodes/${encodeURIComponent(lr.episodes[1])}/video`, { headers: { Range: 'bytes=0-15' } });
  assert.is(video.status, 206);
  assert.ok(Buffer.from(await video.arrayBuffer()).equals(fs.readFileSync(path.join(lr.root, 'videos', 'observation.images.top', 'chunk-000', 'file-000.mp4')).subarray(0, 16)));
});

test('close() stops listening and ends open connections', async () => {
  const v = await startViewServer(f.labels, { port: 0 });
  const r = await fetch(`${v.url}api/index`);
  assert.is(r.status, 200);
  await v.close();
  await v.close();
  let failed = false;
  try {
    await fetch(`${v.url}api/index`);
  } catch {
    failed = true;
  }
  assert.ok(failed, 'connection refused after close');
});

test('bad options: TypeError / RangeError naming the option', async () => {
  const rejects = async (p: Promise<unknown>, type: typeof Error, re: RegExp) => {
    try {
      await p;
    } catch (err) {
      assert.instance(err, type);
      assert.match((err as Error).message, re);
      return;
    }
    assert.unreachable('expected a rejection');
  };
  await rejects(startViewServer(f.labels, { port: 70000 }), RangeError, /opts\.port/);
  await rejects(startViewServer(f.labels, { port: 1.5 }), TypeError, /opts\.port/);
  await rejects(startViewServer(f.labels, { host: '' }), TypeError, /opts\.host/);
  await rejects(startViewServer(f.labels, { colour: 1 } as any), TypeError, /colour/);
});

test.run();
