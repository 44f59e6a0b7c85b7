import type { RedisClient, RedisScriptCall, RedisService } from '../redis';
import {
  decodeCompleted,
  encodeCompleted,
  FINGERPRINT_LENGTH,
  OWNER_LENGTH,
  type ClaimResult,
  type IdempotencyStore,
  type StoredResponse,
} from './idempotency.store';

const recordKey = (key: string) => `idem:{${key}}`;

/**
 * KEYS: record. ARGV: owner, fingerprint, lease ms.
 * Returns {'claimed'} | {'in-progress', pttl} | {'mismatch'} | {'completed', record}.
 */
const CLAIM = `local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'P' .. ARGV[1] .. ARGV[2], 'PX', ARGV[3])
  return {'claimed'}
end
local kind = string.sub(v, 1, 1)
local fp
if kind == 'P' then fp = string.sub(v, ${2 + OWNER_LENGTH}, ${1 + OWNER_LENGTH + FINGERPRINT_LENGTH})
else fp = string.sub(v, 2, ${1 + FINGERPRINT_LENGTH}) end
if fp ~= ARGV[2] then return {'mismatch'} end
if kind == 'P' then return {'in-progress', redis.call('PTTL', KEYS[1])} end
return {'completed', v}`;

/** KEYS: record. ARGV: owner, then: 'extend' ms | 'complete' record ms | 'release'. 1 if the owner held it. */
const OWNED = `local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, ${1 + OWNER_LENGTH}) ~= 'P' .. ARGV[1] then return 0 end
if ARGV[2] == 'extend' then redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif ARGV[2] == 'complete' then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else redis.call('DEL', KEYS[1]) end
return 1`;

/** The shared store: a claim and a completion are one script call each. */
export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly claimScript: RedisScriptCall<[string, number | string | undefined]>;
  private readonly ownedScript: RedisScriptCall<number>;

  constructor(redis: RedisService, connection: RedisClient = redis.client) {
    this.claimScript = redis.defineScript({ name: 'boIdemClaim', lua: CLAIM, numberOfKeys: 1 }, connection);
    this.ownedScript = redis.defineScript({ name: 'boIdemOwned', lua: OWNED, numberOfKeys: 1 }, connection);
  }

  async claim(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<ClaimResult> {
    const [state, detail] = await this.claimScript([recordKey(key)], [owner, fingerprint, Math.ceil(leaseMs)]);
    if (state === 'claimed' || state === 'mismatch') return { state };
    if (state === 'in-progress') return { state, retryAfterMs: Math.max(0, Number(detail)) };
    const completed = decodeCompleted(String(detail));
    // A record this code cannot read is treated as another payload's: never replayed, never overwritten.
    return completed ? { state: 'completed', response: completed.response } : { state: 'mismatch' };
  }

  async extend(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.ownedScript([recordKey(key)], [owner, 'extend', Math.ceil(leaseMs)])) === 1;
  }

  async complete(
    key: string,
    owner: string,
    fingerprint: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const record = encodeCompleted(fingerprint, response);
    return (await this.ownedScript([recordKey(key)], [owner, 'complete', record, Math.ceil(retentionMs)])) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.ownedScript([recordKey(key)], [owner, 'release']);
  }
}
