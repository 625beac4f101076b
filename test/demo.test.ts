import { describe, expect, test, vi } from 'vitest';

import { runDemo } from '../src/cli/demo.js';

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
