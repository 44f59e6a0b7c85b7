import { randomBytes } from 'node:crypto';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { RedisService, type RedisClient, type RedisScriptCall } from '../redis';
import {
  toThrottlerRecord,
  type ThrottleRecord,
  type ThrottleRule,
  type ThrottleStore,
  type ThrottleVerdict,
} from './throttle.store';

// A sliding log per key and throttler: a sorted set of hit times, and a block flag; both carry the
// `{key}` hash tag, so the script stays in one Cluster slot. Times come from the Redis clock, so
// instances with drifting clocks share one window.
const logKey = (key: string) => `thr:{${key}}:l`;
const blockKey = (key: string) => `thr:{${key}}:b`;

/**
 * KEYS: log, block. ARGV: window ms, limit, block ms, member naming this hit.
 * Returns { hits, ms until the oldest hit leaves the window, refused 0|1, ms until a retry may pass }.
 * Exact: at most `limit` hits in any window, wherever it starts; refused hits are not logged.
 */
const HIT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {limit + 1, blocked, 1, blocked} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local expires = math.max(0, oldest + ttl - now)
if n < limit then return {n + 1, expires, 0, 0} end
if block > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', block)
  return {limit + 1, expires, 1, block}
end
return {limit + 1, expires, 1, expires}`;

/**
 * The shared store: one EVALSHA per hit. It runs on the connection it is given (the throttler's
 * own, with a short command timeout and no offline queue) or on the app's client.
 */
export class RedisThrottleStore implements ThrottleStore, ThrottlerStorage {
  private readonly hitScript: RedisScriptCall<[number, number, number, number]>;
  private readonly connection: RedisClient;
  private readonly instance = randomBytes(6).toString('base64url');
  private sequence = 0;

  constructor(redis: RedisService, connection: RedisClient = redis.client) {
    this.connection = connection;
    this.hitScript = redis.defineScript({ name: 'boThrottleHit', lua: HIT, numberOfKeys: 2 }, connection);
  }

  async consume(id: string, rule: ThrottleRule): Promise<ThrottleVerdict> {
    const key = RedisService.hashKeyPart(id);
    const hit = `${this.instance}.${(++this.sequence).toString(36)}`;
    const [hits, resetMs, refused, retryAfterMs] = await this.hitScript(
      [logKey(key), blockKey(key)],
      [Math.ceil(rule.windowMs), rule.limit, Math.ceil(rule.blockMs), hit],
    );
    return refused === 1
      ? { allowed: false, hits, resetMs, retryAfterMs }
      : { allowed: true, hits, resetMs, retryAfterMs: 0, hit };
  }

  async release(id: string, hit: string): Promise<void> {
    await this.connection.zrem(logKey(RedisService.hashKeyPart(id)), hit);
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottleRecord> {
    return toThrottlerRecord(
      await this.consume(`${throttlerName}\n${key}`, { limit, windowMs: ttl, blockMs: blockDuration }),
    );
  }
}
