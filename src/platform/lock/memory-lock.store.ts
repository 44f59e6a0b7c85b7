import type { LockStore } from './lock.store';

interface Hold {
  owner: string;
  until: number;
}

/** More locks held at once than the in-process store keeps. */
export class LockStoreFullError extends Error {}

/**
 * In-process locks (Redis not configured): one process, so one instance only. Holds expire like
 * Redis ones; fencing tokens come from one process-wide counter seeded with the clock in µs, so
 * they grow per key too. Bounded: only live holds are kept, at most `maxKeys`; a held lock is
 * never evicted to make room (that would break mutual exclusion), the acquire fails instead.
 */
export class MemoryLockStore implements LockStore {
  private readonly holds = new Map<string, Hold>();
  private readonly maxKeys: number;
  private last = 0;

  constructor(options: { maxKeys?: number } = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  get size(): number {
    return this.holds.size;
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<number | null> {
    const now = Date.now();
    const hold = this.holds.get(key);
    if (hold && hold.until > now) return null;
    if (!hold && this.holds.size >= this.maxKeys) {
      for (const [k, h] of this.holds) if (h.until <= now) this.holds.delete(k);
      if (this.holds.size >= this.maxKeys) throw new LockStoreFullError(`More than ${this.maxKeys} locks held`);
    }
    this.holds.set(key, { owner, until: now + ttlMs });
    this.last = Math.max(this.last + 1, now * 1000);
    return this.last;
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const hold = this.held(key, owner);
    if (!hold) return false;
    hold.until = Date.now() + ttlMs;
    return true;
  }

  async release(key: string, owner: string): Promise<boolean> {
    if (!this.held(key, owner)) return false;
    this.holds.delete(key);
    return true;
  }

  async remaining(key: string): Promise<number> {
    const hold = this.holds.get(key);
    return hold ? Math.max(0, hold.until - Date.now()) : 0;
  }

  private held(key: string, owner: string): Hold | undefined {
    const hold = this.holds.get(key);
    return hold && hold.owner === owner && hold.until > Date.now() ? hold : undefined;
  }
}
