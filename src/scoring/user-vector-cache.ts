/**
 * LRU + TTL cache of preference vectors (mean of history items' vectors),
 * keyed by vector, decay and history; entries die when the catalog changes.
 */
import type { Catalog } from '../catalog/catalog.js';

interface Entry {
  vector: Float32Array | null;
  version: number;
  expires: number;
}

export class UserVectorCache {
  readonly #entries = new Map<string, Entry>();
  constructor(
    readonly size: number,
    readonly ttlMs: number,
  ) {}

  get(catalog: Catalog, version: number, history: readonly string[], vector: string, decay: number): Float32Array | null {
    const key = `${vector}\u0000${decay}\u0000${history.join('\u0000')}`;
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      if (hit.version === version && hit.expires > now) {
        this.#entries.set(key, hit); // most recently used last
        return hit.vector;
      }
    }
    const computed = catalog.userVector(history, { vector, decay });
    this.#entries.set(key, { vector: computed, version, expires: now + this.ttlMs });
    while (this.#entries.size > this.size) this.#entries.delete(this.#entries.keys().next().value!);
    return computed;
  }

  get entries(): number {
    return this.#entries.size;
  }
}
