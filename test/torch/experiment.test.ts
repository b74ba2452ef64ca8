// The experiment job end to end at tiny sizes: the JSON shape of `--json`,
// every output written as a set, determinism for a seed (in this process and
// in worker processes), common random numbers across reward variants, and
// the command line's usage errors — including an --out that cannot receive
// the outputs, refused before any work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXPERIMENT_OUTPUT_FILES, type ExperimentJson } from '../../src/index.js';
import { experimentCommand, runCommand } from '../../src/cli/index.js';
import { captureIO, cli, packageRoot } from '../helpers/cli.js';
import { torchTest } from '../helpers/skip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-experiment-'));
const COLUMNS = ['id', 'vision', 'semantic', 'execution', 'oodAvg', 'semExecAvg'];
const REWARDS = ['sparse', 'steps-to-go', 'feat2go', 'oracle-stage', 'constant'];

function checkShape(j: ExperimentJson, algos: string[], nSeeds: number, rewards = REWARDS, model = 'conv-backbone'): void {
  assert.equal(Object.keys(j).sort(), ['base', 'config', 'gate', 'notes', 'paired', 'rows', 'seeds', 'timings', 'valueModels']);
  assert.is(j.seeds.length, nSeeds);
  const want = [['base', 'none'], ...algos.flatMap((a) => rewards.map((r) => [a, r]))];
  assert.equal(j.rows.map((r) => [r.algo, r.reward]), want);
  for (const r of j.rows) {
    assert.equal(Object.keys(r).sort(), ['algo', 'ci', 'method', 'reward', 'success']);
    assert.equal(Object.keys(r.success).sort(), [...COLUMNS].sort());
    assert.equal(Object.keys(r.ci).sort(), [...COLUMNS].sort());
    for (const k of COLUMNS) {
      const v = (r.success as Record<string, number>)[k];
      assert.ok(v >= 0 && v <= 1, `${r.method} ${k} = ${v}`);
      assert.is((r.ci as Record<string, number | null>)[k], null, 'no intervals below 5 seeds');
    }
    const s = r.success;
    assert.ok(Math.abs(s.oodAvg - (s.vision + s.semantic + s.execution) / 3) < 1e-12);
    assert.ok(Math.abs(s.semExecAvg - (s.semantic + s.execution) / 2) < 1e-12);
  }
  // paired rows: every reward against sparse, every other non-sparse against Steps-To-Go, 5 columns each
  const pairs = new Set(j.paired.map((p) => `${p.algo} ${p.a}-${p.b}`));
  for (const algo of algos) {
    for (const a of rewards) {
      if (a !== 'sparse') assert.ok(pairs.has(`${algo} ${a}-sparse`), `${algo} ${a} − sparse`);
      if (a !== 'sparse' && a !== 'steps-to-go') assert.ok(pairs.has(`${algo} ${a}-steps-to-go`), `${algo} ${a} − steps-to-go`);
    }
  }
  for (const p of j.paired) {
    assert.is(p.n, nSeeds);
    assert.ok(p.wins + p.losses <= p.n);
    assert.is(p.ciLow, null);
    const a = j.rows.find((r) => r.algo === p.algo && r.reward === p.a)!; const b = j.rows.find((r) => r.algo === p.algo && r.reward === p.b)!;
    assert.ok(Math.abs(p.mean - ((a.success as Record<string, number>)[p.split] - (b.success as Record<string, number>)[p.split])) < 1e-12, 'mean of differences = difference of means');
  }
  assert.ok(j.gate && j.gate.passed === false && j.gate.ciLow === null, 'no gate verdict without an interval');
  assert.equal(Object.keys(j.base).sort(), ['demoSuccess', 'deterministic', 'probeSuccess', 'sampledSuccess']);
  assert.equal(Object.keys(j.base.sampledSuccess), algos);
  const base = j.rows[0].success;
  for (const s of ['id', 'vision', 'semantic', 'execution'] as const) assert.is(j.base.deterministic[s], base[s]);
  assert.equal(j.valueModels.map((v) => v.target), ['feat2go', 'steps-to-go'].filter((t) => rewards.includes(t)));
  for (const v of j.valueModels) {
    assert.is(v.model, model);
    assert.ok(v.spearman === null || (v.spearman >= -1 && v.spearman <= 1));
    assert.is(v.byStage.length, 4);
    assert.ok(v.failed >= 0);
  }
  assert.ok(typeof j.timings.total === 'number' && j.timings.total > 0);
  assert.ok((j.config as { hyperparameters?: unknown }).hyperparameters, 'hyperparameters are printed with the results');
  assert.match(j.notes.join(' '), /not a result/);
}

torchTest('feat2go experiment --tiny --json: only JSON on stdout, the documented shape, every output file', () => {
  const out = path.join(dir, 'cli');
  const r = cli(['experiment', '--tiny', '--json', '--out', out, '--threads', '2']);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as ExperimentJson; // throws if anything but JSON is on stdout
  checkShape(j, ['ppo'], 1);
  assert.match(r.stderr, /demonstrations/);
  assert.equal(readdirSync(out).sort(), [...EXPERIMENT_OUTPUT_FILES].sort());
  assert.equal(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')).rows, j.rows);
  assert.ok(readFileSync(path.join(out, 'success-over-training.svg'), 'utf8').includes('<svg'));
  assert.equal([...readFileSync(path.join(out, 'contact-id.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no staging folder left behind');
});

/** `feat2go <args>` in a child with one libtorch thread (libtorch sets its thread count once per process). */
function cli1(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), ...args], {
    cwd: packageRoot, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', FEAT2GO_TORCH_THREADS: '1', OMP_NUM_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

torchTest('the same seed and threads give the same numbers in one process and in 2 worker processes; variants share the base sampling', () => {
  const args = ['experiment', '--tiny', '--seeds', '2', '--seed', '3', '--algo', 'grpo', '--threads', '1', '--rewards', 'sparse,steps-to-go,oracle-stage',
    '--eval-episodes', '3', '--demos', '8', '--updates', '2', '--value-model', 'pooled-head', '--json'];
  const one = cli1([...args, '--out', path.join(dir, 'one')]);
  const two = cli1([...args, '--workers', '2', '--out', path.join(dir, 'two')]);
  assert.is(one.code, 0, one.stderr);
  assert.is(two.code, 0, two.stderr);
  const a = JSON.parse(one.stdout) as ExperimentJson; const b = JSON.parse(two.stdout) as ExperimentJson;
  checkShape(a, ['grpo'], 2, ['sparse', 'steps-to-go', 'oracle-stage'], 'pooled-head');
  assert.equal(a.seeds, [3, 4]);
  assert.is((b.config as { workers: number }).workers, 2);
  assert.equal(b.rows, a.rows);
  assert.equal(b.paired, a.paired);
  assert.equal(b.base, a.base);
  // value models: the same up to libtorch's rounding (its kernels may differ with buffer alignment across processes)
  for (const [k, v] of a.valueModels.entries()) {
    for (const [i, x] of v.byStage.entries()) assert.ok(x === b.valueModels[k].byStage[i] || Math.abs(x! - b.valueModels[k].byStage[i]!) < 1e-5);
  }
  // common random numbers: before any update every variant's first rollout is the same base sampling
  const curves = JSON.parse(readFileSync(path.join(dir, 'one', 'details.json'), 'utf8')).curves as Record<string, number[][]>;
  for (let s = 0; s < 2; s++) {
    const first = Object.values(curves).map((c) => c[s][0]);
    assert.ok(first.every((v) => v === first[0]), `seed ${a.seeds[s]}: ${first}`);
  }
  assert.is(a.base.sampledSuccess.grpo, (curves['GRPO sparse'][0][0] + curves['GRPO sparse'][1][0]) / 2);
});

torchTest('--out that cannot receive the outputs: exit 2 before any work, naming the folder; a refused run leaves an earlier set as it was', async () => {
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'x');
  const r = cli(['experiment', '--tiny', '--out', file]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--out .*a-file: exists and is a file, not a folder/);
  assert.not.match(r.stderr, /demonstrations/, 'refused before any work');
  const prev = path.join(dir, 'prev');
  mkdirSync(prev);
  writeFileSync(path.join(prev, 'results.json'), '{"old": true}');
  const cases: Array<[string, RegExp]> = [
    [path.join(file, "sub"), /--out .*a-file\/sub: .*a-file: exists and is a file, not a folder/],
    ['/proc/self/nope/x', /--out \/proc\/self\/nope\/x: .*cannot create folder \/proc\/self\/nope/],
    [dir, /holds files that are not experiment outputs/],
  ];
  for (const [out, re] of cases) {
    const { out: o, io } = captureIO();
    assert.is(await runCommand(experimentCommand, ['--tiny', '--out', out], io), 2, out);
    assert.match(o.stderr, re);
    assert.not.match(o.stderr, /demonstrations/);
  }
  assert.is(readFileSync(path.join(prev, 'results.json'), 'utf8'), '{"old": true}');
});

test('bad options are usage errors (exit 2) naming the option', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--seeds', '0'], /--seeds.*integer.*'0'/],
    [['--algo', 'sac'], /--algo.*'ppo', 'grpo' or 'both'.*'sac'/],
    [['--envs=-4'], /--envs.*'-4'/],
    [['--updates=-1'], /--updates.*'-1'/],
    [['--demos=0'], /--demos.*'0'/],
    [['--eval-episodes', '2.5'], /--eval-episodes.*'2\.5'/],
    [['--eval-episodes', '401'], /--eval-episodes in \[1, 400\] but received 401/],
    [['--envs', '12', '--group-size', '8'], /--group-size.*divide/],
    [['--quick', '--full'], /--quick and --full/],
    [['--task', 'stack'], /--task expects 'pick-place', 'slip', 'knock' but received 'stack'/],
    [['--rewards', 'sparse,dense'], /--rewards expects a comma-separated list of sparse, steps-to-go, feat2go, oracle-stage, constant but received 'sparse,dense'/],
    [['--demonstrator', 'human'], /--demonstrator/],
    [['--value-model', 'vlm'], /--value-model expects 'conv-backbone', 'pooled-head' but received 'vlm'/],
    [['--workers', '2', '--ranks', '2'], /--workers and --ranks/],
    [['--gate'], /--gate belongs to 'feat2go experiment calibrate'/],
    [['--bogus'], /bogus/],
    [['stray'], /unexpected argument 'stray'/],
    [['calibrate', 'more'], /unexpected argument 'more'/],
  ];
  for (const [args, re] of cases) {
    const { out, io } = captureIO();
    assert.is(await runCommand(experimentCommand, [...args, '--out', path.join(dir, 'never')], io), 2, `${args.join(' ')}: ${out.stderr}`);
    assert.match(out.stderr, re);
    assert.is(out.stdout, '');
  }
  const r = cli(['experiment', '--seeds', '0']); // and through the binary: exit status 2
  assert.is(r.code, 2);
  assert.not.ok(existsSync(path.join(dir, 'never')));
});

test.run();
