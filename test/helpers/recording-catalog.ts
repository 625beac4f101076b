import type { CatalogItem, CatalogLike } from '../../src/ingest/ingestor.js';

/** Stands in for Catalog (issue 4): records upserts, can refuse chosen ids. */
export class RecordingCatalog implements CatalogLike {
  readonly rows = new Map<string, CatalogItem>();
  calls = 0;
  constructor(private readonly refuse: (item: CatalogItem) => boolean = () => false) {}

  upsert(items: CatalogItem[]): void {
    this.calls++;
    // All-or-nothing per call, as the Catalog contract promises.
    for (const item of items) if (this.refuse(item)) throw Object.assign(new TypeError(`field 'likes' must be a number for ${item.id}`), { code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    for (const item of items) this.rows.set(item.id, item);
  }
}
