import { availableParallelism } from 'node:os';

import { describe, expect, test } from 'vitest';

import { Catalog, type FilterSpec, Ranker, type RankedItem } from '../src/index.js';
import { cosine, DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

const NOW = 1_700_000_000_000;

function sumContributions(item: RankedItem): number {
  return Object.values(item.signals!).reduce((s, x) => s + x.contribution, 0);
}

describe('Ranker: retrieval and filters', () => {
  const fx = makeCatalog(400, 11);
  const query = randomVector(DIM, rng(99));

  test('exact filtered retrieval matches a brute-force scan', () => {
    const ranker = new Ranker(fx.catalog, {
      retrieve: { exact: true },
      filter: { safe: true, contentType: { in: ['meme', 'mixed'] }, price: { lte: 100 } },
      signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } },
      normalize: 'none',
      k: 15,
    });
    const expected = [...fx.visual.entries()]
      .filter(([id]) => {
        const f = fx.fields.get(id)!;
        return f.safe && (f.contentType === 'meme' || f.contentType === 'mixed') && f.price <= 100;
      })
      .map(([id, v]) => ({ id, score: cosine(query, v) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 15);
    const { items, usedIndex } = ranker.rank({ query: { visual: query } });
    expect(usedIndex).toBe(false);
    expect(items.map((i) => i.id)).toEqual(expected.map((e) => e.id));
    items.forEach((item, i) => expect(item.score).toBeCloseTo(expected[i].score, 5));
  });

  const cases: Array<[string, Record<string, unknown>, (f: ReturnType<typeof fx.fields.get> & object, id: string) => boolean]> = [
    ['bool', { safe: false }, (f) => !f.safe],
    ['category eq', { contentType: 'video' }, (f) => f.contentType === 'video'],
    ['category nin', { contentType: { nin: ['video', 'meme'] } }, (f) => f.contentType !== 'video' && f.contentType !== 'meme'],
    ['number range', { price: { gt: 50, lt: 120 } }, (f) => f.price > 50 && f.price < 120],
    ['time gte', { createdAt: { gte: new Date(NOW - 2 * 86_400_000) } }, (f) => f.createdAt >= NOW - 2 * 86_400_000],
    ['tags any', { tags: { any: ['funny'] } }, (f) => f.tags.includes('funny')],
    ['tags all', { tags: { all: ['dog', 'funny'] } }, (f) => f.tags.includes('dog') && f.tags.includes('funny')],
    ['tags shorthand', { tags: 'cat' }, (f) => f.tags.includes('cat')],
    ['or / not', { or: [{ creator: 'c1' }, { not: { price: { gte: 20 } } }] }, (f) => f.creator === 'c1' || f.price < 20],
    ['and + ne', { and: [{ creator: { ne: 'c2' } }, { safe: true }] }, (f) => f.creator !== 'c2' && f.safe],
    ['hasVector', { hasVector: 'text' }, (_f, id) => fx.text.has(id)],
    ['unknown category value matches nothing', { contentType: 'podcast' }, () => false],
  ];
  test.each(cases)('filter %s', (_name, filter, predicate) => {
    // No query: every passing item is a candidate; a field signal orders them.
    const ranker = new Ranker(fx.catalog, { filter: filter as FilterSpec, signals: { likes: { kind: 'field', field: 'likes', weight: 1 } }, k: 10000, normalize: 'none' });
    const got = ranker.rank().items.map((i) => i.id).sort();
    const expected = [...fx.fields.entries()].filter(([id, f]) => predicate(f, id)).map(([id]) => id).sort();
    expect(got).toEqual(expected);
    const likes = ranker.rank().items.map((i) => i.score);
    expect(likes).toEqual([...likes].sort((a, b) => b - a));
  });

  test('a request filter is ANDed with the ranker filter', () => {
    const ranker = new Ranker(fx.catalog, { retrieve: { exact: true, k: 400 }, filter: { safe: true }, signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, k: 400, normalize: 'none' });
    const got = ranker.rank({ query: { visual: query }, filter: { creator: { in: ['c1', 'c4'] }, price: { lt: 150 } } }).items.map((i) => i.id).sort();
    const expected = [...fx.fields.entries()].filter(([, f]) => f.safe && (f.creator === 'c1' || f.creator === 'c4') && f.price < 150).map(([id]) => id).sort();
    expect(got).toEqual(expected);
    // Without a query, the request filter narrows the metadata feed too.
    const feed = new Ranker(fx.catalog, { signals: { likes: { kind: 'field', field: 'likes', weight: 1 } }, k: 10000 });
    expect(feed.rank({ filter: { contentType: 'video' } }).items.every((i) => fx.fields.get(i.id)!.contentType === 'video')).toBe(true);
    expect(() => ranker.rank({ filter: { nope: 1 } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_FIELD' }));
    expect(() => ranker.rank({ filter: { price: 'x' } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_FILTER' }));
  });

  test('request k overrides the ranker k', () => {
    const ranker = new Ranker(fx.catalog, { signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, retrieve: { exact: true, k: 100 }, k: 5 });
    const five = ranker.rank({ query: { visual: query } }).items.map((i) => i.id);
    const thirty = ranker.rank({ query: { visual: query }, k: 30 }).items.map((i) => i.id);
    expect(five.length).toBe(5);
    expect(thirty.length).toBe(30);
    expect(thirty.slice(0, 5)).toEqual(five);
    expect(() => ranker.rank({ k: 0 })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_K' }));
    expect(() => ranker.rank({ k: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_K' }));
  });

  test('exclude ids are never returned', () => {
    const ranker = new Ranker(fx.catalog, { signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, k: 5, retrieve: { exact: true } });
    const first = ranker.rank({ query: { visual: query } }).items.map((i) => i.id);
    const second = ranker.rank({ query: { visual: query }, exclude: first.slice(0, 3) }).items.map((i) => i.id);
    expect(second.slice(0, 2)).toEqual(first.slice(3));
    expect(second.some((id) => first.slice(0, 3).includes(id))).toBe(false);
  });

  test('two retrievers are merged as a union', () => {
    const tq = randomVector(DIM + 8, rng(5));
    const ranker = new Ranker(fx.catalog, {
      retrieve: [{ vector: 'visual', k: 10, exact: true }, { vector: 'text', k: 10, exact: true }],
      signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 }, text: { kind: 'similarity', vector: 'text', weight: 1 } },
      k: 100,
    });
    const res = ranker.rank({ query: { visual: query, text: tq } });
    const topV = [...fx.visual.entries()].map(([id, v]) => ({ id, s: cosine(query, v) })).sort((a, b) => b.s - a.s).slice(0, 10).map((x) => x.id);
    const topT = [...fx.text.entries()].map(([id, v]) => ({ id, s: cosine(tq, v) })).sort((a, b) => b.s - a.s).slice(0, 10).map((x) => x.id);
    const union = new Set([...topV, ...topT]);
    expect(res.candidates).toBe(union.size);
    expect(new Set(res.items.map((i) => i.id))).toEqual(union);
  });
});

describe('Ranker: signals, normalisation, fusion, explain', () => {
  const fx = makeCatalog(300, 21);
  const q = randomVector(DIM, rng(7));
  const tq = randomVector(DIM + 8, rng(8));
  const base = {
    retrieve: [{ vector: 'visual', k: 60, exact: true }],
    signals: {
      visual: { kind: 'similarity' as const, vector: 'visual', weight: 0.4 },
      text: { kind: 'similarity' as const, vector: 'text', weight: 0.3 },
      engagement: { kind: 'engagement' as const, fields: ['likes'], weight: 0.2 },
      recency: { kind: 'recency' as const, field: 'createdAt', halfLife: '24h', weight: 0.1 },
    },
    k: 60,
  };

  test('retrieved scores reach the similarity signals of the right items (two retrievers, a union of 100 + 100)', () => {
    const ranker = new Ranker(fx.catalog, {
      retrieve: [{ vector: 'visual', k: 100, exact: true }, { vector: 'text', k: 100, exact: true }],
      signals: { visual: base.signals.visual, text: base.signals.text },
      normalize: 'none',
      k: 300,
    });
    const { items, candidates } = ranker.rank({ query: { visual: q, text: tq }, explain: true });
    expect(items.length).toBe(candidates);
    expect(candidates).toBeGreaterThan(100);
    for (const item of items) {
      expect(item.signals!.visual.raw).toBeCloseTo(cosine(q, fx.visual.get(item.id)!), 5);
      if (fx.text.has(item.id)) expect(item.signals!.text.raw).toBeCloseTo(cosine(tq, fx.text.get(item.id)!), 5);
      else expect(item.signals!.text.raw).toBeNull();
    }
  });

  test('raw signal values follow their definitions', () => {
    const ranker = new Ranker(fx.catalog, { ...base, normalize: 'none' });
    const { items } = ranker.rank({ query: { visual: q, text: tq }, now: NOW, explain: true });
    expect(items.length).toBe(60);
    for (const item of items) {
      const f = fx.fields.get(item.id)!;
      const s = item.signals!;
      expect(s.visual.raw).toBeCloseTo(cosine(q, fx.visual.get(item.id)!), 5);
      if (fx.text.has(item.id)) expect(s.text.raw).toBeCloseTo(cosine(tq, fx.text.get(item.id)!), 5);
      else expect(s.text.raw).toBeNull();
      expect(s.engagement.raw).toBeCloseTo(Math.log1p(f.likes), 4);
      expect(s.recency.raw).toBeCloseTo(0.5 ** ((NOW - f.createdAt) / 86_400_000), 5);
    }
  });

  test.each(['minmax', 'zscore', 'rank', 'rrf'] as const)('normalize %s over the candidate set; contributions sum to the score', (method) => {
    const ranker = new Ranker(fx.catalog, { ...base, normalize: method === 'rrf' ? { method, k: 10 } : method });
    const { items } = ranker.rank({ query: { visual: q, text: tq }, now: NOW, explain: true });
    for (const name of ['visual', 'engagement', 'recency']) {
      const raws = items.map((i) => i.signals![name].raw!);
      const norms = items.map((i) => i.signals![name].normalized!);
      const lo = Math.min(...raws), hi = Math.max(...raws);
      const mean = raws.reduce((a, b) => a + b, 0) / raws.length;
      const sd = Math.sqrt(raws.reduce((a, b) => a + (b - mean) ** 2, 0) / raws.length);
      raws.forEach((r, i) => {
        const rank = raws.filter((x) => x > r).length;
        const expected = method === 'minmax' ? (r - lo) / (hi - lo) : method === 'zscore' ? (r - mean) / sd : method === 'rank' ? 1 - rank / (raws.length - 1) : 1 / (10 + rank + 1);
        expect(norms[i]).toBeCloseTo(expected, 3);
      });
    }
    for (const item of items) {
      expect(sumContributions(item)).toBeCloseTo(item.score, 5);
      expect(item.fused).toBeCloseTo(item.score, 5);
    }
    const scores = items.map((i) => i.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  test('missing policies: renormalize, zero, default, drop', () => {
    const request = { query: { visual: q, text: tq }, now: NOW, explain: true };
    const weights = { visual: 0.4, text: 0.3, engagement: 0.2, recency: 0.1 };
    const renorm = new Ranker(fx.catalog, { ...base, missing: 'renormalize' }).rank(request).items;
    const noText = renorm.filter((i) => i.signals!.text.raw === null);
    expect(noText.length).toBeGreaterThan(0);
    for (const item of noText) {
      expect(item.signals!.text.contribution).toBe(0);
      // The other weights are scaled up by 1 / (1 - 0.3).
      expect(item.signals!.visual.contribution).toBeCloseTo((weights.visual * item.signals!.visual.normalized!) / 0.7, 5);
    }
    const zero = new Ranker(fx.catalog, { ...base, missing: 'zero' }).rank(request).items;
    for (const item of zero.filter((i) => i.signals!.text.raw === null)) {
      expect(item.signals!.text.contribution).toBe(0);
      expect(item.signals!.visual.contribution).toBeCloseTo(weights.visual * item.signals!.visual.normalized!, 5);
    }
    const dflt = new Ranker(fx.catalog, { ...base, missing: { default: 0.25 } }).rank(request).items;
    for (const item of dflt.filter((i) => i.signals!.text.raw === null)) expect(item.signals!.text.contribution).toBeCloseTo(0.3 * 0.25, 6);
    const drop = new Ranker(fx.catalog, { ...base, missing: 'drop' }).rank(request).items;
    expect(drop.length).toBe(60 - noText.length);
    expect(drop.every((i) => fx.text.has(i.id))).toBe(true);
    for (const list of [renorm, zero, dflt, drop]) for (const item of list) expect(sumContributions(item)).toBeCloseTo(item.score, 5);
  });

  test('recency decays: exp, gauss and linear all reach 0.5 at the half-life', () => {
    for (const decay of ['exp', 'gauss', 'linear'] as const) {
      const c = new Catalog({ vectors: { v: { dim: 2 } }, fields: { t: 'time' } });
      c.upsert([
        { id: 'now', fields: { t: NOW } },
        { id: 'half', fields: { t: NOW - 2 * 3_600_000 } },
        { id: 'old', fields: { t: NOW - 4 * 3_600_000 } },
      ]);
      const r = new Ranker(c, { signals: { rec: { kind: 'recency', field: 't', halfLife: '2h', decay, weight: 1 } }, normalize: 'none' });
      const raw = Object.fromEntries(r.rank({ now: NOW, explain: true }).items.map((i) => [i.id, i.signals!.rec.raw]));
      expect(raw.now).toBeCloseTo(1, 6);
      expect(raw.half).toBeCloseTo(0.5, 6);
      expect(raw.old).toBeCloseTo(decay === 'exp' ? 0.25 : decay === 'gauss' ? 1 / 16 : 0, 6);
    }
  });

  test('engagement sigmoid, field transforms and negative weights', () => {
    const c = new Catalog({ vectors: { v: { dim: 2 } }, fields: { likes: 'number', comments: 'number', price: 'number' } });
    c.upsert([
      { id: 'a', fields: { likes: 100, comments: 50, price: 10 } },
      { id: 'b', fields: { likes: 10, price: 1 } },
    ]);
    const r = new Ranker(c, {
      signals: {
        eng: { kind: 'engagement', fields: ['likes', 'comments'], transform: 'sigmoid', scale: 100, weight: 1 },
        price: { kind: 'field', field: 'price', transform: 'sqrt', weight: -1 },
      },
      normalize: 'none',
    });
    const items = Object.fromEntries(r.rank({ explain: true }).items.map((i) => [i.id, i]));
    expect(items.a.signals!.eng.raw).toBeCloseTo(2 / (1 + Math.exp(-1.5)) - 1, 5);
    expect(items.b.signals!.eng.raw).toBeCloseTo(2 / (1 + Math.exp(-0.1)) - 1, 5);
    expect(items.a.signals!.price.contribution).toBeCloseTo(-Math.sqrt(10), 5);
    expect(items.a.score).toBeCloseTo(items.a.signals!.eng.raw! - Math.sqrt(10), 5);
  });

  test('cold-start blend shifts weight from content to behaviour with interactions, also after the drop policy removed items', () => {
    const c = new Catalog({ vectors: { content: { dim: 2 }, cf: { dim: 2 } }, fields: { interactions: 'number' } });
    // Rows without a content vector come first, so dropping them shifts every later item.
    c.upsert([
      { id: 'gone1', vectors: { cf: [0, 1] }, fields: { interactions: 1000 } },
      { id: 'new', vectors: { content: [1, 0], cf: [0, 1] }, fields: { interactions: 0 } },
      { id: 'gone2', vectors: { cf: [0, 1] }, fields: { interactions: 5 } },
      { id: 'mid', vectors: { content: [1, 0], cf: [0, 1] }, fields: { interactions: 20 } },
      { id: 'old', vectors: { content: [1, 0], cf: [0, 1] }, fields: { interactions: 180 } },
    ]);
    for (const missing of ['zero', 'drop'] as const) {
      const r = new Ranker(c, {
        retrieve: { exact: true },
        signals: { content: { kind: 'similarity', vector: 'content', weight: 1 }, cf: { kind: 'behavior', vector: 'cf', weight: 1 } },
        blend: { content: ['content'], behavior: ['cf'], byField: 'interactions', k: 20 },
        normalize: 'none',
        missing,
      });
      const items = Object.fromEntries(r.rank({ query: { content: new Float32Array([1, 0]), cf: new Float32Array([1, 0]) }, explain: true }).items.map((i) => [i.id, i]));
      expect(Object.keys(items).sort()).toEqual(missing === 'drop' ? ['mid', 'new', 'old'] : ['gone1', 'gone2', 'mid', 'new', 'old']);
      // content similarity 1, behaviour similarity 0: score = 1 - alpha, alpha = n / (n + 20).
      expect(items.new.score).toBeCloseTo(1, 6);
      expect(items.mid.score).toBeCloseTo(0.5, 6);
      expect(items.old.score).toBeCloseTo(0.1, 6);
      expect(items.old.signals!.cf.contribution).toBe(0);
    }
  });
});

describe('Ranker: post-rank', () => {
  test('MMR keeps near-duplicates apart; lambda 1 is plain relevance order', () => {
    const random = rng(4);
    const c = new Catalog({ vectors: { v: { dim: 8 } }, fields: { creator: 'category' } });
    const q = randomVector(8, random);
    const items = [];
    // Ten tight clusters of five near-copies each.
    for (let cluster = 0; cluster < 10; cluster++) {
      const center = randomVector(8, random);
      for (let j = 0; j < 5; j++) items.push({ id: `c${cluster}-${j}`, vectors: { v: center.map((x) => x + (random() - 0.5) * 0.01) }, fields: { creator: `cr${cluster % 3}` } });
    }
    c.upsert(items);
    const signals = { sim: { kind: 'similarity' as const, vector: 'v', weight: 1 } };
    const plain = new Ranker(c, { signals, k: 5, retrieve: { exact: true } }).rank({ query: { v: q } }).items.map((i) => i.id.split('-')[0]);
    expect(new Set(plain).size).toBe(1); // all five from the best cluster
    const same = new Ranker(c, { signals, k: 5, retrieve: { exact: true }, diversity: { mmr: { vector: 'v', lambda: 1 } } }).rank({ query: { v: q } }).items.map((i) => i.id.split('-')[0]);
    expect(same).toEqual(plain);
    const ranked = new Ranker(c, { signals, k: 5, retrieve: { exact: true }, diversity: { mmr: { vector: 'v', lambda: 0.5, pool: 50 } } }).rank({ query: { v: q } }).items;
    const diverse = ranked.map((i) => i.id.split('-')[0]);
    expect(new Set(diverse).size).toBeGreaterThanOrEqual(3);
    expect(diverse[0]).toBe(plain[0]);
    // Reference MMR in TypeScript over the same stored vectors.
    const all = items.map((it) => ({ id: it.id, v: c.get(it.id)!.vectors.v, rel: cosine(q, c.get(it.id)!.vectors.v) }));
    all.sort((a, b) => b.rel - a.rel);
    const lo = Math.min(...all.map((a) => a.rel)), hi = Math.max(...all.map((a) => a.rel));
    const picked: typeof all = [];
    const window = [...all];
    while (picked.length < 5) {
      let best = 0, bestValue = -Infinity;
      window.forEach((cand, w) => {
        const sim = picked.length ? Math.max(0, ...picked.map((p) => cosine(p.v, cand.v))) : 0;
        const value = 0.5 * ((cand.rel - lo) / (hi - lo)) - 0.5 * sim;
        if (value > bestValue + 1e-6) { bestValue = value; best = w; }
      });
      picked.push(window.splice(best, 1)[0]);
    }
    expect(ranked.map((i) => i.id)).toEqual(picked.map((p) => p.id));
  });

  test('MMR with caps picks exactly what a reference MMR picks (pool refills, capped items leave the window)', () => {
    const random = rng(41);
    const c = new Catalog({ vectors: { v: { dim: 16 } }, fields: { creator: 'category' } });
    const centers = Array.from({ length: 20 }, () => randomVector(16, random));
    const items = Array.from({ length: 300 }, (_, i) => ({
      id: `i${i}`,
      vectors: { v: centers[i % 20].map((x) => x + (random() - 0.5) * 0.6) },
      fields: { creator: `cr${Math.floor(random() * 6)}` },
    }));
    c.upsert(items);
    const q = randomVector(16, random);
    for (const [lambda, pool, k] of [[0.3, 40, 12], [0.7, 24, 20], [0.5, 60, 15]] as const) {
      const ranked = new Ranker(c, {
        signals: { sim: { kind: 'similarity', vector: 'v', weight: 1 } },
        normalize: 'none',
        retrieve: { exact: true, k: 300 },
        diversity: { mmr: { vector: 'v', lambda, pool }, maxPer: { creator: 2 } },
        k,
      }).rank({ query: { v: q } }).items.map((i) => i.id);
      // Reference: relevance scaled over the pool's head, a window of `pool`
      // uncapped items refilled in relevance order, the first best value wins.
      const all = items.map((it) => ({ id: it.id, creator: it.fields.creator, v: c.get(it.id)!.vectors.v, rel: cosine(q, c.get(it.id)!.vectors.v) }));
      all.sort((a, b) => b.rel - a.rel);
      const lo = Math.min(...all.slice(0, pool).map((a) => a.rel)), hi = Math.max(...all.slice(0, pool).map((a) => a.rel));
      const counts = new Map<string, number>();
      const capped = (a: (typeof all)[number]) => (counts.get(a.creator) ?? 0) >= 2;
      const picked: typeof all = [];
      let window: typeof all = [];
      let next = 0;
      const refill = () => {
        while (window.length < pool && next < all.length) {
          const a = all[next++];
          if (!capped(a)) window.push(a);
        }
      };
      refill();
      while (picked.length < k) {
        window = window.filter((a) => !capped(a));
        refill();
        if (window.length === 0) break;
        let best = 0, bestValue = -Infinity;
        window.forEach((cand, w) => {
          const sim = picked.length ? Math.max(0, ...picked.map((p) => cosine(p.v, cand.v))) : 0;
          const rel = (Math.min(hi, Math.max(lo, cand.rel)) - lo) / (hi - lo);
          const value = lambda * rel - (1 - lambda) * sim;
          if (value > bestValue + 1e-6) { bestValue = value; best = w; }
        });
        const chosen = window.splice(best, 1)[0];
        picked.push(chosen);
        counts.set(chosen.creator, (counts.get(chosen.creator) ?? 0) + 1);
      }
      expect(ranked).toEqual(picked.map((p) => p.id));
    }
  });

  test('maxPer caps items per category', () => {
    const fx = makeCatalog(200, 8);
    const r = new Ranker(fx.catalog, {
      signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } },
      retrieve: { exact: true, k: 200 },
      diversity: { maxPer: { creator: 2, contentType: 3 } },
      k: 10,
    });
    const items = r.rank({ query: { visual: randomVector(DIM, rng(1)) } }).items;
    expect(items.length).toBe(10);
    const perCreator = new Map<string, number>();
    const perType = new Map<string, number>();
    for (const i of items) {
      const f = fx.fields.get(i.id)!;
      perCreator.set(f.creator, (perCreator.get(f.creator) ?? 0) + 1);
      perType.set(f.contentType, (perType.get(f.contentType) ?? 0) + 1);
    }
    expect(Math.max(...perCreator.values())).toBeLessThanOrEqual(2);
    expect(Math.max(...perType.values())).toBeLessThanOrEqual(3);
  });

  test('rules: pin first in order, boost adds, bury sinks; explain names the rule', () => {
    const fx = makeCatalog(100, 12);
    const q = randomVector(DIM, rng(3));
    const signals = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };
    const plain = new Ranker(fx.catalog, { signals, retrieve: { exact: true, k: 100 }, k: 100 }).rank({ query: { visual: q } }).items;
    const last = plain[plain.length - 1].id, mid = plain[50].id, top = plain[0].id;
    const r = new Ranker(fx.catalog, {
      signals,
      retrieve: { exact: true, k: 20 },
      rules: [{ pin: [last, mid] }, { boost: { ids: [plain[10].id] }, by: 5 }, { bury: { ids: [top] } }, { bury: { filter: { creator: 'c3' } } }],
      k: 100,
    });
    const items = r.rank({ query: { visual: q }, explain: true }).items;
    expect(items[0].id).toBe(last);
    expect(items[1].id).toBe(mid);
    expect(items[0].rule).toEqual({ kind: 'pin', delta: 0 });
    expect(items[2].id).toBe(plain[10].id);
    expect(items[2].rule!.kind).toBe('boost');
    expect(items[2].score).toBeCloseTo(items[2].fused! + 5, 5);
    const buried = items.filter((i) => i.rule?.kind === 'bury');
    expect(buried.map((i) => i.id)).toContain(top);
    // Every buried item comes after every regular one.
    const firstBuried = items.findIndex((i) => i.rule?.kind === 'bury');
    expect(items.slice(firstBuried).every((i) => i.rule?.kind === 'bury')).toBe(true);
    expect(buried.every((i) => i.id === top || fx.fields.get(i.id)!.creator === 'c3')).toBe(true);
  });

  test('rankAsync gives the same result as rank; timings always present', async () => {
    const fx = makeCatalog(300, 2);
    const r = new Ranker(fx.catalog, {
      filter: { safe: true },
      signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 }, likes: { kind: 'engagement', fields: ['likes'], weight: 0.5 } },
      diversity: { mmr: { vector: 'visual', lambda: 0.7 } },
      k: 10,
    });
    const q = randomVector(DIM, rng(6));
    const sync = r.rank({ query: { visual: q }, explain: true });
    const [a, b] = await Promise.all([r.rankAsync({ query: { visual: q }, explain: true }), r.rankAsync({ query: { visual: q } })]);
    expect(a.items).toEqual(sync.items);
    expect(b.items.map((i) => i.id)).toEqual(sync.items.map((i) => i.id));
    for (const t of [sync.timings, a.timings]) {
      for (const key of ['retrieveUs', 'scoreUs', 'rerankUs', 'diversifyUs', 'totalUs'] as const) expect(t[key]).toBeGreaterThanOrEqual(0);
      expect(t.totalUs).toBeGreaterThan(0);
    }
  });

  test('rankAsync reads its query when called: reusing the buffer afterwards changes nothing, queued or not', async () => {
    const fx = makeCatalog(300, 61);
    const r = new Ranker(fx.catalog, { signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, retrieve: { exact: true }, k: 5 });
    const random = rng(62);
    const queries = Array.from({ length: availableParallelism() + 8 }, () => randomVector(DIM, random));
    const expected = queries.map((q) => r.rank({ query: { visual: q } }).items.map((i) => i.id));
    // One buffer for every request, overwritten after each call, as a server
    // reusing its decode buffer would: more requests than the pool runs at once.
    const buffer = new Float32Array(DIM);
    const pending = queries.map((q) => {
      buffer.set(q);
      const p = r.rankAsync({ query: { visual: buffer } });
      buffer.fill(0.5);
      return p;
    });
    const results = await Promise.all(pending);
    expect(results.map((res) => res.items.map((i) => i.id))).toEqual(expected);
  });

  test('mutations while rankAsync requests are in flight: no crash, no stale or mislabelled ids', async () => {
    const fx = makeCatalog(400, 44);
    const r = new Ranker(fx.catalog, { signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, retrieve: { exact: true }, k: 10 });
    const q = randomVector(DIM, rng(45));
    const top = r.rank({ query: { visual: q } }).items.map((i) => i.id);
    const pending = Array.from({ length: 40 }, () => r.rankAsync({ query: { visual: q } }));
    // Free the best rows and hand them to new items pointing the other way:
    // a stale row mapped to the new id would show a new item near the top.
    fx.catalog.remove(top.slice(0, 5));
    fx.catalog.upsert(top.slice(0, 5).map((id, i) => ({ id: `new-${i}`, vectors: { visual: fx.visual.get(id)!.map((x) => -x) } })));
    const results = await Promise.all(pending);
    for (const res of results) {
      for (const item of res.items) {
        expect(fx.catalog.has(item.id)).toBe(true);
        expect(top.slice(0, 5)).not.toContain(item.id);
        expect(item.id.startsWith('new-')).toBe(false);
      }
    }
    expect(results.every((res) => res.items.length >= 5)).toBe(true);
    const after = r.rank({ query: { visual: q } }).items.map((i) => i.id);
    expect(after).toEqual(top.slice(5).concat(after.slice(5)));
  });

  test('query.fromHistory uses the cached preference vector', () => {
    const fx = makeCatalog(150, 30);
    const r = new Ranker(fx.catalog, { signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, retrieve: { exact: true }, k: 5 });
    const history = ['p3', 'p8', 'p21'];
    const user = fx.catalog.userVector(history, { vector: 'visual' })!;
    const direct = r.rank({ query: { visual: user } }).items;
    const viaHistory = r.rank({ query: { fromHistory: history } }).items;
    expect(viaHistory).toEqual(direct);
    expect(r.rank({ query: { fromHistory: history } }).items).toEqual(direct);
  });
});

describe('Ranker: bad input', () => {
  const fx = makeCatalog(50, 5);
  const sim = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };
  const cases: Array<[string, () => unknown, Record<string, unknown>]> = [
    ['unknown vector in a signal', () => new Ranker(fx.catalog, { signals: { a: { kind: 'similarity', vector: 'audio', weight: 1 } } }), { code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR', message: expect.stringContaining("valid vectors: 'visual', 'text'") }],
    ['unknown field in a signal', () => new Ranker(fx.catalog, { signals: { a: { kind: 'engagement', fields: ['shares'], weight: 1 } } }), { code: 'ERR_FUSIONRANK_UNKNOWN_FIELD', message: expect.stringContaining("'likes'") }],
    ['NaN weight', () => new Ranker(fx.catalog, { signals: { visual: { ...sim.visual, weight: NaN } } }), { code: 'ERR_FUSIONRANK_INVALID_WEIGHT', name: 'RangeError' }],
    ['infinite weight', () => new Ranker(fx.catalog, { signals: { visual: { ...sim.visual, weight: Infinity } } }), { code: 'ERR_FUSIONRANK_INVALID_WEIGHT' }],
    ['string weight', () => new Ranker(fx.catalog, { signals: { visual: { ...sim.visual, weight: '1' as never } } }), { code: 'ERR_FUSIONRANK_INVALID_WEIGHT', name: 'TypeError' }],
    ['all-zero weights', () => new Ranker(fx.catalog, { signals: { visual: { ...sim.visual, weight: 0 }, l: { kind: 'field', field: 'likes', weight: 0 } } }), { code: 'ERR_FUSIONRANK_INVALID_WEIGHT' }],
    ['k = 0', () => new Ranker(fx.catalog, { signals: sim, k: 0 }), { code: 'ERR_FUSIONRANK_INVALID_K' }],
    ['k too large', () => new Ranker(fx.catalog, { signals: sim, k: 1e6 }), { code: 'ERR_FUSIONRANK_INVALID_K' }],
    ['retriever k fractional', () => new Ranker(fx.catalog, { signals: sim, retrieve: { vector: 'visual', k: 2.5 } }), { code: 'ERR_FUSIONRANK_INVALID_K' }],
    ['half-life that does not parse', () => new Ranker(fx.catalog, { signals: { r: { kind: 'recency', field: 'createdAt', halfLife: '24 hours', weight: 1 } } }), { code: 'ERR_FUSIONRANK_INVALID_DURATION' }],
    ['recency on a category field', () => new Ranker(fx.catalog, { signals: { r: { kind: 'recency', field: 'creator', halfLife: '1d', weight: 1 } } }), { code: 'ERR_FUSIONRANK_INVALID_FIELD' }],
    ['filter on a missing field', () => new Ranker(fx.catalog, { signals: sim, filter: { region: 'eu' } }), { code: 'ERR_FUSIONRANK_UNKNOWN_FIELD', message: expect.stringContaining("'contentType'") }],
    ['filter with the wrong value type', () => new Ranker(fx.catalog, { signals: sim, filter: { price: { lte: '100' } } }), { code: 'ERR_FUSIONRANK_INVALID_FILTER', name: 'TypeError' }],
    ['filter bool with a string', () => new Ranker(fx.catalog, { signals: sim, filter: { safe: 'yes' } }), { code: 'ERR_FUSIONRANK_INVALID_FILTER' }],
    ['filter operator that does not apply', () => new Ranker(fx.catalog, { signals: sim, filter: { tags: { lte: 3 } } }), { code: 'ERR_FUSIONRANK_INVALID_FILTER' }],
    ['maxPer on a number field', () => new Ranker(fx.catalog, { signals: sim, diversity: { maxPer: { likes: 2 } } }), { code: 'ERR_FUSIONRANK_INVALID_FIELD' }],
    ['mmr lambda out of range', () => new Ranker(fx.catalog, { signals: sim, diversity: { mmr: { vector: 'visual', lambda: 2 } } }), { name: 'RangeError' }],
    ['user-vector decay of zero', () => new Ranker(fx.catalog, { signals: sim, userVectors: { decay: 0 } }), { name: 'RangeError' }],
    ['user-vector ttl that does not parse', () => new Ranker(fx.catalog, { signals: sim, userVectors: { ttl: 'soon' } }), { code: 'ERR_FUSIONRANK_INVALID_DURATION' }],
    ['pin with a non-string id', () => new Ranker(fx.catalog, { signals: sim, rules: [{ pin: [3 as never] }] }), { code: 'ERR_FUSIONRANK_INVALID_ID' }],
  ];
  test.each(cases)('%s', (_name, fn, expected) => {
    expect(fn).toThrow(expect.objectContaining(expected));
  });

  test('request errors', () => {
    const r = new Ranker(fx.catalog, { signals: sim });
    expect(() => r.rank({ query: { visual: new Float32Array(DIM + 1) } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH', name: 'RangeError' }));
    expect(() => r.rank({ query: { audio: new Float32Array(3) } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' }));
    expect(() => r.rank({ query: { visual: [1, 2] as never } })).toThrow(TypeError);
    expect(() => r.rank({ exclude: [1 as never] })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ID' }));
    expect(() => r.rank({ query: { fromHistory: 'p1' as never } })).toThrow(TypeError);
    expect(() => r.rank({ now: 'today' as never })).toThrow(TypeError);
    expect(() => new Ranker({} as never, { signals: sim })).toThrow(TypeError);
  });
});
