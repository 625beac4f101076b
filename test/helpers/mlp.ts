/** Shared fixtures for the FusionMlp tests: seeded data, onnxruntime references, tolerances. */
import ort from 'onnxruntime-node';
import { expect } from 'vitest';

import { rng } from '../../bench/harness.js';

export { rng };

export function randomArray(n: number, random: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);
}

/** Runs a model in onnxruntime-node (CPU, one thread) and returns its single output. */
export async function ortRun(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const tensors = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
    const out = await session.run(tensors);
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * Largest error relative to |expected|, with a floor of the RMS of
 * `expected`: values that cancel to ~0 are judged on the scale of the output
 * (as allclose does with atol), since float32 sums of k terms carry an
 * absolute error of about k^0.5 * 6e-8 * the size of the terms.
 */
export function relativeError(actual: Float32Array, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let sq = 0;
  for (let i = 0; i < expected.length; i++) sq += expected[i] * expected[i];
  const floor = Math.max(Math.sqrt(sq / Math.max(1, expected.length)), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor);
    if (Number.isNaN(e)) return Number.NaN; // fails every tolerance
    if (e > worst) worst = e;
  }
  return worst;
}

export function expectClose(actual: Float32Array, expected: ArrayLike<number>, tolerance = 1e-5): void {
  const error = relativeError(actual, expected);
  expect(error, `max relative error ${error}`).toBeLessThanOrEqual(tolerance);
}

/** Runs `fn` with the kernels of `isa`, restoring the current ISA after. */
export async function withIsa<T>(native: { setIsa(isa: string): string; capabilities(): { isa: string } }, isa: string, fn: () => T | Promise<T>): Promise<T> {
  const previous = native.capabilities().isa;
  native.setIsa(isa);
  try {
    return await fn();
  } finally {
    native.setIsa(previous);
  }
}

/** Expects `fn` to throw an error of `cls` whose code is `code` (and message matching `message`). */
export function expectCode(fn: () => unknown, code: string, cls?: new (...args: never[]) => Error, message?: RegExp): Error & { code: string } {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(cls ?? Error);
  const err = caught as Error & { code: string };
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}
