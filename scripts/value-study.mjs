#!/usr/bin/env node
// The value-model settings study (issue 16's diagnostics target), on
// calibration seeds only (1000 and up; never reported).
//
// The experiment's value models (ImageValueModel: a ConvBackbone and the value
// head, two stages, augmentation) share one set of settings for both value
// targets (Feat2Go and Steps-To-Go). The first --full run used settings fixed
// before any result; its Feat2Go model reached Spearman 0.811 on the base's
// failed rollouts (target ≥ 0.85), its Steps-To-Go model 0.851. This study
// compares a few shared settings by the value-model diagnostics alone — no RL
// is run, so no RL result of any variant is seen while choosing.
//
// Candidates and the rule were fixed in this file, committed before the study
// ran:
//   current   the settings of the first --full run (40 joint epochs, shift 2, …)
//   epochs80  the joint stage twice as long (80 epochs)
//   augment+  stronger augmentation (shift 4, brightness/contrast 0.3, gain 0.15)
//   batch64   minibatches of 64 instead of 128 (twice the steps per epoch)
// Rule: among the settings whose BOTH models meet the targets (pooled
// Spearman ≥ 0.85 and stage-3 − stage-0 mean ≥ 0.3), take the one with the
// highest min(Spearman Feat2Go, Spearman Steps-To-Go); within 0.005 of it, the
// cheapest. If none meets them, keep `current`.
//
//   node scripts/value-study.mjs --seeds 1000,1001 --out /tmp/part-a.json
//   node scripts/value-study.mjs --combine results/value-study /tmp/part-*.json
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { EXPERIMENT_HYPERPARAMETERS, resolveExperimentConfig } from '../dist/jobs/experiment-config.js';
import { Features, collectDemonstrations, trainValueModels, cloneBasePolicy, probeValueModels } from '../dist/jobs/experiment-phases.js';
import { progressTargets, stepsToGoTargets } from '../dist/index.js';
import { spearman } from '../dist/jobs/experiment-stats.js';
import { PickPlaceEnv } from '../dist/sim/pick-place.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const base = EXPERIMENT_HYPERPARAMETERS.value;
export const CANDIDATES = {
  current: { value: base, valueEpochs: 40 },
  epochs80: { value: base, valueEpochs: 80 },
  'augment+': { value: { ...base, backbone: { ...base.backbone, augment: { shift: 4, brightness: 0.3, contrast: 0.3, gain: 0.15 } } }, valueEpochs: 40 },
  batch64: { value: { ...base, backbone: { ...base.backbone, batchSize: 64 } }, valueEpochs: 40 },
};

const args = process.argv.slice(2);
const opt = (k) => { const i = args.indexOf(k); return i < 0 ? undefined : args[i + 1]; };

if (args[0] === '--combine') combine(args[1], args.slice(2));
else if (args[0] === '--labels') await labels(opt('--seeds').split(',').map(Number), opt('--out'));
else await run(opt('--seeds').split(',').map(Number), opt('--out'));

/** One seed's context for the experiment's phases, as runExperimentSeeds builds it (one rank, no pictures). */
function seedContext(cfg, seed, tmp) {
  const hp = EXPERIMENT_HYPERPARAMETERS;
  return {
    cfg, hp, E: PickPlaceEnv, seed, keepPictures: false, rank: 0, world: 1, sumRanks: async (v) => Float64Array.from(v), report: () => {}, tmp,
    feat: new Features(hp.encoderGrid, hp.encoderBins, hp.poolGrid, cfg.threads), horizon: cfg.horizon,
    record: { seed, demoSuccess: 0, success: {}, curves: {}, probe: { success: 0, stage: [], progress: [], values: {} }, valueCurves: [], episodes: {}, timings: {} },
  };
}

async function run(seeds, out) {
  if (seeds.some((s) => s < 1000)) throw new RangeError(`Expected calibration seeds (≥ 1000) but received ${seeds}`);
  const cfg = resolveExperimentConfig({ preset: 'full', rewards: ['sparse', 'steps-to-go', 'feat2go'], threads: Number(opt('--threads') ?? 1) });
  const tmp = mkdtempSync(path.join(tmpdir(), 'feat2go-value-study-'));
  const rows = [];
  for (const seed of seeds) {
    const t0 = performance.now();
    const ctx = seedContext(cfg, seed, tmp);
    await collectDemonstrations(ctx);
    const models = {}; const fitSeconds = {};
    for (const [name, c] of Object.entries(CANDIDATES)) {
      const t = performance.now();
      ctx.hp = { ...EXPERIMENT_HYPERPARAMETERS, value: c.value };
      ctx.cfg = { ...cfg, sizes: { ...cfg.sizes, valueEpochs: c.valueEpochs } };
      await trainValueModels(ctx);
      models[name] = ctx.models; fitSeconds[name] = (performance.now() - t) / 1000;
    }
    ctx.hp = EXPERIMENT_HYPERPARAMETERS; ctx.cfg = cfg;
    await cloneBasePolicy(ctx);
    for (const name of Object.keys(CANDIDATES)) {
      ctx.models = models[name];
      ctx.record.probe = { success: 0, stage: [], progress: [], values: {} };
      await probeValueModels(ctx);
      rows.push({ seed, setting: name, fitSeconds: fitSeconds[name], stage: ctx.record.probe.stage, values: ctx.record.probe.values });
    }
    console.error(`seed ${seed}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    writeFileSync(out, JSON.stringify(rows));
  }
  rmSync(tmp, { recursive: true, force: true });
}

function combine(dir, files) {
  const rows = files.flatMap((f) => JSON.parse(readFileSync(f, 'utf8')));
  const seeds = [...new Set(rows.map((r) => r.seed))].sort((a, b) => a - b);
  const out = { seeds, candidates: CANDIDATES, settings: [] };
  for (const name of Object.keys(CANDIDATES)) {
    const mine = rows.filter((r) => r.setting === name);
    const stage = mine.flatMap((r) => r.stage);
    const s = { setting: name, failed: stage.length, fitSeconds: mine.reduce((a, r) => a + r.fitSeconds, 0) / mine.length, models: {} };
    for (const t of ['feat2go', 'steps-to-go']) {
      const v = mine.flatMap((r) => r.values[t]);
      const byStage = [0, 1, 2, 3].map((k) => { const x = v.filter((_, i) => stage[i] === k); return x.length ? x.reduce((a, b) => a + b, 0) / x.length : null; });
      const perSeed = mine.map((r) => spearman(r.values[t], r.stage));
      s.models[t] = { spearman: spearman(v, stage), perSeed, byStage, spread: byStage[3] - byStage[0] };
    }
    const m = Object.values(s.models);
    s.meetsTargets = m.every((x) => x.spearman >= 0.85 && x.spread >= 0.3);
    s.minSpearman = Math.min(...m.map((x) => x.spearman));
    out.settings.push(s);
  }
  const ok = out.settings.filter((s) => s.meetsTargets);
  const best = ok.length ? Math.max(...ok.map((s) => s.minSpearman)) : null;
  out.chosen = best === null ? 'current' : ok.filter((s) => s.minSpearman >= best - 0.005).sort((a, b) => a.fitSeconds - b.fitSeconds)[0].setting;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'study.json'), JSON.stringify(out, null, 1) + '\n');
  const f = (x) => (x === null ? '–' : x.toFixed(3));
  const lines = [`# Value-model settings study (calibration seeds ${seeds.join(', ')})`, '', '| setting | fit s/seed | Feat2Go Spearman | by stage | spread | Steps-To-Go Spearman | by stage | spread | both meet |', '|---|---:|---:|---|---:|---:|---|---:|---|'];
  for (const s of out.settings) {
    const a = s.models.feat2go; const b = s.models['steps-to-go'];
    lines.push(`| ${s.setting} | ${s.fitSeconds.toFixed(0)} | ${f(a.spearman)} | ${a.byStage.map((x) => f(x)).join(' / ')} | ${f(a.spread)} | ${f(b.spearman)} | ${b.byStage.map((x) => f(x)).join(' / ')} | ${f(b.spread)} | ${s.meetsTargets ? 'yes' : 'no'} |`);
  }
  lines.push('', `Chosen by the rule fixed before the study: **${out.chosen}**.`);
  writeFileSync(path.join(dir, 'study.md'), lines.join('\n') + '\n');
  console.log(lines.join('\n'));
}

// The targets themselves, before any value model: on each calibration seed's
// successful demonstrations, every frame's Feat2Go and Steps-To-Go target
// against the simulator's true stage at that frame (Spearman, mean by stage).
async function labels(seeds, out) {
  const cfg = resolveExperimentConfig({ preset: 'full', rewards: ['sparse', 'steps-to-go', 'feat2go'], threads: 1 });
  const hp = EXPERIMENT_HYPERPARAMETERS;
  const acc = { stage: [], feat2go: [], 'steps-to-go': [] };
  for (const seed of seeds) {
    const ctx = seedContext({ ...cfg, valueModel: 'pooled-head' }, seed, tmpdir()); // no RGB kept: the labels only
    await collectDemonstrations(ctx);
    const { r, ok } = ctx.demo; const H1 = r.H + 1; const F = ctx.feat.fineDim;
    for (const i of ok) {
      const T = r.lengths[i] + 1;
      const fine = r.fineFrames.subarray(i * H1 * F, (i * H1 + T) * F);
      const { values } = await progressTargets({ data: fine, shape: [T, hp.encoderGrid * hp.encoderGrid, ctx.feat.enc.dim] }, { ...hp.progress, threads: 1 });
      acc.feat2go.push(...values); acc['steps-to-go'].push(...stepsToGoTargets(T));
      acc.stage.push(...r.stages.subarray(i * H1, i * H1 + T));
    }
  }
  const res = { seeds, frames: acc.stage.length };
  for (const t of ['feat2go', 'steps-to-go']) {
    const v = acc[t];
    res[t] = { spearman: spearman(v, acc.stage), byStage: [0, 1, 2, 3].map((k) => { const x = v.filter((_, i) => acc.stage[i] === k); return x.length ? x.reduce((a, b) => a + b, 0) / x.length : null; }) };
  }
  res.framesByStage = [0, 1, 2, 3].map((k) => acc.stage.filter((s) => s === k).length);
  console.log(JSON.stringify(res, null, 1));
  if (out) writeFileSync(out, JSON.stringify(res, null, 1) + '\n');
}
