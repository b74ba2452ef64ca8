// Shared by the progress tests: a seeded random episode and an element-wise
// closeness check that names the first element out of tolerance.
import * as assert from 'uvu/assert';
import { noise } from '../reference/progress.js';
import { rng } from './data.js';

/** A `[T, N, D]` episode of seeded noise (flattened). */
export function randomEpisode(T: number, N: number, D: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: T * N * D }, () => noise(r));
}

/** Asserts |a[i] − b[i]| ≤ tol for every i (and equal lengths). */
export function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol)) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]} (tol ${tol})`);
  }
}
