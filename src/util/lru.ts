/**
 * A small least-recently-used map with hit/miss counters, on Map's
 * insertion order (a get moves the key to the back).
 */
export class LruCache<K, V> {
  readonly capacity: number;
  hits = 0;
  misses = 0;
  readonly #map = new Map<K, V>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value as K);
  }

  clear(): void {
    this.#map.clear();
    this.hits = 0;
    this.misses = 0;
  }
}
