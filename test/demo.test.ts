import { describe, expect, test, vi } from 'vitest';

import { runDemo } from '../src/cli/demo.js';
import { runEvalDemo } from '../src/cli/demo-eval.js';
import { runLearnDemo } from '../src/cli/demo-learn.js';

describe('fusionrank demo', () => {
  test('prints a ranked feed with explanations', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    try {
      await runDemo({ items: 3000, seed: 3, k: 8 });
    } finally {
      spy.mockRestore();
    }
    const ranked = lines.filter((l) => /^\d+\s+item-\d+/.test(l));
    expect(ranked.length).toBe(8);
    // Scores are printed best first, with raw → contribution cells per signal.
    expect(ranked[0]).toMatch(/(\d\.\d\d|missing) → /);
    const history = lines.find((l) => l.startsWith('User history'))!;
    // Seen items are excluded from the feed.
    for (const id of history.replace('User history: ', '').split(' (')[0].split(', ')) expect(ranked.some((l) => l.split(/\s+/)[1] === id)).toBe(false);
    expect(lines.some((l) => l.includes('total') && l.includes('µs'))).toBe(true);
  });
});

describe('fusionrank demo eval', () => {
  test('on planted data: fusion beats each single signal, IPS recovers the planted click truth where naive clicks mislead', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    let report: Awaited<ReturnType<typeof runEvalDemo>>;
    try {
      report = await runEvalDemo({ items: 4000, users: 400, seed: 7 });
    } finally {
      spy.mockRestore();
    }
    const text = lines.join('\n');
    // Every step of the protocol is printed.
    for (const heading of ['Holm-adjusted', 'Agreement with late fusion', 'Ablation of late fusion', 'Propensities estimated', 'Expected clicks in the top 3'])
      expect(text).toContain(heading);
    // The planted preferences mix visual and text taste with engagement: late fusion beats each single signal.
    const ndcg = (run: string) => report.means[run]['ndcg@10'];
    for (const single of ['visual', 'text', 'engagement']) expect(ndcg('fusion')).toBeGreaterThan(ndcg(single));
    // RandTop propensities land near the planted θ_k = k^-0.9.
    report.theta.estimated.forEach((t, k) => expect(Math.abs(t - report.theta.planted[k])).toBeLessThan(0.1));
    // Re-rankings of the logged lists: IPS's interval holds the truth, naive's lies below it.
    const logged = report.clicks.find((c) => c.ranking === 'logged order (fusion)')!;
    const moved = report.clicks.filter((c) => c !== logged);
    expect(moved.length).toBe(3);
    for (const c of moved) {
      expect(c.ips.ci95[0]).toBeLessThanOrEqual(c.truth);
      expect(c.ips.ci95[1]).toBeGreaterThanOrEqual(c.truth);
      expect(c.naive.ci95[1]).toBeLessThan(c.truth);
      // Counting logged clicks calls every re-ranking worse than the logged order, the oracle included.
      expect(c.naive.estimate).toBeLessThan(logged.naive.estimate);
    }
  }, 60_000);
});

describe('fusionrank demo learn', () => {
  test('ALS, fold-in, and fitted fusion weights that beat the defaults on held-out interactions', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    let report: Awaited<ReturnType<typeof runLearnDemo>>;
    try {
      report = await runLearnDemo({ items: 3000, users: 1200, seed: 7 });
    } finally {
      spy.mockRestore();
    }
    const text = lines.join('\n');
    for (const heading of ['fitAls:', 'foldIn:', 'Late-fusion weights fitted', 'Held-out users', 'Fitted vs default weights']) expect(text).toContain(heading);
    for (let t = 1; t < report.als.loss.length; t++) expect(report.als.loss[t]).toBeLessThan(report.als.loss[t - 1]);
    // The fitted weights beat the defaults on the latest users' held-out interactions, by a CI that excludes 0.
    expect(report.test.ci95[0]).toBeGreaterThan(0);
    expect(report.test.p).toBeLessThan(0.05);
    const fitted = report.means['hybrid, fitted weights'];
    for (const single of ['popularity', 'content only', 'ALS only']) expect(fitted).toBeGreaterThan(report.means[single]);
    expect(Object.values(report.fitted).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    // The diagnostic the demo prints: the default lets factor-less items crowd the top.
    expect(report.noFactorShare['hybrid, default weights']).toBeGreaterThan(report.noFactorShare['hybrid, fitted weights']);
  }, 120_000);
});
