import type { ThrottlerStorage } from '@nestjs/throttler';
import { LRUCache } from 'lru-cache';
import {
  incrementThrough,
  type ThrottleRecord,
  type ThrottleRule,
  type ThrottleStore,
  type ThrottleVerdict,
} from './throttle.store';

export interface MemoryThrottleStoreOptions {
  /** Most keys tracked. Default 100,000. */
  maxKeys?: number;
  /** Most bytes of hit logs, all keys together (8 bytes per slot of each key's limit). Default 64 MiB. */
  maxBytes?: number;
}

/** One key's sliding log: a ring of the hit times in the window (at most `limit`), oldest at `head`. */
interface Log {
  times: Float64Array;
  head: number;
  count: number;
  blockedUntil: number;
  limit: number;
}

/**
 * The in-process store: the same exact sliding window as the Redis store, O(1) per hit (amortised:
 * a ring of the hit times in the window, grown by doubling), bounded by keys and bytes. An evicted key starts over, which is the
 * price of the bound. It also serves as a @nestjs/throttler storage.
 */
export class MemoryThrottleStore implements ThrottleStore, ThrottlerStorage {
  private readonly logs: LRUCache<string, Log>;

  constructor(options: MemoryThrottleStoreOptions = {}) {
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.logs = new LRUCache<string, Log>({
      max: options.maxKeys ?? 100_000,
      maxSize: maxBytes,
      // Clamped to the bound: lru-cache would silently not store a larger entry, and a key that
      // is never stored would let every hit through. (A ring is 8 bytes per hit in the window.)
      sizeCalculation: (log, key) => Math.min(log.times.byteLength + key.length + 64, maxBytes),
    });
  }

  get size(): number {
    return this.logs.size;
  }

  get calculatedSize(): number {
    return this.logs.calculatedSize;
  }

  consume(id: string, rule: ThrottleRule): ThrottleVerdict {
    return this.hit(id, rule, Date.now());
  }

  increment(key: string, ttl: number, limit: number, blockDuration: number, name: string): Promise<ThrottleRecord> {
    return incrementThrough(this, key, ttl, limit, blockDuration, name);
  }

  /** Synchronous core, with the clock passed in. */
  hit(id: string, { limit, windowMs, blockMs }: ThrottleRule, now: number): ThrottleVerdict {
    let log = this.logs.get(id);
    if (!log || log.limit !== limit) {
      log = { times: new Float64Array(Math.min(limit, 16)), head: 0, count: 0, blockedUntil: 0, limit };
      this.logs.set(id, log);
    }
    if (log.blockedUntil > now) {
      const left = log.blockedUntil - now;
      return { allowed: false, hits: limit + 1, resetMs: left, retryAfterMs: left };
    }
    // Drop hits that left the window: amortised O(1), each hit is dropped once.
    while (log.count > 0 && log.times[log.head]! <= now - windowMs) {
      log.head = (log.head + 1) % log.times.length;
      log.count--;
    }
    if (log.count < limit) {
      if (log.count === log.times.length) this.grow(id, log);
      log.times[(log.head + log.count) % log.times.length] = now;
      log.count++;
      const resetMs = log.times[log.head]! + windowMs - now;
      return { allowed: true, hits: log.count, resetMs, retryAfterMs: 0, hit: String(now) };
    }
    const resetMs = log.times[log.head]! + windowMs - now;
    if (blockMs > 0) log.blockedUntil = now + blockMs;
    return { allowed: false, hits: limit + 1, resetMs, retryAfterMs: blockMs > 0 ? blockMs : resetMs };
  }

  /**
   * Doubles a full ring (up to the limit), oldest first: memory follows the hits in the window,
   * not the limit, so a limit of millions costs nothing until it is used.
   */
  private grow(id: string, log: Log): void {
    const size = log.times.length;
    const times = new Float64Array(Math.min(log.limit, size * 2));
    for (let i = 0; i < log.count; i++) times[i] = log.times[(log.head + i) % size]!;
    log.times = times;
    log.head = 0;
    this.logs.set(id, log); // the byte bound sees the new size
  }

  /** Removes the newest hit logged at that time (hits of one millisecond are interchangeable). */
  release(id: string, hit: string): void {
    const log = this.logs.peek(id);
    const time = Number(hit);
    if (!log || log.count === 0) return;
    const size = log.times.length;
    for (let i = log.count - 1; i >= 0; i--) {
      if (log.times[(log.head + i) % size] !== time) continue;
      for (let j = i; j < log.count - 1; j++) log.times[(log.head + j) % size] = log.times[(log.head + j + 1) % size]!;
      log.count--;
      return;
    }
  }
}
