// The CUDA package's batch exports: CudaRowSet (resident rows, many-query
// exact top-k), CudaMlp (an MLP's forward pass), cudaProbeH2D, and their
// TypeScript glue (gpuTopKMany, gpuPredict). On a machine without a GPU:
// the exports exist, misuse gives the CPU API's coded errors (every argument
// is checked before the first CUDA call), and use rejects with
// ERR_FUSIONRANK_CUDA_UNAVAILABLE, never a crash. With a GPU the results are
// checked against the CPU (exact top-k, FusionMlp) within f16/bf16 tolerance.
//
// The addon comes from scripts/build-cuda.sh as in test/cuda.test.ts (the
// same build-cuda/ directory, so whichever file builds first leaves the other
// an up-to-date build); FUSIONRANK_TEST_CUDA_BUILD=0 skips it.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import type { NativeCudaBinding } from '../src/cuda.js';
import type { Activation, DenseLayer, LayerSpec } from '../src/rerank/layers.js';
import { gpuPredict } from '../src/rerank/gpu-mlp.js';
import { type GpuRowSource, gpuTopKMany, releaseGpuRows } from '../src/retrieval/gpu.js';
import { randomVectors, rng } from './helpers/data.js';

const exec = promisify(execFile);
/**
 * The CPU forward pass of a layer list (the CPU addon's NativeFusionMlp, f32).
 * The CPU addon is imported only by the GPU checks: the rest of this file
 * needs the CUDA addon alone.
 */
async function cpuMlp(input: number, layers: LayerSpec[]) {
  const { native } = await import('../src/native.js');
  const binding = native as unknown as { NativeFusionMlp: new (i: number, l: LayerSpec[]) => { predict(x: Float32Array, batch: number): Float32Array } };
  return new binding.NativeFusionMlp(input, layers);
}
const root = fileURLToPath(new URL('..', import.meta.url));

function findNvcc(): string | undefined {
  const candidates = [process.env.CUDACXX, spawnSync('sh', ['-c', 'command -v nvcc']).stdout?.toString().trim(), '/usr/local/cuda/bin/nvcc'];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

let binding: NativeCudaBinding | undefined;
let skipReason = '';
let gpu = false;
let noGpuReason = '';

beforeAll(async () => {
  const nvcc = findNvcc();
  if (process.platform !== 'linux' || process.arch !== 'x64') skipReason = 'the CUDA package builds on linux-x64 only';
  else if (!nvcc) skipReason = 'nvcc not found (set CUDACXX or install the CUDA toolkit)';
  else if (process.env.FUSIONRANK_TEST_CUDA_BUILD === '0') skipReason = 'FUSIONRANK_TEST_CUDA_BUILD=0';
  if (skipReason) return;
  const out = mkdtempSync(join(tmpdir(), 'fr-cuda-batch-build-'));
  await exec('bash', [join(root, 'scripts', 'build-cuda.sh'), out], { cwd: root, env: { ...process.env, CUDACXX: nvcc }, maxBuffer: 64 << 20, timeout: 590_000 });
  binding = createRequire(import.meta.url)(join(out, 'fusionrank.node')) as NativeCudaBinding;
  const probe = binding.cudaProbe();
  gpu = probe.status === 'ok';
  if (!gpu) noGpuReason = `no usable GPU here (${probe.status}: ${probe.error || 'no supported device'})`;
}, 600_000);

/** `Name:code` of what fn throws or rejects with, or 'no error'. */
async function failure(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    return `${(error as Error).name}:${(error as { code?: string }).code}`;
  }
  return 'no error';
}

/** binary16 bits of a float, rounded to nearest even (the store's export format). */
function toHalf(value: number): number {
  const f = new Float32Array([value]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exponent = (u >>> 23) & 0xff;
  let mantissa = u & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1), halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry rounds up into the exponent
  return sign | half;
}

/** A GpuRowSource over f32 rows, normalised and exported as binary16 like VectorStore's hooks. */
class RowSource implements GpuRowSource {
  readonly dim: number;
  version = 0;
  #rows: Float32Array[] = [];
  #log: Array<{ version: number; first: number; count: number }> = [];
  constructor(dim: number) {
    this.dim = dim;
  }
  get size(): number {
    return this.#rows.length;
  }
  set(first: number, vectors: Float32Array): void {
    const count = vectors.length / this.dim;
    for (let i = 0; i < count; i++) {
      const v = vectors.slice(i * this.dim, (i + 1) * this.dim);
      let norm = 0;
      for (const x of v) norm += x * x;
      norm = Math.sqrt(norm);
      if (norm > 0) for (let j = 0; j < v.length; j++) v[j] /= norm;
      this.#rows[first + i] = v;
    }
    this.version++;
    this.#log.push({ version: this.version, first, count });
  }
  changesSince(version: number): Array<[number, number]> | null {
    return this.#log.filter((c) => c.version > version).map((c) => [c.first, c.count]);
  }
  exportF16(first: number, count: number): Uint16Array {
    const out = new Uint16Array(count * this.dim);
    for (let i = 0; i < count; i++) for (let j = 0; j < this.dim; j++) out[i * this.dim + j] = toHalf(this.#rows[first + i][j]);
    return out;
  }
}

const dense = (input: number, out: number, random: () => number, activation: Activation): DenseLayer => ({
  kind: 'dense',
  in: input,
  out,
  weight: Float32Array.from({ length: input * out }, () => (random() * 2 - 1) / Math.sqrt(input)),
  outMajor: false,
  bias: Float32Array.from({ length: out }, () => random() * 0.2 - 0.1),
  activation,
  alpha: 0.01,
  beta: 0,
});

describe('the CUDA batch exports', () => {
  it('exist: CudaRowSet, CudaMlp, cudaProbeH2D', (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    expect(typeof binding.CudaRowSet).toBe('function');
    expect(typeof binding.CudaMlp).toBe('function');
    expect(typeof binding.cudaProbeH2D).toBe('function');
    const set = new binding.CudaRowSet(8);
    expect([set.dim(), set.size(), set.bytes(), set.placement()]).toEqual([8, 0, 0, 'none']);
  });

  it('reject bad arguments with coded errors before touching the device', async (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    const b = binding;
    const set = new b.CudaRowSet(4);
    const q = new Float32Array([1, 0, 0, 0]);
    expect(await failure(() => new b.CudaRowSet(0))).toBe('RangeError:ERR_FUSIONRANK_INVALID_DIM');
    expect(await failure(() => new b.CudaRowSet(65537))).toBe('RangeError:ERR_FUSIONRANK_INVALID_DIM');
    expect(await failure(() => new (b.CudaRowSet as any)('4'))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => new (b.CudaRowSet as any)(4, 0, 'gpu'))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => new b.CudaRowSet(4, 5000))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    // write: wrong length, a gap after the last row, the wrong array type
    expect(await failure(() => set.write(0, new Uint16Array(5)))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => set.write(0, new Uint16Array(0)))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => set.write(1, new Uint16Array(4)))).toBe('RangeError:ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    expect(await failure(() => (set as any).write(0, new Float32Array(4)))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => (set as any).write(-1, new Uint16Array(4)))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    // topKMany: wrong length, k = 0, k too large, a row id out of range, a non-finite query
    expect(await failure(() => set.topKMany(new Float32Array(5), 1))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => set.topKMany(new Float32Array(0), 1))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => set.topKMany(q, 0))).toBe('RangeError:ERR_FUSIONRANK_INVALID_K');
    expect(await failure(() => set.topKMany(q, 4096))).toBe('RangeError:ERR_FUSIONRANK_INVALID_K');
    expect(await failure(() => set.topKMany(q, 1, new Uint32Array([0])))).toBe('RangeError:ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    expect(await failure(() => (set as any).topKMany([1, 0, 0, 0], 1))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => set.topKMany(new Float32Array([1, NaN, 0, 0]), 1))).toBe('RangeError:ERR_FUSIONRANK_NON_FINITE');
    // CudaMlp: shapes, precision, forward's lengths and batch
    const random = rng(3);
    const layers = [dense(4, 3, random, 'relu')];
    expect(await failure(() => new b.CudaMlp(0, [], 'f16'))).toBe('RangeError:ERR_FUSIONRANK_MLP_SHAPE');
    expect(await failure(() => new (b.CudaMlp as any)(4, layers, 'f32'))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => new b.CudaMlp(5, layers, 'f16'))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => new b.CudaMlp(4, [{ ...layers[0], activation: 'swish' as Activation }], 'f16'))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => new b.CudaMlp(4, [{ kind: 'pool' } as unknown as LayerSpec], 'f16'))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => new b.CudaMlp(4, [{ kind: 'layernorm', size: 4, scale: new Float32Array(4), shift: new Float32Array(4), epsilon: -1 }], 'f16'))).toBe('RangeError:ERR_FUSIONRANK_MLP_SHAPE');
    const mlp = new b.CudaMlp(4, layers, 'bf16');
    expect([mlp.inputSize(), mlp.outputSize(), mlp.precision()]).toEqual([4, 3, 'bf16']);
    expect(await failure(() => mlp.forward(new Float32Array(7), 2))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => mlp.forward(new Float32Array(0), 0))).toBe('RangeError:ERR_FUSIONRANK_INVALID_BATCH');
    expect(await failure(() => b.cudaProbeH2D(0))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => (b as any).cudaProbeH2D('1'))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    // The TypeScript glue checks first, with the same codes.
    const source = new RowSource(4);
    expect(await failure(() => gpuTopKMany(source, b, new Float32Array(3), 1))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => gpuTopKMany(source, b, q, 0))).toBe('RangeError:ERR_FUSIONRANK_INVALID_K');
    expect(await failure(() => gpuTopKMany(source, b, q, 2.5))).toBe('RangeError:ERR_FUSIONRANK_INVALID_K');
    expect(await failure(() => gpuTopKMany(source, b, q, 1, [0] as unknown as Uint32Array))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => gpuPredict(b, layers, 4, 3, new Float32Array(4), 1, 'f32' as 'f16'))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await failure(() => gpuPredict(b, layers, 4, 3, new Float32Array(5), 1, 'f16'))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(await failure(() => gpuPredict(b, layers, 4, 3, new Float32Array(4), 0, 'f16'))).toBe('RangeError:ERR_FUSIONRANK_INVALID_BATCH');
    expect(await failure(() => gpuPredict(b, layers, 4, 2, new Float32Array(4), 1, 'f16'))).toBe('FusionrankError:ERR_FUSIONRANK_MLP_SHAPE');
  });

  it('without a GPU: every use throws or rejects ERR_FUSIONRANK_CUDA_UNAVAILABLE, and nothing crashes', async (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    if (gpu) return ctx.skip('a GPU is present: the GPU checks below run instead');
    const b = binding;
    const unavailable = 'Error:ERR_FUSIONRANK_CUDA_UNAVAILABLE';
    const set = new b.CudaRowSet(4);
    expect(await failure(() => set.write(0, new Uint16Array(8)))).toBe(unavailable);
    expect(set.size()).toBe(0);
    expect(await failure(() => set.topKMany(new Float32Array([1, 0, 0, 0]), 1))).toBe(unavailable);
    expect(await failure(() => new b.CudaRowSet(4, 0, 'host').write(0, new Uint16Array(4)))).toBe(unavailable);
    set.release();
    expect(await failure(() => b.cudaProbeH2D(1 << 20))).toBe(unavailable);
    const random = rng(5);
    const mlp = new b.CudaMlp(4, [dense(4, 2, random, 'gelu')], 'f16');
    expect(await failure(() => mlp.forward(new Float32Array(8), 2))).toBe(unavailable);
    // The glue: the rejection carries the caller's stack.
    const source = new RowSource(4);
    source.set(0, new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]));
    const error = await gpuTopKMany(source, b, new Float32Array([1, 0, 0, 0]), 1).catch((e) => e);
    expect(`${error.name}:${error.code}`).toBe(unavailable);
    expect(error.stack).toContain('cuda-batch.test.ts');
    expect(await failure(() => gpuPredict(b, [dense(4, 2, random, 'relu')], 4, 2, new Float32Array(4), 1, 'bf16'))).toBe(unavailable);
    releaseGpuRows(source);
  });
});

/** Position-wise max difference of two best-first score lists, and the overlap of their row sets. */
function compareTopK(gpuRows: Uint32Array, gpuScores: Float32Array, cpuRows: Uint32Array, cpuScores: Float32Array) {
  let maxError = 0;
  for (let i = 0; i < cpuScores.length; i++) maxError = Math.max(maxError, Math.abs(gpuScores[i] - cpuScores[i]));
  const cpu = new Set(cpuRows);
  let hits = 0;
  for (const r of gpuRows) hits += cpu.has(r) ? 1 : 0;
  return { maxError, recall: hits / Math.max(1, cpuRows.length) };
}

describe('on a GPU', () => {
  it('topKMany equals the CPU exact top-k within f16 tolerance (all rows, a subset, k > rows, host-streamed rows)', async (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    if (!gpu) return ctx.skip(noGpuReason);
    const dim = 96, n = 5000, nq = 300, k = 50;
    const random = rng(11);
    const vectors = randomVectors(n, dim, random);
    const queries = randomVectors(nq, dim, random);
    const { VectorStore } = await import('../src/retrieval/vector-store.js');
    const cpu = new VectorStore({ dim, dtype: 'f16' });
    cpu.add(vectors);
    const source = new RowSource(dim);
    source.set(0, vectors);
    const subset = Uint32Array.from({ length: 700 }, (_, i) => (i * 7 + 3) % n);

    const all = await gpuTopKMany(source, binding, queries, k);
    const some = await gpuTopKMany(source, binding, queries, k, subset);
    const few = await gpuTopKMany(source, binding, queries, 20, subset.subarray(0, 5));
    expect(few.k).toBe(5);
    for (let q = 0; q < nq; q++) {
      const query = queries.subarray(q * dim, (q + 1) * dim);
      for (const [result, kk, rows] of [[all, k, undefined], [some, k, subset], [few, 5, subset.subarray(0, 5)]] as const) {
        const ref = cpu.topK(query, kk, rows ? { rows } : undefined);
        const { maxError, recall } = compareTopK(result.rows.subarray(q * kk, (q + 1) * kk), result.scores.subarray(q * kk, (q + 1) * kk), ref.rows.subarray(0, kk), ref.scores.subarray(0, kk));
        expect(maxError).toBeLessThan(2e-3);
        expect(recall).toBeGreaterThanOrEqual(kk > 5 ? 0.9 : 1);
      }
    }
    // Rows streamed from pinned host memory give the same answer as resident ones.
    const hostSet = new binding.CudaRowSet(dim, 0, 'host');
    hostSet.write(0, source.exportF16(0, n));
    expect(hostSet.placement()).toBe('host');
    const streamed = await hostSet.topKMany(queries, k);
    expect(streamed.rows).toEqual(all.rows);
    expect(streamed.scores).toEqual(all.scores);
    const streamedSubset = await hostSet.topKMany(queries, k, subset);
    expect(streamedSubset.rows).toEqual(some.rows);
    hostSet.release();
    releaseGpuRows(source);
  });

  it('breaks ties by lower row, scores a zero query 0 everywhere, and follows the store incrementally', async (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    if (!gpu) return ctx.skip(noGpuReason);
    const dim = 8;
    const source = new RowSource(dim);
    // 3000 copies of one vector: every score ties.
    const same = new Float32Array(3000 * dim);
    for (let i = 0; i < 3000; i++) same[i * dim] = 1;
    source.set(0, same);
    const zero = await gpuTopKMany(source, binding, new Float32Array(dim), 10);
    expect(Array.from(zero.rows)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(zero.scores)).toEqual(new Array(10).fill(0));
    const q = new Float32Array(dim);
    q[0] = 3;
    const tied = await gpuTopKMany(source, binding, q, 1500);
    expect(Array.from(tied.rows)).toEqual(Array.from({ length: 1500 }, (_, i) => i));
    // A write later in the store and an append are picked up.
    const better = new Float32Array(2 * dim);
    better[0] = 1;
    better[1] = 0.01;
    better[dim] = 1;
    source.set(2500, better.subarray(0, dim));
    source.set(3000, better.subarray(dim));
    const q2 = new Float32Array(dim);
    q2[0] = 1;
    q2[1] = 1;
    const after = await gpuTopKMany(source, binding, q2, 3);
    expect(after.rows[0]).toBe(2500);
    expect(Array.from(after.rows.subarray(1))).toEqual([0, 1]);
    releaseGpuRows(source);
  });

  it('CudaMlp matches the CPU forward pass within f16 / bf16 tolerance, every op', async (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    if (!gpu) return ctx.skip(noGpuReason);
    const random = rng(21);
    const input = 200, batch = 700;
    const layers: LayerSpec[] = [
      dense(input, 128, random, 'relu'),
      { kind: 'layernorm', size: 128, scale: Float32Array.from({ length: 128 }, () => 0.5 + random()), shift: Float32Array.from({ length: 128 }, () => random() - 0.5), epsilon: 1e-5 },
      dense(128, 96, random, 'gelu'),
      { kind: 'affine', size: 96, scale: Float32Array.from({ length: 96 }, () => 0.5 + random()), shift: Float32Array.from({ length: 96 }, () => random() - 0.5) },
      { kind: 'activation', size: 96, activation: 'silu', alpha: 0, beta: 0 },
      { ...dense(96, 64, random, 'none'), outMajor: true },
      { kind: 'activation', size: 64, activation: 'softplus', alpha: 0, beta: 0 },
      dense(64, 33, random, 'geluTanh'),
      { kind: 'l2norm', size: 33, epsilon: 1e-12, scale: 2 },
      dense(33, 5, random, 'tanh'),
      { kind: 'softmax', size: 5 },
    ];
    const x = Float32Array.from({ length: batch * input }, () => random() * 2 - 1);
    const cpu = (await cpuMlp(input, layers)).predict(x, batch);
    for (const precision of ['f16', 'bf16'] as const) {
      const out = await gpuPredict(binding, layers, input, 5, x, batch, precision);
      let worst = 0;
      for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - cpu[i]));
      expect(worst, precision).toBeLessThan(precision === 'f16' ? 1e-2 : 4e-2);
    }
    // Each activation alone (fused into a dense epilogue), NaN kept as the CPU keeps it.
    for (const activation of ['relu', 'leakyRelu', 'sigmoid', 'tanh', 'gelu', 'geluTanh', 'silu', 'softplus', 'clip'] as const) {
      const layer = { ...dense(16, 8, random, activation), alpha: activation === 'clip' ? -0.5 : 0.1, beta: activation === 'clip' ? 0.5 : 0 };
      const xs = Float32Array.from({ length: 4 * 16 }, () => random() * 8 - 4);
      xs[5] = NaN;
      const ref = (await cpuMlp(16, [layer])).predict(xs, 4);
      const got = await gpuPredict(binding, [layer], 16, 8, xs, 4, 'f16');
      for (let i = 0; i < ref.length; i++) {
        if (Number.isNaN(ref[i])) expect(got[i], `${activation} NaN`).toBeNaN();
        else expect(Math.abs(got[i] - ref[i]), activation).toBeLessThan(2e-2);
      }
    }
  });

  it('cudaProbeH2D reports a plausible bandwidth', (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    if (!gpu) return ctx.skip(noGpuReason);
    const r = binding.cudaProbeH2D(64 << 20);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.gbPerSec).toBeGreaterThan(0.5);
    expect(r.gbPerSec).toBeLessThan(1000);
  });
});
