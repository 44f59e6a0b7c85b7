import type { ThrottlerStorage } from '@nestjs/throttler';
import { LRUCache } from 'lru-cache';
import {
  toThrottlerRecord,
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

/** One key's sliding log: a ring of the last `limit` hit times, oldest at `head`. */
interface Log {
  times: Float64Array;
  head: number;
  count: number;
  blockedUntil: number;
}

/**
 * The in-process store: the same exact sliding window as the Redis store, O(1) per hit (a ring
 * of `limit` times per key), bounded by keys and bytes. An evicted key starts over, which is the
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
      // is never stored would let every hit through. (A ring is 8 bytes per slot of the limit.)
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

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottleRecord> {
    const rule = { limit, windowMs: ttl, blockMs: blockDuration };
    return toThrottlerRecord(this.hit(`${throttlerName}\n${key}`, rule, Date.now()));
  }

  /** Synchronous core, with the clock passed in. */
  hit(id: string, { limit, windowMs, blockMs }: ThrottleRule, now: number): ThrottleVerdict {
    let log = this.logs.get(id);
    if (!log || log.times.length !== limit) {
      log = { times: new Float64Array(Math.max(1, limit)), head: 0, count: 0, blockedUntil: 0 };
      this.logs.set(id, log);
    }
    if (log.blockedUntil > now) {
      const left = log.blockedUntil - now;
      return { allowed: false, hits: limit + 1, resetMs: left, retryAfterMs: left };
    }
    const size = log.times.length;
    // Drop hits that left the window: amortised O(1), each hit is dropped once.
    while (log.count > 0 && log.times[log.head]! <= now - windowMs) {
      log.head = (log.head + 1) % size;
      log.count--;
    }
    if (log.count < limit) {
      log.times[(log.head + log.count) % size] = now;
      log.count++;
      const resetMs = log.times[log.head]! + windowMs - now;
      return { allowed: true, hits: log.count, resetMs, retryAfterMs: 0, hit: String(now) };
    }
    const resetMs = log.times[log.head]! + windowMs - now;
    if (blockMs > 0) log.blockedUntil = now + blockMs;
    return { allowed: false, hits: limit + 1, resetMs, retryAfterMs: blockMs > 0 ? blockMs : resetMs };
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
