// Sample episodes (determinism, shape, stages found) and the SVG plot.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PAPER_PROGRESS_OPTIONS, plotEpisodeSvg, progressTargetsSync } from '../../src/index.js';
import { sampleEpisode, sampleEpisodes } from '../../src/demo/index.js';
import { progressBar } from '../../src/cli/ui.js';

const small = { seed: 3, count: 3, minFrames: 80, maxFrames: 200, patches: 16, dims: 64 };

test('sampleEpisodes is deterministic, seed-dependent, and sized as asked', () => {
  const a = sampleEpisodes(small);
  const b = sampleEpisodes(small);
  assert.is(a.length, 3);
  a.forEach((e, i) => {
    assert.is(e.name, `episode-00${i}`);
    assert.equal(e.features.data, b[i].features.data, 'bit-identical for the same seed');
    const [T, N, D] = e.features.shape;
    assert.equal([N, D], [16, 64]);
    assert.ok(T >= 80 && T <= 200, `T = ${T}`);
    assert.is(e.features.data.length, T * N * D);
    assert.ok(e.features.data.every(Number.isFinite));
  });
  assert.equal(sampleEpisode(1, small).features.data, a[1].features.data, 'one episode alone equals the same one in the set');
  assert.not.equal(sampleEpisodes({ ...small, seed: 4 })[0].features.data.subarray(0, 16), a[0].features.data.subarray(0, 16));
  const fixed = sampleEpisodes({ frames: [2, 7], patches: 1, dims: 3 });
  assert.equal(fixed.map((e) => e.features.shape), [[2, 1, 3], [7, 1, 3]]);
});

test('defaults are V-JEPA 2 ViT-L shaped', () => {
  const e = sampleEpisode(0, { frames: [80] });
  assert.equal(e.features.shape, [80, 256, 1024]);
});

test('generated stages partition the episode, and the paper\'s rule finds a boundary just after each', () => {
  for (const e of sampleEpisodes(small)) {
    const T = e.features.shape[0];
    assert.ok(e.stages.length >= 2);
    assert.is(e.stages[0].start, 0);
    assert.is(e.stages[e.stages.length - 1].end, T - 1);
    for (let k = 1; k < e.stages.length; k++) assert.is(e.stages[k].start, e.stages[k - 1].end + 1);
    // The paper's rule: these episodes' motion is too faint next to their noise for the motion segmenter (docs/progress.md).
    const found = progressTargetsSync(e.features, PAPER_PROGRESS_OPTIONS).segments.map((s) => s.start);
    for (const s of e.stages.slice(1)) {
      // The cut lands where the eased motion's similarity slope first exceeds τ: a few frames in.
      assert.ok(found.some((f) => f >= s.start && f <= s.start + 7), `a found boundary in [${s.start}, ${s.start + 7}] (found ${found})`);
    }
    assert.ok(found.length <= e.stages.length + 1, `no spurious stages (found ${found.length}, generated ${e.stages.length})`);
  }
});

test('sampleEpisodes rejects bad options', () => {
  assert.throws(() => sampleEpisodes({ minFrames: 0 }), (e: Error) => e instanceof RangeError && /opts\.minFrames/.test(e.message));
  assert.throws(() => sampleEpisodes({ minFrames: 50, maxFrames: 10 }), (e: Error) => e instanceof RangeError && /opts\.maxFrames/.test(e.message));
  assert.throws(() => sampleEpisodes({ patches: 1.5 }), (e: Error) => e instanceof TypeError && /opts\.patches/.test(e.message));
  assert.throws(() => sampleEpisodes({ noise: -1 }), (e: Error) => e instanceof RangeError && /opts\.noise/.test(e.message));
  assert.throws(() => sampleEpisode(4, { count: 4 }), (e: Error) => e instanceof RangeError && /index/.test(e.message));
});

test('plotEpisodeSvg: curves per stage, boundaries, bands, ticks, legend, escaped title', () => {
  const similarity = new Float32Array([0.5, 0.7, 1, 0.2, 0.6, 1, 0.9, 1]);
  const values = new Float32Array([0.1, 0.2, 0.33, 0.4, 0.5, 0.67, 0.9, 1]);
  const segments = [{ start: 0, end: 2 }, { start: 3, end: 5 }, { start: 6, end: 7 }];
  const svg = plotEpisodeSvg({ title: 'ep <1> & "x"', subtitle: 'sub', similarity, values, segments }, { width: 800, height: 400 });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="800" height="400"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.match(svg, />ep &lt;1&gt; &amp; &quot;x&quot;</);
  const polylines = svg.match(/<polyline [^>]*points="([^"]*)"/g) ?? [];
  assert.is(polylines.length, 3 + 1, 'one similarity line per stage, one value line');
  const pointCounts = polylines.map((p) => /points="([^"]*)"/.exec(p)![1].split(' ').length);
  assert.equal(pointCounts, [3, 3, 2, 8]);
  assert.is((svg.match(/<line [^>]*stroke-dasharray="4 3"/g) ?? []).length, 2 + 1, 'two boundaries and the legend sample');
  assert.ok(svg.includes('<title>stage 2 starts at frame 3</title>'));
  // With the result's boundaries, each line is labelled with the rule that placed it.
  const ruled = plotEpisodeSvg({ title: 't', similarity, values, segments, boundaries: [{ frame: 3, rule: 'pause' }, { frame: 6, rule: 'onset' }] });
  assert.ok(ruled.includes('<title>stage 2 starts at frame 3 (pause)</title>') && ruled.includes('<title>stage 3 starts at frame 6 (onset)</title>'));
  assert.is((ruled.match(/font-size="10" fill="#556">(pause|onset)<\/text>/g) ?? []).length, 2);
  assert.is((svg.match(/fill="#eef1f6"/g) ?? []).length, 2, 'stages 1 and 3 shaded');
  for (const label of ['frame t', 'similarity / progress value', 'similarity to subgoal s(t)', 'progress value V(t)', 'stage boundary (3 stages)']) {
    assert.ok(svg.includes(`>${label}</text>`), label);
  }
  for (const tick of ['0', '0.2', '0.4', '0.6', '0.8', '1']) assert.ok(svg.includes(`text-anchor="end" fill="#222">${tick}</text>`), `y tick ${tick}`);
  for (const tick of ['0', '1', '7']) assert.ok(svg.includes(`text-anchor="middle" fill="#222">${tick}</text>`), `x tick ${tick}`);
  // Every coordinate inside the canvas.
  for (const m of svg.matchAll(/points="([^"]*)"/g)) {
    for (const p of m[1].split(' ')) {
      const [x, y] = p.split(',').map(Number);
      assert.ok(x >= 0 && x <= 800 && y >= 0 && y <= 400, p);
    }
  }
});

test('plotEpisodeSvg: negative similarities extend the y axis; a single frame is a dot', () => {
  const svg = plotEpisodeSvg({ title: 't', similarity: new Float32Array([-0.35, 1]), values: new Float32Array([0.5, 1]), segments: [{ start: 0, end: 1 }] });
  assert.ok(svg.includes('>-0.4</text>'));
  const one = plotEpisodeSvg({ title: 't', similarity: new Float32Array([1]), values: new Float32Array([1]), segments: [{ start: 0, end: 0 }] });
  assert.is((one.match(/<circle /g) ?? []).length, 2);
});

test('progress bar draws in place on a terminal and stays silent otherwise', () => {
  let written = '';
  const stream = { write: (s: string) => { written += s; return true; }, isTTY: true, columns: 60 } as unknown as NodeJS.WriteStream;
  const bar = progressBar(stream, true);
  bar.update(1, 4, 'episode-000');
  assert.is(written, `\r\x1b[K[#######${'-'.repeat(21)}] 1/4 episode-000`);
  bar.clear();
  assert.ok(written.endsWith('\r\x1b[K'));
  written = '';
  const off = progressBar(stream, false);
  off.update(1, 2, 'x');
  off.clear();
  assert.is(written, '');
});

test.run();
