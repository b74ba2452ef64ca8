// Deterministic test data shared by the test files.
import { mulberry32 } from '../../src/core/random.js';

/** `n` pseudo-random bytes from a 32-bit LCG seeded with `seed`. */
export function rand(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; out[i] = a >>> 24; }
  return out;
}

/** A uniform [0, 1) generator (mulberry32, src/core/random.ts) seeded with `seed`: the tests' one generator. */
export const rng: (seed: number) => () => number = mulberry32;
