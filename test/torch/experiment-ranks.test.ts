// The experiment as data-parallel ranks (`runExperiment` under a process group,
// `feat2go experiment --ranks N`): the ranks split the demonstrations, rollouts
// and evaluation episodes and train together. What must hold, checked against
// one process with the same config:
//   - the value heads train on the same data set (each rank labels its share,
//     the gradients are summed), so the value-model Spearman numbers are the
//     one-process ones;
//   - the behaviour-cloned base is the one-process base and evaluation is
//     deterministic, so the base row's success on every split is the same
//     (which also checks that the evaluation episodes are split and summed);
//   - every rank returns the same tables.
// The RL rows are not compared: each rank samples actions from its own stream.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { capabilities, distributedAvailable, launchRanks, runExperiment, type ExperimentConfig, type ExperimentJson } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { testIf, torchTest } from '../helpers/skip.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RANK_SCRIPT = path.join(here, '..', 'helpers', 'experiment-rank.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'f2g-experiment-ranks-'));
const distTest = testIf(distributedAvailable(), `the addon was built without c10d/Gloo (capabilities().distributed = ${capabilities().distributed})`);

// Small but not trivial: the cloned base succeeds on some in-distribution episodes.
// (A horizon of 80 steps, not the calibrated one: the test needs a base that succeeds sometimes.)
const CONFIG: ExperimentConfig = {
  preset: 'tiny', seeds: 1, seed: 0, threads: 1, algos: ['grpo'], rewards: ['sparse', 'steps-to-go', 'feat2go'], horizon: 80, valueModel: 'pooled-head',
  sizes: { demos: 32, bcDemos: 24, bcEpochs: 60, valueEpochs: 4, rlUpdates: 2, evalEpisodes: 16, probeEpisodes: 24, numEnvs: 8, groupSize: 4 },
};

/** Runs the rank script on `nproc` ranks (or, `local`, as one process without a group) with one thread each. */
async function runRanks(nproc: number, local = false): Promise<Array<Record<string, any>>> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const r = await launchRanks({
    nproc, script: RANK_SCRIPT, args: [JSON.stringify(CONFIG), ...(local ? ['local'] : [])], execArgv: ['--import', 'tsx'], timeoutMs: 60000,
    stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }), prefixStdout: false, env: { OMP_NUM_THREADS: '1' }, handleSignals: false,
  });
  assert.is(r.status, 0, `ranks failed: ${err}`);
  return out.split('\n').filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)));
}

distTest('runExperiment on 2 ranks: the one-process value heads and base policy, the same tables on every rank', async () => {
  // The reference runs in a child with the ranks' thread settings (1 libtorch thread).
  const [one, res] = await Promise.all([runRanks(1, true).then((x) => x[0]), runRanks(2)]);
  assert.is(one.ranks, 1);
  assert.equal(res.map((x) => x.rank).sort(), [0, 1]);
  for (const x of res) {
    assert.is(x.ranks, 2);
    // every rank holds the same global tables
    assert.equal(x.rows, res[0].rows);
    assert.equal(x.curves, res[0].curves);
    assert.equal(x.valueModels, res[0].valueModels);
  }
  const two = res[0];
  // value heads trained together on the shares = the one-process heads
  assert.is(two.probe[0].failed, one.probe[0].failed);
  for (const [k, v] of (one.valueModels as Array<{ target: string; spearman: number | null }>).entries()) {
    assert.ok(v.spearman !== null, 'the probe has failed episodes at several stages');
    assert.ok(Math.abs(two.valueModels[k].spearman - v.spearman!) < 1e-9, `${v.target}: ${two.valueModels[k].spearman} vs one process ${v.spearman}`);
  }
  // the cloned base = the one-process base, evaluated on the split episodes
  const base1 = one.rows.find((x: { method: string }) => x.method === 'base (BC)');
  const base2 = two.rows.find((x: { method: string }) => x.method === 'base (BC)');
  assert.equal(base2.success, base1.success);
  assert.ok(base1.success.id > 0, `the base succeeds somewhere in-distribution (${base1.success.id}), so the comparison is not between zeros`);
  // global success fractions: multiples of 1/16 (evaluation) and 1/8 (a rollout)
  for (const row of two.rows) for (const k of ['id', 'vision', 'semantic', 'execution']) assert.ok(Number.isInteger(row.success[k] * 16), `${row.method} ${k}`);
  for (const c of Object.values(two.curves) as number[][][]) for (const v of c[0]) assert.ok(Number.isInteger(v * 8));
});

distTest('feat2go experiment --tiny --ranks 2 --json: rank 0 prints only the JSON (unprefixed) and writes the outputs', () => {
  const out = path.join(dir, 'ranks2');
  const r = cli(['experiment', '--tiny', '--ranks', '2', '--json', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as ExperimentJson;
  assert.is((j.config as { ranks: number }).ranks, 2);
  assert.is((j.config as { threads: number }).threads, Math.max(1, Math.floor(availableParallelism() / 2)), '--threads defaults to cores / ranks');
  assert.ok(existsSync(path.join(out, 'results.json')));
  assert.is(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')).config.ranks, 2);
  assert.match(r.stderr, /\[rank 0\] seed 0 · demonstrations/);
  assert.not.match(r.stderr, /\[rank 1\] seed/, 'only rank 0 reports progress');
});

torchTest('experiment --ranks: sizes too small to split and --distributed together are usage errors; runExperiment without a group', async () => {
  const a = cli(['experiment', '--tiny', '--ranks', '3']);
  assert.is(a.code, 2);
  assert.match(a.stderr, /--ranks 3: Expected --envs \/ groupSize \(2 rollout groups\) ≥ the 3 ranks/);
  const b = cli(['experiment', '--tiny', '--ranks', '2', '--distributed']);
  assert.is(b.code, 2);
  assert.match(b.stderr, /--ranks and --distributed exclude each other/);
  const c = cli(['experiment', '--tiny', '--ranks', '0']);
  assert.is(c.code, 2);
  assert.match(c.stderr, /--ranks/);
  try {
    await runExperiment({ preset: 'tiny' }, { distributed: true });
    assert.unreachable('should throw');
  } catch (e) {
    assert.match((e as Error).message, /opts\.distributed is true but no process group is initialised/);
  }
  try {
    await runExperiment({ preset: 'tiny' }, { distributed: 1 as unknown as boolean });
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(e instanceof TypeError && /opts\.distributed/.test(e.message), String(e));
  }
});

test.run();
