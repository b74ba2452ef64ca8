// Seeded pseudo-random numbers for generated data (the demo scene and sample
// episodes, benchmark inputs, test data). Not for anything secret.
//
// mulberry32 is the generator to use: 32-bit state, one stream per seed.
// sfc32Stream is kept for the sample episodes only: it gives each episode its
// own stream of one seed, and switching it would change every sample set.

/** A uniform [0, 1) generator. */
export type Random = () => number;

/**
 * mulberry32: a uniform [0, 1) generator with a 32-bit state; the same seed
 * gives the same sequence.
 *
 * @param seed any number; taken modulo 2³² (`seed >>> 0`)
 * @example
 * const r = mulberry32(7);
 * const x = r(); // in [0, 1)
 */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` floats uniform in [-1, 1) from mulberry32(`seed`) (`2·r() − 1`).
 *
 * @example
 * randomFloats(4, 1); // the same 4 floats on every run
 */
export function randomFloats(n: number, seed = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * 2 - 1;
  return out;
}

/** `n` bytes uniform in [0, 255] from mulberry32(`seed`) (e.g. random RGB frames). */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const r = mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** sfc32: a small, fast PRNG with a 128-bit state (uniform in [0, 1)). */
function sfc32(a: number, b: number, c: number, d: number): Random {
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0;
    a = b ^ (b >>> 9);
    b = c + (c << 3) | 0;
    c = (c << 21) | (c >>> 11);
    c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
}

/**
 * Stream `stream` of seed `seed` (sfc32, seed mixed in by 15 draws): streams of
 * one seed are independent, so the sample episodes can be generated one at a
 * time. Use {@link mulberry32} for anything new.
 */
export function sfc32Stream(seed: number, stream: number): Random {
  const r = sfc32(0x9e3779b9, seed >>> 0, (seed / 4294967296) >>> 0, stream >>> 0);
  for (let i = 0; i < 15; i++) r();
  return r;
}
