/**
 * Mulberry32: a small deterministic generator for tests and benchmarks, uniform in [0, 1). (A linear congruential
 * generator written with JavaScript numbers loses its low bits once `seed × multiplier` passes 2^53, and then
 * repeats after a few steps.)
 */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
