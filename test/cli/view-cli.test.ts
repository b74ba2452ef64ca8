// `feat2go view` as a user runs it: the address is the first line on stdout,
// the page and API answer there, Ctrl-C (SIGINT) stops it cleanly with exit
// status 0, --host 0.0.0.0 warns, and bad command lines exit 2.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labelPaths } from '../../src/index.js';
import { commandHelp, runCommand, viewCommand } from '../../src/cli/index.js';
import { captureIO, cli, packageRoot } from '../helpers/cli.js';

/** Runs `feat2go view args…` in this process (for command lines that end before serving). */
async function viewInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { out, io } = captureIO();
  const code = await runCommand(viewCommand, args, io);
  return { code, ...out };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-view-cli-'));
const labels = path.join(root, 'labels');

/** Starts `feat2go view args…`; resolves with the child and its first stdout line. */
function startView(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; first: string; out: () => { stdout: string; stderr: string } }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), 'view', ...args], {
    cwd: packageRoot, env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no address within 30 s; stderr: ${stderr}`)); }, 30_000);
    child.stdout!.on('data', (d) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl >= 0 && timer) {
        clearTimeout(timer);
        resolve({ child, first: stdout.slice(0, nl), out: () => ({ stdout, stderr }) });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); if (!stdout.includes('\n')) reject(new Error(`exited ${code} before printing the address: ${stderr}`)); });
  });
}

function exited(child: ChildProcess, ms = 10_000): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) { resolve({ code: child.exitCode, signal: null }); return; }
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`still running ${ms} ms after the signal`)); }, ms);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
  });
}

test.before(async () => {
  const T = 10;
  const data = new Float32Array(T * 2 * 3).map((_, i) => Math.cos(i) + Math.floor(i / 6) * 0.2);
  const hdr = `{'descr': '<f4', 'fortran_order': False, 'shape': (${T}, 2, 3), }`.padEnd(117, ' ') + '\n';
  fs.writeFileSync(path.join(root, 'ep.npy'), Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, hdr.length, 0]), Buffer.from(hdr, 'latin1'), Buffer.from(data.buffer)]));
  await labelPaths([path.join(root, 'ep.npy')], { out: labels, window: 3 });
});

test.after(() => fs.rmSync(root, { recursive: true, force: true }));

test('feat2go view DIR --port 0: the address is the first line; page and API answer; Ctrl-C stops it with status 0', async () => {
  const { child, first, out } = await startView([labels, '--port', '0']);
  try {
    const m = /^http:\/\/127\.0\.0\.1:(\d+)\/$/.exec(first);
    assert.ok(m, `first line: ${first}`);
    assert.ok(Number(m![1]) > 0);
    const page = await fetch(first);
    assert.is(page.status, 200);
    assert.match(await page.text(), /<title>feat2go view<\/title>/);
    const list = await (await fetch(`${first}api/episodes`)).json() as any[];
    assert.equal(list.map((e) => e.name), ['ep']);
    child.kill('SIGINT');
    const r = await exited(child);
    assert.equal(r, { code: 0, signal: null });
    assert.match(out().stdout, /1 episode from .*labels; Ctrl-C stops/);
    assert.match(out().stderr, /feat2go view: stopped/);
    assert.not.match(out().stderr, /warning/);
    // The port is free again.
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer().once('error', reject).listen(Number(m![1]), '127.0.0.1', () => s.close(() => resolve()));
    });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('--host 0.0.0.0 prints a warning on stderr and serves on every interface; --open without a browser says so; SIGTERM stops it too', async () => {
  // No PATH: no xdg-open to find.
  const { child, first, out } = await startView([labels, '--host', '0.0.0.0', '--port', '0', '--open'], { PATH: '' });
  try {
    assert.match(first, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.is((await fetch(`${first}api/index`)).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.match(out().stderr, /warning: listening on 0\.0\.0\.0: every machine that can reach this one can read/);
    if (process.platform === 'linux') assert.match(out().stderr, new RegExp(`could not open a browser \\(xdg-open: .*ENOENT.*\\); open ${first.replace(/[.]/g, '\\.')} yourself`));
    child.kill('SIGTERM');
    assert.equal(await exited(child), { code: 0, signal: null });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('a port in use given with --port is an error naming it (exit 1)', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await viewInProcess([labels, '--port', String(port)]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`feat2go view: port ${port} is in use: give another --port, or --port 0 for a free one`));
    assert.is(r.stdout, '');
  } finally {
    blocker.close();
  }
});

test('bad command lines exit 2 with the reason; a folder without outputs exits 1', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing <dir>/],
    [[labels, root], /expected one folder but received 2/],
    [[path.join(root, 'nope')], /nope: no such folder/],
    [[path.join(root, 'ep.npy')], /ep\.npy: not a folder/],
    [[labels, '--port', 'abc'], /--port expects an integer in \[0, 65535\] but received 'abc'/],
    [[labels, '--port', '70000'], /--port expects an integer in \[0, 65535\]/],
    [[labels, '--host', ''], /--host expects an address/],
    [[labels, '--colour'], /Unknown option '--colour'/],
  ];
  for (const [args, re] of cases) {
    const r = await viewInProcess(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stdout, '');
  }
  const empty = fs.mkdtempSync(path.join(root, 'empty-'));
  const r = await viewInProcess([empty]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /no feat2go outputs here \(summary\.json from `feat2go label`/);
});

test('feat2go view --help lists the options; feat2go --help lists the command', () => {
  const h = commandHelp(viewCommand);
  for (const o of ['--port N', '--host H', '--open', 'default: 127.0.0.1']) assert.ok(h.includes(o), o);
  assert.match(cli(['--help']).stdout, /\n {2}view +Look at labelled episodes in the browser/);
});

test.run();
