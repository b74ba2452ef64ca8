// The experiment's report files from hand-made results: SVG plots and the PNG contact sheet.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  chooseHorizon, contactSheetPng, experimentJson, formatExperimentTable, formatPairedTable, resolveExperimentConfig, successCurvesSvg, summariseExperiment, valueCurvesSvg,
  writeFileSet, EXPERIMENT_OUTPUT_FILES, EXPERIMENT_TASK_HORIZONS, type SeedRecord,
} from '../../src/index.js';

test('success curves: one line (with markers) per variant, a band only with several seeds', () => {
  const one = successCurvesSvg({ seeds: [0], curves: { 'PPO sparse': [[0.1, 0.2, 0.4]], 'PPO + Feat2Go': [[0.1, 0.3, 0.5]] } });
  assert.is((one.match(/<polyline/g) ?? []).length, 2);
  assert.is((one.match(/<circle/g) ?? []).length, 6);
  assert.not.match(one, /<polygon/);
  const two = successCurvesSvg({ seeds: [0, 1], curves: { 'GRPO sparse': [[0, 0.5], [0.5, 1]] } });
  assert.is((two.match(/<polygon/g) ?? []).length, 1);
  assert.match(two, /GRPO: success of training rollouts/);
  // mean 0.25 then 0.75 on a 240-px-high panel starting at y = 40: y = 40 + 240·(1 − v)
  assert.match(two, /<polyline points="70\.0,220\.0 530\.0,100\.0"/);
});

test('value curves: both heads and the true stage per episode', () => {
  const svg = valueCurvesSvg({ numStages: 5, valueProbe: { perSeed: [], curves: [{ feat2go: [0, 0.5, 1], stepsToGo: [0, 0.4, 0.9], stage: [0, 2, 4], success: true }] } });
  assert.is((svg.match(/<polyline/g) ?? []).length, 3);
  assert.match(svg, /success/);
});

test('contact sheet: a row per method, cols frames, first and last frame included', async () => {
  const S = 4; const T = 5;
  const ep = (v: number) => {
    const data = new Uint8Array(T * S * S * 3);
    for (let t = 0; t < T; t++) data.fill(v + t * 10, t * S * S * 3, (t + 1) * S * S * 3);
    return { data, shape: [T, S, S, 3] as [number, number, number, number] };
  };
  const split = { id: ep(0), vision: ep(100), semantic: ep(100), execution: ep(100) };
  const png = await contactSheetPng({ episodes: { a: split, b: { ...split, id: ep(100) } } }, 'id', 3);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.is(info.width, 3 * S + 4 * 2);
  assert.is(info.height, 2 * (S + 2) + 2);
  const px = (x: number, y: number) => data[(y * info.width + x) * info.channels];
  assert.is(px(2, 2), 0);          // row a, frame 0
  assert.is(px(2 + 2 * (S + 2), 2), 40); // row a, last frame (t = 4)
  assert.is(px(2 + (S + 2), 2), 20); // middle frame t = 2
  assert.is(px(2, 2 + S + 2), 100); // row b
  assert.is(px(0, 0), 255);        // gap
});

test('experimentJson keeps exactly the documented keys', () => {
  const j = experimentJson({ config: {}, seeds: [0], rows: [], paired: [], gate: null, base: {}, valueModels: [], timings: {}, notes: [], extra: 1 } as never);
  assert.equal(Object.keys(j), ['config', 'seeds', 'rows', 'paired', 'gate', 'base', 'valueModels', 'timings', 'notes']);
});

test('resolveExperimentConfig: presets, overrides and bad configs naming the field', () => {
  const q = resolveExperimentConfig({});
  assert.is(q.preset, 'quick');
  assert.is(q.seeds, 2);
  assert.equal(q.algos, ['ppo']);
  assert.equal(q.rewards, ['sparse', 'steps-to-go', 'feat2go', 'oracle-stage', 'constant']);
  assert.is(q.task, 'pick-place');
  assert.is(q.horizon, EXPERIMENT_TASK_HORIZONS['pick-place']);
  assert.is(q.demonstrator, 'variable-pace');
  assert.is(q.valueModel, 'conv-backbone');
  const k = resolveExperimentConfig({ task: 'knock', rewards: ['oracle-stage', 'sparse'] });
  assert.is(k.horizon, EXPERIMENT_TASK_HORIZONS.knock);
  assert.equal(k.rewards, ['sparse', 'oracle-stage'], 'table order');
  assert.is(resolveExperimentConfig({ task: 'knock', horizon: 33 }).horizon, 33);
  const f = resolveExperimentConfig({ preset: 'full', sizes: { rlUpdates: 0 }, algos: ['grpo', 'grpo'] });
  assert.is(f.seeds, 20);
  assert.ok(f.sizes.evalEpisodes >= 300);
  assert.is(f.sizes.rlUpdates, 0);
  assert.equal(f.algos, ['grpo']);
  assert.throws(() => resolveExperimentConfig({ seeds: 0 }), (e: Error) => e instanceof RangeError && /config\.seeds/.test(e.message));
  assert.throws(() => resolveExperimentConfig({ seeds: 1.5 }), (e: Error) => e instanceof TypeError && /config\.seeds/.test(e.message));
  assert.throws(() => resolveExperimentConfig({ algos: ['sac' as 'ppo'] }), /config\.algos/);
  assert.throws(() => resolveExperimentConfig({ algos: [] }), /config\.algos/);
  assert.throws(() => resolveExperimentConfig({ preset: 'huge' as 'full' }), /config\.preset/);
  assert.throws(() => resolveExperimentConfig({ sizes: { numEnvs: -1 } }), (e: Error) => e instanceof RangeError && /config\.sizes\.numEnvs/.test(e.message));
  assert.throws(() => resolveExperimentConfig({ sizes: { numEnvs: 12, groupSize: 8 } }), /groupSize/);
  assert.throws(() => resolveExperimentConfig({ sizes: { bcDemos: 99, demos: 10 } }), /bcDemos/);
  assert.throws(() => resolveExperimentConfig({ sizes: { horizon: 5 } as object }), /horizon/);
  assert.throws(() => resolveExperimentConfig({ seed: -1 }), /config\.seed/);
  assert.throws(() => resolveExperimentConfig({ nope: 1 } as object), /nope/);
  assert.throws(() => resolveExperimentConfig({ task: 'stack' as 'knock' }), /config\.task/);
  assert.throws(() => resolveExperimentConfig({ rewards: ['dense' as 'sparse'] }), /config\.rewards/);
  assert.throws(() => resolveExperimentConfig({ sizes: { evalEpisodes: 401 } }), (e: Error) => e instanceof RangeError && /evalEpisodes in \[1, 400\]/.test(e.message));
  assert.throws(() => resolveExperimentConfig({ demonstrator: 'steady', demonstratorOptions: { drop: 0 } }), /demonstratorOptions only with/);
  assert.throws(() => resolveExperimentConfig({ demonstratorOptions: { drop: 2 } }), /opts\.drop/);
});

// ------------------------------------------------------------ the summary, from hand-made seed records

const SPLITS = ['id', 'vision', 'semantic', 'execution'] as const;
function record(seed: number, success: Record<string, number[]>, probe: { stage: number[]; f2g: number[]; stg: number[] }, first: Record<string, number>): SeedRecord {
  return {
    seed, demoSuccess: 1,
    success: Object.fromEntries(Object.entries(success).map(([m, v]) => [m, Object.fromEntries(SPLITS.map((s, i) => [s, v[i]]))])) as SeedRecord['success'],
    curves: Object.fromEntries(Object.entries(first).map(([m, v]) => [m, [v, 0.5]])),
    probe: { success: 0.1, stage: probe.stage, progress: probe.stage.map((k) => k / 4), values: { feat2go: probe.f2g, 'steps-to-go': probe.stg } },
    valueCurves: [], episodes: {}, timings: { rl: 1 },
  };
}

test('summariseExperiment: means, paired differences (hand-worked), the gate, base rates and value diagnostics', () => {
  const cfg = resolveExperimentConfig({ preset: 'full', seeds: 5, rewards: ['sparse', 'steps-to-go', 'feat2go', 'oracle-stage'] });
  // in-distribution success per seed: sparse, steps-to-go, feat2go, oracle-stage
  const id = [[0.2, 0.3, 0.3, 0.4], [0.1, 0.2, 0.1, 0.3], [0.3, 0.3, 0.4, 0.5], [0.2, 0.4, 0.3, 0.45], [0.1, 0.2, 0.2, 0.3]];
  const recs = id.map((r, k) => record(k, {
    'base (BC)': [0.05, 0, 0.01, 0.02], 'PPO sparse': [r[0], 0, 0.1, 0.2], 'PPO + Steps-To-Go': [r[1], 0, 0.1, 0.3], 'PPO + Feat2Go': [r[2], 0, 0.2, 0.2], 'PPO + oracle stage': [r[3], 0, 0.1, 0.2],
  }, { stage: [0, 0, 1, 3, 3, 2], f2g: [0.1, 0.2, 0.3, 0.9, 0.8, 0.5], stg: [0.4, 0.4, 0.4, 0.4, 0.5, 0.4] },
  { 'PPO sparse': 0.06 + k / 100, 'PPO + Steps-To-Go': 0.06 + k / 100 }));
  const r = summariseExperiment(cfg, recs, { ranks: 1, workers: 1, numStages: 5, totalSeconds: 9 });
  const row = (m: string) => r.rows.find((x) => x.method === m)!;
  assert.ok(Math.abs(row('PPO sparse').success.id - 0.18) < 1e-12);
  // sparse id: 0.2 0.1 0.3 0.2 0.1 → mean 0.18, s = 0.083666, t(4) = 2.776 → ± 0.10387
  assert.ok(Math.abs(row('PPO sparse').ci.id! - 2.776 * Math.sqrt(0.007) / Math.sqrt(5)) < 1e-9);
  assert.ok(Math.abs(row('PPO sparse').success.semExecAvg - 0.15) < 1e-12);
  // oracle − steps-to-go in distribution: d = 0.1 0.1 0.2 0.05 0.1 → mean 0.11, s = √(0.0030/4·…)
  const d = [0.1, 0.1, 0.2, 0.05, 0.1]; const m = 0.11;
  const sd = Math.sqrt(d.reduce((a, x) => a + (x - m) ** 2, 0) / 4);
  const g = r.paired.find((p) => p.a === 'oracle-stage' && p.b === 'steps-to-go' && p.split === 'id')!;
  assert.ok(Math.abs(g.mean - m) < 1e-12);
  assert.ok(Math.abs(g.ciLow! - (m - 2.776 * sd / Math.sqrt(5))) < 1e-9);
  assert.equal([g.wins, g.losses, g.n], [5, 0, 5]);
  assert.equal(r.gate, { algo: 'ppo', n: 5, mean: g.mean, ciLow: g.ciLow, ciHigh: g.ciHigh, passed: true });
  // feat2go − steps-to-go: 0 −0.1 +0.1 −0.1 0 → 1 win, 2 losses
  const fs = r.paired.find((p) => p.a === 'feat2go' && p.b === 'steps-to-go' && p.split === 'id')!;
  assert.equal([fs.wins, fs.losses], [1, 2]);
  assert.not.ok(r.paired.some((p) => p.a === 'steps-to-go' && p.b === 'steps-to-go'));
  assert.is(r.paired.filter((p) => p.split === 'id').length, 3 + 2, 'three against sparse, two against Steps-To-Go');
  // base rates
  assert.is(r.base.deterministic.id, 0.05);
  assert.ok(Math.abs(r.base.sampledSuccess.ppo! - 0.08) < 1e-12, 'mean of the first rollouts 0.06 … 0.10');
  // value diagnostics pooled over seeds: Feat2Go by stage 0.15 / 0.3 / 0.5 / 0.85, spread 0.7
  const f2g = r.valueModels.find((v) => v.target === 'feat2go')!;
  assert.equal(f2g.byStage.map((x) => Math.round(x! * 1000) / 1000), [0.15, 0.3, 0.5, 0.85]);
  assert.ok(Math.abs(f2g.spread! - 0.7) < 1e-9);
  assert.is(f2g.failed, 30);
  assert.ok(f2g.spearman! > 0.9 && f2g.meetsTargets);
  const stg = r.valueModels.find((v) => v.target === 'steps-to-go')!;
  assert.not.ok(stg.meetsTargets);
  assert.is(r.notes.length, 0, 'a full run with 5 seeds: no warning');
  assert.match(formatPairedTable(r), /\| PPO oracle stage − Steps-To-Go \| \+11\.0 \[\+\d+\.\d, \+\d+\.\d\] 5\/0 \|/);
  assert.match(formatPairedTable(r), /Gate .*: \+11\.0 .*n = 5: passed/);
  assert.match(formatExperimentTable(r), /\| PPO sparse \| 18\.0 ± 10\.4 \|/);
});

test('summariseExperiment: no intervals below 5 seeds, and a quick run says it is a demonstration', () => {
  const cfg = resolveExperimentConfig({ preset: 'quick', rewards: ['sparse', 'steps-to-go', 'oracle-stage'] });
  const recs = [0, 1].map((k) => record(k, { 'base (BC)': [0, 0, 0, 0], 'PPO sparse': [0.2, 0, 0, 0], 'PPO + Steps-To-Go': [0.3 + k / 10, 0, 0, 0], 'PPO + oracle stage': [0.9, 0, 0, 0] },
    { stage: [0, 1], f2g: [0, 0], stg: [0.1, 0.2] }, { 'PPO sparse': 0 }));
  const r = summariseExperiment(cfg, recs, { ranks: 1, workers: 1, numStages: 5, totalSeconds: 1 });
  assert.ok(r.rows.every((x) => Object.values(x.ci).every((c) => c === null)));
  assert.ok(r.paired.every((p) => p.ciLow === null && p.ciHigh === null));
  assert.is(r.gate!.passed, false, 'never passed without an interval');
  assert.match(r.notes.join(' '), /demonstration .*not a result/);
  assert.match(r.notes.join(' '), /No confidence intervals: 2 seeds/);
  assert.match(formatExperimentTable(r), /mean \(no intervals below 5 seeds\)/);
  assert.not.match(formatExperimentTable(r), /±/);
});

test('chooseHorizon: success by step H from the success steps, the horizon closest to the middle of the band', () => {
  // seed A: successes at steps 10, 20, 30 of 10 episodes; seed B: 20, 40 of 10
  const steps = [[10, 20, 30, 0, 0, 0, 0, 0, 0, 0], [20, 40, 0, 0, 0, 0, 0, 0, 0, 0]];
  const c = chooseHorizon(steps, 50, [0.05, 0.1]);
  assert.is(c.successByHorizon.length, 50);
  assert.equal(c.successByHorizon[9].perSeed, [0.1, 0]); // H = 10
  assert.equal(c.successByHorizon[19].perSeed, [0.2, 0.1]); // H = 20
  // mean at H: 0 (<10), 0.05 (10–19), 0.15 (20–29), 0.2 (30–39), 0.25 (40+); 0.075 is closest to 0.05 first reached at H = 10
  assert.is(c.horizon, 10);
  assert.ok(Math.abs(c.sampledSuccess - 0.05) < 1e-12);
  assert.ok(c.inTarget);
  assert.not.ok(chooseHorizon([[0, 0]], 10, [0.05, 0.1]).inTarget);
});

// ------------------------------------------------------------ outputs as a set

test('writeFileSet: a failure while staging leaves the previous set untouched and no staging folder; leftovers of dead writers are removed', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'f2g-set-'));
  const out = path.join(root, 'run');
  writeFileSet(out, [['results.json', 'old-json'], ['results.md', 'old-md']], EXPERIMENT_OUTPUT_FILES);
  assert.throws(() => writeFileSet(out, [['results.json', 'new'], ['results.md', 'new'], ['details.json', 'new']], EXPERIMENT_OUTPUT_FILES, (name) => {
    if (name === 'results.md') throw new Error('interrupted');
  }), /interrupted/);
  assert.equal(readdirSync(out).sort(), ['results.json', 'results.md']);
  assert.is(readFileSync(path.join(out, 'results.json'), 'utf8'), 'old-json');
  assert.equal(readdirSync(root), ['run']);
  // a staging folder of a process that no longer exists is removed by the next write; the new set replaces the old whole
  mkdirSync(path.join(root, '.run.tmp-999999999-abcd'));
  writeFileSet(out, [['details.json', 'new']], EXPERIMENT_OUTPUT_FILES);
  assert.equal(readdirSync(out), ['details.json']);
  assert.equal(readdirSync(root), ['run']);
  assert.throws(() => writeFileSet(out, [['x', '1']], ['x']), /holds files that are not experiment outputs \(details\.json\)/);
});

test('writeExperimentOutputs: SIGINT while the set is written leaves the previous run\'s files, never a mix', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'f2g-sigint-'));
  const out = path.join(root, 'run');
  const script = path.join(root, 'child.mts');
  const src = path.resolve('src/index.ts');
  writeFileSync(script, `
    import { writeExperimentOutputs } from ${JSON.stringify(src)};
    const tag = process.argv[2]; const stopAt = Number(process.argv[3]);
    const r = { config: { tag }, seeds: [0], rows: [], paired: [], gate: null, base: { deterministic: { id: 0, vision: 0, semantic: 0, execution: 0 }, sampledSuccess: {}, probeSuccess: 0, demoSuccess: 1 },
      valueModels: [], timings: {}, notes: [tag], curves: { 'PPO sparse': [[0, 1]] }, perSeed: [], valueProbe: { perSeed: [], curves: [] }, episodes: {}, numStages: 5 };
    let k = 0;
    await writeExperimentOutputs(r, ${JSON.stringify(out)}, tag, () => { if (++k === stopAt) process.kill(process.pid, 'SIGINT'); });
  `);
  const run = (tag: string, stopAt: number) => spawnSync(process.execPath, ['--import', 'tsx', script, tag, String(stopAt)], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const first = run('tagOLD', 0);
  assert.is(first.status, 0, first.stderr);
  const before = readdirSync(out).sort().map((f) => readFileSync(path.join(out, f), 'utf8'));
  for (const stopAt of [1, 2, 3]) {
    const r = run(`tagMID${stopAt}`, stopAt);
    assert.is(r.signal, 'SIGINT', 'killed by the signal while writing');
    const after = readdirSync(out).sort().map((f) => readFileSync(path.join(out, f), 'utf8'));
    assert.equal(after, before, `interrupted after ${stopAt} file(s): the previous set, whole`);
  }
  const done = run('tagNEW', 0);
  assert.is(done.status, 0, done.stderr);
  const final = readdirSync(out).map((f) => readFileSync(path.join(out, f), 'utf8'));
  assert.ok(final.every((t) => !t.includes('tagOLD')) && final.some((t) => t.includes('tagNEW')), 'the new set replaced the old whole');
  assert.equal(readdirSync(root).sort(), ['child.mts', 'run'], 'the interrupted writers\' staging folders were removed');
});

test.run();
