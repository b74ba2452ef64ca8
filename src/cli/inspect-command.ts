// `feat2go inspect <root>`: what a LeRobot dataset holds (version and
// layout, fps, cameras, episodes, frames, tasks) and what keeps episodes
// from being read, without decoding any frame.
import { LeRobotError, openLeRobot, type LeRobotDataset } from '../io/lerobot.js';
import { videoDecoderStatus, type VideoDecoderStatus, type VideoStreamInfo } from '../io/lerobot-video.js';
import { UsageError, type Command } from './command.js';

/** The summary `inspect` prints, also its --json output. */
interface InspectSummary {
  root: string;
  version: string;
  layout: 'v2' | 'v3';
  fps: number;
  robotType: string | null;
  cameras: Array<{ key: string; kind: 'video' | 'image'; shape: number[]; codec?: string; video?: Omit<VideoStreamInfo, 'file'> & { file: string } | { error: string } }>;
  episodes: { listed: number; infoTotal: number | null; first: number | null; last: number | null };
  frames: { listed: number; infoTotal: number | null };
  tasks: Array<{ index: number; task: string; episodes: number }>;
  problems: Array<{ file: string; episode?: number; camera?: string; reason: string }>;
  warnings: string[];
  /** Who would decode the videos: in process (FFmpeg's libraries) when available, else the ffmpeg CLI, and why. */
  decoder: VideoDecoderStatus;
}

function summarize(ds: LeRobotDataset, probe: boolean): InspectSummary {
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const counts = new Map<string, number>();
  for (const e of ds.episodes) for (const t of new Set(e.tasks)) counts.set(t, (counts.get(t) ?? 0) + 1);
  const tasks = [...ds.tasks].sort((a, b) => a[0] - b[0]).map(([index, task]) => ({ index, task, episodes: counts.get(task) ?? 0 }));
  for (const [task, n] of counts) if (![...ds.tasks.values()].includes(task)) tasks.push({ index: -1, task, episodes: n });
  const cameras = ds.cameras.map((c) => {
    let video: InspectSummary['cameras'][number]['video'];
    const e = ds.episodes.find((x) => c.kind === 'video' && !ds.problemOf(x.index, c.key));
    if (probe && c.kind === 'video' && e) {
      try {
        video = ds.videoInfo(e.index, c.key);
      } catch (err) {
        video = { error: (err as Error).message };
      }
    }
    return { key: c.key, kind: c.kind, shape: c.shape, ...(c.codec ? { codec: c.codec } : {}), ...(video ? { video } : {}) };
  });
  return {
    root: ds.root, version: ds.version, layout: ds.layout, fps: ds.fps, robotType: typeof ds.info.robot_type === 'string' ? ds.info.robot_type : null,
    cameras,
    episodes: { listed: ds.episodes.length, infoTotal: num(ds.info.total_episodes), first: ds.episodes[0]?.index ?? null, last: ds.episodes[ds.episodes.length - 1]?.index ?? null },
    frames: { listed: ds.episodes.reduce((a, e) => a + (Number.isFinite(e.length) ? e.length : 0), 0), infoTotal: num(ds.info.total_frames) },
    tasks, problems: ds.problems.map((p) => ({ ...p })), warnings: [...ds.warnings],
    decoder: videoDecoderStatus(),
  };
}

function text(s: InspectSummary, fps: number): string {
  const lines: string[] = [];
  lines.push(`LeRobot dataset ${s.root}`);
  lines.push(`  version     ${s.version || '(none)'} (files in the ${s.layout === 'v2' ? 'v2.x layout: meta/episodes.jsonl, a file per episode' : 'v3.0 layout: meta/episodes/*.parquet, shared files'})`);
  lines.push(`  fps         ${fps}${s.robotType ? `   robot ${s.robotType}` : ''}`);
  lines.push(`  episodes    ${s.episodes.listed}${s.episodes.listed ? ` (${s.episodes.first}…${s.episodes.last})` : ''}${s.episodes.infoTotal !== null && s.episodes.infoTotal !== s.episodes.listed ? `; info.json says ${s.episodes.infoTotal}` : ''}`);
  lines.push(`  frames      ${s.frames.listed}${s.frames.infoTotal !== null && s.frames.infoTotal !== s.frames.listed ? `; info.json says ${s.frames.infoTotal}` : ''}`);
  lines.push(`  cameras     ${s.cameras.length}`);
  const w = Math.max(0, ...s.cameras.map((c) => c.key.length));
  for (const c of s.cameras) {
    const v = c.video && 'codec' in c.video ? ` — first video: ${c.video.codec} ${c.video.width}×${c.video.height} at ${Number(c.video.fps.toFixed(4))} fps${Math.abs(c.video.fps - fps) > 1e-3 * fps ? ` (≠ info.json fps ${fps})` : ''}`
      : c.video && 'error' in c.video ? ` — first video unreadable: ${c.video.error}` : '';
    lines.push(`    ${c.key.padEnd(w)}  ${c.kind}${c.shape.length ? ` ${c.shape.join('×')}` : ''}${c.codec ? ` ${c.codec}` : ''}${v}`);
  }
  if (s.cameras.some((c) => c.kind === 'video')) {
    const d = s.decoder;
    lines.push(`  decoder     ${d.available ? `in process (${d.versions})` : `the ffmpeg CLI (in process unavailable: ${d.reason})`}`);
  }
  lines.push(`  tasks       ${s.tasks.length}`);
  for (const t of s.tasks.slice(0, 20)) lines.push(`    ${t.index >= 0 ? String(t.index).padStart(3) : '  ?'}  ${JSON.stringify(t.task)} (${t.episodes} episode${t.episodes === 1 ? '' : 's'})`);
  if (s.tasks.length > 20) lines.push(`    … ${s.tasks.length - 20} more`);
  if (s.problems.length) {
    lines.push(`  problems    ${s.problems.length} (these episodes cannot be read)`);
    for (const p of s.problems.slice(0, 20)) lines.push(`    ${p.file}${p.episode !== undefined ? ` [episode ${p.episode}${p.camera ? `, ${p.camera}` : ''}]` : ''}: ${p.reason}`);
    if (s.problems.length > 20) lines.push(`    … ${s.problems.length - 20} more`);
  }
  if (s.warnings.length) {
    lines.push(`  warnings    ${s.warnings.length}`);
    for (const m of s.warnings.slice(0, 10)) lines.push(`    ${m}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The `feat2go inspect` subcommand (listed in `COMMANDS` of src/cli/main.ts). */
export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Describe a LeRobot dataset: version, fps, cameras, episodes, frames, tasks and any problems.',
  usage: '<lerobot-root> [options]',
  description: [
    'Opens a LeRobot dataset (a folder with meta/info.json; the v2.x layout with meta/episodes.jsonl or the v3.0 layout with meta/episodes/*.parquet, told by the files present) and prints its codebase version and layout, fps, cameras (video and image features; the first video of each camera is probed with ffprobe), which decoder would read the videos (in process through the FFmpeg libraries, or the ffmpeg CLI and why), the episodes and frames the metadata lists (and what info.json claims, when it differs), and the tasks with their episode counts.',
    'It also lists what keeps episodes from being read: files named by the path templates that are missing, duplicate or missing episode indices. No frame is decoded and no data file is read.',
    'Exit status: 0 for a dataset without problems, 1 when problems were found or the dataset cannot be opened (the message names the file), 2 for a bad command line.',
  ].join('\n\n'),
  options: [
    { name: 'json', type: 'boolean', description: 'Print one JSON object instead of the text.' },
    { name: 'no-probe', type: 'boolean', description: 'Do not run ffprobe on the first video of each camera.' },
  ],
  examples: [
    'feat2go inspect ~/.cache/huggingface/lerobot/lerobot/pusht',
    'feat2go inspect datasets/koch_pick --json',
  ],
  async run({ values, positionals }, io) {
    if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one dataset folder but received ${positionals.length}` : 'missing <lerobot-root>: give the folder of a LeRobot dataset (it holds meta/info.json)');
    let ds: LeRobotDataset;
    try {
      ds = await openLeRobot(positionals[0]);
    } catch (err) {
      if (err instanceof LeRobotError) {
        io.stderr.write(`feat2go inspect: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
    const s = summarize(ds, values['no-probe'] !== true);
    io.stdout.write(values.json === true ? `${JSON.stringify(s)}\n` : text(s, ds.fps));
    return s.problems.length ? 1 : 0;
  },
};
