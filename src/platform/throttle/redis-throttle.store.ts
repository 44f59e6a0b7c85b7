import { randomBytes } from 'node:crypto';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottleRecord as ThrottlerStorageRecord } from './throttle.store';
import { RedisService, type RedisScriptCall } from '../redis';

// A sliding log per key and throttler: a sorted set of hit times, and a block flag; both carry the
// `{key}` hash tag, so the script stays in one Cluster slot. Times come from the Redis clock, so
// instances with drifting clocks share one window.
const logKey = (key: string) => `thr:{${key}}:l`;
const blockKey = (key: string) => `thr:{${key}}:b`;

/**
 * KEYS: log, block. ARGV: ttl ms, limit, block ms, unique member suffix.
 * Returns { totalHits, ms until the oldest hit leaves the window, blocked 0|1, ms until unblocked }.
 * Exact: at most `limit` hits in any window of `ttl`, wherever the window starts.
 */
const HIT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {limit + 1, blocked, 1, blocked} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local expires = math.max(0, oldest + ttl - now)
if n < limit then return {n + 1, expires, 0, 0} end
if block > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', block)
  return {n + 1, expires, 1, block}
end
return {n + 1, expires, 1, expires}`;

const seconds = (ms: number) => Math.ceil(ms / 1000);

/** The shared throttler storage: one EVALSHA per request and throttler. */
export class RedisThrottleStore implements ThrottlerStorage {
  private readonly hit: RedisScriptCall<[number, number, number, number]>;
  private readonly instance = randomBytes(4).toString('hex');
  private sequence = 0;

  constructor(redis: RedisService) {
    this.hit = redis.defineScript({ name: 'boThrottleHit', lua: HIT, numberOfKeys: 2 });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const id = RedisService.hashKeyPart(`${throttlerName}\n${key}`);
    const [totalHits, expiresMs, blocked, blockMs] = await this.hit(
      [logKey(id), blockKey(id)],
      [Math.ceil(ttl), limit, Math.ceil(blockDuration), `${this.instance}.${++this.sequence}`],
    );
    return {
      totalHits,
      timeToExpire: seconds(expiresMs),
      isBlocked: blocked === 1,
      timeToBlockExpire: seconds(blockMs),
    };
  }
}
