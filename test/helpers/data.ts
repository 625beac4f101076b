/** Deterministic test data and a double-precision cosine reference. */
export { randomVectors, rng } from '../../src/util/random.js';

/** Cosine in float64; 0 when either side is a zero vector. */
export function cosineRef(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, dim: number): number {
  let dot = 0, na = 0, nb = 0;
  for (let j = 0; j < dim; j++) {
    const x = a[aOff + j], y = b[bOff + j];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} !== ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
