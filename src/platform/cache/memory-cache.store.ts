import { LRUCache } from 'lru-cache';
import { clockVersion, type CacheEntry, type CacheSignal, type CacheStore } from './cache.store';

export interface MemoryCacheStoreOptions {
  /** Most entries held. */
  maxEntries: number;
  /** Most payload characters held, all entries together. */
  maxBytes: number;
  /** Most tag versions held; an evicted tag comes back with a version from the clock. */
  maxTags?: number;
}

const ENTRY_OVERHEAD = 96;
const MAX_LEASES = 10_000;

/**
 * The in-process store (Redis not configured): one process is the whole cluster, so it is the
 * only tier and its signals go to this process's listeners only. Bounded in entries and bytes.
 */
export class MemoryCacheStore implements CacheStore {
  readonly shared = false;
  readonly ready = true;
  private readonly entries: LRUCache<string, CacheEntry>;
  private readonly tags: LRUCache<string, string>;
  private readonly leases = new Map<string, { owner: string; expiresAt: number }>();
  private readonly listeners: ((signal: CacheSignal) => void)[] = [];

  constructor(options: MemoryCacheStoreOptions) {
    this.entries = new LRUCache<string, CacheEntry>({
      max: Math.max(1, options.maxEntries),
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (entry, key) => entry.payload.length + key.length + ENTRY_OVERHEAD,
    });
    this.tags = new LRUCache<string, string>({ max: options.maxTags ?? 100_000 });
  }

  get size(): number {
    return this.entries.size;
  }

  get calculatedSize(): number {
    return this.entries.calculatedSize;
  }

  async connect(): Promise<void> {}

  async get(key: string): Promise<CacheEntry | undefined> {
    const entry = this.entries.get(key);
    if (entry && entry.staleUntil <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  async fill(key: string, entry: CacheEntry, owner?: string): Promise<void> {
    const ttl = entry.staleUntil - Date.now();
    if (ttl > 0) this.entries.set(key, entry, { ttl });
    else this.entries.delete(key);
    if (owner !== undefined) await this.releaseFill(key, owner);
    this.emit({ kind: 'fill', key, owner: owner ?? '' });
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
    this.emit({ kind: 'key', key });
  }

  async tagVersions(tags: string[]): Promise<string[]> {
    return tags.map((tag) => {
      let version = this.tags.get(tag);
      if (version === undefined) this.tags.set(tag, (version = clockVersion()));
      return version;
    });
  }

  async invalidateTag(tag: string): Promise<string> {
    const version = clockVersion(Number(this.tags.get(tag) ?? 0));
    this.tags.set(tag, version);
    this.emit({ kind: 'tag', tag, version });
    return version;
  }

  async acquireFill(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const lease = this.leases.get(key);
    if (lease && lease.expiresAt > now) return false;
    if (this.leases.size >= MAX_LEASES) this.dropExpiredLeases(now);
    this.leases.set(key, { owner, expiresAt: now + ttlMs });
    return true;
  }

  async releaseFill(key: string, owner: string): Promise<void> {
    if (this.leases.get(key)?.owner === owner) this.leases.delete(key);
  }

  async clear(): Promise<void> {
    this.entries.clear();
    this.tags.clear();
    this.leases.clear();
    this.emit({ kind: 'reset' });
  }

  /** Leases are released by their owners; this only bounds the map against owners that never come back. */
  private dropExpiredLeases(now: number): void {
    for (const [key, lease] of this.leases) if (lease.expiresAt <= now) this.leases.delete(key);
  }

  onSignal(listener: (signal: CacheSignal) => void): void {
    this.listeners.push(listener);
  }

  private emit(signal: CacheSignal): void {
    for (const listener of this.listeners) listener(signal);
  }
}
