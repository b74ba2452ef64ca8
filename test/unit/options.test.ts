// Unknown option keys: every public function taking an options object refuses
// a key it does not know with a TypeError naming the key and the closest
// valid name, instead of silently using the default.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  clippedSurrogate, clippedValueLoss, createEncoder, encodeFrames, framesFromArray, gae, grpoAdvantages,
  grpoGroupStats, klPenalty, labelPaths, memoryReadProbe, normalizeAdvantages, patchSimilarity, patchStatsEncoder,
  plotEpisodeSvg, progressTargets, progressTargetsBatch, progressTargetsSync, segmentEpisode, shapeTerminalRewards,
  stepAdvantages, terminalRewards, writeFileAtomic, readSafetensors, parseSafetensors, Policy, ValueHead, PpoTrainer, GrpoTrainer, PickPlaceEnv,
} from '../../src/index.js';
import { native } from '../../src/core/native.js';
import { sampleEpisode, sampleEpisodes, sampleImageEpisodes } from '../../src/demo/index.js';
import { closestName, editDistance } from '../../src/core/validate.js';
import { torchTest } from '../helpers/skip.js';

function unknownOption(fn: () => unknown, key: string, near: string, owner = 'opts') {
  try {
    fn();
  } catch (e) {
    assert.instance(e, TypeError, `${key}: got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    const m = (e as Error).message;
    assert.ok(m.includes(`Unknown option ${owner}.${key} (did you mean ${owner}.${near}?)`), m);
    assert.ok(m.includes(`valid options of ${owner}:`), m);
    return;
  }
  assert.unreachable(`a misspelt option ${owner}.${key} was accepted`);
}

async function unknownOptionAsync(fn: () => Promise<unknown>, key: string, near: string, owner = 'opts') {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  unknownOption(() => { if (err) throw err; }, key, near, owner);
}

test('editDistance and closestName', () => {
  assert.is(editDistance('', ''), 0);
  assert.is(editDistance('windw', 'window'), 1);
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(editDistance('abc', ''), 3);
  assert.is(editDistance('ab', 'ba'), 2);
  // Symmetric and within the length bounds on a few random strings.
  const words = ['lambda', 'window', 'threads', 'thresh', 'maxClusterFrames', 'x', ''];
  for (const a of words) for (const b of words) {
    const d = editDistance(a, b);
    assert.is(d, editDistance(b, a));
    assert.ok(d >= Math.abs(a.length - b.length) && d <= Math.max(a.length, b.length));
  }
  assert.is(closestName('windw', ['lambda', 'window', 'threads']), 'window');
  assert.is(closestName('Threads', ['lambda', 'window', 'threads']), 'threads');
  assert.is(closestName('huber', ['clip', 'huberDelta', 'aggregation']), 'huberDelta');
  assert.is(closestName('lr', ['weightDecay', 'lr', 'epochs']), 'lr');
  assert.is(closestName('learningRate', ['weightDecay', 'lr', 'epochs']), 'lr');
  assert.is(closestName('x', []), undefined);
});

const ep = () => ({ data: Float32Array.from({ length: 6 * 2 * 3 }, (_, i) => Math.sin(i)), shape: [6, 2, 3] });
const t2 = (B: number, T: number, v = 0.1) => ({ data: new Float32Array(B * T).fill(v), shape: [B, T] });

test('progress functions', async () => {
  unknownOption(() => progressTargetsSync(ep(), { windw: 3 } as any), 'windw', 'window');
  unknownOption(() => segmentEpisode(ep(), { treshold: 0.1 } as any), 'treshold', 'threshold');
  unknownOption(() => patchSimilarity(ep(), 0, { lamda: 1 } as any), 'lamda', 'lambda');
  unknownOption(() => patchSimilarity(ep(), 0, { tread: 3 } as any), 'tread', 'threads');
  unknownOption(() => patchSimilarity(ep(), 0, { window: 3 } as any), 'window', closestName('window', ['lambda', 'threads'])!); // valid elsewhere, not here
  unknownOption(() => memoryReadProbe(new Float32Array(4), { thread: 1 } as any), 'thread', 'threads');
  await unknownOptionAsync(() => progressTargets(ep(), { maxClusterFrame: 9 } as any), 'maxClusterFrame', 'maxClusterFrames');
  await unknownOptionAsync(() => progressTargetsBatch([ep()], { Lambda: 1 } as any), 'Lambda', 'lambda');
  // Valid keys with undefined values are fine.
  progressTargetsSync(ep(), { window: undefined, lambda: 1 });
});

test('RL functions', () => {
  const B = 2, T = 3;
  const f = (v: number) => ({ data: new Uint8Array(B * T).fill(v), shape: [B, T] });
  unknownOption(() => shapeTerminalRewards([1, 0], [0.5, 0.5], { failurescale: 1 } as any), 'failurescale', 'failureScale');
  unknownOption(() => terminalRewards([1, 2], [1, 1], 2, { treads: 1 } as any), 'treads', 'threads');
  const gi = { rewards: t2(B, T), values: t2(B, T), nextValues: t2(B, T), terminated: f(0), done: f(0) };
  unknownOption(() => gae(gi, { gamma: 0.9, lambda: 0.9, timemajor: true } as any), 'timemajor', 'timeMajor');
  unknownOption(() => grpoAdvantages([1, 0, 1, 0], { groupSize: 2, epsilom: 1e-4 } as any), 'epsilom', 'epsilon');
  unknownOption(() => grpoGroupStats([1, 0, 1, 0], { groupSize: 2, sd: 'sample' } as any), 'sd', 'std');
  unknownOption(() => stepAdvantages([1, 1], [1, 2], 2, 0.9, { output: new Float32Array(4) } as any), 'output', 'out');
  unknownOption(() => normalizeAdvantages(t2(B, T), undefined, { eps: 1e-8 } as any), 'eps', 'epsilon');
  const si = { logProbs: t2(B, T), oldLogProbs: t2(B, T), advantages: t2(B, T) };
  unknownOption(() => clippedSurrogate(si, { clipLow: 0.2, cliphigh: 0.3 } as any), 'cliphigh', 'clipHigh');
  unknownOption(() => clippedValueLoss({ values: t2(B, T), returns: t2(B, T) }, { huber: 1 } as any), 'huber', 'huberDelta');
  unknownOption(() => klPenalty({ logProbs: t2(B, T), refLogProbs: t2(B, T) }, { kind: 'k9' } as any), 'kind', closestName('kind', ['estimator', 'aggregation', 'threads'])!);
});

test('input objects: a misspelt field (an optional mask) is refused, not ignored', () => {
  const B = 2, T = 3;
  const f = (v: number) => ({ data: new Uint8Array(B * T).fill(v), shape: [B, T] });
  const field = (fn: () => unknown, key: string, near: string) => {
    try {
      fn();
    } catch (e) {
      assert.instance(e, TypeError);
      assert.ok((e as Error).message.includes(`Unknown field input.${key} (did you mean input.${near}?)`), (e as Error).message);
      return;
    }
    assert.unreachable(`input.${key} was accepted`);
  };
  const si = { logProbs: t2(B, T), oldLogProbs: t2(B, T), advantages: t2(B, T, 1) };
  // With the mask all zeros but one step, a silently ignored mask changes the loss.
  const mask = { data: Uint8Array.from([1, 0, 0, 0, 0, 0]), shape: [B, T] };
  field(() => clippedSurrogate({ ...si, maks: mask } as any, { clipLow: 0.2 }), 'maks', 'mask');
  field(() => clippedValueLoss({ values: t2(B, T), returns: t2(B, T), oldValue: t2(B, T) } as any, { clip: 0.2 }), 'oldValue', 'oldValues');
  field(() => klPenalty({ logProbs: t2(B, T), refLogProbs: t2(B, T), Mask: mask } as any), 'Mask', 'mask');
  field(() => gae({ rewards: t2(B, T), values: t2(B, T), nextValue: t2(B, T), terminated: f(0), done: f(0) } as any, { gamma: 0.9, lambda: 0.9 }), 'nextValue', 'nextValues');
});

test('files, plots, encoders, demo data', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-opts-'));
  unknownOption(() => writeFileAtomic(path.join(dir, 'a.txt'), 'x', { mod: 0o600 } as any), 'mod', 'mode');
  assert.not.ok(fs.existsSync(path.join(dir, 'a.txt')), 'nothing written after the option error');
  unknownOption(() => readSafetensors(path.join(dir, 'none.safetensors'), { name: ['x'] } as any), 'name', 'names');
  unknownOption(() => parseSafetensors(new Uint8Array(16), 'mem', { Names: [] } as any), 'Names', 'names');
  const r = { title: 't', values: new Float32Array([0, 1]), similarity: new Float32Array([0, 1]), segments: [{ start: 0, end: 1 }] };
  unknownOption(() => plotEpisodeSvg(r, { widht: 10 } as any), 'widht', 'width');
  unknownOption(() => patchStatsEncoder({ bin: 8 } as any), 'bin', 'bins');
  await unknownOptionAsync(() => createEncoder('builtin', { gird: 4 } as any), 'gird', 'grid');
  const frames = framesFromArray({ data: new Uint8Array(2 * 8 * 8 * 3), shape: [2, 8, 8, 3] });
  await unknownOptionAsync(() => encodeFrames(frames, patchStatsEncoder({ grid: 2 }), { chunkframes: 1 } as any), 'chunkframes', 'chunkFrames');
  await unknownOptionAsync(() => labelPaths([dir], { out: path.join(dir, 'o'), windw: 3 } as any), 'windw', 'window');
  unknownOption(() => sampleEpisode(0, { dim: 4 } as any), 'dim', 'dims');
  unknownOption(() => sampleEpisodes({ cout: 1 } as any), 'cout', 'count');
  unknownOption(() => sampleImageEpisodes({ sizes: 32 } as any), 'sizes', 'size');
  fs.rmSync(dir, { recursive: true, force: true });
});

torchTest('libtorch classes', () => {
  unknownOption(() => new ValueHead({ inputDim: 4, hiddenDim: 4, bin: 11 } as any), 'bin', 'bins', 'config');
  const spec = { obsDim: 3, trunk: { sizes: [4] }, head: { type: 'gaussian' as const, actionDim: 1 }, critic: { sizes: [4] } };
  unknownOption(() => new Policy({ ...spec, seeds: 1 } as any), 'seeds', 'seed', 'spec');
  unknownOption(() => new Policy({ ...spec, head: { ...spec.head, initLogstd: 0 } } as any), 'initLogstd', 'initLogStd', 'spec.head');
  unknownOption(() => new Policy({ ...spec, trunk: { size: [4] } } as any), 'size', 'sizes', 'spec.trunk');
  const p = new Policy(spec);
  unknownOption(() => p.act({ data: new Float32Array(3), shape: [1, 3] }, { determinstic: true } as any), 'determinstic', 'deterministic');
  unknownOption(() => p.addLora({ rank: 2, targets: ['trunk.0'], alhpa: 4 } as any), 'alhpa', 'alpha', 'lora');
  unknownOption(() => new PpoTrainer(p, { clip: 0.2 } as any), 'clip', 'clipLow');
  unknownOption(() => new GrpoTrainer(p, { valueCoef: 0.5 } as any), 'valueCoef', 'klCoef');
  const trainer = new PpoTrainer(p, { epochs: 1, minibatches: 1 });
  const batch = {
    obs: { data: new Float32Array(2 * 3), shape: [2, 3] }, actions: { data: new Float32Array(2), shape: [2, 1] },
    oldLogProbs: new Float32Array(2), advantages: new Float32Array(2), returns: new Float32Array(2), masks: new Uint8Array([1, 0]),
  };
  try {
    trainer.updateSync(batch as any);
    assert.unreachable('batch.masks was accepted');
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, /Unknown field batch\.masks \(did you mean batch\.mask\?\)/);
  }
  const h = new ValueHead({ inputDim: 4, hiddenDim: 4 });
  unknownOption(() => h.trainStep({ data: new Float32Array(4), shape: [1, 4] }, [0.5], { learningRate: 1 } as any), 'learningRate', 'lr');
});

test('messages show the value received as it is: 2^53 is not a safe integer (rather than "not an integer ≥ 0"), -Infinity stays negative', () => {
  const env = new PickPlaceEnv({ numEnvs: 1, render: false });
  env.reset([0]);
  for (const seed of [2 ** 53, 1e300]) {
    assert.throws(() => env.expertActions(0.1, seed), (e: Error) => e instanceof RangeError &&
      e.message === `Expected a safe integer ≥ 0 (at most 2^53 − 1 = 9007199254740991) for seed but received the number ${seed}`, String(seed));
  }
  assert.throws(() => env.expertActions(0.1, -1), (e: Error) => e.message === 'Expected an integer ≥ 0 for seed but received the number -1');
  assert.throws(() => env.step(Float32Array.of(0, -Infinity, 0)), (e: Error) => /received -Infinity at index 1/.test(e.message));
  // the native twin of the same check
  const N = native().PickPlaceNative;
  assert.throws(() => new N({}, { numEnvs: 2 ** 60 } as never), (e: Error) => e instanceof RangeError && /Expected an integer in \[1, 2\^53\] for opts\.numEnvs but received the number 1152921504606847000/.test(e.message)); // String(2 ** 60)
  assert.throws(() => progressTargetsSync({ data: Float32Array.of(1, -Infinity, 0, 1), shape: [2, 1, 2] }, { window: 2, maxClusterFrames: 2 }), (e: Error) => /-Infinity/.test(e.message) && !/[^-]Infinity/.test(e.message.replace('-Infinity', '')));
});

torchTest('messages show the value received as it is: -Infinity in a policy\'s input, nan/inf never in C++ spelling', () => {
  const p = new Policy({ obsDim: 2, trunk: { sizes: [3] }, head: { type: 'gaussian', actionDim: 1 } });
  assert.throws(() => p.act({ data: Float32Array.of(0, -Infinity), shape: [1, 2] }), (e: Error) => /element 1 is -Infinity/.test(e.message));
  assert.throws(() => p.act({ data: Float32Array.of(NaN, 0), shape: [1, 2] }), (e: Error) => /element 0 is NaN/.test(e.message));
});

test.run();
