/**
 * `npx fusionrank demo`: builds a generated catalog and prints a ranked feed
 * with per-signal explanations — the main job, end to end, in one command.
 */
import { availableParallelism } from 'node:os';

import type { Command } from 'commander';

import { Ranker } from '../scoring/ranker.js';
import { SAMPLE_NOW, sampleCatalog, TOPIC_NAMES, type SampleItem } from './sample-catalog.js';
import { positiveInt } from './options.js';

function pad(value: string | number, width: number, right = false): string {
  const s = typeof value === 'number' ? value.toFixed(3) : value;
  return right ? s.padStart(width) : s.padEnd(width);
}

export async function runDemo(options: { items: number; seed: number; k: number }): Promise<void> {
  const started = performance.now();
  const topics = new Map<string, number>();
  const history: string[] = [];
  const catalog = sampleCatalog({ items: options.items, seed: options.seed, visualDim: 128, textDim: 192, topics: 12 }, (batch: SampleItem[]) => {
    for (const item of batch) {
      topics.set(item.id, item.topic);
      // The demo user liked a few cat pictures.
      if (item.topic === 0 && history.length < 5) history.push(item.id);
    }
  });
  console.log(`Built a catalog of ${catalog.size} items (visual 128 f16, text 192 f16, 8 fields) in ${(performance.now() - started).toFixed(0)} ms`);
  console.log(`User history: ${history.join(', ')} (topic: ${TOPIC_NAMES[0]})\n`);

  const ranker = new Ranker(catalog, {
    filter: { safe: true, contentType: { in: ['meme', 'mixed', 'photo'] } },
    signals: {
      visual: { kind: 'similarity', vector: 'visual', weight: 0.35 },
      text: { kind: 'similarity', vector: 'text', weight: 0.25 },
      engagement: { kind: 'engagement', fields: ['likes', 'comments'], weight: 0.2 },
      recency: { kind: 'recency', field: 'createdAt', halfLife: '24h', weight: 0.15 },
      quality: { kind: 'field', field: 'quality', weight: 0.05 },
    },
    normalize: 'minmax',
    missing: 'renormalize',
    diversity: { mmr: { vector: 'visual', lambda: 0.7 }, maxPer: { creator: 2 } },
    rules: [{ boost: { filter: { tags: { any: ['rare'] } } }, by: 0.05 }],
    k: options.k,
  });
  ranker.prepare({ threads: Math.min(8, availableParallelism()) });
  const result = ranker.rank({ query: { fromHistory: history }, now: SAMPLE_NOW, exclude: history, explain: true });

  const names = ranker.signals;
  console.log(`${pad('#', 3)} ${pad('id', 12)} ${pad('topic', 12)} ${pad('score', 7, true)}  ${names.map((n) => pad(n, 18)).join(' ')} rule`);
  console.log(`${pad('', 3)} ${pad('', 12)} ${pad('', 12)} ${pad('', 7)}  ${names.map(() => pad('raw → contrib', 18)).join(' ')}`);
  result.items.forEach((item, i) => {
    const cells = names.map((n) => {
      const s = item.signals![n];
      return pad(s.raw === null ? 'missing' : `${s.raw.toFixed(2)} → ${s.contribution.toFixed(3)}`, 18);
    });
    console.log(`${pad(String(i + 1), 3)} ${pad(item.id, 12)} ${pad(TOPIC_NAMES[topics.get(item.id)!] ?? '?', 12)} ${pad(item.score, 7, true)}  ${cells.join(' ')} ${item.rule ? `${item.rule.kind} +${item.rule.delta}` : ''}`);
  });
  const t = result.timings;
  console.log(`\ncandidates ${result.candidates} · retrieve ${t.retrieveUs.toFixed(0)} µs · score ${t.scoreUs.toFixed(0)} µs · diversify ${t.diversifyUs.toFixed(0)} µs · total ${t.totalUs.toFixed(0)} µs (HNSW: ${result.usedIndex})`);
  console.log('Contributions sum to each score; "missing" marks an item without that modality (weights renormalised).');
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('feed (default): a ranked feed with explanations; eval: the evaluation protocol on planted data; learn: ALS, fold-in and fitted fusion weights on planted data')
    .argument('[scenario]', "'feed', 'eval' or 'learn'", 'feed')
    .option('--items <n>', 'catalog size (default 20000 for feed, 4000 for eval, 3000 for learn)', positiveInt)
    .option('--users <n>', 'users (eval: 400, learn: 1200)', positiveInt)
    .option('--seed <n>', 'generator seed', positiveInt, 7)
    .option('-k <n>', 'items to show (feed)', positiveInt, 15)
    .action(async (scenario: string, opts: { items?: number; users?: number; seed: number; k: number }) => {
      if (scenario === 'eval') {
        const { runEvalDemo } = await import('./demo-eval.js');
        await runEvalDemo({ items: opts.items ?? 4000, users: opts.users ?? 400, seed: opts.seed });
      } else if (scenario === 'learn') {
        const { runLearnDemo } = await import('./demo-learn.js');
        await runLearnDemo({ items: opts.items ?? 3000, users: opts.users ?? 1200, seed: opts.seed });
      } else if (scenario === 'feed') {
        await runDemo({ items: opts.items ?? 20000, seed: opts.seed, k: opts.k });
      } else {
        program.error(`error: unknown demo '${scenario}'; choose 'feed', 'eval' or 'learn'`);
      }
    });
}
