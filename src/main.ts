// `npm start`: the main job on built-in sample data. Generates a deterministic
// set of V-JEPA-2-shaped episodes, writes them as .npy, labels them through
// the same code path as `feat2go label`, and writes plots and a summary.
import fs from 'node:fs';
import path from 'node:path';
import { capabilities } from './system.js';
import { formatSummaryTable, labelPaths } from './label.js';
import { failureLine, progressBar } from './commands/label.js';
import { writeNpy } from './io/npy.js';
import { sampleEpisode, type SampleOptions } from './sample.js';

const out = path.resolve(process.env.FEAT2GO_OUT ?? 'feat2go-out');
const episodesDir = path.join(out, 'episodes');
/** Four episodes spanning the 80–400 frame range, [T, 256, 1024] float32 like V-JEPA 2 ViT-L. */
const SAMPLE: SampleOptions = { seed: 1, frames: [80, 150, 240, 400], patches: 256, dims: 1024 };

const t0 = performance.now();
const caps = capabilities();
console.log(`feat2go ${caps.version} (${caps.simd}, ${caps.threads} threads): labelling ${SAMPLE.frames!.length} sample episodes of [T, ${SAMPLE.patches}, ${SAMPLE.dims}] features`);
fs.mkdirSync(episodesDir, { recursive: true });
const generated: Array<{ name: string; stages: number }> = [];
for (let i = 0; i < SAMPLE.frames!.length; i++) {
  const ep = sampleEpisode(i, SAMPLE);
  writeNpy(path.join(episodesDir, `${ep.name}.npy`), ep.features);
  generated.push({ name: ep.name, stages: ep.stages.length });
}
const t1 = performance.now();
const bar = progressBar(process.stderr, process.stderr.isTTY === true);
const report = await labelPaths([episodesDir], {
  out,
  onProgress: (done, total, name) => bar.update(done, total, name),
  onFailure: (f) => { bar.clear(); console.error(failureLine(f)); },
});
bar.clear();
const t2 = performance.now();
console.log('');
console.log(formatSummaryTable(report));
for (const e of report.episodes) {
  const g = generated.find((x) => x.name === e.episode);
  if (g) console.log(`${e.episode}: ${e.stages} stages found (generated with ${g.stages})`);
}
console.log('');
console.log(`Sample episodes (.npy):  ${episodesDir}`);
console.log(`Per-episode outputs:     ${out}/<episode>/{values,similarity,segments}.npy, segments.json, result.json, plot.svg`);
console.log(`Plots:                   ${report.episodes.map((e) => path.join(e.dir, 'plot.svg')).join('\n                         ')}`);
console.log(`Summary:                 ${report.summary.md} and ${report.summary.json}`);
console.log(`Time: ${((t1 - t0) / 1000).toFixed(1)} s generating and writing, ${((t2 - t1) / 1000).toFixed(1)} s reading, labelling and writing results.`);
if (report.failures.length) process.exitCode = 1;
