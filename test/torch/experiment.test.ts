// The experiment job end to end at tiny sizes (the JSON shape of `--json`,
// outputs written, determinism for a seed), and its command line's usage errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { experimentJson, runExperiment, type ExperimentJson } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { torchTest } from '../helpers/skip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-experiment-'));
const SPLITS = ['id', 'vision', 'semantic', 'execution', 'oodAvg'];

function checkShape(j: ExperimentJson, algos: string[], nSeeds: number): void {
  assert.equal(Object.keys(j).sort(), ['config', 'rows', 'seeds', 'timings', 'valueModels']);
  assert.is(j.seeds.length, nSeeds);
  const want = [['base', 'none'], ...algos.flatMap((a) => ['sparse', 'steps-to-go', 'feat2go'].map((r) => [a, r]))];
  assert.equal(j.rows.map((r) => [r.algo, r.reward]), want);
  for (const r of j.rows) {
    assert.equal(Object.keys(r).sort(), ['algo', 'ci', 'method', 'reward', 'success']);
    assert.type(r.method, 'string');
    assert.equal(Object.keys(r.success).sort(), [...SPLITS].sort());
    assert.equal(Object.keys(r.ci).sort(), [...SPLITS].sort());
    for (const k of SPLITS) {
      const v = (r.success as Record<string, number>)[k];
      assert.ok(v >= 0 && v <= 1, `${r.method} ${k} = ${v}`);
      const c = (r.ci as Record<string, number | null>)[k];
      if (nSeeds === 1) assert.is(c, null); else assert.ok(typeof c === 'number' && c >= 0);
    }
    const s = r.success;
    assert.ok(Math.abs(s.oodAvg - (s.vision + s.semantic + s.execution) / 3) < 1e-12);
  }
  assert.equal(j.valueModels.map((v) => v.target), ['feat2go', 'steps-to-go']);
  for (const v of j.valueModels) assert.ok(v.spearman === null || (v.spearman >= -1 && v.spearman <= 1));
  assert.ok(typeof j.timings.total === 'number' && j.timings.total > 0);
  assert.ok((j.config as { hyperparameters?: unknown }).hyperparameters, 'hyperparameters are printed with the results');
}

torchTest('feat2go experiment --tiny --json: only JSON on stdout, the documented shape, every output file', () => {
  const out = path.join(dir, 'cli');
  const r = cli(['experiment', '--tiny', '--json', '--out', out, '--threads', '2']);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as ExperimentJson; // throws if anything but JSON is on stdout
  checkShape(j, ['ppo', 'grpo'], 1);
  assert.match(r.stderr, /demonstrations/);
  for (const f of ['results.json', 'results.md', 'details.json', 'success-over-training.svg', 'value-curves.svg', 'contact-id.png', 'contact-vision.png', 'contact-semantic.png', 'contact-execution.png']) {
    assert.ok(existsSync(path.join(out, f)), f);
  }
  assert.equal(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')).rows, j.rows);
  assert.ok(readFileSync(path.join(out, 'success-over-training.svg'), 'utf8').includes('<svg'));
  assert.equal([...readFileSync(path.join(out, 'contact-id.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);
});

torchTest('runExperiment: two seeds give CIs; the same seed and threads give the same numbers', async () => {
  const cfg = { preset: 'tiny' as const, seeds: 2, seed: 3, algos: ['grpo' as const], threads: 2, sizes: { evalEpisodes: 3, demos: 8 } };
  const a = await runExperiment(cfg);
  checkShape(experimentJson(a), ['grpo'], 2);
  assert.equal(a.seeds, [3, 4]);
  const b = await runExperiment(cfg);
  assert.equal(b.rows, a.rows);
  assert.equal(b.valueModels, a.valueModels);
  assert.equal(b.curves, a.curves);
});

test('bad options are usage errors (exit 2) naming the option', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--seeds', '0'], /--seeds.*integer.*'0'/],
    [['--algo', 'sac'], /--algo.*'ppo', 'grpo' or 'both'.*'sac'/],
    [['--envs=-4'], /--envs.*'-4'/],
    [['--envs', '-4'], /--envs/],
    [['--updates=-1'], /--updates.*'-1'/],
    [['--demos=0'], /--demos.*'0'/],
    [['--eval-episodes', '2.5'], /--eval-episodes.*'2\.5'/],
    [['--envs', '12', '--group-size', '8'], /--group-size.*divide/],
    [['--quick', '--full'], /--quick and --full/],
    [['--bogus'], /bogus/],
    [['stray'], /unexpected argument 'stray'/],
  ];
  for (const [args, re] of cases) {
    const r = cli(['experiment', ...args, '--out', path.join(dir, 'never')]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stdout, '');
  }
  assert.not.ok(existsSync(path.join(dir, 'never')));
});

test.run();
