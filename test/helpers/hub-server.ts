// A local stand-in for the model hub, for tests without network: it answers
// `{endpoint}/{repo}/resolve/{revision}/{file}` (HEAD and GET) with the
// headers the real hub sends (X-Repo-Commit, ETag = git blob SHA-1 for small
// files, and for LFS files (.onnx, .onnx_data) a 302 to a CDN with
// X-Linked-Etag = SHA-256 and X-Linked-Size), its X-Error-Code answers
// (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound), the model API
// `/api/models/{repo}/revision/{rev}`, and Range requests. A second server
// with another origin plays the CDN. Every request is recorded; downloads
// can be cut, shortened or corrupted on demand.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { packageRoot } from './cli.js';

/** A repository the server holds: files by path, one commit. */
export interface FakeRepo {
  files: Record<string, Uint8Array | string>;
  /** 40-hex commit (default: derived from the repo name). */
  commit?: string;
  /** Needs `Authorization: Bearer <token>` with this token (a gated model). */
  gatedToken?: string;
  /** Branch names besides 'main' that resolve to the commit. */
  branches?: string[];
}

export interface RecordedRequest { method: string; url: string; host: string; authorization: string | undefined; range: string | undefined }

/** How the CDN answers a file's GET: cut the connection half way ('cut'), once then fine ('cut-once'), a short clean body ('short'), flipped bytes ('corrupt'). */
export type Fault = 'cut' | 'cut-once' | 'short' | 'corrupt';

export interface FakeHub {
  endpoint: string;
  cdn: string;
  requests: RecordedRequest[];
  repos: Record<string, FakeRepo>;
  /** Faults by file path (applies to GETs of its bytes). */
  faults: Map<string, Fault>;
  /** Answer 401 + RepoNotFound for unknown repositories without a token, as the public hub does (default 404). */
  anonymous401: boolean;
  close(): Promise<void>;
}

const LFS = /\.(onnx|onnx_data)$/;

function bytesOf(v: Uint8Array | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The hub's ETag of a non-LFS file: the git blob SHA-1. */
export function gitBlobSha(b: Buffer): string {
  return createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function commitOf(repo: string): string {
  return createHash('sha1').update(`commit:${repo}`).digest('hex');
}

function listen(server: http.Server, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`));
  });
}

/** Starts the fake hub and its CDN on free local ports. */
export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const faults = new Map<string, Fault>();
  const blobs = new Map<string, { data: Buffer; file: string }>();
  const state = { anonymous401: false };
  const record = (req: http.IncomingMessage) => requests.push({
    method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '',
    authorization: req.headers.authorization, range: req.headers.range,
  });

  const cdn = http.createServer((req, res) => {
    record(req);
    const m = /^\/lfs\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const blob = m ? blobs.get(m[1]) : undefined;
    if (!blob) { res.writeHead(404).end(); return; }
    let data = blob.data;
    const fault = faults.get(blob.file);
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) start = Math.min(Number(range[1]), data.length);
    const body = data.subarray(start);
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', etag: `"${m![1]}"` };
    if (fault === 'short') {
      res.writeHead(200, headers); // chunked, ends early without error
      res.end(body.subarray(0, Math.floor(body.length / 2)));
      return;
    }
    if (fault === 'corrupt') {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
      res.writeHead(200, { ...headers, 'content-length': data.length });
      res.end(data);
      return;
    }
    headers['content-length'] = body.length;
    if (range) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    if (fault === 'cut' || fault === 'cut-once') {
      if (fault === 'cut-once') faults.delete(blob.file);
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  // The CDN is another host, as on the real hub (clients drop the token there and do not follow
  // a HEAD's redirect to it): 127.0.0.2 where the loopback network allows it (Linux), else localhost.
  const cdnUrl = await listen(cdn, '127.0.0.2').catch(() => listen(cdn, 'localhost'));

  const hub = http.createServer((req, res) => {
    record(req);
    const url = new URL(req.url ?? '/', 'http://x');
    const err = (status: number, code: string | undefined, message: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...(code ? { 'x-error-code': code } : {}), 'x-error-message': message, 'content-type': 'application/json', ...extra });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ error: message }));
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const m = api ? null : /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!api && !m) { err(404, undefined, 'Not found'); return; }
    const repoId = decodeURIComponent((api ?? m)![1]);
    const rev = decodeURIComponent((api ?? m)![2]);
    const repo = repos[repoId];
    const auth = req.headers.authorization;
    if (!repo) {
      if (state.anonymous401 && !auth) err(401, 'RepoNotFound', 'Invalid username or password.');
      else err(404, 'RepoNotFound', 'Repository not found');
      return;
    }
    if (repo.gatedToken !== undefined && auth !== `Bearer ${repo.gatedToken}`) {
      if (!auth) err(401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      else err(403, 'GatedRepo', `Access to model ${repoId} is restricted and you are not in the authorized list.`);
      return;
    }
    const commit = repo.commit ?? commitOf(repoId);
    if (rev !== commit && rev !== 'main' && !(repo.branches ?? []).includes(rev)) {
      err(404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return;
    }
    if (api) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: repoId, sha: commit, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) }));
      return;
    }
    const file = decodeURIComponent(m![3]);
    const content = repo.files[file];
    if (content === undefined) {
      err(404, 'EntryNotFound', `${file} does not exist on "${rev}"`, { 'x-repo-commit': commit });
      return;
    }
    const data = bytesOf(content);
    if (LFS.test(file)) {
      const sha = sha256(data);
      blobs.set(sha, { data, file });
      res.writeHead(302, {
        location: `${cdnUrl}/lfs/${sha}`, 'x-repo-commit': commit, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(data.length),
        etag: `"${gitBlobSha(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${data.length}\n`))}"`,
      });
      res.end();
      return;
    }
    res.writeHead(200, { 'x-repo-commit': commit, etag: `"${gitBlobSha(data)}"`, 'content-length': data.length, 'content-type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : data);
  });
  const endpoint = await listen(hub);
  const closeServer = (s: http.Server) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  return {
    endpoint, cdn: cdnUrl, requests, repos, faults,
    get anonymous401() { return state.anonymous401; },
    set anonymous401(v: boolean) { state.anonymous401 = v; },
    close: async () => { await closeServer(hub); await closeServer(cdn); },
  };
}

/** Runs the CLI in a child process without blocking this process's event loop (the fake hub runs here). */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), ...args], {
      cwd: packageRoot, env: { ...process.env, NODE_OPTIONS: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a command without blocking the event loop; resolves with its exit status and output. */
export function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
