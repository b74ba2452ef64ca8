// Regression on real robot video (test/fixtures/real-g1: three episodes of the
// development set, with their physical events): with the defaults and the
// built-in encoder, `labelPaths` places a stage boundary within ±15 frames of
// the reach, the grasp and the lift of each, named by the rule that placed it;
// the paper's rule with SPEC §2's defaults cuts them by the cap instead, and
// `label` says so.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { CAP_WARNING, PAPER_PROGRESS_OPTIONS, encodeFrames, labelPaths, patchStatsEncoder, writeNpy } from '../../src/index.js';
import { findOnPath } from '../../src/io/episodes.js';
import { packageRoot } from '../helpers/cli.js';
import { testIf } from '../helpers/skip.js';

const dir = path.join(packageRoot, 'test', 'fixtures', 'real-g1');
const events = JSON.parse(fs.readFileSync(path.join(dir, 'events.json'), 'utf8')) as
  Record<string, { length: number; reach: number | null; grasp: number; lift: number }>;
const withFfmpeg = testIf(findOnPath('ffmpeg') !== undefined, 'ffmpeg is not on PATH (it decodes the fixture videos)');

interface Result { frames: number; segments: Array<{ start: number }>; boundaries: Array<{ frame: number; rule: string }>; values: number[]; warnings?: string[] }
const read = (out: string, name: string) => JSON.parse(fs.readFileSync(path.join(out, name, 'result.json'), 'utf8')) as Result;

withFfmpeg('defaults on three real episodes: a boundary within ±15 frames of every reach, grasp and lift', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'f2g-real-'));
  try {
    const warned: string[] = [];
    const report = await labelPaths([dir], { out: tmp, encoder: patchStatsEncoder(), onWarning: (m) => warned.push(m) });
    assert.is(report.failures.length, 0, JSON.stringify(report.failures));
    assert.is(report.options.segmenter, 'motion');
    assert.is(report.episodes.length, 3);
    assert.equal(warned, []);
    for (const [id, ev] of Object.entries(events)) {
      const name = `episode_${id.padStart(6, '0')}`;
      const r = read(tmp, name);
      assert.is(r.frames, ev.length, name);
      assert.equal(r.boundaries.map((b) => b.frame), r.segments.slice(1).map((s) => s.start), `${name}: boundaries are the stage starts`);
      for (const b of r.boundaries) assert.ok(b.rule === 'onset' || b.rule === 'pause', `${name}: ${b.frame} by ${b.rule}`);
      assert.ok(r.segments.length >= 3 && r.segments.length <= 6, `${name}: ${r.segments.length} stages`);
      for (const e of ['reach', 'grasp', 'lift'] as const) {
        const at = ev[e];
        if (at === null) continue;
        const near = r.boundaries.filter((b) => Math.abs(b.frame - at) <= 15);
        assert.ok(near.length > 0, `${name}: no boundary within ±15 of the ${e} at ${at} (boundaries ${r.boundaries.map((b) => b.frame)})`);
      }
      assert.is(r.values[r.values.length - 1], 1, `${name}: V(T−1)`);
    }
    // The paper's rule with SPEC §2's defaults: the cap places most boundaries, and label warns.
    const feats = path.join(tmp, 'features');
    fs.mkdirSync(feats);
    writeNpy(path.join(feats, 'episode_000029.npy'), await encodeFrames(path.join(dir, 'episode_000029.mp4'), patchStatsEncoder()));
    const paperWarned: string[] = [];
    await labelPaths([feats], { out: path.join(tmp, 'paper'), ...PAPER_PROGRESS_OPTIONS, onWarning: (m, ep) => paperWarned.push(`${ep}: ${m}`) });
    const p = read(path.join(tmp, 'paper'), 'episode_000029');
    const caps = p.boundaries.filter((b) => b.rule === 'cap').length;
    assert.ok(caps * 2 > p.boundaries.length, `cap placed ${caps} of ${p.boundaries.length}`);
    assert.ok(p.warnings?.some((w) => w.startsWith(CAP_WARNING)), JSON.stringify(p.warnings));
    assert.equal(paperWarned.length, 1);
    assert.ok(paperWarned[0].startsWith(`episode_000029: ${CAP_WARNING}`), paperWarned[0]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
