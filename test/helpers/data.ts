// Deterministic test data shared by the test files, all from one generator:
// mulberry32 of src/core/random.ts.
import { mulberry32, randomBytes } from '../../src/core/random.js';

/** `n` pseudo-random bytes (mulberry32 seeded with `seed`), e.g. RGB frames. */
export function rand(n: number, seed: number): Uint8Array {
  return randomBytes(n, seed);
}

/** A uniform [0, 1) generator (mulberry32) seeded with `seed`. */
export const rng: (seed: number) => () => number = mulberry32;
