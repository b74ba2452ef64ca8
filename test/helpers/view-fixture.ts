// A labelled folder for the viewer's tests: three frame episodes (a folder of
// PNG frames, a [T,H,W,3] uint8 .npy, an H.264 MP4 when ffmpeg is present)
// whose frames encode their own index in black and white blocks, labelled by
// the real `labelPaths` with the built-in encoder, plus a small experiment
// folder. Frame k's index can be read back from its pixels (`decodeIndex`),
// even after lossy video compression.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { labelPaths, patchStatsEncoder, writeExperimentOutputs, type ExperimentResult } from '../../src/index.js';

export const FRAME_W = 64;
export const FRAME_H = 48;
/** Bits of the index, most significant first, each a block of BLOCK_W × BLOCK_H pixels along the top. */
const BITS = 8;
const BLOCK_W = 8;
const BLOCK_H = 20;

/** Whether ffmpeg (with its libx264 encoder, for the fixture videos) and ffprobe can be run. */
export const hasFfmpeg = /\blibx264\b/.test(spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout ?? '')
  && spawnSync('ffprobe', ['-version']).status === 0;
/** Whether the fixture can hold a LeRobot dataset (ffmpeg for its video, DuckDB for its parquet files), and why not. */
export const lerobotFixture: { ok: boolean; reason: string } = !hasFfmpeg ? { ok: false, reason: 'ffmpeg (with libx264) is not installed: no LeRobot fixture' }
  : await import('@duckdb/node-api').then(() => ({ ok: true, reason: '' }), (err: Error) => ({ ok: false, reason: `the LeRobot fixture writer needs @duckdb/node-api (${err.message.split('\n')[0]})` }));

/**
 * RGB frame `k` of an episode of `T` frames: the index as 8 black/white blocks
 * along the top, and below a red square that moves right in three bursts with
 * pauses in between (so the labeller finds stages).
 */
export function indexFrame(k: number, T: number): Uint8Array {
  const out = new Uint8Array(FRAME_W * FRAME_H * 3).fill(110);
  for (let b = 0; b < BITS; b++) {
    const on = (k >> (BITS - 1 - b)) & 1;
    for (let y = 0; y < BLOCK_H; y++) for (let x = b * BLOCK_W; x < (b + 1) * BLOCK_W; x++) out.fill(on ? 255 : 0, (y * FRAME_W + x) * 3, (y * FRAME_W + x) * 3 + 3);
  }
  // Progress: motion in the first half of each third, a pause in the second half.
  const third = T / 3;
  const seg = Math.min(2, Math.floor(k / third));
  const within = Math.min(1, (k - seg * third) / (third / 2));
  const x0 = Math.round(((seg + within) / 3) * (FRAME_W - 12));
  for (let y = 28; y < 40; y++) for (let x = x0; x < x0 + 12; x++) out.set([220, 30, 30], (y * FRAME_W + x) * 3);
  return out;
}

/**
 * Reads the index back from RGBA or RGB pixels of a FRAME_W × FRAME_H frame
 * (the middle of each block, thresholded at mid-grey).
 */
export function decodeIndex(pixels: ArrayLike<number>, channels: 3 | 4, width = FRAME_W, height = FRAME_H): number {
  const sx = width / FRAME_W;
  const sy = height / FRAME_H;
  let k = 0;
  for (let b = 0; b < BITS; b++) {
    const x = Math.floor((b * BLOCK_W + BLOCK_W / 2) * sx);
    const y = Math.floor((BLOCK_H / 2) * sy);
    const i = (y * width + x) * channels;
    const lum = (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
    k = (k << 1) | (lum > 128 ? 1 : 0);
  }
  return k;
}

/** A uint8 .npy written by hand (format 1.0), independent of src/io. */
export function npyU8(shape: number[], data: Uint8Array): Buffer {
  let h = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  h = h.padEnd(Math.ceil((10 + h.length + 1) / 64) * 64 - 11, ' ') + '\n';
  const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
  return Buffer.concat([head, Buffer.from(h, 'latin1'), data]);
}

/** A float32 vector from a .npy file, parsed here (not by src/io). */
export function readF32Npy(file: string): Float32Array {
  const b = fs.readFileSync(file);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = b.subarray(major === 1 ? 10 : 12, start).toString('latin1');
  if (!header.includes("'<f4'")) throw new Error(`${file}: not float32 (${header})`);
  const n = (b.length - start) / 4;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = b.readFloatLE(start + 4 * i);
  return out;
}

/** A LeRobot v3.0 dataset in the fixture: two episodes whose frames share one H.264 file (the second starts 1.2 s in). */
export interface LeRobotPart {
  root: string;
  /** Episode names in the label outputs (the dataset's folder name, then episode_NNNNNN: names with a /). */
  episodes: [string, string];
  lengths: [number, number];
  /** Reads (episode, frame) back from RGB pixels of a 64×64 frame. */
  decode(rgb: Uint8Array, width: number, height: number): { episode: number; frame: number };
}

export interface ViewFixture {
  root: string;
  /** Present when ffmpeg and the LeRobot test fixtures (DuckDB) can build one. */
  lerobot?: LeRobotPart;
  /** The label output folder (what `feat2go view` serves). */
  labels: string;
  /** Episode names, and frames per episode. */
  episodes: { images: string; npy: string; video?: string };
  frames: { images: number; npy: number; video: number };
  /** A file next to the label folder (outside it) whose content must never be served. */
  secret: { file: string; content: string };
}

/** Writes the inputs, labels them, adds an experiment folder; everything under a fresh temporary folder. */
export async function makeViewFixture(): Promise<ViewFixture> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-view-'));
  const inputs = path.join(root, 'inputs');
  const labels = path.join(root, 'labels');
  fs.mkdirSync(path.join(inputs, 'ep_images'), { recursive: true });
  const frames = { images: 30, npy: 40, video: 36 };
  for (let k = 0; k < frames.images; k++) {
    await sharp(indexFrame(k, frames.images), { raw: { width: FRAME_W, height: FRAME_H, channels: 3 } }).png().toFile(path.join(inputs, 'ep_images', `frame_${k}.png`));
  }
  const arr = new Uint8Array(frames.npy * FRAME_W * FRAME_H * 3);
  for (let k = 0; k < frames.npy; k++) arr.set(indexFrame(k, frames.npy), k * FRAME_W * FRAME_H * 3);
  fs.writeFileSync(path.join(inputs, 'ep_npy.npy'), npyU8([frames.npy, FRAME_H, FRAME_W, 3], arr));
  // Annotated stages next to the source, as `npm start` writes them.
  fs.writeFileSync(path.join(inputs, 'ep_npy.stages.json'), JSON.stringify([{ name: 'move', start: 0, end: 19 }, { name: 'hold', start: 20, end: 39 }]));
  if (hasFfmpeg) {
    const raw = new Uint8Array(frames.video * FRAME_W * FRAME_H * 3);
    for (let k = 0; k < frames.video; k++) raw.set(indexFrame(k, frames.video), k * FRAME_W * FRAME_H * 3);
    // H.264 with B-frames and a keyframe every 12 frames: seeking has to decode from a keyframe.
    const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${FRAME_W}x${FRAME_H}`, '-r', '12', '-i', 'pipe:0',
      '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '12', '-g', '12', '-bf', '2', '-movflags', '+faststart', path.join(inputs, 'ep_video.mp4')], { input: raw });
    if (r.status !== 0) throw new Error(`ffmpeg could not write the fixture video: ${r.stderr}`);
  }
  const lerobot = await makeLeRobotPart(root);
  const report = await labelPaths([inputs, ...(lerobot ? [lerobot.root] : [])], { out: labels, encoder: patchStatsEncoder({ grid: 4 }), window: 3, maxClusterFrames: 12, threshold: 0.003 });
  if (report.failures.length) throw new Error(`fixture labelling failed: ${JSON.stringify(report.failures)}`);
  await writeExperimentOutputs(fakeExperiment(), path.join(labels, 'experiment'), 'test fixture');
  const secret = { file: path.join(root, 'secret.txt'), content: `not for the viewer ${Math.random()}` };
  fs.writeFileSync(secret.file, secret.content);
  // A symbolic link inside the folder that points out of it.
  fs.symlinkSync(secret.file, path.join(labels, 'link-out.txt'));
  fs.symlinkSync(root, path.join(labels, 'link-dir'));
  return {
    root, labels, frames, secret, ...(lerobot ? { lerobot } : {}),
    episodes: { images: 'ep_images', npy: 'ep_npy', ...(hasFfmpeg ? { video: 'ep_video' } : {}) },
  };
}

/** The LeRobot part of the fixture, or undefined without ffmpeg or the LeRobot fixture builder (DuckDB). */
async function makeLeRobotPart(root: string): Promise<LeRobotPart | undefined> {
  if (!lerobotFixture.ok) return undefined;
  const mod = await import('../fixtures/lerobot.js');
  const lengths: [number, number] = [12, 20];
  const info = await mod.makeLeRobotDataset(path.join(root, 'lerobot'), { version: 'v3.0', fps: 10, lengths, cameras: [{ key: 'observation.images.top', codec: 'h264', salt: 0 }] });
  return {
    root: info.root, episodes: ['lerobot/episode_000000', 'lerobot/episode_000001'], lengths,
    decode: (rgb, width, height) => mod.decodeFrameCode(mod.readFrameCode(rgb, width, height), 0),
  };
}

/** A small experiment result with every part the outputs and the viewer read (numbers made up, shapes real). */
export function fakeExperiment(): ExperimentResult {
  const methods = ['base (BC)', 'PPO sparse', 'PPO + Feat2Go', 'GRPO sparse'];
  const splits = ['id', 'vision', 'semantic', 'execution'] as const;
  const S = 16;
  const T = 6;
  const frames = { data: new Uint8Array(T * S * S * 3).fill(90), shape: [T, S, S, 3] as [number, number, number, number] };
  const success = (i: number) => ({ id: 0.2 + 0.1 * i, vision: 0, semantic: 0.05 * i, execution: 0.1 * i, oodAvg: 0.05 * i });
  return {
    config: { preset: 'tiny', seeds: 2 },
    seeds: [0, 1],
    rows: methods.map((method, i) => ({
      method, algo: i === 0 ? 'base' : method.startsWith('PPO') ? 'ppo' : 'grpo', reward: i === 0 ? 'none' : method.includes('Feat2Go') ? 'feat2go' : 'sparse',
      success: success(i), ci: { id: 0.05, vision: null, semantic: 0.02, execution: 0.03, oodAvg: 0.01 },
    })) as ExperimentResult['rows'],
    paired: [],
    gate: null,
    base: { deterministic: { id: 0.2, vision: 0, semantic: 0, execution: 0 }, sampledSuccess: { ppo: 0.07 }, probeSuccess: 0.06, demoSuccess: 0.99 },
    valueModels: [
      { target: 'feat2go', model: 'conv-backbone', spearman: 0.8, byStage: [0.4, 0.5, 0.7, 0.9], spread: 0.5, failed: 3, meetsTargets: false },
      { target: 'steps-to-go', model: 'conv-backbone', spearman: 0.7, byStage: [0.4, 0.45, 0.6, 0.8], spread: 0.4, failed: 3, meetsTargets: false },
    ],
    notes: [],
    timings: { total: 12 },
    curves: { 'PPO sparse': [[0.1, 0.3, 0.5], [0.2, 0.4, 0.4]], 'PPO + Feat2Go': [[0.1, 0.35, 0.6], [0.15, 0.45, 0.5]], 'GRPO sparse': [[0.1, 0.2, 0.3], [0.1, 0.25, 0.35]] },
    perSeed: [],
    valueProbe: {
      perSeed: [{ feat2go: 0.8, stepsToGo: 0.7, failed: 3 }],
      curves: [0, 1, 2].map((e) => ({ feat2go: [0, 0.2, 0.5, 0.9], stepsToGo: [0, 0.3, 0.6, 1], stage: [0, 1, 1, 2], success: e === 0 })),
    },
    episodes: Object.fromEntries(methods.map((m) => [m, Object.fromEntries(splits.map((s) => [s, frames]))])) as ExperimentResult['episodes'],
    numStages: 3,
  };
}
