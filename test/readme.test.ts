// The README's code runs as written: its Quickstart and Vectors examples are
// extracted and executed against the built package, with only their free
// variables (the user's own embeddings) defined up front.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
// The published entry points (package.json exports): the bundles in dist/bundle.
const entry = pathToFileURL(fileURLToPath(new URL('../dist/bundle/index.js', import.meta.url))).href;
const evalEntry = pathToFileURL(fileURLToPath(new URL('../dist/bundle/eval.js', import.meta.url))).href;
const learnEntry = pathToFileURL(fileURLToPath(new URL('../dist/bundle/learn.js', import.meta.url))).href;

function block(section: string, index = 0): string {
  const start = readme.indexOf(`## ${section}\n`);
  expect(start, `README has a "## ${section}" section`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 3);
  const blocks = [...readme.slice(start, end < 0 ? undefined : end).matchAll(/```js\n([\s\S]*?)```/g)];
  expect(blocks.length, `"## ${section}" has js example ${index + 1}`).toBeGreaterThan(index);
  return blocks[index][1];
}

async function run(code: string, prelude: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fr-readme-'));
  const file = join(dir, 'example.mjs');
  const body = code.replaceAll("from 'fusionrank/eval'", `from '${evalEntry}'`).replaceAll("from 'fusionrank/learn'", `from '${learnEntry}'`).replaceAll("from 'fusionrank'", `from '${entry}'`);
  // Imports first, then the user's data, then the example's own lines.
  const imports = body.split('\n').filter((l) => l.startsWith('import '));
  const rest = body.split('\n').filter((l) => !l.startsWith('import '));
  writeFileSync(file, [...imports, prelude, ...rest, 'console.log("README-EXAMPLE-OK");'].join('\n'));
  const hook = join(dir, 'dlopen-hook.mjs');
  // Any native addon the example loads is recorded (the hook runs before the example's imports).
  writeFileSync(hook, 'import process from "node:process"; globalThis.__dlopened = []; const dlopen = process.dlopen; process.dlopen = (m, f, ...r) => { globalThis.__dlopened.push(f); return dlopen(m, f, ...r); };');
  const { stdout } = await exec(process.execPath, ['--import', pathToFileURL(hook).href, file], { cwd: dir });
  return stdout;
}

const randomVector = (dim: number, seed: number) => `Float32Array.from({ length: ${dim} }, (_, i) => Math.sin(${seed} * 7.1 + i))`;

describe('README examples', () => {
  it('Quickstart ranks an item with an explanation', async () => {
    const code = block('Quickstart') + '\nif (items[0]?.id !== "p1" || !items[0].signals?.visual) throw new Error("unexpected result " + JSON.stringify(items));\nif (!(timings.totalUs >= 0)) throw new Error("no timings");\nif (!globalThis.__dlopened.some((f) => f.endsWith("fusionrank.node"))) throw new Error("the addon was not seen loading");';
    const out = await run(code, `const v1 = ${randomVector(512, 1)}, t1 = ${randomVector(768, 2)}, q = ${randomVector(512, 3)};`);
    expect(out).toContain('README-EXAMPLE-OK');
  });

  it('Vectors scores, ranks and scans', async () => {
    const code = block('Vectors') + '\nif (best.length !== 10 || scores.length !== candidates.length || top.rows.length !== 10) throw new Error("unexpected shapes");';
    const out = await run(code, `const embeddings = Float32Array.from({ length: 50 * 768 }, (_, i) => Math.sin(i * 0.37)); const query = ${randomVector(768, 4)}; const candidates = Uint32Array.from([3, 1, 4, 1, 5]);`);
    expect(out).toContain('README-EXAMPLE-OK');
    expect(out).toContain("isa: '");
  });

  it('Batch jobs: topKMany over a store and a catalog, rankMany in request order', async () => {
    const code = block('Ranking', 0) + '\nif (k !== 100 || rows.length !== 3 * 100 || firstUser.length !== 100) throw new Error("unexpected topKMany shape");\nif (nightly.k !== 50 || nightly.ids.some((id) => !id.startsWith("s"))) throw new Error("filter not applied " + nightly.ids.slice(0, 5));\nif (results.length !== 4 || results.some((r) => r.items.length === 0)) throw new Error("unexpected rankMany results");';
    const prelude = [
      'const vec = (s) => Float32Array.from({ length: 64 }, (_, i) => Math.sin(s * 7.1 + i));',
      'const itemVectors = new Float32Array(300 * 64); for (let i = 0; i < 300; i++) itemVectors.set(vec(i), i * 64);',
      'const userVectors = new Float32Array(3 * 64); for (let i = 0; i < 3; i++) userVectors.set(vec(1000 + i), i * 64);',
      "const items = Array.from({ length: 300 }, (_, i) => ({ id: (i % 2 ? 'u' : 's') + i, vectors: { v: vec(i) }, fields: { safe: i % 2 === 0 } }));",
      'const requests = Array.from({ length: 4 }, (_, i) => ({ query: { v: vec(2000 + i) } }));',
    ].join('\n');
    const out = await run(code, prelude);
    expect(out).toContain('README-EXAMPLE-OK');
  });

  it('Evaluation scores, compares, measures agreement and fuses, without loading the addon', async () => {
    // Expected values by hand: q1 ranks a(2) b(0) c(1), DCG 2 + 1/log2(4) over IDCG 2 + 1/log2(3); q2 ranks
    // e (unjudged) then d(1), DCG 1/log2(3) over IDCG 1. `after`: q1 c a b, DCG 1 + 2/log2(3); q2 d first, 1.
    const before1 = 2.5 / (2 + 1 / Math.log2(3));
    const before2 = 1 / Math.log2(3);
    const after1 = (1 + 2 / Math.log2(3)) / (2 + 1 / Math.log2(3));
    const checks = `
      const near = (x, y, what) => { if (!(Math.abs(x - y) < 1e-9)) throw new Error(what + ': ' + x + ' != ' + y); };
      near(mean['ndcg@10'], ${(before1 + before2) / 2}, 'ndcg@10');
      near(perQuery['ndcg@10'].q1, ${before1}, 'ndcg@10 q1');
      near(mean.mrr, 0.75, 'mrr');
      near(mean['P@2'], 0.5, 'P@2');
      near(row.delta, ${(after1 + 1) / 2 - (before1 + before2) / 2}, 'delta');
      if (row.run !== 'after' || row.wins !== 1 || row.ties !== 0 || row.losses !== 1) throw new Error('row ' + JSON.stringify(row));
      if (!(row.ci95[0] <= row.delta && row.delta <= row.ci95[1])) throw new Error('ci95');
      near(top1, 0, 'top1');
      near(overlap, 1, 'overlap');
      near(rrf.q1.a, 1 / 61 + 1 / 62, 'rrf a');
      if (typeof kendallTau !== 'number' || typeof rbo !== 'number' || typeof positionsMoved !== 'number') throw new Error('agreement');
      if (globalThis.__dlopened.length) throw new Error('loaded ' + globalThis.__dlopened.join(', '));
    `;
    const code = block('Evaluation');
    expect(code).toContain("from 'fusionrank/eval'");
    const out = await run(code + checks, '');
    expect(out).toContain('README-EXAMPLE-OK');
  });

  it('Learning from interactions fits, folds in, writes the catalog vector and saves', async () => {
    const prelude = `const { Catalog } = await import('${entry}'); const catalog = new Catalog({ vectors: { cf: { dim: 8 } }, fields: {} }); catalog.upsert([{ id: 'p1' }, { id: 'p2' }, { id: 'p4' }]);`;
    const checks = `
      if (newUser.length !== 8 || !newUser.every(Number.isFinite)) throw new Error('foldIn ' + newUser);
      if (model.users.join() !== 'ann,bob' || model.items.join() !== 'p1,p2,p3') throw new Error('ids');
      if (catalog.get('p1').vectors.cf?.length !== 8 || catalog.get('p4').vectors.cf !== undefined) throw new Error('catalog vector');
      for (let t = 1; t < model.loss.length; t++) if (!(model.loss[t] <= model.loss[t - 1] * (1 + 1e-6))) throw new Error('loss rose ' + model.loss);
      const { loadAls } = await import('${learnEntry}');
      const back = await loadAls('cf.safetensors');
      if (back.itemFactors.join() !== model.itemFactors.join()) throw new Error('save/load');
    `;
    const out = await run(block('Learning from interactions') + checks, prelude);
    expect(out).toContain('README-EXAMPLE-OK');
  });

  it('Learning from interactions: fitWeights fits weights that sum to 1 and compares them on held-out requests', async () => {
    // A small world: 60 items with a text vector and a likes field; qrels favour text similarity.
    const prelude = `
      const { Catalog, Ranker } = await import('${entry}');
      const { fitWeights } = await import('${learnEntry}');
      const catalog = new Catalog({ vectors: { text: { dim: 4 } }, fields: { likes: 'number' } });
      const vec = (i) => Float32Array.from({ length: 4 }, (_, j) => Math.sin(i * 1.7 + j * 2.3));
      catalog.upsert(Array.from({ length: 60 }, (_, i) => ({ id: 'p' + i, vectors: { text: vec(i) }, fields: { likes: (i * 37) % 11 } })));
      const options = { signals: { text: { kind: 'similarity', vector: 'text', weight: 0.1 }, likes: { kind: 'field', field: 'likes', weight: 0.9 } }, k: 10 };
      const requests = {}, qrels = {};
      for (let q = 0; q < 30; q++) {
        requests['q' + q] = { query: { text: vec(100 + q) }, now: Date.UTC(2026, 0, 1 + q) };
        const truth = new Ranker(catalog, { ...options, signals: { text: { ...options.signals.text, weight: 1 } } }).rank(requests['q' + q]).items;
        qrels['q' + q] = Object.fromEntries(truth.slice(0, 3).map((it) => [it.id, 1]));
      }
    `;
    const checks = `
      const sum = Object.values(fit.weights).reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > 1e-9) throw new Error('weights sum ' + sum);
      if (!(fit.weights.text > fit.weights.likes)) throw new Error('text should win ' + JSON.stringify(fit.weights));
      if (fit.split.test.join() !== 'q24,q25,q26,q27,q28,q29') throw new Error('time split ' + fit.split.test);
      if (!(fit.test.paired.delta > 0) || ranker.rank(requests.q29).items.length !== 10) throw new Error('held-out ' + JSON.stringify(fit.test.paired));
    `;
    const code = block('Learning from interactions', 1).replace("import { fitWeights } from 'fusionrank/learn';\n", '');
    const out = await run(code + checks, prelude);
    expect(out).toContain('README-EXAMPLE-OK');
  });

  it('Learning from interactions: a torch-exported user tower turns userFeatures into the query vector', async () => {
    const onnx = fileURLToPath(new URL('./fixtures/towers/user-tower.onnx', import.meta.url));
    const prelude = `
      const { Catalog, Ranker, FusionMlp } = await import('${entry}');
      const catalog = new Catalog({ vectors: { embedding: { dim: 128 } }, fields: {} });
      const vec = (seed, n) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 3.1 + i * 0.7));
      catalog.upsert(Array.from({ length: 40 }, (_, i) => ({ id: 'p' + i, vectors: { embedding: vec(i, 128) } })));
      const userVisual = vec(101, 256), userText = vec(102, 256);
    `;
    const checks = `
      const byVector = ranker.rank({ query: { embedding: tower.predict(Float32Array.from([...userVisual, ...userText])) } }).items;
      if (items.length !== 20 || items.map((i) => i.id).join() !== byVector.map((i) => i.id).join()) throw new Error('tower ranking differs');
    `;
    const code = block('Learning from interactions', 2).replace("FusionMlp.fromOnnx('user-tower.onnx')", `FusionMlp.fromOnnx(${JSON.stringify(onnx)})`);
    const out = await run(code + checks, prelude);
    expect(out).toContain('README-EXAMPLE-OK');
  });
});
