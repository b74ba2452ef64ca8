// Cancelling labelling: an AbortSignal given to labelPaths, encodeFrames or a
// frame source's chunks() stops the work at the next chunk (a LeRobot video's
// decoder mid-episode, on both decoders), rejects with the signal's reason
// unchanged, leaves the episodes finished before it written, writes no summary,
// and leaves no ffmpeg child behind.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrames, framesFromArray, labelPaths, patchStatsEncoder, type FrameSource } from '../../src/index.js';
import { eachDecoder } from '../helpers/decoders.js';
import { makeLeRobotDataset, videoFixturesUnavailable, type FixtureInfo } from '../fixtures/lerobot.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-label-cancel-'));
const TOP = 'observation.images.top';
const unavailable = videoFixturesUnavailable();
let ds: FixtureInfo;

uvuTest.before(async () => {
  if (unavailable) return;
  // v3.0, one AV1 file shared by the three episodes: cancelling mid-episode stops a decoder
  // that would otherwise go on into the next episode.
  ds = await makeLeRobotDataset(path.join(dir, 'v3'), { version: 'v3.0', lengths: [12, 12, 12], cameras: [{ key: TOP, codec: 'av1', salt: 0 }] });
});

/** `p` rejects with an error that `ok` accepts. */
async function rejectsWith(p: Promise<unknown>, ok: (e: unknown) => boolean): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err ?? new Error('rejected with nothing'));
  assert.ok(e !== undefined, 'the call resolved');
  assert.ok(ok(e), `rejected with ${String(e)}`);
}

/** 10 frames of 8×8 in memory, a source that counts how often chunks() is asked for. */
function countingSource(): FrameSource & { calls: number } {
  const inner = framesFromArray({ data: new Uint8Array(10 * 8 * 8 * 3).map((_, i) => i % 251), shape: [10, 8, 8, 3] });
  const src = { ...inner, calls: 0, chunks: (o?: Parameters<FrameSource['chunks']>[0]) => { src.calls++; return inner.chunks(o); } };
  return src;
}

uvuTest('encodeFrames: aborted after the second chunk → rejects with the signal\'s own reason; no further chunk is encoded', async () => {
  const ac = new AbortController();
  const reason = new Error('stop here');
  const seen: number[] = [];
  const err = await encodeFrames(countingSource(), patchStatsEncoder({ grid: 2 }), {
    chunkFrames: 2, signal: ac.signal, onProgress: (d) => { seen.push(d); if (d >= 4) ac.abort(reason); },
  }).then(() => undefined, (e: unknown) => e);
  assert.is(err, reason);
  assert.equal(seen, [2, 4]);
  // the default reason is an AbortError
  const ac2 = new AbortController();
  await rejectsWith(encodeFrames(countingSource(), patchStatsEncoder({ grid: 2 }), { chunkFrames: 2, signal: ac2.signal, onProgress: () => ac2.abort() }), (e) => (e as Error).name === 'AbortError');
});

uvuTest('encodeFrames: an already-aborted signal rejects before the source is read; a non-signal is a TypeError naming opts.signal', async () => {
  const src = countingSource();
  const ac = new AbortController();
  ac.abort();
  await rejectsWith(encodeFrames(src, patchStatsEncoder({ grid: 2 }), { signal: ac.signal }), (e) => (e as Error).name === 'AbortError');
  assert.is(src.calls, 0);
  await rejectsWith(encodeFrames(src, patchStatsEncoder({ grid: 2 }), { signal: {} as AbortSignal }), (e) => e instanceof TypeError && /opts\.signal/.test((e as Error).message) && /AbortSignal/.test((e as Error).message));
});

uvuTest('a frame source\'s chunks({ signal }) stops at the next chunk', async () => {
  const ac = new AbortController();
  const g = countingSource().chunks({ chunkFrames: 3, signal: ac.signal });
  const first = await g.next();
  assert.is(first.value && (first.value as { count: number }).count, 3);
  ac.abort();
  await rejectsWith(g.next(), (e) => (e as Error).name === 'AbortError');
  await rejectsWith((async () => { for await (const c of countingSource().chunks({ signal: 'yes' as unknown as AbortSignal })) void c; })(), (e) => e instanceof TypeError && /opts\.signal/.test((e as Error).message));
});

uvuTest('labelPaths: a bad signal is a TypeError before any work; an aborted one rejects at once', async () => {
  const out = path.join(dir, 'bad');
  await rejectsWith(labelPaths([dir], { out, signal: 42 as unknown as AbortSignal }), (e) => e instanceof TypeError && /opts\.signal/.test((e as Error).message));
  const ac = new AbortController();
  ac.abort();
  await rejectsWith(labelPaths([dir], { out, signal: ac.signal }), (e) => (e as Error).name === 'AbortError');
  assert.not.ok(fs.existsSync(path.join(out, 'summary.json')));
});

eachDecoder({ cond: unavailable === undefined, reason: unavailable ?? '' }, 'labelPaths on a LeRobot dataset, cancelled mid-episode: earlier episodes written, no summary, no ffmpeg left', async (decoder) => {
  const out = path.join(dir, `labels-${decoder}`);
  const ac = new AbortController();
  const frames: Array<[number, number]> = [];
  const err = await labelPaths([ds.root], {
    out, encoder: patchStatsEncoder({ grid: 4, chunkFrames: 4 }), window: 3, maxClusterFrames: 4, threshold: 0.002, signal: ac.signal, videoDecoder: decoder,
    onFrames: (d, _t, _name, index) => { frames.push([index, d]); if (index === 1 && d >= 4) ac.abort(); },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof Error && err.name === 'AbortError', String(err));
  // episode 0 whole (3 chunks), episode 1 stopped after its first chunk
  assert.equal(frames, [[0, 4], [0, 8], [0, 12], [1, 4]]);
  assert.ok(fs.existsSync(path.join(out, 'episode_000000', 'values.npy')));
  assert.not.ok(fs.existsSync(path.join(out, 'episode_000001')));
  assert.not.ok(fs.existsSync(path.join(out, 'summary.json')));
  // no ffmpeg still reading the dataset (the CLI decoder's child is killed; in process there is none)
  await new Promise((r) => setTimeout(r, 200));
  const ps = spawnSync('pgrep', ['-f', ds.root], { encoding: 'utf8' });
  assert.is(ps.stdout.trim(), '', `processes still reading ${ds.root}: ${ps.stdout}`);
});

uvuTest.after(() => fs.rmSync(dir, { recursive: true, force: true }));
uvuTest.run();
