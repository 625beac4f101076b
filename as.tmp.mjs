import { FusionMlp } from './dist/src/index.js';
import { randomMlpOnnx } from './dist/src/rerank/onnx-build.js';
import { rng, randomVectors } from './dist/bench/harness.js';
const r = rng(1);
const mlp = FusionMlp.fromOnnx(randomMlpOnnx([1344, 256, 64, 1], r));
const x = randomVectors(4096, 1344, r);
for (let k = 0; k < 3; k++) {
  let t = performance.now(); for (let i = 0; i < 10; i++) mlp.predict(x); const a = (performance.now() - t) / 10;
  t = performance.now(); for (let i = 0; i < 10; i++) await mlp.predictAsync(x, { threads: 1 }); const b = (performance.now() - t) / 10;
  t = performance.now(); for (let i = 0; i < 10; i++) await mlp.predictAsync(x, { threads: 2 }); const c = (performance.now() - t) / 10;
  console.log('sync', a.toFixed(1), 'async1', b.toFixed(1), 'async2', c.toFixed(1));
}
