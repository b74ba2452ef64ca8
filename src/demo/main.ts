// `npm start`: the main job on built-in data, with nothing downloaded.
// Default: renders the built-in scene (a gripper moving a cube through
// stages to a goal), writes the episodes as uint8 .npy frames, and labels them
// through `feat2go label --encoder builtin`'s code path (built-in encoder,
// SCENE_PROGRESS_OPTIONS): plots, summary, a contact sheet of one episode.
// `npm start -- --features`: the V-JEPA-2-shaped feature sample instead,
// labelled as `feat2go label` labels feature files.
import fs from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { capabilities } from '../core/system.js';
import { PAPER_PROGRESS_OPTIONS } from '../core/progress.js';
import { checkOptions } from '../core/validate.js';
import { formatSummaryTable, labelPaths, type LabelReport } from '../jobs/label.js';
import { failureLine, framesLabel, progressBar } from '../cli/ui.js';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import { writeNpy } from '../io/npy.js';
import { sampleEpisode, type SampleOptions } from './sample.js';
import { sampleImageEpisodes, SCENE_PROGRESS_OPTIONS, type ImageEpisode } from './scene.js';
import { patchStatsEncoder } from '../encoders/builtin.js';
import { formatExperimentTable, formatPairedTable, formatValueModelTable, runExperiment, type ExperimentPreset } from '../jobs/experiment.js';
import { writeExperimentOutputs } from '../jobs/experiment-report.js';

/** Options of {@link runMain}. */
export interface MainOptions {
  /** Output folder (default `$FEAT2GO_OUT` or `./feat2go-out`). */
  out?: string;
  /** Label the V-JEPA-2-shaped feature sample instead of the rendered scene. */
  features?: boolean;
  /** Where lines go (default console.log). */
  log?: (line: string) => void;
  /** Stream for the progress bar and skipped-episode lines (default process.stderr; a bar only on a terminal). */
  stderr?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /**
   * Scene job: also run the experiment (`feat2go experiment`) at these sizes into
   * `<out>/experiment/` after labelling (needs libtorch; skipped with a note without it).
   * Default: none (`npm start` asks for 'quick').
   */
  experiment?: ExperimentPreset;
}

/** What {@link runMain} wrote. */
export interface MainResult {
  report: LabelReport;
  /** Folder of the generated input episodes. */
  episodesDir: string;
  /** Scene job: PNG contact sheet of the first episode. */
  contactSheet?: string;
  /** Files the experiment wrote (when it ran). */
  experimentFiles?: string[];
}

/** Four episodes spanning the 80–400 frame range, [T, 256, 1024] float32 like V-JEPA 2 ViT-L. */
const FEATURE_SAMPLE: SampleOptions = { seed: 1, frames: [80, 150, 240, 400], patches: 256, dims: 1024 };

/**
 * A PNG contact sheet of an episode: `cols × rows` frames picked evenly (first and last
 * included), left to right, top to bottom, with a 2-pixel gap.
 */
async function writeContactSheet(file: string, ep: ImageEpisode, cols = 6, rows = 4): Promise<void> {
  const [T, H, W] = ep.frames.shape;
  const n = Math.min(T, cols * rows);
  const gap = 2;
  const sw = cols * W + (cols + 1) * gap;
  const sh = Math.ceil(n / cols) * (H + gap) + gap;
  const sheet = new Uint8Array(sw * sh * 3).fill(255);
  for (let k = 0; k < n; k++) {
    const t = n === 1 ? 0 : Math.round((k * (T - 1)) / (n - 1));
    const x0 = gap + (k % cols) * (W + gap);
    const y0 = gap + Math.floor(k / cols) * (H + gap);
    for (let y = 0; y < H; y++) {
      const src = ((t * H + y) * W) * 3;
      sheet.set(ep.frames.data.subarray(src, src + W * 3), ((y0 + y) * sw + x0) * 3);
    }
  }
  const png = await sharp(sheet, { raw: { width: sw, height: sh, channels: 3 } }).png().toBuffer();
  writeFileAtomic(file, png);
}

/**
 * The main job of `npm start`. Scene job (default): renders {@link sampleImageEpisodes},
 * writes them to `<out>/episodes/<name>.npy` (`[T,96,96,3]` uint8, with `<name>.stages.json`,
 * the true stages), writes a contact sheet `<out>/<first>-frames.png`, and labels the
 * episodes with the built-in encoder and {@link SCENE_PROGRESS_OPTIONS} through
 * {@link labelPaths} into `<out>/`. Feature job (`features: true`): the V-JEPA-2-shaped
 * sample of {@link sampleEpisode} as `.npy` features, labelled with the paper's rule and its
 * defaults (`PAPER_PROGRESS_OPTIONS`) into `<out>/features/`.
 *
 * @returns the label report and where the inputs were written
 * @example
 * const { report } = await runMain({ out: '/tmp/f2g' });
 * console.log(report.summary.md);
 */
export async function runMain(opts: MainOptions = {}): Promise<MainResult> {
  checkOptions(opts, 'opts', { out: 1, features: 1, log: 1, stderr: 1, experiment: 1 });
  const log = opts.log ?? ((s: string) => console.log(s));
  const stderr = opts.stderr ?? process.stderr;
  const root = path.resolve(opts.out ?? process.env.FEAT2GO_OUT ?? 'feat2go-out');
  const out = opts.features ? path.join(root, 'features') : root;
  const episodesDir = path.join(out, 'episodes');
  ensureDir(episodesDir);
  const caps = capabilities();
  const t0 = performance.now();
  const truth = new Map<string, string>();
  const files: string[] = []; // labelled by name, so stale files in episodes/ from other runs are not picked up
  let contactSheet: string | undefined;
  if (opts.features) {
    log(`feat2go ${caps.version} (${caps.simd}, ${caps.threads} threads): labelling ${FEATURE_SAMPLE.frames!.length} sample episodes of [T, ${FEATURE_SAMPLE.patches}, ${FEATURE_SAMPLE.dims}] features`);
    for (let i = 0; i < FEATURE_SAMPLE.frames!.length; i++) {
      const ep = sampleEpisode(i, FEATURE_SAMPLE);
      files.push(path.join(episodesDir, `${ep.name}.npy`));
      writeNpy(files[files.length - 1], ep.features);
      truth.set(ep.name, `generated with ${ep.stages.length} stages`);
    }
  } else {
    const eps = sampleImageEpisodes();
    log(`feat2go ${caps.version} (${caps.simd}, ${caps.threads} threads): rendering ${eps.length} scene episodes ` +
      `(${eps[0].frames.shape[1]}×${eps[0].frames.shape[2]} RGB), encoding them with the built-in encoder and labelling them`);
    for (const ep of eps) {
      files.push(path.join(episodesDir, `${ep.name}.npy`));
      writeNpy(files[files.length - 1], ep.frames);
      writeFileAtomic(path.join(episodesDir, `${ep.name}.stages.json`), `${JSON.stringify(ep.stages)}\n`);
      truth.set(ep.name, `true stage starts ${ep.stages.map((s) => s.start).join(', ')} (${ep.stages.map((s) => s.name).join(', ')})`);
    }
    contactSheet = path.join(out, `${eps[0].name}-frames.png`);
    await writeContactSheet(contactSheet, eps[0]);
  }
  const t1 = performance.now();
  const bar = progressBar(stderr, stderr.isTTY === true);
  const report = await labelPaths(files, {
    out,
    // Both jobs pin SPEC §2's rule, as they always ran: the scene with its own τ, the
    // feature sample with the paper's defaults (the motion segmenter finds one stage in
    // those synthetic episodes: their motion barely stands out of their noise).
    ...(opts.features ? PAPER_PROGRESS_OPTIONS : {
      ...SCENE_PROGRESS_OPTIONS,
      encoder: patchStatsEncoder(),
      onFrames: (d: number, t: number | undefined, name: string, i: number, n: number) => bar.update(i, n, framesLabel(name, d, t), (i + (t ? d / t : 0)) / n),
    }),
    onProgress: (done, total, name) => bar.update(done, total, name),
    onFailure: (f) => { bar.clear(); stderr.write(`${failureLine(f)}\n`); },
  });
  bar.clear();
  const t2 = performance.now();
  log('');
  log(formatSummaryTable(report).trimEnd());
  log('');
  for (const e of report.episodes) {
    const segs = JSON.parse(fs.readFileSync(path.join(e.dir, 'segments.json'), 'utf8')) as Array<{ start: number }>;
    log(`${e.episode}: ${e.stages} stages found, starting at ${segs.map((s) => s.start).join(', ')}; ${truth.get(e.episode) ?? ''}`);
  }
  const pad = (s: string) => s.padEnd(22);
  log('');
  log(`${pad(opts.features ? 'Sample episodes (.npy):' : 'Episodes (frames .npy):')} ${episodesDir}`);
  if (contactSheet) log(`${pad('Frames of one episode:')} ${contactSheet}`);
  log(`${pad('Per-episode outputs:')} ${out}/<episode>/{values,similarity,segments}.npy, segments.json, result.json, plot.svg`);
  log(`${pad('Plots:')} ${report.episodes.map((e) => path.join(e.dir, 'plot.svg')).join(`\n${' '.repeat(23)}`)}`);
  log(`${pad('Summary:')} ${report.summary.md} and ${report.summary.json}`);
  log(`Time: ${((t1 - t0) / 1000).toFixed(1)} s generating and writing, ${((t2 - t1) / 1000).toFixed(1)} s ${opts.features ? 'reading' : 'encoding'}, labelling and writing results.`);
  if (!opts.features) log(`Try it on your own frames: feat2go label --encoder builtin <folder> --threshold ${SCENE_PROGRESS_OPTIONS.threshold} --window ${SCENE_PROGRESS_OPTIONS.window}`);
  let experimentFiles: string[] | undefined;
  if (opts.experiment && !opts.features) {
    if (!capabilities().torch) {
      log('');
      log('Experiment skipped: the addon was built without libtorch (install libtorch-dev, rebuild: scripts/setup-debian.sh).');
    } else {
      log('');
      log(`Experiment (${opts.experiment}): variable-pace demonstrations → Feat2Go and Steps-To-Go value heads → behaviour-cloned base → PPO with sparse, Steps-To-Go, Feat2Go, oracle-stage and constant rewards → 4 splits`);
      const t3 = performance.now();
      const ebar = progressBar(stderr, stderr.isTTY === true);
      const r = await runExperiment({ preset: opts.experiment }, {
        // seeds in worker processes when there are several cores (each seed's numbers do not depend on it)
        workers: Math.min(2, availableParallelism()),
        onProgress: (p) => ebar.update(p.done, p.total, `seed ${p.seed} · ${p.phase}: ${p.label}`),
      });
      ebar.clear();
      experimentFiles = await writeExperimentOutputs(r, path.join(root, 'experiment'), `npm start (feat2go experiment --${opts.experiment})`);
      log('');
      for (const n of r.notes) log(`NOTE: ${n}`);
      log('');
      log(formatExperimentTable(r).trimEnd());
      log('');
      log(formatPairedTable(r).trimEnd());
      log('');
      log(formatValueModelTable(r).trimEnd());
      log('');
      log(`${pad('Experiment outputs:')} ${path.join(root, 'experiment')}/{results.json,results.md,success-over-training.svg,value-curves.svg,contact-<split>.png}`);
      log(`Experiment time: ${((performance.now() - t3) / 1000).toFixed(1)} s. The full run: feat2go experiment --full`);
    }
  }
  // The folder holding summary.json (and experiment/), as the user would type it.
  const rel = path.relative(process.cwd(), out);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : out;
  const arg = /^[\w./@:+-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, "'\\''")}'`;
  log('');
  log(`Look at the episodes${experimentFiles ? ' and the experiment' : ''} in your browser: feat2go view ${arg}`);
  log(`(from a clone of the repository: node dist/cli/main.js view ${arg})`);
  return { report, episodesDir, ...(contactSheet ? { contactSheet } : {}), ...(experimentFiles ? { experimentFiles } : {}) };
}

const entry = process.argv[1] ? path.resolve(process.argv[1]) : '';
if (entry && (entry === fileURLToPath(import.meta.url) || fs.existsSync(entry) && fs.realpathSync(entry) === fs.realpathSync(fileURLToPath(import.meta.url)))) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--features' && a !== '--label-only');
  if (unknown.length) {
    console.error(`npm start: unknown argument '${unknown[0]}'. Usage: npm start [-- --features | --label-only]`);
    process.exitCode = 2;
  } else {
    const { report } = await runMain({ features: args.includes('--features'), ...(args.includes('--label-only') ? {} : { experiment: 'quick' as const }) });
    if (report.failures.length) process.exitCode = 1;
  }
}
