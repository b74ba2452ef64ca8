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
import { spawnSync } from 'node:child_process';
import { cli, packageRoot } from '../helpers/cli.js';
import { rng } from '../helpers/data.js';
import { testIf } from '../helpers/skip.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-shard-'));
const inputs = path.join(dir, 'in');
fs.mkdirSync(path.join(inputs, 'b'), { recursive: true });
const eps = sampleEpisodes({ seed: 3, count: 8, frames: [40, 55, 30, 48, 36, 60, 44, 33], patches: 4, dims: 8 });
eps.forEach((e, i) => writeNpy(path.join(inputs, i % 2 ? 'b' : '', `ep${i}.npy`), e.features));
fs.writeFileSync(path.join(inputs, 'b', 'broken.npy'), 'not an npy file'); // one input that fails
const opts = { window: 4, maxClusterFrames: 30, threshold: 0.01, lambda: 1 };
const withMkfifo = testIf(spawnSync('mkfifo', ['--version']).status === 0, 'mkfifo is not on PATH');
/** The CLI in a child with a small heap and a time limit: an unbounded allocation, a hang or a spin fails instead of stalling the suite. */
const runCli = (args: string[]) => spawnSync(process.execPath, ['--max-old-space-size=256', '--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), ...args],
  { cwd: packageRoot, encoding: 'utf8', timeout: 30000, env: { ...process.env, NODE_OPTIONS: '' } });
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
  const e2 = m2.episodes[0];
  fs.writeFileSync(f0, JSON.stringify({ ...m0, assigned: [...m0.assigned, e2.episode], episodes: [...m0.episodes, e2] }));
  assert.throws(() => mergeSummaries([sharded, other]), new RegExp(`overlapping shards: episode '${e2.episode}' is in shard 0/3 and shard 2/3`));
  fs.writeFileSync(f0, JSON.stringify(m0));
  assert.throws(() => mergeSummaries([path.join(dir, 'in')]), /no shard manifests/);
});

test('merge-summaries under abuse: bad manifests name the file, an episode in two shards, a huge shard count, --out under /proc', () => {
  const base = path.join(dir, 'abuse');
  const copyShards = (name: string) => {
    const d = path.join(base, name);
    fs.mkdirSync(d, { recursive: true });
    fs.copyFileSync(path.join(dir, 'sharded', 'shard-0-of-3.json'), path.join(d, 'shard-0-of-3.json'));
    fs.copyFileSync(path.join(dir, 'sharded', 'shard-1-of-3.json'), path.join(d, 'shard-1-of-3.json'));
    fs.copyFileSync(path.join(dir, 'other', 'shard-2-of-3.json'), path.join(d, 'shard-2-of-3.json'));
    return d;
  };
  const good = copyShards('good');
  assert.is(mergeSummaries([good]).episodes.length, 8);
  const text = fs.readFileSync(path.join(good, 'shard-1-of-3.json'), 'utf8');
  const m1 = JSON.parse(text);
  const m0 = JSON.parse(fs.readFileSync(path.join(good, 'shard-0-of-3.json'), 'utf8'));
  // a truncated, empty, null, shape-less or hand-edited manifest: the file and what is wrong
  const cases: Array<[string, string, RegExp]> = [
    ['truncated', text.slice(0, Math.floor(text.length / 2)), /not valid JSON .*truncated\?/],
    ['empty', '', /the file is empty/],
    ['null', 'null', /expected a JSON object but it holds null/],
    ['array', '[1, 2]', /expected a JSON object but it holds an array/],
    ['no-shard', JSON.stringify({ ...m1, shard: undefined }), /expected shard to be an object but received nothing/],
    ['bad-count', JSON.stringify({ ...m1, shard: { index: 1, count: 2.5 } }), /expected shard\.count to be an integer in \[1, \d+\] but received 2\.5/],
    ['no-episodes', JSON.stringify({ ...m1, episodes: undefined }), /expected episodes to be an array/],
    ['bad-episode', JSON.stringify({ ...m1, episodes: [{ ...m1.episodes[0], frames: 'many' }] }), /expected episodes\[0\]\.frames to be an integer/],
    ['renamed', JSON.stringify({ ...m1, shard: { index: 0, count: 3 } }), /its name says shard 1\/3 but it holds shard 0\/3/],
    ['unlabelled', JSON.stringify({ ...m1, episodes: m1.episodes.slice(1) }), /episodes assigned but .* labelled/],
  ];
  for (const [name, body, why] of cases) {
    const d = copyShards(name);
    const f = path.join(d, 'shard-1-of-3.json');
    fs.writeFileSync(f, body);
    assert.throws(() => mergeSummaries([d]), (e: Error) => e.message.startsWith(`${f}: cannot read shard manifest file: `) && why.test(e.message), `${name}: ${(() => { try { mergeSummaries([d]); return 'no error'; } catch (e) { return (e as Error).message; } })()}`);
  }
  // an episode of shard 0 also listed among shard 1's labelled episodes (not assigned to it): refused, not merged twice
  const dup = copyShards('dup');
  fs.writeFileSync(path.join(dup, 'shard-1-of-3.json'), JSON.stringify({ ...m1, episodes: [...m1.episodes, m0.episodes[0]] }));
  assert.throws(() => mergeSummaries([dup]), new RegExp(`episodes\\[${m1.episodes.length}\\] is '${m0.episodes[0].episode}', which is not among this shard's assigned episodes`));
  // …and also assigned to it: two shards claim it
  fs.writeFileSync(path.join(dup, 'shard-1-of-3.json'), JSON.stringify({ ...m1, assigned: [...m1.assigned, m0.episodes[0].episode], episodes: [...m1.episodes, m0.episodes[0]] }));
  assert.throws(() => mergeSummaries([dup]), new RegExp(`overlapping shards: episode '${m0.episodes[0].episode}' is in shard 0/3 and shard 1/3`));
  // the same position of the run under another name in two shards
  fs.writeFileSync(path.join(dup, 'shard-1-of-3.json'), JSON.stringify({ ...m1, assigned: [...m1.assigned, 'ep_new'], episodes: [...m1.episodes, { ...m0.episodes[0], episode: 'ep_new' }], total: m1.total }));
  assert.throws(() => mergeSummaries([dup]), /the shards hold 10 episodes but the inputs have 9/);
  fs.writeFileSync(path.join(dup, 'shard-1-of-3.json'), JSON.stringify({ ...m1, episodes: m1.episodes.map((e: { order: number }, i: number) => (i === 0 ? { ...e, order: m0.episodes[0].order } : e)) }));
  assert.throws(() => mergeSummaries([dup]), new RegExp(`overlapping shards: episode #${m0.episodes[0].order} .* claimed by shard 0/3 and shard 1/3`));
  // a shard count of 3e8: exit 1 with a short message (no allocation of one entry per shard, no megabytes of text)
  const huge = path.join(base, 'huge');
  fs.mkdirSync(huge);
  fs.writeFileSync(path.join(huge, 'shard-0-of-300000000.json'), JSON.stringify({ ...m0, shard: { index: 0, count: 300000000 } }));
  let r = runCli(['merge-summaries', huge]);
  assert.is(r.status, 1, `status ${r.status} signal ${r.signal}: ${r.stderr.slice(0, 500)}`);
  assert.match(r.stderr, /missing shards 1\/300000000, 2\/300000000, 3\/300000000, 4\/300000000, 5\/300000000, … \(299999999 of 300000000 missing\)/);
  assert.ok(r.stderr.length < 2000, `${r.stderr.length} characters on stderr`);
  // --out under /proc: refused before anything is read, and promptly (a recursive mkdir spins there)
  r = runCli(['merge-summaries', good, '--out', '/proc/f2g-nope/summary']);
  assert.is(r.status, 2, `status ${r.status} signal ${r.signal}: ${r.stderr}`);
  assert.match(r.stderr, /--out \/proc\/f2g-nope\/summary: cannot create folder \/proc\/f2g-nope/);
  assert.throws(() => mergeSummaries([good], '/proc/f2g-nope/summary'), /cannot create folder \/proc\/f2g-nope/);
  // folders that are not folders
  assert.throws(() => mergeSummaries([path.join(good, 'shard-0-of-3.json')]), /shard-0-of-3\.json: not a folder/);
  assert.throws(() => mergeSummaries([path.join(base, 'absent')]), /absent: no such folder/);
});

withMkfifo('merge-summaries: a named pipe named like a shard is refused at once (a blocking read would wait for a writer forever)', () => {
  const fifo = path.join(dir, 'abuse', 'fifo');
  fs.mkdirSync(fifo, { recursive: true });
  fs.copyFileSync(path.join(dir, 'sharded', 'shard-0-of-3.json'), path.join(fifo, 'shard-0-of-3.json'));
  assert.is(spawnSync('mkfifo', [path.join(fifo, 'shard-1-of-3.json')]).status, 0);
  const r = runCli(['merge-summaries', fifo]);
  assert.is(r.status, 1, `status ${r.status} signal ${r.signal}: ${r.stderr}`);
  assert.match(r.stderr, /shard-1-of-3\.json: cannot read shard manifest file: a named pipe, not a regular file/);
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
