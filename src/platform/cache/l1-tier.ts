import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './cache.store';

export interface L1Item {
  entry: CacheEntry;
  value: unknown;
  /** The hashed key the store and the signals use. */
  id: string;
}

const OVERHEAD = 128;

/**
 * The in-process tier: a bounded LRU keyed by the caller's key (a hit never hashes), with an
 * index from the hashed id, which is what other instances' signals name.
 */
export class L1Tier {
  private readonly items: LRUCache<string, L1Item>;
  private readonly keysById = new Map<string, string>();

  constructor(maxEntries: number, maxBytes: number) {
    this.items = new LRUCache<string, L1Item>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (item, key) => item.entry.payload.length + key.length + OVERHEAD,
      dispose: (item, key) => {
        if (this.keysById.get(item.id) === key) this.keysById.delete(item.id);
      },
    });
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): L1Item | undefined {
    return this.items.get(key);
  }

  set(key: string, item: L1Item): void {
    this.items.set(key, item);
    if (this.items.has(key)) this.keysById.set(item.id, key);
  }

  delete(key: string): void {
    this.items.delete(key);
  }

  deleteById(id: string): void {
    const key = this.keysById.get(id);
    if (key !== undefined) this.items.delete(key);
  }

  clear(): void {
    this.items.clear();
    this.keysById.clear();
  }
}
