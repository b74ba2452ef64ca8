// `npm run bench:real`: labels the real-robot development set (a Unitree G1
// picks up a bottle; head camera, 30 fps; docs/benchmarks.md#real-robot-video)
// with the built-in encoder and prints, per segmentation setting, how often a
// stage boundary lands within ±15 frames of each physical event (reach, grasp,
// lift), next to evenly spaced and random boundaries of the same count per
// episode; the median number of stages; single-stage episodes; and how often
// V(t) rises within 0.05. Then the labelling time per frame of the default
// against the paper's rule.
//
//   npm run bench:real [-- --dev DIR] [--halves]
//
// The data set: FEAT2GO_REAL_DEV or --dev, else ../shared/data/real-g1-dev next
// to the repository. Encoded features are cached under
// node_modules/.cache/feat2go-bench-real (keyed by each video's size and mtime).
// Without the data the benchmark says so and exits 0.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  PAPER_PROGRESS_OPTIONS, encodeFrames, patchStatsEncoder, progressTargetsSync, readNpyFloat32, writeNpy,
  type ProgressOptions, type Tensor,
} from '../src/index.js';
import { EVENT_NAMES, score, type EpisodeEvents, type Labelled, type SettingScore } from './real-eval.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The settings compared, fixed before any result was looked at (the issue's table plus the new default). */
export const SETTINGS: Array<{ name: string; opts: ProgressOptions }> = [
  { name: 'defaults (motion segmenter)', opts: {} },
  { name: 'paper rule, τ 0.01, cap 50 (the defaults before)', opts: PAPER_PROGRESS_OPTIONS },
  { name: 'paper rule, τ 0.003, cap 400', opts: { threshold: 0.003, maxClusterFrames: 400 } },
  { name: 'paper rule, τ 0.001, cap 400', opts: { threshold: 0.001, maxClusterFrames: 400 } },
];

/** The development set's folder, or undefined. */
export function devFolder(arg?: string): string | undefined {
  const candidates = [arg, process.env.FEAT2GO_REAL_DEV, path.join(root, '..', 'shared', 'data', 'real-g1-dev'),
    path.join(root, '..', '..', 'shared', 'data', 'real-g1-dev')];
  return candidates.find((c): c is string => !!c && fs.existsSync(path.join(c, 'events.json')));
}

interface Episode { name: string; events: EpisodeEvents; features: Tensor }

/** Encodes (or reads from the cache) every episode of `dir` that has events. */
async function loadEpisodes(dir: string, log: (s: string) => void): Promise<Episode[]> {
  const events = JSON.parse(fs.readFileSync(path.join(dir, 'events.json'), 'utf8')) as Record<string, EpisodeEvents>;
  const cache = path.join(root, 'node_modules', '.cache', 'feat2go-bench-real');
  fs.mkdirSync(cache, { recursive: true });
  const enc = patchStatsEncoder();
  const out: Episode[] = [];
  const ids = Object.keys(events).map(Number).sort((a, b) => a - b);
  let encoded = 0, encodeMs = 0, encodedFrames = 0;
  for (const id of ids) {
    const name = `episode_${String(id).padStart(6, '0')}`;
    const video = path.join(dir, `${name}.mp4`);
    if (!fs.existsSync(video)) continue;
    const st = fs.statSync(video);
    const file = path.join(cache, `${name}.${st.size}.${Math.round(st.mtimeMs)}.${enc.name.replace(/\W/g, '_')}.npy`);
    let features: Tensor;
    if (fs.existsSync(file)) {
      features = readNpyFloat32(file);
    } else {
      const t = performance.now();
      features = await encodeFrames(video, enc);
      encodeMs += performance.now() - t;
      encodedFrames += features.shape[0];
      writeNpy(file, features);
      encoded++;
      log(`encoded ${name}: [${features.shape.join(', ')}]`);
    }
    if (features.shape[0] !== events[id].length) throw new Error(`${name}: ${features.shape[0]} frames but events.json says ${events[id].length}`);
    out.push({ name, events: events[id], features });
  }
  if (encoded) log(`encoded ${encoded} episodes with ${enc.name}: ${(encodeMs / encodedFrames * 1e3).toFixed(0)} µs/frame (decoding included)`);
  return out;
}

const pct = (x: number) => `${Math.round(x * 100)} %`;

/** One table row: `| setting | stages | single | reach | grasp | lift | monotone |`. */
export function row(name: string, s: SettingScore): string {
  const ev = EVENT_NAMES.map((e) => `${pct(s.events[e].hit)} (random ${pct(s.events[e].random)}, even ${pct(s.events[e].even)})`);
  return `| ${name} | ${s.medianStages} | ${s.singleStage} of ${s.episodes} | ${ev.join(' | ')} | ${pct(s.monotone)} |`;
}

export const HEADER = [
  '| setting | stages (median) | single-stage | reach ±15 | grasp ±15 | lift ±15 | V monotone ±0.05 |',
  '|---|--:|--:|--:|--:|--:|--:|',
];

function label(eps: Episode[], opts: ProgressOptions): { scored: Labelled[]; rules: Map<string, number> } {
  const rules = new Map<string, number>();
  const scored = eps.map((e) => {
    const r = progressTargetsSync(e.features, opts);
    for (const b of r.boundaries) rules.set(b.rule, (rules.get(b.rule) ?? 0) + 1);
    return { events: e.events, boundaries: r.boundaries.map((b) => b.frame), values: r.values };
  });
  return { scored, rules };
}

/** Labelling time per frame (µs), the median of `rounds` passes over every episode, settings interleaved. */
function timePerFrame(eps: Episode[], settings: ProgressOptions[], rounds: number): number[] {
  const frames = eps.reduce((n, e) => n + e.features.shape[0], 0);
  const times = settings.map(() => [] as number[]);
  for (const o of settings) for (const e of eps) progressTargetsSync(e.features, o); // warm-up
  for (let r = 0; r < rounds; r++) {
    settings.forEach((o, i) => {
      const t = performance.now();
      for (const e of eps) progressTargetsSync(e.features, o);
      times[i].push(((performance.now() - t) / frames) * 1e3);
    });
  }
  return times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]);
}

export async function run(argv: string[] = []): Promise<void> {
  const devArg = argv.includes('--dev') ? argv[argv.indexOf('--dev') + 1] : undefined;
  const dir = devFolder(devArg);
  if (!dir) {
    console.log('\nreal-robot benchmark: skipped, no development set (set FEAT2GO_REAL_DEV or pass --dev DIR; see docs/benchmarks.md)');
    return;
  }
  const eps = await loadEpisodes(dir, (s) => console.error(s));
  const frames = eps.reduce((n, e) => n + e.features.shape[0], 0);
  console.log(`\n### Real robot video: stage boundaries at physical events\n`);
  console.log(`${eps.length} episodes of ${path.basename(dir)} (${frames} frames), built-in encoder (patch statistics, 16×16 grid); `
    + 'a boundary lands on an event within ±15 frames; baselines: the same number of boundaries per episode, evenly spaced, '
    + 'and uniformly random (the exact expectation over draws).\n');
  console.log(HEADER.join('\n'));
  const rulesOf: string[] = [];
  for (const s of SETTINGS) {
    const { scored, rules } = label(eps, s.opts);
    console.log(row(s.name, score(scored)));
    const total = [...rules.values()].reduce((a, b) => a + b, 0);
    rulesOf.push(`- ${s.name}: ${[...rules].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'} (${total} boundaries)`);
  }
  console.log('\nWhat placed the boundaries:\n');
  console.log(rulesOf.join('\n'));
  if (argv.includes('--halves')) {
    console.log('\nThe default on the two halves of the set (alternate episodes):\n');
    console.log(HEADER.join('\n'));
    for (const [name, part] of [['odd positions', eps.filter((_, i) => i % 2 === 0)], ['even positions', eps.filter((_, i) => i % 2 === 1)]] as const) {
      console.log(row(`defaults, ${name} (${part.length})`, score(label(part, {}).scored)));
    }
  }
  const [motion, paper] = timePerFrame(eps, [{}, PAPER_PROGRESS_OPTIONS], Number(process.env.BENCH_ROUNDS ?? 7));
  console.log(`\nLabelling time (progressTargetsSync, features in memory, median of rounds): defaults ${motion.toFixed(2)} µs/frame, `
    + `paper rule τ 0.01 cap 50 ${paper.toFixed(2)} µs/frame: ratio ${(motion / paper).toFixed(2)}×`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await run(process.argv.slice(2));
}
