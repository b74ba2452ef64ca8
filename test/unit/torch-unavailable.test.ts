// The libtorch addon is optional: without feat2go_torch.node the
// core works, and every libtorch API throws TorchUnavailableError (process
// groups: DistributedUnavailableError) with the places the loader tried and
// the command that builds it, `npx feat2go build-torch`. Each case runs in a
// child process whose core addon is a copy of the local build in a folder of
// its own (FEAT2GO_ADDON), so no libtorch addon is beside it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addonPaths, native } from '../../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
native();
const corePath = addonPaths().core;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-notorch-'));
const lone = path.join(dir, 'feat2go.node');
if (corePath) fs.copyFileSync(corePath, lone);

/** Runs `body` (TypeScript, with the library imported as F) in a child process; returns what it printed as JSON. */
function child(body: string, env: Record<string, string> = { FEAT2GO_ADDON: lone }): Record<string, unknown> {
  const src = `import * as F from ${JSON.stringify(path.join(root, 'src', 'index.ts'))};\nconst out = {};\n${body}\nprocess.stdout.write(JSON.stringify(out));\n`;
  const file = path.join(dir, `case-${Math.random().toString(36).slice(2)}.mts`);
  fs.writeFileSync(file, src);
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^FEAT2GO_(ADDON|TORCH_ADDON)$/.test(k)) clean[k] = v;
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', env: { ...clean, ...env } });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const catchErr = (expr: string, key: string) => `
try { ${expr}; out.${key} = { ok: true }; }
catch (e) { out.${key} = { name: e.name, message: e.message, torch: e instanceof F.TorchUnavailableError,
  dist: e instanceof F.DistributedUnavailableError, attempts: e.attempts }; }`;

type Caught = { ok?: boolean; name: string; message: string; torch: boolean; dist: boolean; attempts?: Array<{ path: string; source: string; error: string }> };

test('without the libtorch addon: each training class throws TorchUnavailableError naming `npx feat2go build-torch`', () => {
  assert.ok(corePath, 'the core addon loaded');
  const out = child(`
${catchErr("new F.ValueHead({ inputDim: 8, hiddenDim: 8 })", 'head')}
${catchErr("new F.Policy({ obsDim: 4, actionDim: 2 })", 'policy')}
${catchErr("new F.PpoTrainer({})", 'ppo')}
out.caps = F.capabilities();
out.paths = F.addonPaths();
out.dist = F.distributedAvailable();
`);
  for (const [k, what] of [['head', 'ValueHead'], ['policy', 'Policy']] as const) {
    const e = out[k] as Caught;
    assert.is(e.name, 'TorchUnavailableError', k);
    assert.ok(e.torch, `${k}: instanceof TorchUnavailableError`);
    assert.ok(e.message.startsWith(`${what} needs libtorch`), e.message);
    assert.match(e.message, /npx feat2go build-torch/);
    assert.match(e.message, /libtorch-dev/);
    assert.match(e.message, /pip install torch/);
    // The one place tried (beside the explicit core addon), and why it failed.
    assert.equal(e.attempts, [{ path: path.join(dir, 'feat2go_torch.node'), source: 'beside the core addon', error: 'not found' }]);
    assert.ok(e.message.includes(`beside the core addon: ${path.join(dir, 'feat2go_torch.node')}: not found`), e.message);
  }
  // A trainer refuses a non-Policy first (a TypeError naming the argument) or for want of libtorch; either way not a crash.
  assert.ok((out.ppo as Caught).name === 'TorchUnavailableError' || (out.ppo as Caught).name === 'TypeError', JSON.stringify(out.ppo));
  const caps = out.caps as { torch: boolean; distributed: boolean; torchReason?: string; version: string };
  assert.is(caps.torch, false);
  assert.is(caps.distributed, false);
  assert.match(caps.torchReason ?? '', /feat2go_torch\.node is not built/);
  assert.equal(out.paths, { core: lone });
  assert.is(out.dist, false);
});

test('without the libtorch addon: the core works (progress targets, GAE) and initDistributed throws DistributedUnavailableError', () => {
  const out = child(`
const r = F.progressTargetsSync({ data: new Float32Array(6 * 2 * 3).map((_, i) => Math.sin(i)), shape: [6, 2, 3] }, { window: 2 });
out.values = r.values.length;
out.last = r.values[5];
${'try { await F.initDistributed({ rank: 0, worldSize: 1 }); out.init = { ok: true }; } catch (e) { out.init = { name: e.name, message: e.message }; }'}
`);
  assert.is(out.values, 6);
  assert.is(out.last, 1);  // SPEC §3: the last frame's progress is 1
  const init = out.init as Caught;
  assert.is(init.name, 'DistributedUnavailableError');
  assert.match(init.message, /no libtorch addon/);
});

test('FEAT2GO_TORCH_ADDON=off turns the libtorch addon off, and says so', () => {
  const out = child(`${catchErr("new F.ValueHead({ inputDim: 8, hiddenDim: 8 })", 'head')}\nout.reason = F.capabilities().torchReason;`,
    { FEAT2GO_ADDON: lone, FEAT2GO_TORCH_ADDON: 'off' });
  assert.is(out.reason, 'turned off (FEAT2GO_TORCH_ADDON=off)');
  assert.match((out.head as Caught).message, /turned off \(FEAT2GO_TORCH_ADDON=off\)/);
});

test('a FEAT2GO_TORCH_ADDON file that is not a feat2go libtorch addon is refused with the reason', () => {
  // The core addon is a valid Node addon but not the libtorch one.
  const out = child(`${catchErr("new F.ValueHead({ inputDim: 8, hiddenDim: 8 })", 'head')}`, { FEAT2GO_ADDON: lone, FEAT2GO_TORCH_ADDON: lone });
  const e = out.head as Caught;
  assert.is(e.name, 'TorchUnavailableError');
  assert.ok(e.attempts!.some((a) => a.source === 'FEAT2GO_TORCH_ADDON' && a.path === lone && /not a feat2go libtorch addon/.test(a.error)), JSON.stringify(e.attempts));
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test.run();
