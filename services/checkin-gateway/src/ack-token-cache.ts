import { BoundedCache } from '@fleet/service-kit';
import type { FleetStore } from '@fleet/store';

/**
 * ack_token → `_seq_no`. Actions are never rewritten, so an entry stays true; bounded (the
 * reference's 5,000 entries), least recently used first out. Saves a store read on almost every
 * checkin, since agents send their last token each time.
 */
export class AckTokenCache {
  private readonly entries: BoundedCache<string, number>;

  constructor(maxEntries = 5_000) {
    this.entries = new BoundedCache({ maxEntries });
  }

  async resolve(store: FleetStore, token: string): Promise<number | undefined> {
    const cached = this.entries.get(token);
    if (cached !== undefined) return cached;
    const hit = await store.actions.get(token);
    if (!hit) return undefined;
    this.entries.set(token, hit._seq_no);
    return hit._seq_no;
  }
}
