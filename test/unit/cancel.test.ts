// Cancellation of the labelling calls (src/core/cancel.ts): an AbortSignal
// stops progressTargetsBatch before its next episode and the promise rejects
// with the signal's reason; an already-aborted signal rejects without work;
// process.exit() and worker.terminate() during a long batch end promptly
// (child processes; the libtorch calls are in test/torch/cancel.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostTensor, native, progressTargets, progressTargetsBatch, progressTargetsSync } from '../../src/index.js';
import { rejectsWith } from '../helpers/asserts.js';
import { runCancelChild } from '../helpers/cancel-run.js';
import { rng } from '../helpers/data.js';

function episode(shape: number[], seed: number): { data: Float32Array; shape: number[] } {
  const x = hostTensor(shape, 'float32', { zero: false });
  const r = rng(seed);
  for (let i = 0; i < x.data.length; i++) x.data[i] = r() * 2 - 1;
  return x;
}

test('progressTargetsBatch: an abort stops the batch before its next episode and rejects with the reason', async () => {
  const x = episode([200, 64, 128], 1);
  const one = performance.now();
  progressTargetsSync(x, { threads: 1 });
  const perEpisode = performance.now() - one;
  // Enough episodes for several seconds of work, one at a time.
  const count = Math.max(50, Math.ceil(4000 / Math.max(perEpisode, 1)));
  const ac = new AbortController();
  const reason = new DOMException('stopped by the test', 'AbortError');
  const t0 = performance.now();
  const p = progressTargetsBatch(Array.from({ length: count }, () => x), { threads: 1, signal: ac.signal });
  setTimeout(() => ac.abort(reason), 50);
  await rejectsWith(p, reason);
  const ms = performance.now() - t0;
  assert.ok(ms < (count * perEpisode) / 2, `the batch of ${count} × ${perEpisode.toFixed(1)} ms ended after ${ms.toFixed(0)} ms`);
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, 0, 'no call reads the episode any more');
});

test('an already-aborted signal rejects with its reason without starting the call; a non-signal is a TypeError', async () => {
  const x = episode([20, 16, 32], 2);
  const reason = new Error('before');
  const p = progressTargets(x, { signal: AbortSignal.abort(reason) });
  assert.is(native().systemHostInfo({ view: x.data }, {}).readers, 0, 'nothing was queued');
  await rejectsWith(p, reason);
  await rejectsWith(progressTargetsBatch([x, x], { signal: AbortSignal.abort(reason) }), reason);
  await rejectsWith(progressTargetsBatch([], { signal: AbortSignal.abort(reason) }), reason);
  try {
    await progressTargets(x, { signal: { aborted: true } as unknown as AbortSignal });
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, /opts\.signal/);
  }
  // A signal that never aborts changes nothing; options pass through.
  const r = await progressTargets(x, { window: 3, signal: new AbortController().signal });
  assert.equal(Array.from(r.values), Array.from(progressTargetsSync(x, { window: 3 }).values));
});

test('process.exit() during a long progressTargetsBatch ends the process within about a second', async () => {
  const r = await runCancelChild('exit-batch', 'EXITING');
  assert.is(r.code, 0);
  assert.ok(!r.lines.some((l) => l.startsWith('RESULT')), 'the batch did not finish');
  assert.ok(r.afterMarkerMs < 3000, `the process took ${r.afterMarkerMs} ms to exit`);
});

test('worker.terminate() during a long progressTargetsBatch ends the worker within about a second', async () => {
  const r = await runCancelChild('terminate-batch', 'STARTED');
  const line = r.lines.find((l) => l.startsWith('RESULT '));
  // The process then exits cleanly: the worker alone had loaded the addon, which Node unloads with it (the addon is linked -z nodelete, so its threads do not run on in unmapped code).
  assert.is(r.code, 0, `the process exited with ${r.code}: ${r.lines.join('\n')}`);
  assert.ok(line, r.lines.join('\n'));
  const res = JSON.parse(line.slice(7)) as { terminateMs: number };
  assert.ok(res.terminateMs < 3000, `terminate() took ${res.terminateMs} ms`);
});

test.run();
