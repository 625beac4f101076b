import type { CatalogLike, IngestedItem } from '../../src/ingest/ingestor.js';

/** Records upserts exactly as the Ingestor makes them (no schema, so nothing is checked up front); can refuse chosen items. */
export class RecordingCatalog implements CatalogLike {
  readonly rows = new Map<string, IngestedItem>();
  calls = 0;
  constructor(private readonly refuse: (item: IngestedItem) => boolean = () => false) {}

  upsert(items: IngestedItem[]): void {
    this.calls++;
    // All-or-nothing per call, as the Catalog contract promises.
    for (const item of items) if (this.refuse(item)) throw Object.assign(new TypeError(`field 'likes' must be a number for ${item.id}`), { code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    for (const item of items) this.rows.set(item.id, item);
  }
}
