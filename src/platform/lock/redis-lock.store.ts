import type { RedisClient, RedisScriptCall, RedisService } from '../redis';
import type { LockStore } from './lock.store';

// The hold and the fence counter share the `{key}` hash tag: one Cluster slot per lock.
const holdKey = (key: string) => `lock:{${key}}`;
const fenceKey = (key: string) => `lock:{${key}}:fence`;
const FENCE_TTL_MS = 30 * 86_400_000;

/**
 * KEYS: hold, fence. ARGV: owner, ttl ms, fence ttl ms. Returns the token, or nil when held.
 * The token is the larger of last + 1 and the Redis clock in µs: monotonic per key even after
 * the counter expired (the clock has moved on) or the clock stepped back (the counter has not).
 */
const ACQUIRE = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) == false then return nil end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local token = math.max((tonumber(redis.call('GET', KEYS[2])) or 0) + 1, now)
redis.call('SET', KEYS[2], string.format('%d', token), 'PX', ARGV[3])
return token`;

const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Locks in Redis: SET NX PX plus a fence counter, owner-checked extend and release. */
export class RedisLockStore implements LockStore {
  private readonly scripts: {
    acquire: RedisScriptCall<number | null>;
    extend: RedisScriptCall<number>;
    release: RedisScriptCall<number>;
  };

  constructor(
    redis: RedisService,
    private readonly connection: RedisClient = redis.client,
  ) {
    const define = <T>(name: string, lua: string, numberOfKeys: number) =>
      redis.defineScript<T>({ name, lua, numberOfKeys }, connection);
    this.scripts = {
      acquire: define('boLockAcquire', ACQUIRE, 2),
      extend: define('boLockExtend', EXTEND, 1),
      release: define('boLockRelease', RELEASE, 1),
    };
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<number | null> {
    const token = await this.scripts.acquire([holdKey(key), fenceKey(key)], [owner, Math.ceil(ttlMs), FENCE_TTL_MS]);
    return token === null ? null : Number(token);
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.scripts.extend([holdKey(key)], [owner, Math.ceil(ttlMs)])) === 1;
  }

  async release(key: string, owner: string): Promise<boolean> {
    return (await this.scripts.release([holdKey(key)], [owner])) === 1;
  }

  async remaining(key: string): Promise<number> {
    return Math.max(0, await this.connection.pttl(holdKey(key)));
  }
}
