// Sharded labelling: `label --shard I/N` splits the episodes deterministically
// by sorted name; `merge-summaries` combines the shards into the summary one
// whole run writes, and refuses missing, duplicate or overlapping shards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labelPaths, mergeSummaries, shardOf, writeNpy } from '../../src/index.js';
import { sampleEpisodes } from '../../src/demo/index.js';
import { cli } from '../helpers/cli.js';
import { rng } from '../helpers/data.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-shard-'));
const inputs = path.join(dir, 'in');
fs.mkdirSync(path.join(inputs, 'b'), { recursive: true });
const eps = sampleEpisodes({ seed: 3, count: 8, frames: [40, 55, 30, 48, 36, 60, 44, 33], patches: 4, dims: 8 });
eps.forEach((e, i) => writeNpy(path.join(inputs, i % 2 ? 'b' : '', `ep${i}.npy`), e.features));
fs.writeFileSync(path.join(inputs, 'b', 'broken.npy'), 'not an npy file'); // one input that fails
const opts = { window: 4, maxClusterFrames: 30, threshold: 0.01, lambda: 1 };
const strip = (s: { episodes: Array<Record<string, unknown>>; failures: unknown[]; options: unknown }, out: string) => ({
  options: s.options, failures: s.failures,
  episodes: s.episodes.map(({ ms: _ms, dir: d, ...e }) => ({ ...e, dir: path.relative(out, String(d)) })),
});

test('shardOf: disjoint, covering, sizes within one, independent of input order', () => {
  const r = rng(9);
  const items = Array.from({ length: 23 }, (_, i) => `item-${String(i).padStart(2, '0')}-${Math.floor(r() * 1000)}`);
  const shuffled = [...items].sort(() => r() - 0.5);
  for (const n of [1, 2, 3, 5, 23, 30]) {
    const parts = Array.from({ length: n }, (_, i) => shardOf(items, { index: i, count: n }, (x) => x));
    const again = Array.from({ length: n }, (_, i) => shardOf(shuffled, { index: i, count: n }, (x) => x));
    assert.equal(parts.flat().sort(), [...items].sort(), `n=${n} covers`);
    assert.is(new Set(parts.flat()).size, items.length, `n=${n} disjoint`);
    const sizes = parts.map((p) => p.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `n=${n} sizes ${sizes}`);
    parts.forEach((p, i) => assert.equal([...again[i]].sort(), [...p].sort(), `n=${n} shard ${i} independent of order`));
    parts.forEach((p) => assert.equal(p, items.filter((x) => p.includes(x)), 'original order kept'));
  }
  assert.throws(() => shardOf(items, { index: 3, count: 3 }, (x) => x), (e: Error) => e instanceof RangeError && /index < count/.test(e.message));
});

test('3 shards merged equal labelling the folder whole (summary and every output file)', async () => {
  const whole = path.join(dir, 'whole');
  const sharded = path.join(dir, 'sharded');
  const w = await labelPaths([inputs], { ...opts, out: whole });
  assert.is(w.episodes.length, 8);
  assert.is(w.failures.length, 1);
  const counts = [];
  for (let i = 0; i < 3; i++) {
    const r = await labelPaths([inputs], { ...opts, out: sharded, shard: { index: i, count: 3 } });
    counts.push(r.episodes.length + r.failures.length);
    assert.ok(fs.existsSync(path.join(sharded, `shard-${i}-of-3.json`)));
  }
  assert.equal(counts.sort(), [3, 3, 3]);
  assert.not.ok(fs.existsSync(path.join(sharded, 'summary.json')), 'shards do not write summary.json');
  const m = mergeSummaries([sharded]);
  const a = JSON.parse(fs.readFileSync(path.join(whole, 'summary.json'), 'utf8'));
  const b = JSON.parse(fs.readFileSync(m.summary.json, 'utf8'));
  assert.equal(strip(b, sharded), strip(a, whole));
  for (const e of w.episodes) {
    const rel = path.relative(whole, e.dir);
    for (const f of ['values.npy', 'similarity.npy', 'segments.npy', 'segments.json']) {
      assert.ok(fs.readFileSync(path.join(whole, rel, f)).equals(fs.readFileSync(path.join(sharded, rel, f))), `${rel}/${f}`);
    }
  }
  assert.match(fs.readFileSync(m.summary.md, 'utf8'), /ep7/);
});

test('merge-summaries refuses missing, duplicate and overlapping shards with clear messages', () => {
  const sharded = path.join(dir, 'sharded');
  const other = path.join(dir, 'other');
  fs.mkdirSync(other);
  // a shard present twice
  fs.copyFileSync(path.join(sharded, 'shard-1-of-3.json'), path.join(other, 'shard-1-of-3.json'));
  assert.throws(() => mergeSummaries([sharded, other]), /overlapping shards: shard 1\/3 appears twice/);
  // a missing shard
  const moved = path.join(dir, 'shard-2-of-3.json');
  fs.renameSync(path.join(sharded, 'shard-2-of-3.json'), moved);
  assert.throws(() => mergeSummaries([sharded]), /missing shard 2\/3: label it with `feat2go label --shard 2\/3/);
  // shard 2 in another folder works (manifests gathered from several machines)
  fs.rmSync(path.join(other, 'shard-1-of-3.json'));
  fs.renameSync(moved, path.join(other, 'shard-2-of-3.json'));
  assert.is(mergeSummaries([sharded, other], path.join(dir, 'merged')).episodes.length, 8);
  // an episode claimed by two shards
  const f0 = path.join(sharded, 'shard-0-of-3.json');
  const m0 = JSON.parse(fs.readFileSync(f0, 'utf8'));
  const m2 = JSON.parse(fs.readFileSync(path.join(other, 'shard-2-of-3.json'), 'utf8'));
  fs.writeFileSync(f0, JSON.stringify({ ...m0, assigned: [...m0.assigned, m2.assigned[0]] }));
  assert.throws(() => mergeSummaries([sharded, other]), new RegExp(`overlapping shards: episode '${m2.assigned[0]}' is in shard 0/3 and shard 2/3`));
  fs.writeFileSync(f0, JSON.stringify(m0));
  assert.throws(() => mergeSummaries([path.join(dir, 'in')]), /no shard manifests/);
});

test('CLI: label --shard I/N and merge-summaries; bad --shard values exit 2', () => {
  const out = path.join(dir, 'cli');
  const codes = [];
  for (const s of ['0/2', '1/2']) {
    const r = cli(['label', inputs, '--out', out, '--shard', s, '--window', '4', '--max-cluster-frames', '30', '--threshold', '0.01', '--lambda', '1']);
    codes.push(r.code);
    assert.match(r.stdout, new RegExp(`shard ${s} manifest: .*shard-${s[0]}-of-2\\.json`));
  }
  assert.equal(codes.sort(), [0, 1]); // only the shard given broken.npy reports a failure
  const m = cli(['merge-summaries', out, '--json']);
  assert.is(m.code, 1, m.stderr); // the broken file is still reported
  const j = JSON.parse(m.stdout);
  assert.is(j.episodes.length, 8);
  assert.is(j.manifests.length, 2);
  for (const bad of ['3/3', '1', 'a/b', '-1/2']) {
    const r = cli(['label', inputs, '--out', out, `--shard=${bad}`]);
    assert.is(r.code, 2, bad);
    assert.match(r.stderr, /--shard expects I\/N with 0 ≤ I < N/);
  }
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
