/**
 * Caps how many rank requests run on the libuv pool at once. With every core
 * busy scoring, the event loop's own thread is descheduled and its delay
 * grows with the backlog; keeping one core free for it bounds that delay
 * without costing throughput (the work is CPU-bound either way).
 */
import { availableParallelism } from 'node:os';

export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];
  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, so a new caller cannot slip in between.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }

  get active(): number {
    return this.#active;
  }
}

function defaultLimit(): number {
  const forced = Number(process.env.FUSIONRANK_RANK_CONCURRENCY);
  if (Number.isInteger(forced) && forced > 0) return forced;
  return Math.max(1, availableParallelism() - 1);
}

/** Shared by every Ranker of this thread. */
export const rankPool = new Limiter(defaultLimit());
