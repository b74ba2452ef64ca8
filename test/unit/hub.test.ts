// The model hub client against a local fake hub (test/helpers/hub-server.ts):
// the environment as huggingface_hub reads it, the Python client's cache
// layout, cache reuse, offline mode (no request at all), each error, and
// atomic downloads (a cut or short or corrupt download caches nothing; a cut
// is resumed with a Range request).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HubError, HubRepo, downloadProgressBar, hubFile, hubSettings, parseHubName, repoCacheFolder, type HubOptions, type HubProgress } from '../../src/index.js';
import { commitOf, gitBlobSha, sha256, startFakeHub, type FakeHub } from '../helpers/hub-server.js';
import { rand } from '../helpers/data.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-hub-'));
let n = 0;
const freshCache = () => path.join(root, `cache-${n++}`);

const weights = rand(300_000, 11); // an "LFS" file, served through the CDN
const config = JSON.stringify({ model_type: 'dinov2', patch_size: 14 });
let hub: FakeHub;

test.before(async () => {
  hub = await startFakeHub({
    'org/model': { files: { 'config.json': config, 'onnx/model.onnx': weights, 'sub/dir/notes.txt': 'hello' } },
    'org/gated': { files: { 'config.json': config }, gatedToken: 'hf_secret' },
  });
});
test.after(async () => { await hub.close(); });

const opts = (extra: HubOptions = {}): HubOptions => ({ endpoint: hub.endpoint, cacheDir: freshCache(), token: null, ...extra });
const requests = () => hub.requests.length;

/** An http:// address on which nothing listens. */
function closedPort(): Promise<string> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
}

/** Runs `fn` and returns the HubError it throws. */
async function hubError(fn: () => Promise<unknown>): Promise<HubError> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, HubError, String(err));
    return err as HubError;
  }
  throw new Error('expected a HubError');
}

test('parseHubName: ORG/NAME[@REVISION], hf: prefix optional; anything else is a TypeError naming it', () => {
  assert.equal(parseHubName('hf:facebook/dinov2-small'), { repo: 'facebook/dinov2-small', revision: undefined });
  assert.equal(parseHubName('onnx-community/dinov2-with-registers-small@v1.0'), { repo: 'onnx-community/dinov2-with-registers-small', revision: 'v1.0' });
  assert.equal(parseHubName('hf:a/b@refs/pr/3'), { repo: 'a/b', revision: 'refs/pr/3' });
  for (const bad of ['hf:dinov2', 'hf:a/b/c', 'hf:/b', 'hf:a/..', 'hf:a/b@', 'hf:a/b@x@y', '']) {
    assert.throws(() => parseHubName(bad), (e: Error) => e instanceof TypeError && e.message.includes(`'${bad}'`), bad);
  }
});

test('hubSettings: HF_ENDPOINT, HF_TOKEN (or the token file), HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE as huggingface_hub reads them', () => {
  const home = path.join(root, 'home');
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'token'), 'hf_from_file\n');
  const base = { HOME: root };
  const d = hubSettings({}, base);
  assert.equal([d.endpoint, d.token, d.offline, d.cacheDir], ['https://huggingface.co', undefined, false, path.join(os.homedir(), '.cache', 'huggingface', 'hub')]);
  const s = hubSettings({}, { HF_ENDPOINT: 'https://mirror.example/', HF_HOME: home, HF_HUB_OFFLINE: 'yes' });
  assert.equal([s.endpoint, s.cacheDir, s.token, s.tokenSource, s.offline], ['https://mirror.example', path.join(home, 'hub'), 'hf_from_file', path.join(home, 'token'), true]);
  const t = hubSettings({}, { HF_HOME: home, HF_TOKEN: 'hf_env', HF_HUB_CACHE: path.join(root, 'elsewhere'), HF_HUB_OFFLINE: '0' });
  assert.equal([t.token, t.tokenSource, t.cacheDir, t.offline], ['hf_env', 'HF_TOKEN', path.join(root, 'elsewhere'), false]);
  assert.is(hubSettings({}, { XDG_CACHE_HOME: path.join(root, 'xdg') }).cacheDir, path.join(root, 'xdg', 'huggingface', 'hub'));
  assert.is(hubSettings({}, { HF_HOME: home, HF_HUB_DISABLE_IMPLICIT_TOKEN: '1' }).token, undefined);
  assert.is(hubSettings({ token: null }, { HF_TOKEN: 'x' }).token, undefined);
  for (const v of ['1', 'ON', 'true', 'Yes']) assert.ok(hubSettings({}, { HF_HUB_OFFLINE: v }).offline, v);
  assert.throws(() => hubSettings({}, { HF_ENDPOINT: 'huggingface.co' }), /HF_ENDPOINT/);
  assert.throws(() => hubSettings({ token: '' }), /opts\.token/);
});

test('download: the Python cache layout — blobs/<etag>, snapshots/<commit>/<file> → ../blobs, refs/main', async () => {
  const o = opts();
  const commit = commitOf('org/model');
  const p = await hubFile('org/model', 'onnx/model.onnx', o);
  const folder = repoCacheFolder(o.cacheDir!, 'org/model');
  assert.is(folder, path.join(o.cacheDir!, 'models--org--model'));
  assert.is(p, path.join(folder, 'snapshots', commit, 'onnx', 'model.onnx'));
  assert.ok(fs.lstatSync(p).isSymbolicLink());
  assert.is(fs.readlinkSync(p), path.join('..', '..', '..', 'blobs', sha256(Buffer.from(weights)))); // LFS: named by SHA-256
  assert.ok(Buffer.from(weights).equals(fs.readFileSync(p)));
  assert.is(fs.readFileSync(path.join(folder, 'refs', 'main'), 'utf8'), commit);
  const small = await hubFile('org/model', 'sub/dir/notes.txt', o);
  assert.is(fs.readlinkSync(small), path.join('..', '..', '..', '..', 'blobs', gitBlobSha(Buffer.from('hello')))); // git blob SHA-1
  assert.is(fs.readFileSync(small, 'utf8'), 'hello');
  assert.ok(fs.existsSync(path.join(o.cacheDir!, 'CACHEDIR.TAG')));
  assert.equal(fs.readdirSync(path.join(folder, 'blobs')).filter((f) => f.includes('incomplete')), []);
});

test('cache reuse: a second run asks only for the commit (HEAD, no download); a commit revision asks nothing', async () => {
  const o = opts();
  await hubFile('org/model', 'onnx/model.onnx', o);
  const before = hub.requests.length;
  const again = await new HubRepo('org/model', o).file('onnx/model.onnx');
  const made = hub.requests.slice(before);
  assert.equal(made.map((r) => r.method), ['HEAD']);
  assert.ok(fs.existsSync(again));
  const byCommit = requests();
  const repo = new HubRepo('org/model', { ...o, revision: commitOf('org/model') });
  await repo.file('onnx/model.onnx');
  assert.is(requests(), byCommit, 'no request for a cached commit');
  assert.equal(repo.downloaded, []);
});

test('offline (HF_HUB_OFFLINE=1): the cache only, with no network call at all', async () => {
  const o = opts();
  await hubFile('org/model', 'config.json', o);
  const before = requests();
  const saved = process.env.HF_HUB_OFFLINE;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    const { offline, ...rest } = o;
    void offline;
    const p = await hubFile('org/model', 'config.json', rest);
    assert.is(fs.readFileSync(p, 'utf8'), config);
    const notCached = await hubError(() => hubFile('org/model', 'onnx/model.onnx', rest));
    assert.is(notCached.code, 'OFFLINE_NOT_CACHED');
    assert.match(notCached.message, /org\/model@main: onnx\/model\.onnx is not in the cache .*HF_HUB_OFFLINE is set/);
    const noRepo = await hubError(() => hubFile('org/other', 'config.json', rest));
    assert.match(noRepo.message, /org\/other@main is not in the cache .* HF_HUB_OFFLINE .*HF_HOME/);
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_OFFLINE; else process.env.HF_HUB_OFFLINE = saved;
  }
  assert.is(requests(), before, 'offline mode made a request');
});

test('errors: missing repository (404, or 401 for anonymous requests as the public hub answers), revision, file', async () => {
  const missing = await hubError(() => hubFile('org/nope', 'config.json', opts()));
  assert.equal([missing.code, missing.status, missing.repo], ['REPO_NOT_FOUND', 404, 'org/nope']);
  assert.match(missing.message, /org\/nope@main: no such model on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\): check the name; if it is private or gated, set HF_TOKEN/);
  hub.anonymous401 = true;
  try {
    const anon = await hubError(() => hubFile('org/nope', 'config.json', opts()));
    assert.equal([anon.code, anon.status], ['REPO_NOT_FOUND', 401]);
  } finally {
    hub.anonymous401 = false;
  }
  const rev = await hubError(() => hubFile('org/model', 'config.json', opts({ revision: 'v9' })));
  assert.is(rev.code, 'REVISION_NOT_FOUND');
  assert.match(rev.message, /no revision 'v9'/);
  const entry = await hubError(() => hubFile('org/model', 'onnx/missing.onnx', opts()));
  assert.is(entry.code, 'ENTRY_NOT_FOUND');
  assert.match(entry.message, /has no file onnx\/missing\.onnx/);
});

test('errors: a gated model says to set HF_TOKEN (401 without a token, 403 with one not allowed); the right token is sent as a bearer', async () => {
  const anon = await hubError(() => hubFile('org/gated', 'config.json', opts()));
  assert.equal([anon.code, anon.status], ['GATED', 401]);
  assert.match(anon.message, /org\/gated@main is a gated model \(HTTP 401; no token was sent\): accept its conditions at .*\/org\/gated and set HF_TOKEN/);
  const wrong = await hubError(() => hubFile('org/gated', 'config.json', opts({ token: 'hf_wrong' })));
  assert.equal([wrong.code, wrong.status], ['GATED', 403]);
  assert.match(wrong.message, /the token from option was sent/);
  const saved = process.env.HF_TOKEN;
  process.env.HF_TOKEN = 'hf_secret';
  try {
    const { token, ...rest } = opts();
    void token;
    const p = await hubFile('org/gated', 'config.json', rest);
    assert.is(fs.readFileSync(p, 'utf8'), config);
    assert.is(hub.requests.at(-1)!.authorization, 'Bearer hf_secret');
  } finally {
    if (saved === undefined) delete process.env.HF_TOKEN; else process.env.HF_TOKEN = saved;
  }
});

test('the token goes to the hub, never to the CDN a large file is redirected to', async () => {
  const before = requests();
  await hubFile('org/model', 'onnx/model.onnx', opts({ token: 'hf_abc' }));
  const made = hub.requests.slice(before);
  const toHub = made.filter((r) => hub.endpoint.endsWith(r.host));
  const toCdn = made.filter((r) => hub.cdn.endsWith(r.host));
  assert.ok(toHub.length >= 1 && toCdn.length === 1, JSON.stringify(made));
  assert.ok(toHub.every((r) => r.authorization === 'Bearer hf_abc'));
  assert.is(toCdn[0].authorization, undefined);
});

test('errors: an unreachable hub names HF_ENDPOINT and HF_HUB_OFFLINE; with the file cached, the cached copy is used with a warning', async () => {
  const dead = await closedPort(); // connection refused
  const e = await hubError(() => hubFile('org/model', 'config.json', opts({ endpoint: dead })));
  assert.is(e.code, 'UNREACHABLE');
  assert.match(e.message, /org\/model@main: cannot reach the hub at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) to fetch config\.json: .*HF_ENDPOINT.*HF_HUB_OFFLINE=1/);
  const o = opts();
  await hubFile('org/model', 'config.json', o);
  const warnings: string[] = [];
  const p = await hubFile('org/model', 'config.json', { ...o, endpoint: dead, onWarning: (m) => warnings.push(m) });
  assert.is(fs.readFileSync(p, 'utf8'), config);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], /^org\/model@main: using the cached config\.json of commit [0-9a-f]{12} because the hub could not be asked \(UNREACHABLE\): .*ECONNREFUSED/);
});

test('errors: a server without the hub headers is not taken for a hub', async () => {
  const e = await hubError(() => hubFile('org/model', 'config.json', opts({ endpoint: `${hub.cdn}` })));
  assert.ok(e.code === 'NOT_A_HUB' || e.code === 'ENTRY_NOT_FOUND' || e.code === 'REPO_NOT_FOUND', e.code);
});

test('atomic: a cut download (every try) fails as TRUNCATED and caches nothing; the next run downloads it whole', async () => {
  const o = opts();
  hub.faults.set('onnx/model.onnx', 'cut');
  const e = await hubError(() => hubFile('org/model', 'onnx/model.onnx', o));
  hub.faults.delete('onnx/model.onnx');
  assert.is(e.code, 'TRUNCATED');
  assert.match(e.message, /org\/model@main: the download of onnx\/model\.onnx .*nothing was cached: run again/);
  const folder = repoCacheFolder(o.cacheDir!, 'org/model');
  const blobs = fs.existsSync(path.join(folder, 'blobs')) ? fs.readdirSync(path.join(folder, 'blobs')) : [];
  assert.equal(blobs, [], 'no blob and no .incomplete file left');
  assert.not.ok(fs.existsSync(path.join(folder, 'snapshots', commitOf('org/model'), 'onnx', 'model.onnx')));
  const p = await hubFile('org/model', 'onnx/model.onnx', o);
  assert.ok(Buffer.from(weights).equals(fs.readFileSync(p)));
});

test('atomic: a connection cut once is resumed with a Range request and the file checked against its SHA-256', async () => {
  hub.faults.set('onnx/model.onnx', 'cut-once');
  const before = requests();
  const p = await hubFile('org/model', 'onnx/model.onnx', opts());
  const ranges = hub.requests.slice(before).filter((r) => r.range !== undefined);
  assert.is(ranges.length, 1);
  assert.match(ranges[0].range!, /^bytes=\d+-$/);
  assert.is(createHash('sha256').update(fs.readFileSync(p)).digest('hex'), sha256(Buffer.from(weights)));
});

test('atomic: a body that ends early without error (short), or has other bytes (corrupt), caches nothing', async () => {
  for (const [fault, code] of [['short', 'TRUNCATED'], ['corrupt', 'CORRUPT']] as const) {
    const o = opts();
    hub.faults.set('onnx/model.onnx', fault);
    const e = await hubError(() => hubFile('org/model', 'onnx/model.onnx', o));
    hub.faults.delete('onnx/model.onnx');
    assert.is(e.code, code, fault);
    assert.match(e.message, fault === 'short' ? /ended after \d+ of 300000 bytes \(truncated\)/ : /does not match the hub's SHA-256/);
    const folder = repoCacheFolder(o.cacheDir!, 'org/model');
    assert.equal(fs.existsSync(path.join(folder, 'blobs')) ? fs.readdirSync(path.join(folder, 'blobs')) : [], [], fault);
  }
});

test('progress: reports grow to the size; the terminal bar draws a bar and leaves one line per file', async () => {
  const seen: HubProgress[] = [];
  await hubFile('org/model', 'onnx/model.onnx', opts({ progress: (p) => seen.push(p) }));
  assert.ok(seen.length >= 2);
  assert.ok(seen.every((p, i) => i === 0 || p.bytes >= seen[i - 1].bytes));
  assert.equal(seen.at(-1), { repo: 'org/model', file: 'onnx/model.onnx', bytes: 300000, total: 300000, done: true });
  let out = '';
  const bar = downloadProgressBar({ write: (s: string) => { out += s; }, columns: 120 }, 1000);
  bar({ repo: 'a/b', file: 'onnx/model.onnx', bytes: 500, total: 2000, done: false });
  assert.match(out, /\r\x1b\[KDownloading onnx\/model\.onnx \[######------------------\] 500 B \/ 2\.0 kB/);
  bar({ repo: 'a/b', file: 'onnx/model.onnx', bytes: 2000, total: 2000, done: true });
  assert.match(out, /a\/b onnx\/model\.onnx: 2\.0 kB in [\d.]+ s .*\n$/);
  out = '';
  bar({ repo: 'a/b', file: 'config.json', bytes: 10, total: 10, done: true });
  assert.is(out, '', 'small files get no bar');
});

test('bad arguments: TypeErrors naming the argument', async () => {
  assert.throws(() => new HubRepo('org/model@main'), /opts\.revision/);
  await (async () => {
    try {
      await hubFile('org/model', '../etc/passwd', opts());
      assert.unreachable('accepted ../');
    } catch (err) {
      assert.instance(err, TypeError);
      assert.match((err as Error).message, /relative file path/);
    }
  })();
  assert.throws(() => new HubRepo('org/model', { progress: 3 as unknown as boolean }), /opts\.progress/);
  assert.throws(() => new HubRepo('org/model', { revision: 'a..b' }), /opts\.revision/);
});

test.run();
