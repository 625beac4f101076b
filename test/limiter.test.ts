import { describe, expect, test } from 'vitest';

import { Limiter } from '../src/scoring/limiter.js';

describe('Limiter', () => {
  test('never runs more than its limit at once and runs everything in order', async () => {
    const limiter = new Limiter(2);
    let running = 0, peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        limiter.run(async () => {
          running++;
          peak = Math.max(peak, running);
          order.push(i);
          await new Promise((r) => setTimeout(r, 2));
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(limiter.active).toBe(0);
  });

  test('a failing task frees its slot', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(limiter.run(async () => 7)).resolves.toBe(7);
    expect(limiter.active).toBe(0);
  });
});
