// Shared benchmark helpers: benchmark.js timing, a table with ms, GB/s and
// ratios against a baseline row. Every area's bench module exports
// `run(): Promise<void>` and is listed in bench/index.ts.
import Benchmark from 'benchmark';
import { randomFloats } from '../src/core/random.js';

export { randomFloats };

export interface Case {
  name: string;
  /** Bytes read per call, for GB/s (omit when not meaningful). */
  bytes?: number;
  /** Synchronous body, or an async one (deferred benchmark). */
  fn: () => unknown | Promise<unknown>;
  async?: boolean;
}

export interface Row { name: string; ms: number; gbps?: number; rme: number; samples: number }

/** Times one case with benchmark.js (min 1 s of samples unless quick mode). */
export function time(c: Case, minTime = Number(process.env.BENCH_MIN_TIME ?? 1)): Promise<Row> {
  return new Promise((resolve, reject) => {
    const b = c.async
      ? new Benchmark(c.name, { defer: true, minSamples: 5, minTime, fn: (d: { resolve(): void }) => { (c.fn() as Promise<unknown>).then(() => d.resolve()); } })
      : new Benchmark(c.name, { minSamples: 5, minTime, fn: c.fn });
    b.on('complete', () => {
      if (b.error) return reject(b.error);
      const ms = b.stats.mean * 1e3;
      resolve({ name: c.name, ms, gbps: c.bytes ? c.bytes / (ms / 1e3) / 1e9 : undefined, rme: b.stats.rme, samples: b.stats.sample.length });
    });
    b.run();
  });
}

/** Runs cases and prints a markdown table; ratios are against `baseline` (a row name). */
export async function table(title: string, cases: Case[], ratios: Array<{ label: string; of: string; to: string; by: 'time' | 'gbps' }> = []): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of cases) rows.push(await time(c));
  console.log(`\n### ${title}\n`);
  console.log('| case | ms | GB/s | ±% |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.name} | ${r.ms.toFixed(3)} | ${r.gbps === undefined ? '' : r.gbps.toFixed(2)} | ${r.rme.toFixed(1)} |`);
  if (ratios.length) {
    console.log('');
    for (const q of ratios) {
      const a = rows.find((r) => r.name === q.of);
      const b = rows.find((r) => r.name === q.to);
      if (!a || !b) continue;
      const v = q.by === 'time' ? a.ms / b.ms : (a.gbps ?? 0) / (b.gbps ?? 1);
      console.log(`- ${q.label}: ${v.toFixed(2)}×`);
    }
  }
  return rows;
}

/**
 * A buffer for the memory-read probe: `bytes` (rounded up to whole floats) of
 * written data. It must be written: a fresh, all-zero typed array of this
 * size is backed by pages the OS has not given memory yet, which all map one
 * shared zero page, so "reading" it is served from L1 and overstates the
 * bandwidth two- to threefold.
 */
export function probeBuffer(bytes: number): Float32Array {
  return randomFloats(Math.ceil(bytes / 4), 99);
}
