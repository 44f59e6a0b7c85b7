import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottleRecord as ThrottlerStorageRecord } from './throttle.store';
import { LRUCache } from 'lru-cache';

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

const seconds = (ms: number) => Math.ceil(ms / 1000);

/**
 * The in-process throttler storage: the same exact sliding window as the Redis store, O(1) per
 * request (a ring of `limit` times per key), bounded by keys and bytes. An evicted key starts
 * over, which is the price of the bound.
 */
export class MemoryThrottleStore implements ThrottlerStorage {
  private readonly logs: LRUCache<string, Log>;

  constructor(options: MemoryThrottleStoreOptions = {}) {
    this.logs = new LRUCache<string, Log>({
      max: options.maxKeys ?? 100_000,
      maxSize: options.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (log, key) => log.times.byteLength + key.length + 64,
    });
  }

  get size(): number {
    return this.logs.size;
  }

  get calculatedSize(): number {
    return this.logs.calculatedSize;
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    return this.hit(`${throttlerName}\n${key}`, ttl, limit, blockDuration, Date.now());
  }

  /** Synchronous core, with the clock passed in. */
  hit(id: string, ttl: number, limit: number, blockDuration: number, now: number): ThrottlerStorageRecord {
    let log = this.logs.get(id);
    if (!log || log.times.length !== limit) {
      log = { times: new Float64Array(Math.max(1, limit)), head: 0, count: 0, blockedUntil: 0 };
      this.logs.set(id, log);
    }
    if (log.blockedUntil > now) {
      const left = log.blockedUntil - now;
      return { totalHits: limit + 1, timeToExpire: seconds(left), isBlocked: true, timeToBlockExpire: seconds(left) };
    }
    const size = log.times.length;
    // Drop hits that left the window: amortised O(1), each hit is dropped once.
    while (log.count > 0 && log.times[log.head]! <= now - ttl) {
      log.head = (log.head + 1) % size;
      log.count--;
    }
    if (log.count < limit) {
      log.times[(log.head + log.count) % size] = now;
      log.count++;
      const expires = log.times[log.head]! + ttl - now;
      return { totalHits: log.count, timeToExpire: seconds(expires), isBlocked: false, timeToBlockExpire: 0 };
    }
    const expires = log.times[log.head]! + ttl - now;
    if (blockDuration > 0) log.blockedUntil = now + blockDuration;
    const blockedFor = blockDuration > 0 ? blockDuration : expires;
    return {
      totalHits: limit + 1,
      timeToExpire: seconds(expires),
      isBlocked: true,
      timeToBlockExpire: seconds(blockedFor),
    };
  }
}
