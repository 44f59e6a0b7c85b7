import { randomBytes } from 'node:crypto';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { RedisService, type RedisClient, type RedisScriptCall } from '../redis';
import {
  incrementThrough,
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
 * KEYS: log, block. ARGV: window ms, limit, block ms, member naming this hit, hits wanted (a lease
 * takes several at once, named member.1 … member.n; a single hit is just member).
 * Returns { hits in the window after this call, ms until the oldest hit leaves the window,
 * refused 0|1, ms until a retry may pass, hits granted }. A lease is granted what is left when
 * that is less than it wants. Exact: at most `limit` hits in any window, wherever it starts;
 * refused hits are not logged.
 */
const HIT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, limit, block, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
if block > 0 then
  local blocked = redis.call('PTTL', KEYS[2])
  if blocked > 0 then return {limit + 1, blocked, 1, blocked, 0} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local n = redis.call('ZCARD', KEYS[1])
local grant = math.min(want, limit - n)
if grant > 0 then
  if want == 1 then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
  else
    for i = 1, grant do redis.call('ZADD', KEYS[1], now, ARGV[4] .. '.' .. i) end
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  return {n + grant, math.max(0, oldest + ttl - now), 0, 0, grant}
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local expires = math.max(0, oldest + ttl - now)
if block > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', block)
  return {limit + 1, expires, 1, block, 0}
end
return {limit + 1, expires, 1, expires, 0}`;

/**
 * The shared store: one EVALSHA per hit. It runs on the connection it is given (the throttler's
 * own, with a short command timeout and no offline queue) or on the app's client.
 */
export class RedisThrottleStore implements ThrottleStore, ThrottlerStorage {
  private readonly hitScript: RedisScriptCall<[number, number, number, number, number]>;
  private readonly keys = new Map<string, string>();
  private readonly connection: RedisClient;
  private readonly instance = randomBytes(6).toString('base64url');
  private sequence = 0;

  constructor(redis: RedisService, connection: RedisClient = redis.client) {
    this.connection = connection;
    this.hitScript = redis.defineScript({ name: 'boThrottleHit', lua: HIT, numberOfKeys: 2 }, connection);
  }

  async consume(id: string, rule: ThrottleRule): Promise<ThrottleVerdict> {
    const { hits, resetMs, retryAfterMs, hit } = await this.lease(id, rule, 1);
    return hit === undefined
      ? { allowed: false, hits, resetMs, retryAfterMs }
      : { allowed: true, hits, resetMs, retryAfterMs: 0, hit };
  }

  /**
   * Takes up to `want` hits at once (all recorded now). `granted` may be less than `want` near the
   * limit, and 0 when refused. Hits of a lease are given back one by one: `hit` + `.1` … `.n`.
   */
  async lease(id: string, rule: ThrottleRule, want: number): Promise<ThrottleVerdict & { granted: number }> {
    const key = this.keyOf(id);
    const hit = `${this.instance}.${(++this.sequence).toString(36)}`;
    const [hits, resetMs, refused, retryAfterMs, granted] = await this.hitScript(
      [logKey(key), blockKey(key)],
      [Math.ceil(rule.windowMs), rule.limit, Math.ceil(rule.blockMs), hit, want],
    );
    return refused === 1
      ? { allowed: false, hits, resetMs, retryAfterMs, granted: 0 }
      : { allowed: true, hits, resetMs, retryAfterMs: 0, hit, granted };
  }

  async release(id: string, hit: string): Promise<void> {
    await this.connection.zrem(logKey(this.keyOf(id)), hit);
  }

  /** Gives back hits `hit`.`from` … `hit`.`to` of a lease. */
  async releaseLeased(id: string, hit: string, from: number, to: number): Promise<void> {
    if (from > to) return;
    const members = Array.from({ length: to - from + 1 }, (_, i) => `${hit}.${from + i}`);
    await this.connection.zrem(logKey(this.keyOf(id)), ...members);
  }

  /** The hashed key of an id; recent ones are remembered (a SHA-256 per request shows in profiles). */
  private keyOf(id: string): string {
    let key = this.keys.get(id);
    if (key === undefined) {
      if (this.keys.size >= 10_000) this.keys.clear();
      this.keys.set(id, (key = RedisService.hashKeyPart(id)));
    }
    return key;
  }

  increment(key: string, ttl: number, limit: number, blockDuration: number, name: string): Promise<ThrottleRecord> {
    return incrementThrough(this, key, ttl, limit, blockDuration, name);
  }
}
