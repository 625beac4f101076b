// Implicit ALS against numpy: the exact user and item steps and the fold-in of
// a tiny case, and held-out recall on planted data, from fixtures made by
// scripts/fixtures/learn_als.py (Debian's python3-numpy; the tests need no Python).
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { native } from '../src/native.js';
import { fitAls, foldIn, type AlsModel } from '../src/learn/index.js';
import { withIsa } from './helpers/mlp.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/learn/${name}`, import.meta.url), 'utf8'));
const exact = fixture('als-exact.json');
const planted = fixture('als-planted.json');

const names = (n: number) => Array.from({ length: n }, (_, i) => String(i));

function arrays(triples: number[][], users: number, items: number) {
  return {
    users: Uint32Array.from(triples, (t) => t[0]),
    items: Uint32Array.from(triples, (t) => t[1]),
    weights: Float32Array.from(triples, (t) => t[2]),
    userIds: names(users),
    itemIds: names(items),
  };
}

function maxRelative(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  return worst;
}

/** recall@10 over held-out items, training items excluded, by brute force. */
function recallAt10(model: AlsModel, train: number[][], heldout: number[][]): number {
  const seen = new Map<number, Set<number>>();
  for (const [u, i] of train) (seen.get(u) ?? seen.set(u, new Set()).get(u)!).add(i);
  const held = new Map<number, Set<number>>();
  for (const [u, i] of heldout) (held.get(u) ?? held.set(u, new Set()).get(u)!).add(i);
  const f = model.factors;
  let total = 0;
  for (const [u, items] of held) {
    const scored: Array<[number, number]> = [];
    for (let i = 0; i < model.items.length; i++) {
      if (seen.get(u)?.has(i)) continue;
      let dot = 0;
      for (let j = 0; j < f; j++) dot += model.userFactors[u * f + j] * model.itemFactors[i * f + j];
      scored.push([dot, i]);
    }
    scored.sort((a, b) => b[0] - a[0]);
    total += scored.slice(0, 10).filter(([, i]) => items.has(i)).length / items.size;
  }
  return total / held.size;
}

describe('fitAls: one exact alternation (numpy reference)', () => {
  const run = (isa?: string) => {
    const go = () =>
      fitAls(arrays(exact.interactions, exact.users, exact.items), {
        factors: exact.factors,
        regularization: exact.regularization,
        alpha: exact.alpha,
        iterations: 1,
        cgSteps: 12, // CG solves a 4 × 4 system exactly in 4 steps; more only polish rounding
        init: { users: names(exact.users), items: names(exact.items), factors: exact.factors, userFactors: new Float32Array(exact.users * exact.factors), itemFactors: Float32Array.from(exact.itemFactors0) },
      });
    return isa ? withIsa(native, isa, go) : go();
  };

  it('the user step, the item step and the objective match the closed-form solves', async () => {
    const model = await run();
    expect(maxRelative(model.userFactors, exact.userFactors1)).toBeLessThan(1e-4);
    expect(maxRelative(model.itemFactors, exact.itemFactors1)).toBeLessThan(1e-4);
    expect(model.loss).toHaveLength(1);
    expect(Math.abs(model.loss[0] - exact.loss1) / exact.loss1).toBeLessThan(1e-4);
    expect(model.stats.pairs).toBe(exact.interactions.length);
  });

  it('every kernel tier gives the same solves', async () => {
    for (const isa of native.capabilities().available) {
      const model = await run(isa);
      expect(maxRelative(model.userFactors, exact.userFactors1), isa).toBeLessThan(1e-4);
      expect(maxRelative(model.itemFactors, exact.itemFactors1), isa).toBeLessThan(1e-4);
    }
  });

  it('foldIn solves the user step in closed form against fixed item factors', async () => {
    const model: AlsModel = {
      users: [],
      items: names(exact.items),
      factors: exact.factors,
      userFactors: new Float32Array(0),
      itemFactors: Float32Array.from(exact.itemFactors1),
      loss: [],
      regularization: exact.regularization,
      alpha: exact.alpha,
      stats: { pairs: 0, seconds: 0, gflops: 0 },
    };
    const history = exact.foldIn.history.map(([item, weight]: number[]) => ({ item: String(item), weight }));
    expect(maxRelative(foldIn(model, history), exact.foldIn.expected)).toBeLessThan(1e-5);
    // A repeated item adds its weights: 2 = 1.5 + 0.5.
    const split = history.flatMap((h: { item: string; weight: number }) => (h.weight === 2 ? [{ item: h.item, weight: 1.5 }, { item: h.item, weight: 0.5 }] : [h]));
    expect(maxRelative(foldIn(model, split), exact.foldIn.expected)).toBeLessThan(1e-5);
    // Unknown items: an error that names the way out, or skipped.
    expect(() => foldIn(model, ['nope'])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_NOT_FOUND', message: expect.stringContaining("unknown: 'skip'") }));
    expect(maxRelative(foldIn(model, [...history, { item: 'nope' }], { unknown: 'skip' }), exact.foldIn.expected)).toBeLessThan(1e-5);
    expect(Array.from(foldIn(model, []))).toEqual([0, 0, 0, 0]);
    for (const isa of native.capabilities().available)
      expect(maxRelative(await withIsa(native, isa, () => foldIn(model, history)), exact.foldIn.expected), isa).toBeLessThan(1e-5);
  });
});

describe('fitAls on planted data', () => {
  const input = arrays(planted.train, planted.users, planted.items);
  const fit = (options = {}) => fitAls(input, { ...planted.params, ...options });

  it('held-out recall@10 within 10 % of numpy ALS and ≥ 3× popularity; the objective falls every iteration', async () => {
    const model = await fit();
    const recall = recallAt10(model, planted.train, planted.heldout);
    expect(recall).toBeGreaterThan(0.9 * planted.reference.recall10);
    expect(recall).toBeGreaterThan(3 * planted.popularity.recall10);
    expect(model.loss).toHaveLength(planted.params.iterations);
    for (let t = 1; t < model.loss.length; t++) expect(model.loss[t]).toBeLessThan(model.loss[t - 1]);
    // Three CG steps per row track numpy's exact solves within 2 % at the end.
    const last = planted.reference.loss.at(-1);
    expect(Math.abs(model.loss.at(-1)! - last) / last).toBeLessThan(0.02);
  });

  it('the same seed and threads give the same factors; another thread count agrees closely', async () => {
    const a = await fit({ threads: 2, iterations: 3 });
    const b = await fit({ threads: 2, iterations: 3 });
    expect(b.userFactors).toEqual(a.userFactors);
    expect(b.itemFactors).toEqual(a.itemFactors);
    const c = await fit({ threads: 1, iterations: 3 });
    expect(maxRelative(c.itemFactors, a.itemFactors)).toBeLessThan(1e-3);
    const d = await fit({ threads: 2, iterations: 3, seed: 7 });
    expect(d.itemFactors).not.toEqual(a.itemFactors);
  });

  it('a warm start from a fitted model continues where it stopped', async () => {
    const model = await fit({ iterations: 5 });
    const more = await fit({ iterations: 1, init: model });
    expect(more.loss[0]).toBeLessThan(model.loss.at(-1)!);
    const cold = await fit({ iterations: 1 });
    expect(more.loss[0]).toBeLessThan(cold.loss[0]);
  });
});

describe('fitAls input forms', () => {
  it('objects: ids in first-seen order, repeated pairs add their weights', async () => {
    const options = { factors: 8, iterations: 3, seed: 3, threads: 1 };
    const split = await fitAls(
      [
        { user: 'ann', item: 'p1', weight: 1 },
        { user: 'bob', item: 'p2' },
        { user: 'ann', item: 'p1', weight: 2 },
        { user: 'bob', item: 'p1', weight: 0.5 },
        { user: 'cy', item: 'p3' },
      ],
      options,
    );
    expect(split.users).toEqual(['ann', 'bob', 'cy']);
    expect(split.items).toEqual(['p1', 'p2', 'p3']);
    expect(split.stats.pairs).toBe(4);
    const merged = await fitAls(
      [
        { user: 'ann', item: 'p1', weight: 3 },
        { user: 'bob', item: 'p2', weight: 1 },
        { user: 'bob', item: 'p1', weight: 0.5 },
        { user: 'cy', item: 'p3', weight: 1 },
      ],
      options,
    );
    expect(merged.userFactors).toEqual(split.userFactors);
    expect(merged.itemFactors).toEqual(split.itemFactors);
    expect(split.userFactors).toHaveLength(3 * 8);
  });
});

describe('fitAls / foldIn bad input', () => {
  const one = [{ user: 'u', item: 'i' }];
  const rejects = (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ code });

  it('ids, weights, lengths', async () => {
    await rejects(fitAls([]), 'ERR_FUSIONRANK_EMPTY_INPUT');
    await rejects(fitAls([{ user: '', item: 'i' }]), 'ERR_FUSIONRANK_INVALID_ID');
    await rejects(fitAls([{ user: 'u', item: 7 as never }]), 'ERR_FUSIONRANK_INVALID_ID');
    await rejects(fitAls([{ user: 'u', item: 'i', weight: Number.NaN }]), 'ERR_FUSIONRANK_NON_FINITE');
    await rejects(fitAls([{ user: 'u', item: 'i', weight: -1 }]), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    await rejects(fitAls({ users: Uint32Array.of(0, 1), items: Uint32Array.of(0) }), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    await rejects(fitAls({ users: Uint32Array.of(0, 2), items: Uint32Array.of(0, 0), userIds: ['a', 'b'] }), 'ERR_FUSIONRANK_INVALID_ID');
    await rejects(fitAls({ users: Uint32Array.of(0), items: Uint32Array.of(0), userIds: ['a', 'a'] }), 'ERR_FUSIONRANK_DUPLICATE_ID');
    await rejects(fitAls({ users: Uint32Array.of(0), items: Uint32Array.of(0), weights: Float32Array.of(Infinity) }), 'ERR_FUSIONRANK_NON_FINITE');
    await rejects(fitAls({ users: [0] as never, items: Uint32Array.of(0) }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  });

  it('options', async () => {
    await rejects(fitAls(one, { factors: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    await rejects(fitAls(one, { factors: 1025 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    await rejects(fitAls(one, { iterations: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    await rejects(fitAls(one, { cgSteps: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    await rejects(fitAls(one, { regularization: Number.NaN }), 'ERR_FUSIONRANK_NON_FINITE');
    await rejects(fitAls(one, { alpha: -1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    const model = await fitAls(one, { factors: 4, iterations: 1 });
    await rejects(fitAls(one, { factors: 8, init: model }), 'ERR_FUSIONRANK_DIM_MISMATCH');
    await rejects(fitAls(one, { factors: 4, init: { ...model, itemFactors: new Float32Array(3) } }), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    expect(() => foldIn(model, [{ item: 'i', weight: -2 }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }));
    expect(() => foldIn(model, 'i' as never)).toThrow(TypeError);
    expect(() => foldIn({ ...model, itemFactors: new Float32Array(1) }, ['i'])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_LENGTH_MISMATCH' }));
  });

  it('direct native calls check rows, lengths and weights instead of crashing', async () => {
    const binding = native as unknown as {
      fitAls(...args: unknown[]): Promise<unknown>;
      alsFoldIn(...args: unknown[]): Float32Array;
      alsGram(...args: unknown[]): Float64Array;
    };
    const options = { factors: 2, regularization: 0.1, alpha: 1, iterations: 1, cgSteps: 2, seed: 1, threads: 1, loss: true };
    await expect(binding.fitAls(Uint32Array.of(5), Uint32Array.of(0), null, 1, 1, options)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(binding.fitAls(Uint32Array.of(0), Uint32Array.of(0), Float32Array.of(-1), 1, 1, options)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    expect(() => binding.fitAls(Uint32Array.of(0), Uint32Array.of(0, 1), null, 1, 2, options)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_LENGTH_MISMATCH' }));
    expect(() => binding.fitAls(Uint32Array.of(0), Uint32Array.of(0), null, 1, 1, { ...options, itemInit: new Float32Array(1) })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_LENGTH_MISMATCH' }));
    await expect(binding.fitAls(Uint32Array.of(0), Uint32Array.of(0), null, 1, 1, { ...options, itemInit: Float32Array.of(Number.NaN, 0) })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_NON_FINITE' });
    const gram = binding.alsGram(Float32Array.of(1, 2, 3, 4), 2, 2);
    expect(Array.from(gram)).toEqual([10, 14, 14, 20]);
    expect(() => binding.alsGram(Float32Array.of(1, 2, 3), 2, 2)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_LENGTH_MISMATCH' }));
    expect(() => binding.alsFoldIn(Float32Array.of(1, 2, 3, 4), 2, 2, gram, 0.1, 1, Uint32Array.of(2), null)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }));
    expect(() => binding.alsFoldIn(Float32Array.of(1, 2, 3, 4), 2, 2, new Float64Array(3), 0.1, 1, Uint32Array.of(0), null)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_LENGTH_MISMATCH' }));
  });
});
