#!/usr/bin/env node
// GPU check of the CUDA package's batch paths, as one short command:
//
//   scripts/build-cuda.sh /tmp/fr-cuda && node scripts/gpu-check.mjs
//
// 1. correctness: CudaRowSet.topKMany (default 2,000 queries x 200,000 rows x
//    768, top-100) against the CPU's exact top-k over the same f16 rows
//    (recall, identical lists, max score error), the same through rows
//    streamed from pinned host memory, and CudaMlp (f16, bf16) against the
//    CPU forward pass;
// 2. timing: topKMany 10,000 x 1,000,000 x 768 f16 top-100 (GFLOP/s, the
//    GEMM alone vs the whole job), the row upload in GB/s against a pinned
//    host-to-device probe, and MLP batch throughput;
// then one markdown table, with the device. Without a GPU it prints why and
// exits 0. Everything comes from the CUDA addon (it carries the CPU API too),
// so nothing but that one file is needed on the GPU machine.
//
// Flags (all optional): --addon PATH (default $FUSIONRANK_CUDA_NATIVE, then
// build-cuda/fusionrank.node), --dim 768 --k 100 --check-rows 200000
// --check-queries 2000 --rows 1000000 --queries 10000 --mlp-batch 262144
// --placement auto|device|host --skip-check --skip-timing --skip-mlp
// --json FILE (the results as JSON too). Sizes can be shrunk for a quick run:
//   node scripts/gpu-check.mjs --rows 100000 --queries 1000 --check-rows 20000 --check-queries 200
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const started = performance.now();

// ---- flags --------------------------------------------------------------
const defaults = { addon: '', dim: 768, k: 100, 'check-rows': 200_000, 'check-queries': 2000, rows: 1_000_000, queries: 10_000, 'mlp-batch': 262_144, placement: 'auto', json: '' };
const switches = new Set(['skip-check', 'skip-timing', 'skip-mlp', 'help']);
const opts = { ...defaults };
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  const name = arg.replace(/^--/, '');
  if (!arg.startsWith('--') || (!(name in defaults) && !switches.has(name))) {
    console.error(`gpu-check: unknown argument ${arg} (see the header of scripts/gpu-check.mjs)`);
    process.exit(2);
  }
  if (switches.has(name)) {
    opts[name] = true;
    continue;
  }
  const value = process.argv[++i];
  if (value === undefined) {
    console.error(`gpu-check: ${arg} needs a value`);
    process.exit(2);
  }
  if (typeof defaults[name] === 'number') {
    const n = Number(value.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) {
      console.error(`gpu-check: ${arg} must be a positive integer, not ${value}`);
      process.exit(2);
    }
    opts[name] = n;
  } else {
    opts[name] = value;
  }
}
if (opts.help) {
  console.log('usage: node scripts/gpu-check.mjs [--addon PATH] [--dim N] [--k N] [--check-rows N] [--check-queries N] [--rows N] [--queries N] [--mlp-batch N] [--placement auto|device|host] [--skip-check] [--skip-timing] [--skip-mlp] [--json FILE]');
  process.exit(0);
}
const log = (message) => console.error(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${message}`);

// ---- the addon and the device -------------------------------------------
// An explicit path (flag, then environment) is that file or nothing, as in src/cuda.ts's loader.
const explicit = opts.addon || process.env.FUSIONRANK_CUDA_NATIVE;
const candidates = explicit ? [explicit] : [join(root, 'build-cuda', 'fusionrank.node'), join(root, 'build-cuda', 'Release', 'fusionrank.node')];
const addonPath = candidates.map((p) => resolve(p)).find((p) => existsSync(p));
if (!addonPath) {
  console.log(`gpu-check: no CUDA addon found (tried ${candidates.join(', ')}). Build it with: scripts/build-cuda.sh /tmp/fr-cuda (it also leaves build-cuda/fusionrank.node), or pass --addon PATH.`);
  process.exit(1);
}
const fr = createRequire(import.meta.url)(addonPath);
if (typeof fr.CudaRowSet !== 'function' || typeof fr.CudaMlp !== 'function') {
  console.log(`gpu-check: ${addonPath} has no CudaRowSet / CudaMlp: rebuild it with scripts/build-cuda.sh`);
  process.exit(1);
}
const probe = fr.cudaProbe();
if (probe.status !== 'ok') {
  console.log(`gpu-check: no usable GPU (${probe.status}${probe.error ? `: ${probe.error}` : ''}); nothing to check. Addon: ${addonPath}`);
  process.exit(0);
}
const device = probe.devices.find((d) => d.supported) ?? probe.devices[0];
const version = (v) => `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
const deviceLine = `${device.name} (sm_${device.computeCapability}, ${(device.memoryBytes / 2 ** 30).toFixed(0)} GiB), driver CUDA ${version(probe.driverVersion)}, runtime ${version(probe.runtimeVersion)}`;
log(`device 0: ${deviceLine}; addon ${addonPath}`);
const threads = Math.min(64, availableParallelism());

// ---- data ------------------------------------------------------------------
// xorshift32 + a sum of four uniforms: roughly normal, cheap, seeded.
function random(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
function gaussianRows(n, dim, seed) {
  const next = random(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = next() + next() + next() + next() - 2;
  return out;
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** binary16 bits, round to nearest even (inputs are small normalised values; subnormals flush to zero). */
function toHalf(value) {
  f32[0] = value;
  const u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  const e = ((u >>> 23) & 0xff) - 112;
  if (e <= 0) return sign;
  if (e >= 31) return sign | 0x7c00;
  let half = (e << 10) | ((u >>> 13) & 0x3ff);
  const rest = u & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}
function normalizedHalfRows(vectors, dim) {
  const n = vectors.length / dim;
  const out = new Uint16Array(vectors.length);
  for (let r = 0; r < n; r++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += vectors[r * dim + j] ** 2;
    const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let j = 0; j < dim; j++) out[r * dim + j] = toHalf(vectors[r * dim + j] * inv);
  }
  return out;
}

const results = { device: deviceLine, addon: addonPath, options: opts, rows: [] };
const table = [];
const row = (what, value, note = '') => {
  table.push([what, value, note]);
  results.rows.push({ what, value, note });
  log(`${what}: ${value}${note ? ` (${note})` : ''}`);
};
// Counts in full (2,048), measurements to `digits` significant digits.
const fmt = (x, digits = 3) =>
  !Number.isFinite(x) ? String(x) : Number.isInteger(x) && Math.abs(x) >= 1000 ? x.toLocaleString('en-US') : Number(x.toPrecision(digits)).toLocaleString('en-US', { maximumSignificantDigits: digits });
let failed = false;

function printTable() {
  const cell = (text) => String(text).replace(/\|/g, '\\|');
  const lines = [`### fusionrank GPU check — ${deviceLine}`, '', '| check | result | notes |', '|---|---|---|', ...table.map((r) => `| ${r.map(cell).join(' | ')} |`)];
  console.log(lines.join('\n'));
  if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
}

async function step(name, fn) {
  try {
    await fn();
  } catch (error) {
    failed = true;
    row(`${name} failed`, `${error?.code ?? error?.name ?? 'Error'}`, String(error?.message ?? error).split('\n')[0]);
  }
}

// ---- 1. correctness of topKMany -------------------------------------------
async function checkTopK() {
  const dim = opts.dim, n = opts['check-rows'], nq = opts['check-queries'], k = opts.k;
  log(`check: ${nq} queries x ${n} rows x ${dim}, top-${k}: generating`);
  const vectors = gaussianRows(n, dim, 1);
  const queries = gaussianRows(nq, dim, 2);
  const cpu = new fr.NativeVectorStore(dim, 'f16');
  cpu.add(vectors);
  // The GPU gets exactly the CPU's f16 rows when the store can export them.
  const half = typeof cpu.exportF16 === 'function' ? cpu.exportF16(0, n) : normalizedHalfRows(vectors, dim);
  const set = new fr.CudaRowSet(dim, 0, opts.placement);
  set.write(0, half);
  await set.topKMany(queries.subarray(0, dim), 1); // context and module load, outside the timings
  let t = performance.now();
  const gpu = await set.topKMany(queries, k);
  const gpuSeconds = (performance.now() - t) / 1000;
  log(`check: GPU done in ${fmt(gpuSeconds)} s (${set.placement()}); CPU exact top-k on ${threads} threads`);
  t = performance.now();
  let ref;
  if (typeof cpu.topKManyAsync === 'function') {
    ref = await cpu.topKManyAsync(queries, k, undefined, threads);
  } else {
    const kk = Math.min(k, n);
    ref = { k: kk, rows: new Uint32Array(nq * kk), scores: new Float32Array(nq * kk) };
    for (let q = 0; q < nq; q++) {
      const r = await cpu.topKAsync(queries.subarray(q * dim, (q + 1) * dim), k, undefined, threads);
      ref.rows.set(r.rows, q * kk);
      ref.scores.set(r.scores, q * kk);
    }
  }
  const cpuSeconds = (performance.now() - t) / 1000;
  const compare = (result) => {
    let hits = 0, identical = 0, maxError = 0, worstRecall = 1;
    const kk = ref.k;
    for (let q = 0; q < nq; q++) {
      const expected = new Set(ref.rows.subarray(q * kk, (q + 1) * kk));
      let h = 0, same = true;
      for (let j = 0; j < kk; j++) {
        const i = q * kk + j;
        if (expected.has(result.rows[i])) h++;
        if (result.rows[i] !== ref.rows[i]) same = false;
        maxError = Math.max(maxError, Math.abs(result.scores[i] - ref.scores[i]));
      }
      hits += h;
      worstRecall = Math.min(worstRecall, h / kk);
      identical += same ? 1 : 0;
    }
    return { recall: hits / (nq * kk), worstRecall, identical: identical / nq, maxError };
  };
  const c = compare(gpu);
  if (gpu.k !== ref.k) failed = true;
  if (c.recall < 0.99 || c.maxError > 2e-3) failed = true;
  row(`topKMany vs CPU exact (${nq} x ${n} x ${dim}, top-${k}, rows ${set.placement()})`, `recall ${fmt(c.recall, 5)}`, `worst query ${fmt(c.worstRecall, 3)}, identical lists ${fmt(100 * c.identical, 3)} %, max score error ${c.maxError.toExponential(2)}; GPU ${fmt(gpuSeconds)} s, CPU ${fmt(cpuSeconds)} s`);

  // The same rows streamed from pinned host memory must give the same answer.
  const host = new fr.CudaRowSet(dim, 0, 'host');
  host.write(0, half);
  t = performance.now();
  const streamed = await host.topKMany(queries, k);
  const hostSeconds = (performance.now() - t) / 1000;
  let same = streamed.rows.length === gpu.rows.length;
  for (let i = 0; same && i < gpu.rows.length; i++) same = streamed.rows[i] === gpu.rows[i] && streamed.scores[i] === gpu.scores[i];
  if (!same) failed = true;
  row('topKMany, rows streamed from the host', same ? 'identical to resident rows' : 'DIFFERS from resident rows', `${fmt(hostSeconds)} s`);

  // A subset, and ties (a zero query ranks rows 0..k-1).
  const subset = Uint32Array.from({ length: Math.min(n, 5000) }, (_, i) => (i * 7919) % n);
  const some = await set.topKMany(queries.subarray(0, 50 * dim), k, subset);
  const someRef = typeof cpu.topKManyAsync === 'function' ? await cpu.topKManyAsync(queries.subarray(0, 50 * dim), k, subset, threads) : undefined;
  let subsetRecall = Number.NaN;
  if (someRef) {
    let hits = 0;
    for (let q = 0; q < 50; q++) {
      const expected = new Set(someRef.rows.subarray(q * someRef.k, (q + 1) * someRef.k));
      for (let j = 0; j < some.k; j++) hits += expected.has(some.rows[q * some.k + j]) ? 1 : 0;
    }
    subsetRecall = hits / (50 * someRef.k);
    if (subsetRecall < 0.99) failed = true;
  }
  const zero = await set.topKMany(new Float32Array(dim), Math.min(k, n));
  let tiesOk = true;
  for (let j = 0; j < zero.k; j++) tiesOk &&= zero.rows[j] === j && zero.scores[j] === 0;
  if (!tiesOk) failed = true;
  row('topKMany, a 5,000-row subset / a zero query', `recall ${fmt(subsetRecall, 5)} / ${tiesOk ? 'rows 0..k-1, scores 0' : 'WRONG ties'}`, 'ties go to the lower row, as on the CPU');
  set.release();
  host.release();
}

// ---- 2. timing of topKMany at catalog scale --------------------------------
async function timeTopK() {
  const dim = opts.dim, n = opts.rows, nq = opts.queries, k = opts.k;
  log(`timing: ${nq} queries x ${n} rows x ${dim}: generating rows`);
  // A base block of random rows; later blocks flip the signs of a different
  // set of columns each (exact in f16, norms kept), so rows stay distinct.
  const blockRows = Math.min(n, 65536);
  const base = normalizedHalfRows(gaussianRows(blockRows, dim, 3), dim);
  const blocks = [];
  const next = random(4);
  for (let first = 0; first < n; first += blockRows) {
    const count = Math.min(blockRows, n - first);
    const mask = Uint16Array.from({ length: dim }, () => (first === 0 || next() < 0.5 ? 0 : 0x8000));
    const block = new Uint16Array(count * dim);
    for (let i = 0; i < block.length; i++) block[i] = base[i] ^ mask[i % dim];
    blocks.push([first, block]);
  }
  const queries = gaussianRows(nq, dim, 5);
  const h2d = fr.cudaProbeH2D(256 << 20);
  row('pinned host → device copy (256 MiB)', `${fmt(h2d.gbPerSec)} GB/s`, 'cudaProbeH2D, median of 5');

  const set = new fr.CudaRowSet(dim, 0, opts.placement);
  let t = performance.now();
  for (const [first, block] of blocks) set.write(first, block);
  const uploadSeconds = (performance.now() - t) / 1000;
  const bytes = n * dim * 2;
  row(`row upload (${fmt(n)} x ${dim} f16, ${fmt(bytes / 2 ** 30)} GiB, from JS memory)`, `${fmt(bytes / uploadSeconds / 1e9)} GB/s`, `${fmt(uploadSeconds)} s, ${fmt((100 * bytes) / uploadSeconds / 1e9 / h2d.gbPerSec)} % of the probe; rows on the ${set.placement()}`);

  await set.topKMany(queries.subarray(0, 16 * dim), k); // warm-up
  const flops = 2 * nq * n * dim;
  t = performance.now();
  const full = await set.topKMany(queries, k);
  const fullSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const gemm = await set.topKMany(queries, k, undefined, { scoresOnly: true });
  const gemmSeconds = (performance.now() - t) / 1000;
  row(`topKMany ${fmt(nq)} x ${fmt(n)} x ${dim}, top-${k}`, `${fmt(fullSeconds)} s`, `${fmt(flops / fullSeconds / 1e12)} TFLOP/s end to end (${fmt(nq / fullSeconds)} queries/s); native job ${fmt(full.seconds)} s`);
  row('… the score GEMM alone (scoresOnly: same tiles, no selection)', `${fmt(gemmSeconds)} s`, `${fmt(flops / gemmSeconds / 1e12)} TFLOP/s; selection and merge ≈ ${fmt((100 * (fullSeconds - gemmSeconds)) / fullSeconds)} % of the total`);
  set.release();
}

// ---- 3. MLP: correctness and throughput ------------------------------------
async function checkMlp() {
  const next = random(6);
  const input = 1024;
  const dense = (inp, out, activation) => ({ kind: 'dense', in: inp, out, weight: Float32Array.from({ length: inp * out }, () => ((next() * 2 - 1) * Math.sqrt(3)) / Math.sqrt(inp)), outMajor: false, bias: Float32Array.from({ length: out }, () => next() * 0.2 - 0.1), activation, alpha: 0.01, beta: 0 });
  const layers = [
    dense(input, 1024, 'relu'),
    dense(1024, 512, 'gelu'),
    { kind: 'layernorm', size: 512, scale: new Float32Array(512).fill(1), shift: new Float32Array(512), epsilon: 1e-5 },
    dense(512, 256, 'silu'),
    dense(256, 1, 'sigmoid'),
  ];
  const flopsPerRow = 2 * (input * 1024 + 1024 * 512 + 512 * 256 + 256);
  const checkBatch = 4096;
  const x = Float32Array.from({ length: checkBatch * input }, () => next() * 2 - 1);
  const cpu = new fr.NativeFusionMlp(input, layers);
  const ref = cpu.predict(x, checkBatch);
  for (const precision of ['f16', 'bf16']) {
    const mlp = new fr.CudaMlp(input, layers, precision);
    const got = await mlp.forward(x, checkBatch);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
    if (!(worst < (precision === 'f16' ? 1e-2 : 3e-2))) failed = true;
    const batch = opts['mlp-batch'];
    const big = new Float32Array(batch * input);
    for (let i = 0; i < big.length; i += x.length) big.set(x.subarray(0, Math.min(x.length, big.length - i)), i);
    await mlp.forward(big.subarray(0, 1024 * input), 1024); // warm-up
    const t = performance.now();
    await mlp.forward(big, batch);
    const seconds = (performance.now() - t) / 1000;
    row(`MLP ${input}→1024→512→LN→256→1, ${precision}`, `${fmt(batch / seconds)} rows/s`, `max abs diff to the CPU (f32) ${worst.toExponential(2)} (batch ${checkBatch}); ${fmt(batch)} rows in ${fmt(seconds)} s = ${fmt((flopsPerRow * batch) / seconds / 1e12)} TFLOP/s incl. transfers`);
  }
  const cpuBatch = 32768;
  const xs = new Float32Array(cpuBatch * input);
  for (let i = 0; i < xs.length; i += x.length) xs.set(x.subarray(0, Math.min(x.length, xs.length - i)), i);
  const t = performance.now();
  await cpu.predictAsync(xs, cpuBatch, threads);
  const seconds = (performance.now() - t) / 1000;
  row('MLP on the CPU for comparison (f32)', `${fmt(cpuBatch / seconds)} rows/s`, `${threads} threads, ${fmt(cpuBatch)} rows`);
}

if (!opts['skip-check']) await step('topKMany check', checkTopK);
if (!opts['skip-timing']) await step('topKMany timing', timeTopK);
if (!opts['skip-mlp']) await step('MLP', checkMlp);
row('total run time', `${fmt((performance.now() - started) / 1000)} s`, failed ? 'SOME CHECKS FAILED' : 'all checks passed');
printTable();
process.exit(failed ? 1 : 0);
