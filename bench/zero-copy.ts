// What one `await progressTargets(x)` on a [300, 256, 1024] float32 episode
// (315 MB) costs the calling process, by where its features live: host
// memory (readNpy, hostTensor: read in place), a SharedArrayBuffer (read in
// place) or a plain Float32Array (copied before the call returns). Each mode
// runs in its own child process (test/helpers/rss-lag-child.ts) so that one
// mode's memory does not count against the next: the extra RSS (peak during
// the call minus before it) and the longest event-loop stall
// (the longest gap between ticks of a 2 ms interval), for a first call and
// a second one. The targets for readNpy and hostTensor: under 100 MB and
// under 50 ms. A second table does the same for one epoch of ValueHead.fit
// (the libtorch addon) on the same memory as [T·N, D] rows: host memory is the
// core addon's, read in place by the libtorch addon through the core's table.
//
//   npm run bench -- zero-copy        (FEAT2GO_BENCH_SHAPE=T,N,D for another shape)
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, '..', 'test', 'helpers', 'rss-lag-child.ts');

interface Call { extraRssMB: number; maxLagMs: number; returnMs: number; callMs: number }
interface Report { mode: string; host: boolean; first: Call; second: Call }

function measure(mode: string, shape: string[], call = 'progressTargets'): Report {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, mode, ...shape],
    { encoding: 'utf8', timeout: 600_000, env: { ...process.env, FEAT2GO_RSS_CALL: call } });
  if (r.status !== 0) throw new Error(`rss-lag-child ${mode} exited ${r.status}: ${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
}

export async function run(): Promise<void> {
  const shape = (process.env.FEAT2GO_BENCH_SHAPE ?? '300,256,1024').split(',');
  const mb = (shape.reduce((a, d) => a * Number(d), 4) / 1e6).toFixed(0);
  const modes: Array<[string, string]> = [
    ['readNpy', 'readNpyFloat32(file) (host memory)'],
    ['hostTensor', 'hostTensor(shape) (host memory)'],
    ['shared', 'readNpyFloat32(file, 3, { shared: true }) (SharedArrayBuffer)'],
    ['plain', 'new Float32Array(n) (plain ArrayBuffer: copied)'],
  ];
  const rows: Report[] = [];
  for (const [mode] of modes) rows.push(measure(mode, shape));
  console.log(`\n### zero-copy: await progressTargets on a [${shape.join(', ')}] episode (${mb} MB), one child process per input\n`);
  console.log('| features from | host memory | 1st call: extra RSS MB | 1st: max event-loop lag ms | 1st: ms until the call returns | 1st: call ms | 2nd: extra RSS MB | 2nd: max lag ms | 2nd: ms until return | 2nd: call ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const f = (c: Call) => `${c.extraRssMB.toFixed(1)} | ${c.maxLagMs.toFixed(1)} | ${c.returnMs.toFixed(1)} | ${c.callMs.toFixed(0)}`;
    console.log(`| ${modes[i][1]} | ${r.host} | ${f(r.first)} | ${f(r.second)} |`);
  }
  const by = (m: string) => rows[modes.findIndex(([k]) => k === m)];
  const plain = by('plain'), host = by('hostTensor');
  console.log('');
  console.log(`- targets, readNpy and hostTensor, both calls: extra RSS < 100 MB, lag < 50 ms: ${
    ['readNpy', 'hostTensor'].every((m) => [by(m).first, by(m).second].every((c) => c.extraRssMB < 100 && c.maxLagMs < 50)) ? 'met' : 'NOT met'}`);
  console.log(`- plain (copied) ÷ hostTensor (in place), 1st call: extra RSS ${(plain.first.extraRssMB / Math.max(host.first.extraRssMB, 0.1)).toFixed(1)}× (denominator floored at 0.1 MB), max lag ${(plain.first.maxLagMs / host.first.maxLagMs).toFixed(2)}×`);
  const { capabilities } = await import('../src/index.js');
  if (!capabilities().torch) {
    console.log('\n(ValueHead.fit rows skipped: no libtorch addon)');
    return;
  }
  const torchModes = modes.filter(([m]) => m === 'hostTensor' || m === 'plain');
  const trows = torchModes.map(([m]) => measure(m, shape, 'valueHeadFit'));
  const [T, N, D] = shape.map(Number);
  console.log(`\n### zero-copy: one epoch of await ValueHead.fit on [${T * N}, ${D}] rows (${mb} MB; the libtorch addon), one child process per input\n`);
  console.log('| hidden from | host memory | 1st call: extra RSS MB | 1st: max event-loop lag ms | 1st: ms until the call returns | 1st: call ms | 2nd: extra RSS MB | 2nd: max lag ms | 2nd: ms until return | 2nd: call ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (let i = 0; i < trows.length; i++) {
    const r = trows[i];
    const f = (c: Call) => `${c.extraRssMB.toFixed(1)} | ${c.maxLagMs.toFixed(1)} | ${c.returnMs.toFixed(1)} | ${c.callMs.toFixed(0)}`;
    console.log(`| ${torchModes[i][1]} | ${r.host} | ${f(r.first)} | ${f(r.second)} |`);
  }
}
