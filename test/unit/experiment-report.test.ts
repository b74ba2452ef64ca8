// The experiment's report files from hand-made results: SVG plots and the PNG contact sheet.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { contactSheetPng, experimentJson, resolveExperimentConfig, successCurvesSvg, valueCurvesSvg } from '../../src/index.js';

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
  const j = experimentJson({ config: {}, seeds: [0], rows: [], valueModels: [], timings: {}, extra: 1 } as never);
  assert.equal(Object.keys(j), ['config', 'seeds', 'rows', 'valueModels', 'timings']);
});

test('resolveExperimentConfig: presets, overrides and bad configs naming the field', () => {
  const q = resolveExperimentConfig({});
  assert.is(q.preset, 'quick');
  assert.is(q.seeds, 2);
  assert.equal(q.algos, ['ppo', 'grpo']);
  const f = resolveExperimentConfig({ preset: 'full', sizes: { rlUpdates: 0 }, algos: ['grpo', 'grpo'] });
  assert.is(f.seeds, 3);
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
});

test.run();
