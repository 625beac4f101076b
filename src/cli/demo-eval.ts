/**
 * `npx fusionrank demo eval`: the evaluation protocol end to end on planted
 * data. Single modalities, late fusion, RRF and an MLP rerank are compared
 * with confidence intervals and Holm-adjusted p-values; the fusion ranker is
 * ablated; and position-biased click logs show a naive click metric
 * misleading where inverse propensity scoring recovers the planted truth.
 */
import { agreement } from '../eval/agreement.js';
import { counterfactual, estimatePropensities, expectedClicks, simulateClicks } from '../eval/counterfactual.js';
import { fuse } from '../eval/fuse.js';
import { ablate, evaluateRanker } from '../eval/ranker-eval.js';
import { compare } from '../eval/stats.js';
import type { ImpressionLog, Qrels, Run } from '../eval/types.js';
import { FusionMlp } from '../rerank/fusion-mlp.js';
import { Ranker, type RankerOptions, type RankRequest } from '../scoring/ranker.js';
import { rng } from '../util/random.js';
import { DEMO_NOW, plantedData, sigmoid } from './demo-eval-data.js';

export interface EvalDemoOptions {
  items: number;
  users: number;
  seed: number;
}

const METRICS = ['ndcg@10', 'recall@20', 'mrr'];
const FEATURES = [{ signal: 'visual' }, { signal: 'text' }, { signal: 'engagement' }, { present: 'text' }] as const;
const HIDDEN = 8;
const SESSIONS_PER_USER = 20;

/** Late fusion with the weights a team would start from. */
const fusionOptions: RankerOptions = {
  signals: {
    visual: { kind: 'similarity', vector: 'visual', weight: 0.4 },
    text: { kind: 'similarity', vector: 'text', weight: 0.4 },
    engagement: { kind: 'engagement', fields: ['likes', 'comments'], weight: 0.2 },
  },
  normalize: 'minmax',
  missing: 'renormalize',
  k: 20,
};

function single(name: 'visual' | 'text' | 'engagement'): RankerOptions {
  return { ...fusionOptions, signals: { [name]: fusionOptions.signals[name] } };
}

/** A safetensors file (8-byte header length, JSON header, little-endian f32 data). */
function safetensors(tensors: Record<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Trains a 4 → 8 (ReLU) → 1 reranker on the training users' fused
 * candidates (pointwise logistic loss, Adam), the way a team would in
 * PyTorch, and loads it as a FusionMlp.
 */
function trainReranker(rows: number[][], labels: number[], seed: number): FusionMlp {
  const random = rng(seed);
  const inputs = FEATURES.length;
  const w1 = Float64Array.from({ length: HIDDEN * inputs }, () => (random() * 2 - 1) * 0.7);
  const b1 = new Float64Array(HIDDEN);
  const w2 = Float64Array.from({ length: HIDDEN }, () => (random() * 2 - 1) * 0.7);
  const b2 = new Float64Array(1);
  const params = [w1, b1, w2, b2];
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  const grads = params.map((p) => new Float64Array(p.length));
  const hidden = new Float64Array(HIDDEN);
  const order = rows.map((_, i) => i);
  const batch = 64;
  let step = 0;
  for (let epoch = 0; epoch < 12; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let start = 0; start < order.length; start += batch) {
      for (const g of grads) g.fill(0);
      const end = Math.min(order.length, start + batch);
      for (let s = start; s < end; s++) {
        const x = rows[order[s]];
        let out = b2[0];
        for (let h = 0; h < HIDDEN; h++) {
          let a = b1[h];
          for (let c = 0; c < inputs; c++) a += w1[h * inputs + c] * x[c];
          hidden[h] = a > 0 ? a : 0;
          out += w2[h] * hidden[h];
        }
        const d = (sigmoid(out) - labels[order[s]]) / (end - start);
        grads[3][0] += d;
        for (let h = 0; h < HIDDEN; h++) {
          grads[2][h] += d * hidden[h];
          if (hidden[h] <= 0) continue;
          const dh = d * w2[h];
          grads[1][h] += dh;
          for (let c = 0; c < inputs; c++) grads[0][h * inputs + c] += dh * x[c];
        }
      }
      step++;
      params.forEach((p, k) => {
        for (let i = 0; i < p.length; i++) {
          m[k][i] = 0.9 * m[k][i] + 0.1 * grads[k][i];
          v[k][i] = 0.999 * v[k][i] + 0.001 * grads[k][i] ** 2;
          p[i] -= (0.01 * (m[k][i] / (1 - 0.9 ** step))) / (Math.sqrt(v[k][i] / (1 - 0.999 ** step)) + 1e-8);
        }
      });
    }
  }
  const bytes = safetensors({
    w1: { shape: [HIDDEN, inputs], data: Float32Array.from(w1) },
    b1: { shape: [HIDDEN], data: Float32Array.from(b1) },
    w2: { shape: [1, HIDDEN], data: Float32Array.from(w2) },
    b2: { shape: [1], data: Float32Array.from(b2) },
  });
  return FusionMlp.fromSafetensors(bytes, {
    inputSize: inputs,
    layers: [
      { type: 'linear', weight: 'w1', bias: 'b1', activation: 'relu' },
      { type: 'linear', weight: 'w2', bias: 'b2' },
    ],
  });
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const signed = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(3);
const pValue = (p: number) => (p < 0.001 ? '<0.001' : p.toFixed(3));

function table(rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

export interface EvalDemoReport {
  means: Record<string, Record<string, number>>;
  clicks: Array<{ ranking: string; truth: number; naive: { estimate: number; ci95: [number, number] }; ips: { estimate: number; ci95: [number, number] } }>;
  theta: { planted: number[]; estimated: number[] };
}

/** Runs the whole protocol, printing each step; returns the figures (for tests). */
export async function runEvalDemo(options: EvalDemoOptions): Promise<EvalDemoReport> {
  const started = performance.now();
  const data = plantedData({ items: options.items, users: options.users, seed: options.seed });
  const requests: Record<string, RankRequest> = {};
  for (const q of data.queries) requests[q.user] = { query: { visual: q.visual, text: q.text }, now: DEMO_NOW };
  // Half the users train the reranker; every comparison is on the other half.
  const users = data.queries.map((q) => q.user);
  const trainUsers = users.filter((_, i) => i % 2 === 0);
  const testUsers = users.filter((_, i) => i % 2 === 1);
  const testRequests = Object.fromEntries(testUsers.map((u) => [u, requests[u]]));
  const qrels: Qrels = Object.fromEntries(testUsers.map((u) => [u, data.qrels[u]]));
  console.log(
    `Planted data: ${options.items} items (visual and text 32-d, ${data.noText.size} without text, engagement from a hidden quality), ` +
      `${options.users} users (${testUsers.length} held out), true attraction known per (user, item).\n`,
  );

  // ---- rankers
  const fusion = new Ranker(data.catalog, fusionOptions);
  const training = await evaluateRanker(new Ranker(data.catalog, { ...fusionOptions, k: 100 }), Object.fromEntries(trainUsers.map((u) => [u, requests[u]])), data.qrels, { metrics: ['mrr'], explain: true });
  const rows: number[][] = [];
  const labels: number[] = [];
  for (const [user, result] of Object.entries(training.results))
    for (const item of result.items) {
      const s = item.signals!;
      rows.push([s.visual.normalized ?? 0, s.text.normalized ?? 0, s.engagement.normalized ?? 0, data.noText.has(item.id) ? 0 : 1]);
      labels.push((data.qrels[user][item.id] ?? 0) > 0 ? 1 : 0);
    }
  const model = trainReranker(rows, labels, options.seed);
  const rankers: Record<string, Ranker> = {
    visual: new Ranker(data.catalog, single('visual')),
    text: new Ranker(data.catalog, single('text')),
    engagement: new Ranker(data.catalog, single('engagement')),
    fusion,
    'fusion (rrf)': new Ranker(data.catalog, { ...fusionOptions, normalize: 'rrf' }),
    'fusion + mlp': new Ranker(data.catalog, { ...fusionOptions, rerank: { model, top: 100, features: [...FEATURES] } }),
  };
  const runs: Record<string, Run> = {};
  for (const [name, ranker] of Object.entries(rankers)) runs[name] = (await evaluateRanker(ranker, testRequests, qrels, { metrics: METRICS })).run;
  // The evaluation module's own baseline: RRF over the single-modality rankings.
  runs['rrf of singles'] = fuse([runs.visual, runs.text, runs.engagement], { method: 'rrf' });

  // ---- compare with the fusion baseline
  const rowsByRun = compare(qrels, runs, { baseline: 'fusion', metrics: METRICS, correction: 'holm', permutations: 5000, seed: options.seed });
  const { evaluate } = await import('../eval/metrics.js');
  const means: EvalDemoReport['means'] = {};
  for (const [name, run] of Object.entries(runs)) means[name] = evaluate(qrels, run, METRICS).mean;
  console.log(`Held-out users, ${METRICS.join(', ')}; Δ against late fusion with default weights, 95 % bootstrap CI, Holm-adjusted randomization p:`);
  const header = ['run', ...METRICS.flatMap((m) => [m, `Δ ${m} [CI95]`, 'p (Holm)'])];
  const body = Object.keys(runs).map((name) => [
    name,
    ...METRICS.flatMap((metric) => {
      const row = rowsByRun.find((r) => r.run === name && r.metric === metric);
      return row ? [f3(means[name][metric]), `${signed(row.delta)} [${signed(row.ci95[0])}, ${signed(row.ci95[1])}]`, pValue(row.pAdjusted)] : [f3(means[name][metric]), 'baseline', ''];
    }),
  ]);
  console.log(table([header, ...body]) + '\n');

  console.log('Agreement with late fusion (top 10): how different are the rankings users would see?');
  const agreeRows = Object.keys(runs)
    .filter((name) => name !== 'fusion')
    .map((name) => {
      const a = agreement(runs.fusion, runs[name], { k: 10 });
      return [name, f3(a.kendallTau), f3(a.rbo), f3(a.overlap), f3(a.top1), a.positionsMoved.toFixed(1)];
    });
  console.log(table([['run', 'kendall τ', 'RBO', 'overlap@10', 'same top-1', 'positions moved'], ...agreeRows]) + '\n');

  // ---- ablation of the fusion ranker
  const ablation = await ablate(data.catalog, fusionOptions, testRequests, qrels, { metrics: ['ndcg@10'], vectors: ['visual', 'text'], permutations: 5000, seed: options.seed, k: 10 });
  console.log('Ablation of late fusion (ndcg@10): one signal removed (weights renormalised), or one query modality missing:');
  const ablRows = ablation.variants.map((v) => {
    const p = v.paired['ndcg@10'];
    return [v.name, f3(v.mean['ndcg@10']), `${signed(p.delta)} [${signed(p.ci95[0])}, ${signed(p.ci95[1])}]`, pValue(p.pRandomization), p.effectSize.toFixed(2), `${p.wins}/${p.ties}/${p.losses}`, f3(v.agreement.rbo)];
  });
  console.log(table([['variant', 'ndcg@10', 'Δ [CI95]', 'p', 'd_z', 'W/T/L', 'RBO'], ['full', f3(ablation.full.mean['ndcg@10']), '', '', '', '', ''], ...ablRows]));
  console.log(`Share of |contribution| in the full ranker: ${Object.entries(ablation.contributionShare).map(([n, s]) => `${n} ${(100 * s).toFixed(1)} %`).join(', ')}\n`);

  // ---- clicks: the logging policy is late fusion's top 10, clicks from a position-based model
  const theta = Array.from({ length: 10 }, (_, i) => 1 / (i + 1) ** 0.9);
  const itemIndex = new Map(data.ids.map((id, i) => [id, i]));
  const userIndex = new Map(users.map((u, i) => [u, i]));
  const attraction = (query: string, doc: string) => data.attraction[userIndex.get(query)! * options.items + itemIndex.get(doc)!];
  const logged = testUsers.map((u) => ({ query: u, shown: Object.keys(runs.fusion[u]).slice(0, 10) }));
  // Several sessions per user; 20 % of the traffic shows the top 10 shuffled (RandTop), to estimate the propensities.
  const random = rng(options.seed + 1);
  const sessions: Array<{ query: string; shown: string[] }> = [];
  const randomized: Array<{ query: string; shown: string[] }> = [];
  for (let s = 0; s < SESSIONS_PER_USER; s++)
    for (const l of logged) {
      if (random() < 0.2) {
        const shuffled = [...l.shown];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        randomized.push({ query: l.query, shown: shuffled });
      } else sessions.push({ query: l.query, shown: l.shown });
    }
  const logs: ImpressionLog[] = simulateClicks(sessions, { theta, attractiveness: attraction, seed: options.seed + 2 });
  const randomLogs = simulateClicks(randomized, { theta, attractiveness: attraction, seed: options.seed + 3 });
  const estimated = estimatePropensities(randomLogs, { method: 'randomized', positions: 10 });
  console.log(`Click logs: ${logs.length} sessions of late fusion's top 10 (+ ${randomLogs.length} RandTop sessions), clicks from a position-based model with θ_k = k^-0.9.`);
  console.log(`Propensities estimated from the RandTop sessions: ${Array.from(estimated.theta, (t) => t.toFixed(2)).join(' ')} (planted: ${theta.map((t) => t.toFixed(2)).join(' ')})`);

  // Candidate re-orderings of the logged lists, judged offline from the logs.
  const k = 3;
  const reorder = (source: Run) => (log: ImpressionLog) => [...log.shown].sort((a, b) => (source[log.query][b] ?? -Infinity) - (source[log.query][a] ?? -Infinity));
  const candidates: Record<string, (log: ImpressionLog) => readonly string[]> = {
    'logged order (fusion)': (log) => log.shown,
    'fusion + mlp': reorder(runs['fusion + mlp']),
    text: reorder(runs.text),
    'true attraction (oracle)': (log) => [...log.shown].sort((a, b) => attraction(log.query, b) - attraction(log.query, a)),
  };
  const clicks: EvalDemoReport['clicks'] = [];
  const clickRows: string[][] = [];
  for (const [name, ranking] of Object.entries(candidates)) {
    const estimate = counterfactual(logs, ranking, { propensities: estimated, k, bootstrap: 1000, seed: options.seed });
    const truth = expectedClicks(
      logs.map((log) => ({ query: log.query, shown: [...ranking(log)] })),
      theta,
      attraction,
      k,
    );
    const naive = estimate.clicks.naive;
    const ips = estimate.clicks.ips;
    clicks.push({ ranking: name, truth, naive, ips });
    clickRows.push([name, f3(truth), `${f3(naive.estimate)} [${f3(naive.ci95[0])}, ${f3(naive.ci95[1])}]`, `${f3(ips.estimate)} [${f3(ips.ci95[0])}, ${f3(ips.ci95[1])}]`]);
  }
  console.log(`\nExpected clicks in the top ${k} per session, estimated from the logs (CI95 by bootstrap over sessions):`);
  console.log(table([['re-ranking of the logged lists', 'truth', 'naive [CI95]', 'IPS [CI95]'], ...clickRows]));
  console.log('The naive estimate counts logged clicks, so it favours whatever the logging policy put on top; IPS divides each click by its propensity and recovers the planted truth (its intervals carry the error of the estimated propensities too).');
  console.log(`\nDone in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  return { means, clicks, theta: { planted: theta, estimated: Array.from(estimated.theta) } };
}
