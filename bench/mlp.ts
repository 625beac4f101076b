/**
 * `npx fusionrank bench mlp`: fusion-MLP inference, fusionrank against
 * onnxruntime-node (CPU, one intra-op thread) on the same .onnx files, with
 * GFLOP/s and the fraction of the FMA-throughput probe. The models are
 * written here, before any timing, with onnx-proto.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot, native } from '../src/native.js';
import { FusionMlp } from '../src/rerank/fusion-mlp.js';
import { randomMlpOnnx } from '../src/rerank/onnx-build.js';
import { type BenchConfig, type CaseSpec, type SuiteReport, optionalPeer, randomVectors, rng, runCases } from './harness.js';

interface Ort {
  InferenceSession: {
    create(path: string, options: Record<string, unknown>): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>; release(): Promise<void> }>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

const MODELS = [[1344, 256, 64, 1], [1024, 256, 1]];
const BATCHES = [1, 16, 256, 1000, 4096];

export async function benchMlp(config: BenchConfig): Promise<SuiteReport> {
  const random = rng(config.seed);
  const notes: string[] = [];
  const ort = await optionalPeer<Ort>('onnxruntime-node');
  if (!ort) notes.push('onnxruntime-node not installed: its cases are skipped (npm i -D onnxruntime-node)');
  const dir = join(packageRoot, '.bench-cache', 'mlp');
  mkdirSync(dir, { recursive: true });
  const batches = config.quick ? BATCHES.filter((b) => b <= 1000) : BATCHES;

  // The FMA probe first, on the same thread and ISA.
  const fmaIterations = 1_000_000;
  const [probe] = await runCases('mlp', [{ name: 'probe: FMA throughput', fn: () => native.probeFma(fmaIterations) }], config);
  const peakGflops = (native.probeFma(1).flops * fmaIterations) / (probe.p50Us * 1e3);
  probe.extra = { 'GFLOP/s': peakGflops };

  const cases = [probe];
  const summary: SuiteReport['summary'] = [];
  for (const sizes of MODELS) {
    const label = sizes.join('→');
    const path = join(dir, `mlp-${sizes.join('-')}.onnx`);
    writeFileSync(path, randomMlpOnnx(sizes, random, { activation: 'Relu', finalActivation: 'Sigmoid' }));
    const mlp = FusionMlp.fromOnnx(path);
    const bf16 = native.capabilities().bf16 ? FusionMlp.fromOnnx(path, { precision: 'bf16' }) : undefined;
    const session = ort ? await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all' }) : undefined;
    for (const batch of batches) {
      const x = randomVectors(batch, sizes[0], random);
      const feeds = ort ? { input: new ort.Tensor('float32', x, [batch, sizes[0]]) } : undefined;
      const flops = mlp.flopsPerRow * batch;
      const specs: CaseSpec[] = [{ name: `fusionrank ${label} batch ${batch}`, fn: () => mlp.predict(x) }];
      if (session) specs.push({ name: `onnxruntime ${label} batch ${batch}`, fn: () => session.run(feeds!) });
      if (batch >= 1000) specs.push({ name: `fusionrank predictAsync ${label} batch ${batch} 1 thread`, fn: () => mlp.predictAsync(x, { threads: 1 }) });
      if (bf16) specs.push({ name: `fusionrank bf16 ${label} batch ${batch}`, fn: () => bf16.predict(x) });
      const results = await runCases('mlp', specs, config);
      for (const r of results) r.extra = { 'GFLOP/s': flops / (r.p50Us * 1e3), 'x probe': flops / (r.p50Us * 1e3) / peakGflops };
      cases.push(...results);
      const ours = results[0];
      const peer = session ? results[1] : undefined;
      const speedup = peer ? peer.p50Us / ours.p50Us : NaN;
      const target = batch === 1 ? 8 : batch >= 256 ? 1 : undefined;
      summary.push({
        model: label,
        batch,
        'fusionrank µs': ours.p50Us,
        'onnxruntime µs': peer?.p50Us ?? '',
        'speedup vs ort': peer ? speedup : '',
        target: target ? `≥ ${target}` : '',
        met: target && peer ? speedup >= target : '',
        'GFLOP/s': flops / (ours.p50Us * 1e3),
        'x probe': flops / (ours.p50Us * 1e3) / peakGflops,
        'probe target': batch >= 256 ? '≥ 0.8' : '',
        'probe met': batch >= 256 ? flops / (ours.p50Us * 1e3) / peakGflops >= 0.8 : '',
      });
    }
    await session?.release();
  }
  const weightsMb = (MODELS[0][0] * MODELS[0][1] * 4) / 2 ** 20;
  notes.push(`one core: fusionrank predict runs on the calling thread; onnxruntime-node with intraOpNumThreads 1; both on the same .onnx files in ${dir}.`);
  notes.push(`batch 1 streams every weight once per call (${weightsMb.toFixed(2)} MiB of f32 for the first layer of ${MODELS[0].join('→')}), more than one core's L2, so it is bound by L3 bandwidth rather than FMAs.`);
  notes.push(`'x probe' = achieved GFLOP/s / FMA probe (${peakGflops.toFixed(1)} GFLOP/s, ${native.capabilities().isa}).`);
  if (native.capabilities().bf16) notes.push("'fusionrank bf16' cases use precision: 'bf16' (AVX512-BF16): one vdpbf16ps does twice the multiply-adds of an f32 FMA, so they can pass 1 x the f32 probe; the target rows are the f32 cases.");
  return { suite: 'mlp', cases, summary, notes };
}
