// `feat2go launch`: the rank environment, prefixed output, stopping every
// rank when one fails (with its status) and on SIGINT, and bad command lines.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, packageRoot } from '../helpers/cli.js';

const script = path.join(packageRoot, 'test', 'fixtures', 'launch-rank.mjs');
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('three ranks get RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, one free MASTER_PORT; lines are prefixed with the rank', () => {
  const r = cli(['launch', '-n', '3', '--timeout', '1234', script, 'ok']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').sort();
  assert.is(lines.length, 3);
  const ports = new Set<string>();
  lines.forEach((l, i) => {
    const m = /^\[rank (\d)\] env (\d) 3 (\d) 127\.0\.0\.1 (\d+) 1234$/.exec(l);
    assert.ok(m, l);
    assert.is(Number(m![1]), i); assert.is(Number(m![2]), i); assert.is(Number(m![3]), i);
    ports.add(m![4]);
  });
  assert.is(ports.size, 1);
  assert.ok(Number([...ports][0]) > 0);
  assert.equal(r.stderr.trim().split('\n').sort(), ['[rank 0] to stderr from 0', '[rank 1] to stderr from 1', '[rank 2] to stderr from 2']);
});

test('a failing rank stops the others and the launcher exits with its status', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-launch-'));
  const r = cli(['launch', '-n', '3', '--kill-grace', '2000', script, 'fail', '1', '7', dir]);
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stderr, /feat2go launch: rank 1 exited with status 7; stopping the other ranks/);
  assert.match(r.stdout, /\[rank 0\] rank 0 got SIGTERM/);
  assert.match(r.stdout, /\[rank 2\] rank 2 got SIGTERM/);
  for (const f of fs.readdirSync(dir)) assert.not.ok(alive(Number(fs.readFileSync(path.join(dir, f), 'utf8'))), `${f} still running`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a rank that exits leaving a background process on its stdout still stops the job at once', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-launch-'));
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), 'launch', '-n', '2', '--kill-grace', '2000', script, 'orphan', '1', '5', dir], {
    cwd: packageRoot, encoding: 'utf8', timeout: 25000, env: { ...process.env, NODE_OPTIONS: '' },
  });
  const orphan = Number(fs.readFileSync(path.join(dir, 'orphan.pid'), 'utf8'));
  try {
    assert.is(r.status, 5, `launcher status ${r.status} (signal ${r.signal}) after ${Date.now() - t0} ms; stderr: ${r.stderr}`);
    assert.match(r.stderr, /feat2go launch: rank 1 exited with status 5; stopping the other ranks/);
    assert.match(r.stdout, /\[rank 0\] rank 0 got SIGTERM/);
    assert.ok(alive(orphan), 'the background process still holds the pipe (the case under test)');
    const pid0 = Number(fs.readFileSync(path.join(dir, 'rank-0.pid'), 'utf8'));
    assert.not.ok(alive(pid0), 'rank 0 was stopped');
  } finally {
    try { process.kill(orphan, 'SIGKILL'); } catch { /* gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGINT to the launcher stops every rank', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-launch-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), 'launch', '-n', '2', script, 'hang', dir], {
    cwd: packageRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = ''; let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const deadline = Date.now() + 30000;
  while (fs.readdirSync(dir).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.is(fs.readdirSync(dir).length, 2, 'both ranks started');
  const pids = fs.readdirSync(dir).map((f) => Number(fs.readFileSync(path.join(dir, f), 'utf8')));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.is(code, 130, stderr);
  assert.match(stderr, /feat2go launch: SIGINT; stopping every rank/);
  assert.match(stdout, /\[rank 0\] rank 0 got SIGTERM/);
  assert.match(stdout, /\[rank 1\] rank 1 got SIGTERM/);
  for (const p of pids) assert.not.ok(alive(p));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('bad command lines exit 2 naming the problem; the script\'s own options pass through', () => {
  let r = cli(['launch', '-n', '0', script]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--nproc expects an integer in \[1, 4096\] but received '0'/);
  r = cli(['launch', '-n', '2']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /missing <script>/);
  // a timeout past 2^31 − 1 ms would overflow the ranks' clocks: refused before any rank starts
  r = cli(['launch', '-n', '1', '--timeout', '10000000000000', script, 'ok']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--timeout expects an integer in \[1, 2147483647\] but received '10000000000000'/);
  assert.not.match(r.stdout, /\[rank 0\]/);
  r = cli(['launch', '-n', '1', script, 'ok', '--not-a-launch-option', '-n', '5']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\[rank 0\] env 0 1 0 127\.0\.0\.1 \d+ -$/m);
});

test.run();
