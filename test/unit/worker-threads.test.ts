// The addon under worker_threads: several workers at once give the main
// thread's numbers; a worker terminated in the middle of a call (async and
// sync progress, a batch, the patch-stats encoder, module loading, a
// ValueHead's predict and fit) never takes the process down; workers started
// and stopped in a loop leave memory flat. Each scenario runs in its own child
// process (test/helpers/native-scenarios.ts): a crash there is a signal or an
// exit code here, not a dead test runner.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../helpers/run-scenario.js';
import { torchTest } from '../helpers/skip.js';

test('several workers use the addon at once and get the main thread\'s numbers', () => {
  const r = runScenario('concurrent');
  assert.is(r?.same, 4);
});

for (const name of ['terminate-progress-async', 'terminate-progress-batch', 'terminate-progress-sync', 'terminate-patch-stats', 'terminate-load']) {
  test(`a worker terminated mid-call does not abort the process: ${name}`, () => {
    const r = runScenario(name);
    assert.ok((r?.terminated as number) >= 12);
  });
}

torchTest('a worker terminated during ValueHead.predict / fit does not abort the process', () => {
  const r = runScenario('terminate-value-head');
  assert.is(r?.terminated, 16);
});

test('workers started and stopped in a loop leave RSS and external memory flat', () => {
  const r = runScenario('worker-loop-rss');
  assert.ok(r);
  const growth = (r.rssAfterMB as number) - (r.rssBeforeMB as number);
  // A leaked environment (addon state, a pool, a V8 isolate) costs several MB per worker: 60 rounds would add hundreds.
  assert.ok(growth < 48, `RSS grew by ${growth.toFixed(1)} MB over ${r.rounds} workers`);
  assert.ok((r.externalAfterMB as number) - (r.externalBeforeMB as number) < 16, JSON.stringify(r));
});

test.run();
