// Deterministic test data shared by the test files.

/** `n` pseudo-random bytes from a 32-bit LCG seeded with `seed`. */
export function rand(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; out[i] = a >>> 24; }
  return out;
}
