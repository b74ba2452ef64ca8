// The pick-and-place task: environment steps per second with and
// without rendering, per split (the vision split adds a pixel-noise pass), at
// two frame sizes and on one or all threads. Target: ≥ 20,000 env steps/s
// with 64×64 rendering on 2 cores.
import { PickPlaceEnv, capabilities } from '../src/index.js';
import type { PickPlaceSplit } from '../src/index.js';
import { randomFloats, time } from './common.js';

interface SimCase { name: string; numEnvs: number; split?: PickPlaceSplit; imageSize?: number; render?: boolean; threads?: number; expert?: boolean }

async function stepsPerSecond(c: SimCase): Promise<{ name: string; ms: number; rate: number; rme: number }> {
  const N = c.numEnvs;
  // A horizon no run reaches keeps every env live (a finished env is frozen and cheap).
  const env = new PickPlaceEnv({ numEnvs: N, split: c.split, imageSize: c.imageSize, render: c.render, threads: c.threads, horizon: 1 << 20 });
  env.reset(Int32Array.from({ length: N }, (_, i) => i % 1000));
  const actions = Array.from({ length: 16 }, (_, k) => randomFloats(N * 3, k + 1));
  const out = new Float32Array(N * 3);
  let k = 0;
  const ids = new Int32Array(N);
  let next = 0;
  // Expert episodes end in success: finished envs are reset to the next
  // initial state, as a rollout loop does.
  const fn = c.expert
    ? () => {
      env.step(env.expertActions(0.3, k++, out));
      let any = false;
      for (let i = 0; i < N; i++) {
        const done = env.terminated[i] | env.truncated[i];
        ids[i] = done ? (next++ % 1000) : -1;
        any ||= done === 1;
      }
      if (any) env.reset(ids);
    }
    : () => { env.step(actions[k++ & 15]); };
  const row = await time({ name: c.name, fn });
  return { name: c.name, ms: row.ms, rate: N / (row.ms / 1e3), rme: row.rme };
}

export async function run(): Promise<void> {
  const threads = capabilities().threads;
  const cases: SimCase[] = [
    { name: 'id 64×64, 256 envs', numEnvs: 256 },
    { name: 'id 64×64, 256 envs, 1 thread', numEnvs: 256, threads: 1 },
    { name: 'id 64×64, 1024 envs', numEnvs: 1024 },
    { name: 'id 64×64, 32 envs', numEnvs: 32 },
    { name: 'vision 64×64 (stripes + noise), 256 envs', numEnvs: 256, split: 'vision' },
    { name: 'semantic 64×64 (distractor), 256 envs', numEnvs: 256, split: 'semantic' },
    { name: 'id 96×96, 256 envs', numEnvs: 256, imageSize: 96 },
    { name: 'id, no rendering, 256 envs', numEnvs: 256, render: false },
    { name: 'id 64×64, 256 envs, expert actions + step + reset of finished envs', numEnvs: 256, expert: true },
  ];
  console.log(`\n### pick-and-place: env steps per second (${threads} threads)\n`);
  console.log('| case | ms / step call | env steps/s | ±% |');
  console.log('|---|---:|---:|---:|');
  const rows = [];
  for (const c of cases) {
    const r = await stepsPerSecond(c);
    rows.push(r);
    console.log(`| ${r.name} | ${r.ms.toFixed(3)} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.rme.toFixed(1)} |`);
  }
  const main = rows[0];
  console.log(`\n- 64×64 with rendering, 256 envs, all threads: ${Math.round(main.rate).toLocaleString('en-US')} env steps/s (target 20,000): ${main.rate >= 20000 ? 'met' : 'NOT met'}`);
}
