// Data-parallel ImageValueModel.fit: 2 ranks with unequal shares of the
// frames (child processes on 127.0.0.1) end with the weights and losses one
// process gets on the whole set, both stages, augmentation on.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { capabilities, distributedAvailable, ImageValueModel } from '../../src/index.js';
import { testIf } from '../helpers/skip.js';
import { IMAGE_DIST, imageDistData } from '../helpers/image-dist-data.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(here, '..', 'helpers', 'image-dist-child.ts');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function runRank(r: number, n: number, port: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, RANK: String(r), WORLD_SIZE: String(n), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), FEAT2GO_DIST_TIMEOUT_MS: '60000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = ''; let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const distTest = testIf(distributedAvailable(), `this addon was built without c10d/Gloo (capabilities().distributed = ${capabilities().distributed}; torch = ${capabilities().torch})`);

distTest('2 ranks × unequal shares = 1 process × the whole set: head and joint stages with augmentation, weights broadcast from rank 0', async () => {
  const port = await freePort();
  const runs = await Promise.all([0, 1].map((r) => runRank(r, 2, port)));
  const res = runs.map((x) => {
    const line = x.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`no RESULT from a rank: ${x.stdout}\n${x.stderr}`);
    return JSON.parse(line.slice(7)) as { same: boolean; head: number[]; joint: number[]; weights?: Array<[string, number[]]> };
  });
  assert.ok(res[0].same && res[1].same, 'every rank holds the same weights');
  const { frames, targets } = imageDistData();
  const vm = new ImageValueModel(IMAGE_DIST.config(0));
  const f = { data: frames, shape: [IMAGE_DIST.rows, IMAGE_DIST.side, IMAGE_DIST.side, 3] };
  const head = vm.fitSync(f, targets, { ...IMAGE_DIST.fit, stage: 'head' });
  const joint = vm.fitSync(f, targets, { ...IMAGE_DIST.fit, stage: 'joint', seed: IMAGE_DIST.fit.seed + 1 });
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-3, Math.abs(b));
  for (const r of res) {
    r.head.forEach((l, i) => assert.ok(rel(l, head.losses[i]) < 1e-4, `head loss ${i}: ${l} vs ${head.losses[i]}`));
    r.joint.forEach((l, i) => assert.ok(rel(l, joint.losses[i]) < 1e-4, `joint loss ${i}: ${l} vs ${joint.losses[i]}`));
  }
  // the two runs sum the same terms in another order (float32) over 6 AdamW steps
  const want = vm.stateDict();
  assert.equal(res[0].weights!.map(([n]) => n), want.map(([n]) => n));
  res[0].weights!.forEach(([n, d], i) => {
    const m = d.reduce((acc, x, j) => Math.max(acc, rel(x, want[i][1][j])), 0);
    assert.ok(m < 2e-3, `${n}: max relative difference ${m}`);
  });
});

test.run();
