// LeRobot datasets: listing a 1,000-episode v3.0 dataset (openLeRobot: info,
// episode metadata with its stats columns, tasks, every file named checked),
// and labelling with the built-in encoder from AV1 videos, decoding
// included (by the ffmpeg CLI, and in process with FFmpeg's libraries where
// the addon can load them), against labelling the same frames from uint8
// .npy files.
// Fixed settings: 1,000 episodes of 50 frames in 10 data files, 2 cameras;
// 6 episodes × 100 frames of 256×256 video at 30 fps (libsvtav1, g=2,
// crf 30, as lerobot encodes); the label cases run alternately, 3 times
// each (BENCH_ROUNDS), and the medians are compared.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labelPaths, openLeRobot, patchStatsEncoder, videoDecoderStatus, writeNpy } from '../src/index.js';
import { run, writeParquetRows, type FixtureColumn } from '../test/fixtures/lerobot.js';
import * as arrow from 'apache-arrow';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** CPU seconds of this process and of its finished children (user + system), from /proc/self/stat. */
function cpuSeconds(): [number, number] {
  try {
    const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return [(Number(f[11]) + Number(f[12])) / 100, (Number(f[13]) + Number(f[14])) / 100];
  } catch {
    return [NaN, NaN];
  }
}
const load = () => os.loadavg()[0].toFixed(1);

const I64: FixtureColumn['arrow'] = new arrow.Int64();
const col = (name: string, duck: string, a: FixtureColumn['arrow'] = I64): FixtureColumn => ({ name, duck, arrow: a, hf: {} });

async function bigDataset(root: string, E: number): Promise<void> {
  const L = 50;
  const files = 10;
  const cams = ['observation.images.top', 'observation.images.wrist'];
  const feats = ['observation.state', 'action', 'timestamp', 'frame_index', 'episode_index', 'index', 'task_index'];
  const cols: FixtureColumn[] = [
    col('episode_index', 'BIGINT'), col('tasks', 'VARCHAR[]', new arrow.List(new arrow.Field('element', new arrow.Utf8(), true))), col('length', 'BIGINT'),
    col('data/chunk_index', 'BIGINT'), col('data/file_index', 'BIGINT'), col('dataset_from_index', 'BIGINT'), col('dataset_to_index', 'BIGINT'),
  ];
  for (const c of cams) {
    cols.push(col(`videos/${c}/chunk_index`, 'BIGINT'), col(`videos/${c}/file_index`, 'BIGINT'),
      col(`videos/${c}/from_timestamp`, 'DOUBLE', new arrow.Float64()), col(`videos/${c}/to_timestamp`, 'DOUBLE', new arrow.Float64()));
  }
  const list = new arrow.List(new arrow.Field('element', new arrow.Float64(), true));
  for (const f of [...feats, ...cams]) for (const s of ['min', 'max', 'mean', 'std', 'count', 'q01', 'q10', 'q50', 'q90', 'q99']) cols.push(col(`stats/${f}/${s}`, 'DOUBLE[]', list));
  const per = E / files;
  const rows = Array.from({ length: E }, (_, e) => {
    const r: Record<string, unknown> = {
      episode_index: e, tasks: [`task ${e % 7}`], length: L, 'data/chunk_index': 0, 'data/file_index': Math.floor(e / per),
      dataset_from_index: e * L, dataset_to_index: (e + 1) * L,
    };
    for (const c of cams) Object.assign(r, { [`videos/${c}/chunk_index`]: 0, [`videos/${c}/file_index`]: Math.floor(e / per), [`videos/${c}/from_timestamp`]: (e % per) * L / 30, [`videos/${c}/to_timestamp`]: ((e % per) + 1) * L / 30 });
    for (const f of [...feats, ...cams]) for (const s of ['min', 'max', 'mean', 'std', 'count', 'q01', 'q10', 'q50', 'q90', 'q99']) r[`stats/${f}/${s}`] = f.startsWith('observation.images') ? [0.1, 0.2, 0.3] : [e, e + 1];
    return r;
  });
  await writeParquetRows(path.join(root, 'meta', 'episodes', 'chunk-000', 'file-000.parquet'), cols, rows);
  await writeParquetRows(path.join(root, 'meta', 'tasks.parquet'), [col('task_index', 'BIGINT'), col('task', 'VARCHAR', new arrow.Utf8())], Array.from({ length: 7 }, (_, i) => ({ task_index: i, task: `task ${i}` })));
  const features: Record<string, unknown> = Object.fromEntries(feats.map((f) => [f, { dtype: f.startsWith('obs') || f === 'action' ? 'float32' : f === 'timestamp' ? 'float32' : 'int64', shape: [f.startsWith('obs') || f === 'action' ? 6 : 1], names: null, fps: 30 }]));
  for (const c of cams) features[c] = { dtype: 'video', shape: [480, 640, 3], names: ['height', 'width', 'channels'], info: { 'video.codec': 'av1' } };
  fs.writeFileSync(path.join(root, 'meta', 'info.json'), JSON.stringify({
    codebase_version: 'v3.0', robot_type: 'bench', total_episodes: E, total_frames: E * L, total_tasks: 7, chunks_size: 1000, fps: 30,
    data_path: 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet', video_path: 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4', features,
  }, null, 4));
  // The files the templates name exist (listing checks them; it never reads them).
  for (let f = 0; f < files; f++) {
    const d = path.join(root, 'data', 'chunk-000', `file-${String(f).padStart(3, '0')}.parquet`);
    fs.mkdirSync(path.dirname(d), { recursive: true });
    fs.writeFileSync(d, '');
    for (const c of cams) {
      const v = path.join(root, 'videos', c, 'chunk-000', `file-${String(f).padStart(3, '0')}.mp4`);
      fs.mkdirSync(path.dirname(v), { recursive: true });
      fs.writeFileSync(v, '');
    }
  }
}

/** A 256×256 frame: a bright square crossing a gradient, moving with t. */
function frame(t: number, e: number, S = 256): Uint8Array {
  const out = new Uint8Array(S * S * 3);
  const x0 = Math.round((t / 100) * (S - 48));
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const o = (y * S + x) * 3;
      const inside = x >= x0 && x < x0 + 48 && y >= 100 && y < 148;
      out[o] = inside ? 230 : (x + e * 20) & 255;
      out[o + 1] = inside ? 40 : y & 255;
      out[o + 2] = inside ? 40 : 128;
    }
  }
  return out;
}

async function videoDataset(root: string, E: number, T: number): Promise<void> {
  const S = 256;
  const cam = 'observation.images.top';
  const rowsCols: FixtureColumn[] = [col('timestamp', 'FLOAT', new arrow.Float32()), col('frame_index', 'BIGINT'), col('episode_index', 'BIGINT'), col('index', 'BIGINT'), col('task_index', 'BIGINT')];
  await writeParquetRows(path.join(root, 'data', 'chunk-000', 'file-000.parquet'), rowsCols,
    Array.from({ length: E * T }, (_, i) => ({ timestamp: (i % T) / 30, frame_index: i % T, episode_index: Math.floor(i / T), index: i, task_index: 0 })));
  const video = path.join(root, 'videos', cam, 'chunk-000', 'file-000.mp4');
  fs.mkdirSync(path.dirname(video), { recursive: true });
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${S}x${S}`, '-r', '30', '-i', '-',
    '-c:v', 'libsvtav1', '-g', '2', '-crf', '30', '-preset', '10', '-pix_fmt', 'yuv420p', video], (w) => {
    for (let e = 0; e < E; e++) for (let t = 0; t < T; t++) w.write(frame(t, e));
  });
  const epCols: FixtureColumn[] = [col('episode_index', 'BIGINT'), col('tasks', 'VARCHAR[]', new arrow.List(new arrow.Field('element', new arrow.Utf8(), true))), col('length', 'BIGINT'),
    col('data/chunk_index', 'BIGINT'), col('data/file_index', 'BIGINT'), col(`videos/${cam}/chunk_index`, 'BIGINT'), col(`videos/${cam}/file_index`, 'BIGINT'),
    col(`videos/${cam}/from_timestamp`, 'DOUBLE', new arrow.Float64())];
  await writeParquetRows(path.join(root, 'meta', 'episodes', 'chunk-000', 'file-000.parquet'), epCols, Array.from({ length: E }, (_, e) => ({
    episode_index: e, tasks: ['push the block'], length: T, 'data/chunk_index': 0, 'data/file_index': 0,
    [`videos/${cam}/chunk_index`]: 0, [`videos/${cam}/file_index`]: 0, [`videos/${cam}/from_timestamp`]: (e * T) / 30,
  })));
  fs.writeFileSync(path.join(root, 'meta', 'info.json'), JSON.stringify({
    codebase_version: 'v3.0', fps: 30, total_episodes: E, total_frames: E * T, chunks_size: 1000,
    data_path: 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet', video_path: 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4',
    features: { [cam]: { dtype: 'video', shape: [S, S, 3], names: ['height', 'width', 'channels'] }, timestamp: { dtype: 'float32', shape: [1], names: null } },
  }, null, 4));
}

export async function run_(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-bench-lerobot-'));
  try {
    console.log('\n### LeRobot datasets\n');
    const big = path.join(dir, 'big');
    await bigDataset(big, 1000);
    const times: number[] = [];
    let n = 0;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const ds = await openLeRobot(big);
      times.push(performance.now() - t);
      n = ds.episodes.length;
      if (ds.problems.length) throw new Error(`bench dataset has problems: ${ds.problems[0].reason}`);
    }
    console.log(`| case | median ms | runs (ms) | load |`);
    console.log('|---|---:|---|---:|');
    console.log(`| openLeRobot, v3.0, ${n} episodes (150 columns of episode metadata, 10 data files, 2 cameras) | ${median(times).toFixed(0)} | ${times.map((x) => x.toFixed(0)).join(', ')} | ${load()} |`);

    const E = 6;
    const T = 100;
    const vids = path.join(dir, 'video');
    await videoDataset(vids, E, T);
    // The same frames as uint8 .npy files, decoded once through the dataset (identical frames).
    const npys = path.join(dir, 'npy');
    fs.mkdirSync(npys);
    const ds = await openLeRobot(vids);
    for (const e of ds.episodes) {
      const src = await ds.frames(e.index);
      const buf = new Uint8Array(src.length * 256 * 256 * 3);
      for await (const c of src.chunks({ chunkFrames: 50 })) buf.set(c.data, c.start * 256 * 256 * 3);
      writeNpy(path.join(npys, `episode_${e.index}.npy`), { data: buf, shape: [src.length, 256, 256, 3] });
    }
    const enc = patchStatsEncoder();
    const opts = { threshold: 0.003 };
    const status = videoDecoderStatus();
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['label from .npy frames (builtin encoder)', () => labelPaths([npys], { ...opts, out: path.join(dir, 'out-npy'), encoder: enc })],
      ['label the LeRobot dataset, AV1 decoded by the ffmpeg CLI (+ builtin encoder)', () => labelPaths([vids], { ...opts, out: path.join(dir, 'out-lr'), encoder: enc, videoDecoder: 'ffmpeg' })],
    ];
    if (status.available) {
      cases.push(['label the LeRobot dataset, AV1 decoded in process by libav (+ builtin encoder)', () => labelPaths([vids], { ...opts, out: path.join(dir, 'out-lr2'), encoder: enc, videoDecoder: 'libav' })]);
    } else {
      console.log(`\n(in-process decoding unavailable: ${status.reason}; that case is left out)`);
    }
    const res = new Map<string, number[]>(cases.map(([k]) => [k, []]));
    const cpu = new Map<string, number[]>(cases.map(([k]) => [k, []]));
    const kids = new Map<string, number[]>(cases.map(([k]) => [k, []]));
    const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS) || 3);
    for (let rep = 0; rep < rounds; rep++) {
      for (const [k, fn] of cases) {
        await new Promise((r) => setTimeout(r, 3500)); // a parked decoder from the last run is gone
        const c0 = cpuSeconds();
        const t = performance.now();
        const r = await fn() as { failures: unknown[]; episodes: unknown[] };
        if (r.failures.length || r.episodes.length !== E) throw new Error(`${k}: ${JSON.stringify(r.failures)}`);
        res.get(k)!.push(performance.now() - t);
        await new Promise((r2) => setTimeout(r2, 3500)); // its ffmpeg is reaped and counted
        const c1 = cpuSeconds();
        cpu.get(k)!.push((c1[0] + c1[1] - c0[0] - c0[1]) * 1000);
        kids.get(k)!.push((c1[1] - c0[1]) * 1000);
      }
    }
    console.log('\n| case | median wall ms | runs (ms) | median CPU ms (incl. ffmpeg) | of which ffmpeg | load |');
    console.log('|---|---:|---|---:|---:|---:|');
    for (const [k, xs] of res) console.log(`| ${k}: ${E} episodes × ${T} frames, 256×256 | ${median(xs).toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(', ')} | ${median(cpu.get(k)!).toFixed(0)} | ${median(kids.get(k)!).toFixed(0)} | ${load()} |`);
    const walls = [...res.values()].map(median);
    const cpus = [...cpu.values()].map(median);
    console.log('');
    const names = ['AV1 via the ffmpeg CLI', 'AV1 in process (libav)'];
    for (let i = 1; i < walls.length; i++) {
      console.log(`- LeRobot, ${names[i - 1]} (decode included) / .npy: ${(walls[i] / walls[0]).toFixed(2)}× wall, ${(cpus[i] / cpus[0]).toFixed(2)}× CPU (target ≤ 1.5×)`);
    }
    if (walls.length > 2) {
      console.log(`- in process / CLI: ${(walls[2] / walls[1]).toFixed(2)}× wall, ${(cpus[2] / cpus[1]).toFixed(2)}× CPU (${status.versions})`);
      // Both decoders hand out the same frames, so the labels are the same files.
      const differ = fs.readdirSync(path.join(dir, 'out-lr')).filter((e) => e.startsWith('episode_'))
        .filter((e) => !fs.readFileSync(path.join(dir, 'out-lr', e, 'values.npy')).equals(fs.readFileSync(path.join(dir, 'out-lr2', e, 'values.npy'))));
      console.log(`- labels (values.npy) of the two decoders: ${differ.length === 0 ? `identical for all ${E} episodes` : `DIFFER for ${differ.join(', ')}`}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export { run_ as run };
